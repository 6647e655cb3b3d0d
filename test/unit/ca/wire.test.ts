import { describe, expect, it } from 'vitest';
import { KnownCertificates, batchSchema, decodeBatchResults, encodeIssued } from '../../../src/ca/backends/wire.js';
import type { IssuedCertificate } from '../../../src/ca/types.js';

const chain = [Buffer.from('issuing CA certificate'), Buffer.from('root CA certificate')];
const issued = (serial: string): IssuedCertificate => ({ serial, der: Buffer.from(`cert ${serial}`), chain, notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2027-01-01T00:00:00Z'), replayed: false });
const b64 = (d: Uint8Array) => Buffer.from(d).toString('base64');

describe('the CA API wire format: the chain once per batch', () => {
  it('gives every certificate the batch chain, unless it carries its own', () => {
    const other = [Buffer.from('another issuing CA'), chain[1]!];
    const body = { results: [{ issued: encodeIssued(issued('0a'), { withoutChain: true }) }, { issued: encodeIssued({ ...issued('0b'), chain: other }) }], chain: chain.map(b64) };
    const [a, b] = decodeBatchResults(JSON.parse(JSON.stringify(body)), 2) as IssuedCertificate[];
    expect(a!.chain.map(b64)).toEqual(chain.map(b64));
    expect(b!.chain.map(b64)).toEqual(other.map(b64));
  });

  it('answers the bytes it already holds for a chain it knows, and decodes one it does not', () => {
    const known = new KnownCertificates(chain);
    const body = { results: [{ issued: encodeIssued(issued('0c')) }, { issued: encodeIssued({ ...issued('0d'), chain: [Buffer.from('unknown')] }) }] };
    const [c, d] = decodeBatchResults(JSON.parse(JSON.stringify(body)), 2, known) as IssuedCertificate[];
    expect(c!.chain[0]).toBe(chain[0]);
    expect(Buffer.from(d!.chain[0]!).toString()).toBe('unknown');
  });

  it('refuses a certificate that comes without any chain, and a chainOnce that is not `true`', () => {
    const body = { results: [{ issued: encodeIssued(issued('0e'), { withoutChain: true }) }] };
    expect(() => decodeBatchResults(JSON.parse(JSON.stringify(body)), 1)).toThrow(expect.objectContaining({ kind: 'internal', message: 'the CA answered a certificate without its chain' }));
    expect(() => decodeBatchResults({ ...body, chain: ['not base64!'] }, 1)).toThrow(expect.objectContaining({ kind: 'malformed', message: 'order batch results: chain.0: base64' }));
    expect(batchSchema.safeParse({ orders: [{}], chainOnce: 'yes' }).success).toBe(false);
    expect(batchSchema.safeParse({ orders: [{}], chainOnce: false }).success).toBe(false);
    expect(batchSchema.safeParse({ orders: [{}], chainOnce: true }).success).toBe(true);
  });
});
