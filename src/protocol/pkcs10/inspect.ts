/**
 * The CA's fast view of a PKCS#10: the signed bytes, signature, algorithm and public key, found by
 * walking DER headers (no asn1js/pkijs object trees, which cost ~0.3–0.5 ms per request and
 * dominated issuance). parseCsr (csr.ts) is the full decoder the RA uses.
 */
import { ECDH, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { HRESULT, OpencesError } from '../../errors.js';
import { contents, elements, oidString, readTlv } from '../der-reader.js';

export { oidString };

export interface CsrPublicKey {
  algorithm: 'RSA' | 'EC' | 'DSA' | 'Ed25519' | 'Ed448' | 'unknown';
  /** RSA modulus bits, EC curve bits, DSA p bits. */
  bits: number;
  curve?: string;
  /** RSA public exponent. */
  exponent?: number;
  /** RSA modulus (key policy checks it for small factors). */
  modulus?: bigint;
  oid: string;
}

export interface CsrParts {
  /** The exact bytes of CertificationRequestInfo (what was signed). */
  tbs: Uint8Array;
  signatureAlgorithm: string;
  /** DER of the AlgorithmIdentifier's parameters, if any (RSASSA-PSS needs them). */
  signatureParams?: Uint8Array;
  signature: Uint8Array;
  /** The exact SubjectPublicKeyInfo bytes, copied verbatim into the certificate. */
  spki: Uint8Array;
}

export const KEY_OIDS = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecPublicKey: '1.2.840.10045.2.1',
  dsa: '1.2.840.10040.4.1',
  ed25519: '1.3.101.112',
  ed448: '1.3.101.113',
} as const;

const CURVES: Record<string, string> = {
  '1.2.840.10045.3.1.7': 'P-256',
  '1.3.132.0.34': 'P-384',
  '1.3.132.0.35': 'P-521',
  '1.3.132.0.10': 'secp256k1',
};
const CURVE_BITS: Record<string, number> = { 'P-256': 256, 'P-384': 384, 'P-521': 521, secp256k1: 256 };

function bad(message: string): never {
  throw new OpencesError('badCsr', message);
}

/** OBJECT IDENTIFIER of a request field; a bad one is a badCsr with the reason. */
function requestOid(tlv: Uint8Array): string {
  if (tlv[0] !== 0x06) bad('expected an OBJECT IDENTIFIER');
  try {
    return oidString(tlv);
  } catch {
    return bad('malformed OBJECT IDENTIFIER');
  }
}

/** Splits CertificationRequest ::= SEQUENCE { info, AlgorithmIdentifier, BIT STRING }. */
export function splitCsr(der: Uint8Array): CsrParts {
  try {
    if (der.length < 16) bad('the certificate request is truncated');
    const top = readTlv(der);
    if (top.tag !== 0x30) bad('the data is not a PKCS#10 certificate request');
    if (top.header + top.length !== der.length) bad('the certificate request has trailing bytes');
    const parts = elements(der);
    if (parts.length !== 3) bad('the data is not a PKCS#10 certificate request');
    const [info, alg, sig] = parts as [Uint8Array, Uint8Array, Uint8Array];
    if (info[0] !== 0x30 || alg[0] !== 0x30 || sig[0] !== 0x03) bad('the data is not a PKCS#10 certificate request');
    const infoParts = elements(info);
    if (infoParts.length < 3 || infoParts[0]![0] !== 0x02 || infoParts[1]![0] !== 0x30 || infoParts[2]![0] !== 0x30) bad('the certificate request info is malformed');
    const algParts = elements(alg);
    if (algParts.length < 1 || algParts.length > 2) bad('the request signature algorithm is malformed');
    const sigBits = contents(sig);
    if (sigBits.length < 2 || sigBits[0] !== 0) bad('the request signature is not a whole number of bytes');
    return { tbs: info, signatureAlgorithm: requestOid(algParts[0]!), signatureParams: algParts[1], signature: sigBits.subarray(1), spki: infoParts[2]! };
  } catch (e) {
    if (e instanceof OpencesError && e.kind === 'badCsr') throw e;
    throw new OpencesError('badCsr', 'the certificate request is not valid DER (truncated or corrupt)');
  }
}

/** Unsigned big-endian bytes of an INTEGER TLV (leading zero octets removed). */
function unsignedInteger(tlv: Uint8Array): Uint8Array {
  if (tlv[0] !== 0x02) bad('expected an INTEGER');
  let c = contents(tlv);
  if (c.length === 0 || (c[0]! & 0x80) !== 0) bad('a negative or empty INTEGER in a public key');
  while (c.length > 1 && c[0] === 0) c = c.subarray(1);
  return c;
}

function bitLength(b: Uint8Array): number {
  if (b.length === 0 || (b.length === 1 && b[0] === 0)) return 0;
  return (b.length - 1) * 8 + (32 - Math.clz32(b[0]!));
}

const b64url = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

/**
 * What kind of key a SubjectPublicKeyInfo holds, and (when we may use it) the decoded key.
 * OpenSSL 3's DER decoder costs ~110 µs per key on the event loop, so RSA and P-256 keys are
 * imported from their components as JWK (4 µs and 60 µs); everything else goes through DER.
 */
export function describeSpki(spki: Uint8Array): { publicKey: CsrPublicKey; key: KeyObject | null } {
  return describe(spki, true);
}

/**
 * describeSpki without handing back a KeyObject (the RA's parseCsr: the CA decodes the key again).
 * The same checks and errors, but a P-256 point is only checked to be on the curve (~12 µs)
 * instead of imported (~57 µs).
 */
export function spkiPublicKey(spki: Uint8Array): CsrPublicKey {
  return describe(spki, false).publicKey;
}

function describe(spki: Uint8Array, wantKey: boolean): { publicKey: CsrPublicKey; key: KeyObject | null } {
  let algOid: string;
  let params: Uint8Array | undefined;
  let keyBits: Uint8Array;
  try {
    const [alg, bits] = elements(spki);
    const algParts = elements(alg!);
    algOid = oidString(algParts[0]!);
    params = algParts[1];
    if (!bits || bits[0] !== 0x03) bad('no subjectPublicKey');
    const c = contents(bits);
    if (c.length < 2 || c[0] !== 0) bad('subjectPublicKey is not a whole number of bytes');
    keyBits = c.subarray(1);
  } catch {
    throw new OpencesError('badCsr', 'the request public key info is malformed');
  }
  const decode = (jwk?: JsonWebKey): KeyObject => {
    try {
      if (jwk) return createPublicKey({ key: jwk, format: 'jwk' });
      return createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: 'der', type: 'spki' });
    } catch {
      throw new OpencesError('badPublicKey', 'the public key in the request cannot be decoded', { hresult: HRESULT.NTE_BAD_KEY });
    }
  };
  switch (algOid) {
    case KEY_OIDS.rsaEncryption: {
      let n: Uint8Array;
      let e: Uint8Array;
      try {
        const fields = elements(keyBits);
        if (keyBits[0] !== 0x30 || fields.length !== 2) bad('bad RSAPublicKey');
        n = unsignedInteger(fields[0]!);
        e = unsignedInteger(fields[1]!);
      } catch {
        throw new OpencesError('badPublicKey', 'the RSA public key in the request cannot be decoded', { hresult: HRESULT.NTE_BAD_KEY });
      }
      const modulus = BigInt('0x' + Buffer.from(n.buffer, n.byteOffset, n.byteLength).toString('hex'));
      const exponent = e.length > 6 ? Number.MAX_SAFE_INTEGER : Number(BigInt('0x' + Buffer.from(e.buffer, e.byteOffset, e.byteLength).toString('hex')));
      const key = decode({ kty: 'RSA', n: b64url(n), e: b64url(e) });
      return { publicKey: { algorithm: 'RSA', bits: bitLength(n), exponent, modulus, oid: algOid }, key };
    }
    case KEY_OIDS.ecPublicKey: {
      let curveOid = '';
      try {
        if (params) curveOid = oidString(params);
      } catch {
        // explicit curve parameters: not a named curve, refused by key policy
      }
      const curve = CURVES[curveOid] ?? (curveOid || 'explicit parameters');
      // Importing checks that the point is on the curve; only done for curves we may accept.
      let key: KeyObject | null = null;
      if (curve === 'P-256' && keyBits.length === 65 && keyBits[0] === 0x04 && !wantKey) checkP256Point(keyBits);
      else if (curve === 'P-256' && keyBits.length === 65 && keyBits[0] === 0x04) key = decode({ kty: 'EC', crv: 'P-256', x: b64url(keyBits.subarray(1, 33)), y: b64url(keyBits.subarray(33)) });
      else if (curve === 'P-256' || curve === 'P-384' || curve === 'P-521') key = decode();
      return { publicKey: { algorithm: 'EC', bits: CURVE_BITS[curve] ?? 0, curve, oid: algOid }, key };
    }
    case KEY_OIDS.dsa: {
      // Never imported: DSA keys are refused by key policy anyway, and node 20 aborts the whole
      // process (a failed native assertion in GetDsaKeyDetail) reading asymmetricKeyDetails of some
      // crafted DSA keys — found by the fuzz campaign. The size comes from Dss-Parms p, read here.
      let bits = 0;
      try {
        const p = params && params[0] === 0x30 ? elements(params)[0] : undefined;
        if (p && p[0] === 0x02) bits = bitLength(unsignedInteger(p));
      } catch {
        bits = 0;
      }
      return { publicKey: { algorithm: 'DSA', bits, oid: algOid }, key: null };
    }
    case KEY_OIDS.ed25519:
      return { publicKey: { algorithm: 'Ed25519', bits: 256, oid: algOid }, key: decode() };
    case KEY_OIDS.ed448:
      return { publicKey: { algorithm: 'Ed448', bits: 456, oid: algOid }, key: decode() };
    default:
      return { publicKey: { algorithm: 'unknown', bits: 0, oid: algOid }, key: null };
  }
}

/** Throws badPublicKey unless `point` (uncompressed) is on P-256, as importing it would. */
function checkP256Point(point: Uint8Array): void {
  try {
    ECDH.convertKey(point, 'prime256v1', undefined, undefined, 'compressed');
  } catch {
    throw new OpencesError('badPublicKey', 'the public key in the request cannot be decoded', { hresult: HRESULT.NTE_BAD_KEY });
  }
}
