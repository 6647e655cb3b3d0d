import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';
import type { KeyUsageName } from '../policy/template.js';
import { bitString, boolean, explicit, ia5, implicitPrim, implicitCons, integer, octetString, oid, seq, child, readTlv } from './der.js';
import { encodeGeneralName } from './name.js';
import type { SanEntry } from './types.js';

export const EXT = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  crlNumber: '2.5.29.20',
  crlReason: '2.5.29.21',
  cRLDistributionPoints: '2.5.29.31',
  certificatePolicies: '2.5.29.32',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  deltaCrlIndicator: '2.5.29.27',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  msCertificateTemplate: '1.3.6.1.4.1.311.21.7',
  ntdsCaSecurity: '1.3.6.1.4.1.311.25.2',
} as const;

/** szOID_NTDS_OBJECTSID, the OtherName type inside the security extension. */
export const NTDS_OBJECTSID = '1.3.6.1.4.1.311.25.2.1';

/** The SAN URL form of the strong mapping (KB5014754). */
export const SID_URL_PREFIX = 'tag:microsoft.com,2022-09-14:sid:';

export function extension(id: string, critical: boolean, value: Uint8Array): Buffer {
  return critical ? seq(oid(id), boolean(true), octetString(value)) : seq(oid(id), octetString(value));
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents. */
export function keyIdentifier(spki: Uint8Array): Buffer {
  const bits = child(spki, 1);
  const t = readTlv(bits, 0);
  // skip the "unused bits" byte
  return sha1(bits.subarray(t.header + 1, t.header + t.length));
}

// crypto.hash (Node ≥ 20.12) skips the Hash object: ~3× cheaper for one small digest.
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Buffer }).hash;
const sha1 = (data: Uint8Array): Buffer => (oneShot ? oneShot('sha1', data, 'buffer') : createHash('sha1').update(data).digest());

export const subjectKeyIdentifier = (spki: Uint8Array): Buffer => extension(EXT.subjectKeyIdentifier, false, octetString(keyIdentifier(spki)));
export const authorityKeyIdentifier = (issuerKeyId: Uint8Array): Buffer => extension(EXT.authorityKeyIdentifier, false, seq(implicitPrim(0, issuerKeyId)));

export function basicConstraints(ca: boolean, pathLen?: number): Buffer {
  const items: Buffer[] = [];
  if (ca) items.push(boolean(true));
  if (ca && pathLen !== undefined) items.push(integer(pathLen));
  return extension(EXT.basicConstraints, true, seq(...items));
}

const KU_BITS: Record<KeyUsageName, number> = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
};

export function keyUsage(usages: KeyUsageName[], critical: boolean): Buffer {
  let v = 0;
  for (const u of usages) v |= 0x80 >> KU_BITS[u];
  // DER: drop trailing zero bits and say how many are unused.
  let unused = 0;
  if (v === 0) return extension(EXT.keyUsage, critical, bitString(Buffer.alloc(0)));
  while (((v >> unused) & 1) === 0) unused++;
  return extension(EXT.keyUsage, critical, bitString(Buffer.from([v]), unused));
}

export const extKeyUsage = (ekus: string[]): Buffer => extension(EXT.extKeyUsage, false, seq(...ekus.map(oid)));

export const subjectAltName = (sans: SanEntry[], critical: boolean): Buffer => extension(EXT.subjectAltName, critical, seq(...sans.map(encodeGeneralName)));

export const certificatePolicies = (policies: string[]): Buffer => extension(EXT.certificatePolicies, false, seq(...policies.map((p) => seq(oid(p)))));

export const authorityInfoAccess = (caIssuersUrl: string): Buffer =>
  extension(EXT.authorityInfoAccess, false, seq(seq(oid('1.3.6.1.5.5.7.48.2'), implicitPrim(6, Buffer.from(caIssuersUrl, 'ascii')))));

const distributionPoints = (extnId: string, url: string): Buffer =>
  // DistributionPoint { distributionPoint [0] { fullName [0] GeneralNames } }
  extension(extnId, false, seq(seq(implicitCons(0, [implicitCons(0, [implicitPrim(6, Buffer.from(url, 'ascii'))])]))));

export const crlDistributionPoints = (url: string): Buffer => distributionPoints(EXT.cRLDistributionPoints, url);

/** Freshest CRL (RFC 5280 §4.2.1.15): where the delta CRLs are, in the CRLDistributionPoints syntax. */
export const freshestCrl = (url: string): Buffer => distributionPoints('2.5.29.46', url);

/** Microsoft certificate template information: SEQUENCE { templateID OID, major INTEGER, minor INTEGER }. */
export const templateInformation = (templateOid: string, major: number, minor: number): Buffer =>
  extension(EXT.msCertificateTemplate, false, seq(oid(templateOid), integer(major), integer(minor)));

/**
 * szOID_NTDS_CA_SECURITY_EXT (MS-WCCE §2.2.2.7.7.4): a GeneralNames holding one otherName,
 * SEQUENCE { [0] { OID 1.3.6.1.4.1.311.25.2.1, [0] { OCTET STRING "S-1-5-21-…" } } } — the
 * octets are the SID's string form in ASCII, as Windows CAs write it. Not critical.
 */
export const ntdsSecurityExtension = (sid: string): Buffer =>
  extension(EXT.ntdsCaSecurity, false, seq(implicitCons(0, [oid(NTDS_OBJECTSID), explicit(0, octetString(Buffer.from(sid, 'ascii')))])));

export { explicit, ia5 };
