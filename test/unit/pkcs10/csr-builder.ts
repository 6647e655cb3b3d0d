/**
 * Builds PKCS#10 requests for tests and benchmarks (never in the product: clients build CSRs with
 * @peculiar/x509). Lets a test put exactly the attributes, extensions and signature algorithm it
 * needs into a request, signed by node:crypto.
 */
import { constants, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { bitString, bmp, explicit, implicitCons, integer, nullValue, octetString, oid, seq, set, utf8 } from '../../../src/ca/der.js';
import { encodeName } from '../../../src/ca/name.js';
import type { NameAttribute } from '../../../src/ca/types.js';

export type CsrSignature = 'sha256' | 'sha384' | 'sha512' | 'pss-sha256' | 'sha1';

const RSA_ALG: Record<string, string> = { sha1: '1.2.840.113549.1.1.5', sha256: '1.2.840.113549.1.1.11', sha384: '1.2.840.113549.1.1.12', sha512: '1.2.840.113549.1.1.13' };
const EC_ALG: Record<string, string> = { sha1: '1.2.840.10045.4.1', sha256: '1.2.840.10045.4.3.2', sha384: '1.2.840.10045.4.3.3', sha512: '1.2.840.10045.4.3.4' };

export interface TestCsrOptions {
  key: KeyObject; // private
  subject?: NameAttribute[];
  /** A Name as DER, for subjects encodeName rightly refuses to build (a 5,000-character CN). */
  subjectDer?: Uint8Array;
  /** Complete Extension TLVs for the extensionRequest attribute. */
  extensions?: Uint8Array[];
  /** Complete Attribute TLVs besides extensionRequest. */
  attributes?: Uint8Array[];
  signature?: CsrSignature;
}

export const attribute = (type: string, ...values: Uint8Array[]): Buffer => seq(oid(type), set(...values));

/** 1.3.6.1.4.1.311.13.2.1 EnrollmentNameValuePair ::= SEQUENCE { name BMPString, value BMPString } */
export const nameValuePair = (name: string, value: string): Buffer => attribute('1.3.6.1.4.1.311.13.2.1', seq(bmp(name), bmp(value)));
export const challengePassword = (pw: string): Buffer => attribute('1.2.840.113549.1.9.7', utf8(pw));

export function buildTestCsr(o: TestCsrOptions): Buffer {
  const spki = createPublicKey(o.key).export({ type: 'spki', format: 'der' });
  const attrs: Uint8Array[] = [...(o.attributes ?? [])];
  if (o.extensions?.length) attrs.unshift(attribute('1.2.840.113549.1.9.14', seq(...o.extensions)));
  const info = seq(integer(0), (o.subjectDer ?? encodeName(o.subject ?? [{ type: 'CN', value: 'test.example.test' }])), spki, implicitCons(0, attrs));
  const s = o.signature ?? 'sha256';
  const isEc = o.key.asymmetricKeyType === 'ec';
  let alg: Buffer;
  let sig: Buffer;
  if (s === 'pss-sha256') {
    const sha256 = seq(oid('2.16.840.1.101.3.4.2.1'));
    alg = seq(oid('1.2.840.113549.1.1.10'), seq(explicit(0, sha256), explicit(1, seq(oid('1.2.840.113549.1.1.8'), sha256)), explicit(2, integer(32))));
    sig = sign('sha256', info, { key: o.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  } else if (isEc) {
    alg = seq(oid(EC_ALG[s]!));
    sig = sign(s, info, { key: o.key, dsaEncoding: 'der' });
  } else if (o.key.asymmetricKeyType === 'ed25519') {
    alg = seq(oid('1.3.101.112'));
    sig = sign(null, info, o.key);
  } else {
    alg = seq(oid(RSA_ALG[s]!), nullValue());
    sig = sign(s, info, o.key);
  }
  return seq(info, alg, bitString(sig));
}

/** An Extension TLV (for extensionRequest). */
export const ext = (id: string, value: Uint8Array, critical = false): Buffer => (critical ? seq(oid(id), Buffer.from([1, 1, 0xff]), octetString(value)) : seq(oid(id), octetString(value)));
