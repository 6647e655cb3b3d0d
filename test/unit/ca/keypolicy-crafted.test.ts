import { describe, expect, it } from 'vitest';
import { checkKeyPolicy } from '../../../src/ca/keypolicy.js';
import type { CsrPublicKey } from '../../../src/protocol/pkcs10/index.js';
import { HRESULT } from '../../../src/errors.js';

const rsa = (bits: number, exponent?: number): CsrPublicKey => ({ algorithm: 'RSA', bits, exponent, oid: '1.2.840.113549.1.1.1' });

function refusal(f: () => void): { message: string; hresult?: number } | null {
  try {
    f();
    return null;
  } catch (e) {
    const err = e as { message: string; details: { hresult?: number } };
    return { message: err.message, hresult: err.details.hresult };
  }
}

/**
 * Crafted public keys: exponents no key generator makes, which an operator cannot make acceptable
 * by listing them in ca.rsaExponents, and the curves and algorithms a template's list leaves out.
 */
describe('key policy: crafted keys and template algorithm lists', () => {
  it.each<[string, number | undefined, string]>([
    ['missing', undefined, 'RSA public exponent missing is not acceptable (use 65537)'],
    ['even (65536)', 65536, 'RSA public exponent 65536 is not acceptable (use 65537)'],
    ['above 2^32 - 1', 0x100000001, 'RSA public exponent 4294967297 is not acceptable (use 65537)'],
  ])('refuses an RSA exponent that is %s even when the CA lists it', (_, exponent, message) => {
    const listed = exponent === undefined ? [65537] : [exponent, 65537];
    expect(refusal(() => checkKeyPolicy(rsa(2048, exponent), {}, { rsaExponents: listed }))).toEqual({ message, hresult: HRESULT.NTE_BAD_KEY });
  });

  it('takes 2^32 - 1 as the largest exponent a CA may list', () => {
    expect(refusal(() => checkKeyPolicy(rsa(2048, 0xffffffff), {}, { rsaExponents: [0xffffffff] }))).toBeNull();
  });

  it('names every exponent the CA accepts when refusing another', () => {
    expect(refusal(() => checkKeyPolicy(rsa(2048, 17), {}, { rsaExponents: [3, 65537] }))?.message).toBe('RSA public exponent 17 is not accepted by this CA (3, 65537 are; ca.rsaExponents)');
  });

  it("says what the template's minimal key length is and what the request has", () => {
    expect(refusal(() => checkKeyPolicy(rsa(2048, 65537), { minimalKeyLength: 3072 }))).toEqual({ message: 'the template requires RSA keys of at least 3072 bits; the request has 2048', hresult: HRESULT.NTE_BAD_KEY_LENGTH });
  });

  it('refuses P-521 and Ed25519 under a template that lists algorithms, even on a CA that enables them', () => {
    const policy = { allowP521: true, allowEd25519: true };
    const allowed = { allowed: ['ECDSA_P256' as const] };
    expect(refusal(() => checkKeyPolicy({ algorithm: 'EC', bits: 521, curve: 'P-521', oid: '1.2.840.10045.2.1' }, allowed, policy))).toEqual({ message: 'the template does not allow P-521 keys', hresult: HRESULT.NTE_BAD_KEY });
    expect(refusal(() => checkKeyPolicy({ algorithm: 'Ed25519', bits: 256, oid: '1.3.101.112' }, allowed, policy))).toEqual({ message: 'the template does not allow Ed25519 keys', hresult: HRESULT.NTE_BAD_KEY });
  });

  it('names an unsupported curve, or says it is unknown', () => {
    expect(refusal(() => checkKeyPolicy({ algorithm: 'EC', bits: 256, curve: 'secp256k1', oid: '1.2.840.10045.2.1' }))?.message).toBe('elliptic curve secp256k1 is not supported (P-256 and P-384 are)');
    expect(refusal(() => checkKeyPolicy({ algorithm: 'EC', bits: 0, oid: '1.2.840.10045.2.1' }))?.message).toBe('elliptic curve unknown is not supported (P-256 and P-384 are)');
  });
});
