import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { HRESULT, OpencesError } from '../../../src/errors.js';
import { decodeBase64Token, parseCsr } from '../../../src/protocol/pkcs10/index.js';
import { newRequestId, order, setupCa, type CaFixture } from './ca-fixture.js';

const DIR = join(__dirname, '../../fixtures/bad/csr');

/**
 * One file per flaw (test/fixtures/bad/csr), each with the typed error the CA must give; null for a
 * flaw that is a template's rule, which the RA alone enforces (the CA knows no templates' limits).
 * `names`: the order asks for the names the request asks for (as the RA would pass them on).
 */
const CORPUS: Record<string, { kind: string; message: RegExp; hresult?: number; names?: true } | null> = {
  'invalid_signature.der.csr': { kind: 'badSignature', message: /signature does not verify \(proof of possession failed\)/ },
  'short_key_rsa1024.der.csr': { kind: 'badPublicKey', message: /RSA-1024 keys are too short: at least 2048 bits are required/, hresult: HRESULT.NTE_BAD_KEY_LENGTH },
  'dsa_key.der.csr': { kind: 'badPublicKey', message: /DSA keys are not accepted/, hresult: HRESULT.NTE_BAD_KEY },
  'truncated.der.csr': { kind: 'badCsr', message: /truncated|not valid DER/ },
  'garbage.der.csr': { kind: 'badCsr', message: /not valid DER|not a PKCS#10|trailing bytes/ },
  'unsupported_curve_secp256k1.der.csr': { kind: 'badPublicKey', message: /curve secp256k1 is not supported/, hresult: HRESULT.NTE_BAD_KEY },
  // The WebServer template's 100; the CA's own ceiling (256) is in test/unit/ca/issue.test.ts.
  'too_many_sans_101.der.csr': null,
  'long_cn_5000.der.csr': { kind: 'badCsr', message: /subject CN is longer than 64 characters/, names: true },
  'rsa_exponent_3.der.csr': { kind: 'badPublicKey', message: /RSA public exponent 3 is not accepted by this CA/, hresult: HRESULT.NTE_BAD_KEY },
  'sha1_signature.der.csr': { kind: 'badSignature', message: /request signature uses SHA-1/, hresult: HRESULT.NTE_BAD_ALGID },
};

describe('the CA refuses every request in the bad-CSR corpus and records nothing as issued', () => {
  let f: CaFixture;
  beforeAll(async () => {
    f = await setupCa('P-256');
  });
  afterAll(async () => f?.db.close());

  it('has an expectation for every file in the corpus', () => {
    expect(readdirSync(DIR).filter((x) => x.endsWith('.csr')).sort()).toEqual(Object.keys(CORPUS).sort());
  });

  for (const [file, want] of Object.entries(CORPUS)) {
    if (!want) continue;
    it(`${file} → ${want.kind}`, async () => {
      const der = new Uint8Array(readFileSync(join(DIR, file)));
      const id = await newRequestId(f.db, der);
      const names = want.names ? (({ subject, sans }) => ({ subject, sans }))(parseCsr(der)) : {};
      const err = await f.ca.issue(order(id, der, names)).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(OpencesError);
      expect(err).toMatchObject({ kind: want.kind });
      expect((err as Error).message).toMatch(want.message);
      if (want.hresult !== undefined) expect((err as OpencesError).details.hresult).toBe(want.hresult);
      expect((await f.db.query('SELECT 1 FROM certificates WHERE request_id = $1', [id])).rowCount).toBe(0);
      expect((await f.db.query<{ status: string; serial: string | null }>('SELECT status, serial FROM requests WHERE id = $1', [id])).rows[0]).toEqual({ status: 'pending', serial: null });
    });
  }

  it('bad_base64.b64 → malformed before anything reaches the CA', () => {
    const text = readFileSync(join(DIR, 'bad_base64.b64'), 'utf8');
    expect(() => decodeBase64Token(text, 'BinarySecurityToken')).toThrow(expect.objectContaining({ kind: 'malformed', message: expect.stringMatching(/BinarySecurityToken is not valid base64/) }));
  });

  it('nothing was issued by any of the above', async () => {
    expect((await f.db.query('SELECT 1 FROM certificates')).rowCount).toBe(0);
  });
});
