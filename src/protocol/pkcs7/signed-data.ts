import { createPublicKey, createHash } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { OpencesError } from '../../errors.js';
import { HASH_OIDS, verifySignature } from '../pkcs10/verify.js';
import { explicit, implicitCons, integer, oid, seq, set, octetString } from '../../ca/der.js';

export const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
export const OID_DATA = '1.2.840.113549.1.7.1';
const OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
const OID_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const HASHES = HASH_OIDS;

export interface SignerResult {
  certificateDer?: Uint8Array;
  signatureValid: boolean;
  digestAlgorithm: string;
}

export interface SignedRequest {
  contentType: string;
  content: Uint8Array;
  certificates: Uint8Array[];
  signers: SignerResult[];
}

function decode(der: Uint8Array, what: string): asn1js.AsnType {
  const a = asn1js.fromBER(der);
  if (a.offset === -1 || a.result.error) throw new OpencesError('malformed', `the ${what} is not valid DER`);
  return a.result;
}

/** Unwraps ContentInfo → SignedData (RFC 5652) and verifies each signer against its certificate. */
export function parseSignedData(der: Uint8Array, what = 'PKCS#7 request'): SignedRequest {
  try {
    return decodeSignedData(der, what);
  } catch (e) {
    if (e instanceof OpencesError) throw e;
    throw new OpencesError('malformed', `the ${what} is malformed`);
  }
}

function decodeSignedData(der: Uint8Array, what: string): SignedRequest {
  let sd: pkijs.SignedData;
  try {
    const ci = new pkijs.ContentInfo({ schema: decode(der, what) });
    if (ci.contentType !== OID_SIGNED_DATA) throw new OpencesError('malformed', `the ${what} is not CMS SignedData (content type ${ci.contentType})`);
    sd = new pkijs.SignedData({ schema: ci.content });
  } catch (e) {
    if (e instanceof OpencesError) throw e;
    throw new OpencesError('malformed', `the ${what} is not a readable CMS SignedData`);
  }
  const eContent = sd.encapContentInfo.eContent;
  if (!eContent) throw new OpencesError('malformed', `the ${what} carries no content`);
  const content = new Uint8Array(eContent.getValue());
  const certificates = (sd.certificates ?? []).filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate).map((c) => new Uint8Array(c.toSchema().toBER(false)));
  const certObjs = (sd.certificates ?? []).filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate);
  const signers = sd.signerInfos.map((si) => verifySigner(si, certObjs, content, sd.encapContentInfo.eContentType));
  return { contentType: sd.encapContentInfo.eContentType, content, certificates, signers };
}

function verifySigner(si: pkijs.SignerInfo, certs: pkijs.Certificate[], content: Uint8Array, eContentType: string): SignerResult {
  const digestAlgorithm = HASHES[si.digestAlgorithm.algorithmId] ?? si.digestAlgorithm.algorithmId;
  let cert: pkijs.Certificate | undefined;
  if (si.sid instanceof pkijs.IssuerAndSerialNumber) {
    const sid = si.sid;
    cert = certs.find((c) => c.issuer.isEqual(sid.issuer) && c.serialNumber.isEqual(sid.serialNumber));
  } else {
    const ski = Buffer.from((si.sid as asn1js.OctetString).valueBlock.valueHexView);
    cert = certs.find((c) => {
      const spki = Buffer.from(c.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView);
      return createHash('sha1').update(spki).digest().equals(ski);
    });
  }
  const certificateDer = cert ? new Uint8Array(cert.toSchema().toBER(false)) : undefined;
  if (!cert || !HASHES[si.digestAlgorithm.algorithmId]) return { certificateDer, signatureValid: false, digestAlgorithm };
  let signedBytes: Uint8Array = content;
  if (si.signedAttrs) {
    // With signed attributes the signature covers their DER (as a SET), and messageDigest must match the content.
    const attrs = si.signedAttrs.attributes;
    const md = attrs.find((a) => a.type === OID_MESSAGE_DIGEST)?.values[0] as asn1js.OctetString | undefined;
    const ct = attrs.find((a) => a.type === OID_CONTENT_TYPE)?.values[0] as asn1js.ObjectIdentifier | undefined;
    const digest = createHash(digestAlgorithm).update(content).digest();
    if (!md || !Buffer.from(md.valueBlock.valueHexView).equals(digest)) return { certificateDer, signatureValid: false, digestAlgorithm };
    if (ct && ct.valueBlock.toString() !== eContentType) return { certificateDer, signatureValid: false, digestAlgorithm };
    const encoded = new Uint8Array(si.signedAttrs.encodedValue);
    signedBytes = new Uint8Array(encoded);
    signedBytes[0] = 0x31; // [0] IMPLICIT → SET OF for the signature input (RFC 5652 §5.4)
  }
  let key;
  try {
    key = createPublicKey({ key: Buffer.from(cert.subjectPublicKeyInfo.toSchema().toBER(false)), format: 'der', type: 'spki' });
  } catch {
    return { certificateDer, signatureValid: false, digestAlgorithm };
  }
  const sigAlg = si.signatureAlgorithm.algorithmId;
  // rsaEncryption / ecPublicKey as "signature algorithm" mean: the digest algorithm with that key type.
  const effective = sigAlg === '1.2.840.113549.1.1.1' ? { sha1: '1.2.840.113549.1.1.5', sha256: '1.2.840.113549.1.1.11', sha384: '1.2.840.113549.1.1.12', sha512: '1.2.840.113549.1.1.13' }[digestAlgorithm] : sigAlg === '1.2.840.10045.2.1' ? { sha1: '1.2.840.10045.4.1', sha256: '1.2.840.10045.4.3.2', sha384: '1.2.840.10045.4.3.3', sha512: '1.2.840.10045.4.3.4' }[digestAlgorithm] : sigAlg;
  const ok = verifySignature(signedBytes, effective ?? sigAlg, si.signatureAlgorithm.algorithmParams as asn1js.AsnType | undefined, new Uint8Array(si.signature.valueBlock.valueHexView), key);
  return { certificateDer, signatureValid: ok, digestAlgorithm };
}

/** An unsigned SignedData around `content` with certificates: degenerate PKCS#7 or an unsigned CMC response. */
export function buildUnsignedSignedData(o: { contentType: string; content?: Uint8Array; certificates: Uint8Array[] }): Uint8Array {
  const version = o.contentType === OID_DATA ? 1 : 3;
  const encap = o.content ? seq(oid(o.contentType), explicit(0, octetString(o.content))) : seq(oid(o.contentType));
  const sd = seq(integer(version), set(), encap, implicitCons(0, o.certificates), set());
  return new Uint8Array(seq(oid(OID_SIGNED_DATA), explicit(0, sd)));
}

/** Degenerate "certs-only" PKCS#7 (what `openssl pkcs7 -print_certs` reads). */
export function buildCertsOnly(certificates: Uint8Array[]): Uint8Array {
  return buildUnsignedSignedData({ contentType: OID_DATA, certificates });
}
