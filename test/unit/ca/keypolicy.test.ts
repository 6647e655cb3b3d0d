import { describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { checkKeyPolicy } from '../../../src/ca/keypolicy.js';
import { describeSpki, type CsrPublicKey } from '../../../src/protocol/pkcs10/index.js';
import { HRESULT } from '../../../src/errors.js';

/** A real modulus (two large primes): no small factors of its own. */
const realModulus = BigInt('0x' + Buffer.from(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }).n!, 'base64url').toString('hex'));
const rsa = (bits: number, exponent = 65537, modulus?: bigint): CsrPublicKey => ({ algorithm: 'RSA', bits, exponent, modulus, oid: '1.2.840.113549.1.1.1' });
const ec = (curve: string): CsrPublicKey => ({ algorithm: 'EC', bits: 256, curve, oid: '1.2.840.10045.2.1' });

function refusal(f: () => void): { kind: string; message: string; hresult?: number } | null {
  try {
    f();
    return null;
  } catch (e) {
    const err = e as { kind: string; message: string; details: { hresult?: number } };
    return { kind: err.kind, message: err.message, hresult: err.details.hresult };
  }
}

describe('key policy (goodkey)', () => {
  it('accepts RSA 2048–8192 with exponent 65537, P-256 and P-384', () => {
    for (const k of [rsa(2048), rsa(4096), rsa(8192), ec('P-256'), ec('P-384')]) expect(refusal(() => checkKeyPolicy(k))).toBeNull();
  });

  it('refuses RSA exponent 3 by default, saying why, and accepts it when the CA lists it (ca.rsaExponents)', () => {
    const r = refusal(() => checkKeyPolicy(rsa(3072, 3)));
    expect(r).toMatchObject({ kind: 'badPublicKey', hresult: HRESULT.NTE_BAD_KEY });
    expect(r!.message).toBe('RSA public exponent 3 is not accepted by this CA (65537 is; ca.rsaExponents)');
    expect(refusal(() => checkKeyPolicy(rsa(3072, 3), {}, { rsaExponents: [3, 65537] }))).toBeNull();
    // Listing an even or tiny exponent does not make it sound.
    expect(refusal(() => checkKeyPolicy(rsa(2048, 1), {}, { rsaExponents: [1] }))?.message).toMatch(/exponent 1 is not acceptable/);
  });

  const table: [string, CsrPublicKey, RegExp, number, object?][] = [
    ['RSA-1024', rsa(1024), /RSA-1024 keys are too short: at least 2048 bits/, HRESULT.NTE_BAD_KEY_LENGTH],
    ['RSA-2047', rsa(2047), /too short/, HRESULT.NTE_BAD_KEY_LENGTH],
    ['RSA-16384', rsa(16384), /longer than the supported 8192/, HRESULT.NTE_BAD_KEY_LENGTH],
    ['RSA-2048 under a 3072 floor', rsa(2048), /at least 3072 bits/, HRESULT.NTE_BAD_KEY_LENGTH, { minRsaBits: 3072 }],
    ['RSA exponent 1', rsa(2048, 1), /exponent 1 is not acceptable/, HRESULT.NTE_BAD_KEY],
    ['RSA even exponent', rsa(2048, 65536), /exponent 65536/, HRESULT.NTE_BAD_KEY],
    ['RSA huge exponent', rsa(2048, 2 ** 40 + 1), /exponent/, HRESULT.NTE_BAD_KEY],
    ['RSA modulus with a small factor', rsa(2048, 65537, 751n * realModulus), /divisible by the small prime 751/, HRESULT.NTE_BAD_KEY],
    ['RSA even modulus', rsa(2048, 65537, 2n ** 2047n), /modulus is even/, HRESULT.NTE_BAD_KEY],
    ['P-521 (not enabled)', ec('P-521'), /P-521 is not enabled/, HRESULT.NTE_BAD_KEY],
    ['secp256k1', ec('secp256k1'), /curve secp256k1 is not supported/, HRESULT.NTE_BAD_KEY],
    ['DSA', { algorithm: 'DSA', bits: 2048, oid: '1.2.840.10040.4.1' }, /DSA keys are not accepted/, HRESULT.NTE_BAD_KEY],
    ['Ed25519 (not enabled)', { algorithm: 'Ed25519', bits: 256, oid: '1.3.101.112' }, /Ed25519 keys are not accepted/, HRESULT.NTE_BAD_KEY],
    ['Ed448', { algorithm: 'Ed448', bits: 456, oid: '1.3.101.113' }, /Ed448/, HRESULT.NTE_BAD_KEY],
    ['unknown algorithm', { algorithm: 'unknown', bits: 0, oid: '1.2.3.4' }, /unknown public key algorithm 1\.2\.3\.4/, HRESULT.NTE_BAD_KEY],
  ];
  for (const [name, key, message, hresult, policy] of table) {
    it(`refuses ${name} with badPublicKey and HRESULT 0x${hresult.toString(16)}`, () => {
      const r = refusal(() => checkKeyPolicy(key, {}, policy));
      expect(r).toMatchObject({ kind: 'badPublicKey', hresult });
      expect(r!.message).toMatch(message);
    });
  }

  it('cannot be configured below 2048 or above 8192', () => {
    expect(refusal(() => checkKeyPolicy(rsa(1024), {}, { minRsaBits: 512 }))?.message).toMatch(/at least 2048/);
    expect(refusal(() => checkKeyPolicy(rsa(16384), {}, { maxRsaBits: 65536 }))?.message).toMatch(/8192/);
  });

  it('P-521 and Ed25519 pass when enabled, unless a template lists its algorithms', () => {
    expect(refusal(() => checkKeyPolicy(ec('P-521'), {}, { allowP521: true }))).toBeNull();
    expect(refusal(() => checkKeyPolicy({ algorithm: 'Ed25519', bits: 256, oid: '1.3.101.112' }, {}, { allowEd25519: true }))).toBeNull();
    expect(refusal(() => checkKeyPolicy(ec('P-521'), { allowed: ['RSA', 'ECDSA_P256'] }, { allowP521: true }))?.kind).toBe('badPublicKey');
  });

  it("applies the template's algorithms and minimal key length", () => {
    expect(refusal(() => checkKeyPolicy(rsa(2048), { allowed: ['ECDSA_P256'] }))?.message).toMatch(/does not allow RSA/);
    expect(refusal(() => checkKeyPolicy(ec('P-384'), { allowed: ['RSA', 'ECDSA_P256'] }))?.message).toMatch(/does not allow P-384/);
    expect(refusal(() => checkKeyPolicy(rsa(2048), { minimalKeyLength: 4096 }))).toMatchObject({ hresult: HRESULT.NTE_BAD_KEY_LENGTH });
    expect(refusal(() => checkKeyPolicy(rsa(4096), { allowed: ['RSA'], minimalKeyLength: 4096 }))).toBeNull();
  });

  it('judges real keys read from SubjectPublicKeyInfo (a real modulus has no small factors)', () => {
    const spki = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' });
    const k = describeSpki(spki).publicKey;
    expect(k.modulus).toBeTypeOf('bigint');
    expect(refusal(() => checkKeyPolicy(k))).toBeNull();
  });
});
