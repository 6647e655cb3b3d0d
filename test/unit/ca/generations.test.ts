import { describe, expect, it } from 'vitest';
import express from 'express';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { keyGroup, parsePkiName } from '../../../src/ca/generations.js';
import { pkiFileBase } from '../../../src/ca/engine.js';
import { mountPki } from '../../../src/http/pki.js';
import type { CaRow } from '../../../src/store/ca-repo.js';

/** ADCS's numbering of a renewed CA's files (docs/ca-ceremonies.md) and the /pki/ paths that carry it. */
describe('CA generations: ADCS file names', () => {
  it('names generation n <ca>(n), none for 0', () => {
    expect(pkiFileBase('opences_Issuing_CA', 0)).toBe('opences_Issuing_CA');
    expect(pkiFileBase('opences_Issuing_CA', 1)).toBe('opences_Issuing_CA(1)');
    expect(pkiFileBase('opences_Issuing_CA', 12)).toBe('opences_Issuing_CA(12)');
  });

  it('splits a /pki/ name into slug, index and delta', () => {
    expect(parsePkiName('opences_Issuing_CA')).toEqual({ slug: 'opences_Issuing_CA', index: 0, delta: false });
    expect(parsePkiName('opences_Issuing_CA(3)')).toEqual({ slug: 'opences_Issuing_CA', index: 3, delta: false });
    expect(parsePkiName('opences_Issuing_CA-delta')).toEqual({ slug: 'opences_Issuing_CA', index: 0, delta: true });
    expect(parsePkiName('opences_Issuing_CA(3)-delta')).toEqual({ slug: 'opences_Issuing_CA', index: 3, delta: true });
  });

  it('groups generations by key: a kept key keeps its index, CRLs live under the generation that made the key', () => {
    const row = (id: number, generation: number, keyIndex: number): CaRow => ({ id, name: 'CA', slug: 'CA', kind: 'issuing', parentId: 1, certificate: new Uint8Array(), keyRef: `k${keyIndex}`, keyType: 'P-256', generation, keyIndex });
    // ADCS's table: install (0,0), new key (1,1), keep (2,1), keep (3,1), new key (4,4).
    const rows = [row(2, 0, 0), row(5, 1, 1), row(6, 2, 1), row(9, 3, 1), row(11, 4, 4)];
    expect(keyGroup(rows, 1).rows.map((r) => r.id)).toEqual([5, 6, 9]);
    expect(keyGroup(rows, 1).crlRow.id).toBe(5);
    expect(keyGroup(rows, 4).crlRow.id).toBe(11);
    expect(() => keyGroup(rows, 2)).toThrow(/no generation .* key index 2/);
  });

  it('/pki/ serves the suffixed names (and ADCS\'s + for deltas) and nothing that merely looks like them', async () => {
    const asked: string[] = [];
    const app = express();
    mountPki(app, {
      certificate: async (n) => (asked.push(`crt:${n}`), new Uint8Array([1])),
      crl: async (n) => (asked.push(`crl:${n}`), new Uint8Array([2])),
    });
    const server = createServer(app).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/pki/`;
    const status = async (p: string) => (await request(base + p)).statusCode;
    try {
      for (const ok of ['CA.crt', 'CA(1).crt', 'CA(1).crl', 'CA(1)+.crl', 'CA(1)-delta.crl', 'CA-delta.crl', 'CA+.crl']) expect(await status(ok), ok).toBe(200);
      for (const bad of ['CA(x).crt', 'CA(1)(2).crl', 'CA(12345).crt', 'CA().crl', '..%2FCA(1).crt', 'CA(1)-delta+.crl.bak']) expect(await status(bad), bad).toBe(404);
      expect(asked).toEqual(['crt:CA', 'crt:CA(1)', 'crl:CA(1)', 'crl:CA(1)-delta', 'crl:CA(1)-delta', 'crl:CA-delta', 'crl:CA-delta']);
    } finally {
      server.close();
    }
  });
});
