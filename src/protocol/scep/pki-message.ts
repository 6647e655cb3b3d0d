/**
 * SCEP pkiMessage (RFC 8894 §3): the PKIOperation a client sends (CMS SignedData whose content is
 * the pkcsPKIEnvelope, with the SCEP signed attributes) and the CertRep we answer with. Bytes in,
 * typed values out; the RA's keys are passed in, never looked up here.
 */
import { createHash, sign, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { OpencesError } from '../../errors.js';
import { explicit, implicitCons, integer, integerFromBytes, nullValue, octetString, oid, printable, seq, set, setOf } from '../../ca/der.js';
import { CMS_OID, DIGEST_OID_BY_NAME, RSA_WITH } from '../pkcs7/oids.js';
import { children, decode, malformed, octets, raw, stringValue, unsignedBytes } from '../pkcs7/asn1.js';
import { guard, parseSignedData } from '../pkcs7/signed-data.js';
import { readCertificate } from '../pkcs7/certificate.js';
import { FAIL_INFO, MESSAGE_TYPE, PKI_STATUS, SCEP_OID, type FailInfoName, type MessageTypeName, type PkiStatusName } from './oids.js';

/** A PKIOperation is a CSR (a few KB) in two CMS layers: 256 KiB is generous, and checked before any parsing. */
export const MAX_PKI_MESSAGE_BYTES = 256 * 1024;

export interface PkiMessage {
  messageType: MessageTypeName;
  transactionId: string;
  /** The transactionID value exactly as received (its string type included), echoed in the CertRep. */
  transactionIdDer: Uint8Array;
  senderNonce: Uint8Array;
  /** The signer's certificate (self-signed for a first request, the current one for a renewal). */
  signerCertificateDer?: Uint8Array;
  signatureValid: boolean;
  /** Why the signature does not verify. */
  signatureFailure?: string;
  /** node:crypto digest name of the signature (sha256, sha1, md5…). */
  digestAlgorithm: string;
  /** The pkcsPKIEnvelope (EnvelopedData), still encrypted. */
  envelope: Uint8Array;
}

const MESSAGE_TYPES = new Map<number, MessageTypeName>(Object.entries(MESSAGE_TYPE).map(([k, v]) => [v, k as MessageTypeName]));
const LEGACY_DIGESTS: Record<string, string> = { '1.2.840.113549.2.5': 'md5' };

function attributeText(values: Uint8Array[] | undefined, what: string): string | undefined {
  if (!values) return undefined;
  if (values.length !== 1) malformed(`the ${what} attribute has ${values.length} values`);
  const s = stringValue(decode(values[0]!, what));
  if (s === undefined) malformed(`the ${what} attribute is not a string`);
  return s;
}

function attributeOctets(values: Uint8Array[] | undefined, what: string): Uint8Array | undefined {
  if (!values) return undefined;
  if (values.length !== 1) malformed(`the ${what} attribute has ${values.length} values`);
  return octets(decode(values[0]!, what), what);
}

/** Parses a PKIOperation message (size-bounded; every structural fault is OpencesError('malformed')). */
export function parsePkiMessage(der: Uint8Array, o: { maxBytes?: number } = {}): PkiMessage {
  const max = o.maxBytes ?? MAX_PKI_MESSAGE_BYTES;
  if (der.length > max) throw new OpencesError('tooLarge', `the SCEP message is larger than ${max} bytes`);
  const sd = parseSignedData(der, 'SCEP pkiMessage');
  if (sd.signers.length !== 1) malformed(`the SCEP pkiMessage has ${sd.signers.length} signers, not one`);
  const s = sd.signers[0]!;
  return guard('SCEP pkiMessage', () => {
    const attr = (type: string) => s.signedAttributes.find((a) => a.type === type)?.values;
    const typeText = attributeText(attr(SCEP_OID.messageType), 'messageType');
    if (typeText === undefined) malformed('the SCEP pkiMessage has no messageType attribute');
    const messageType = /^\d{1,3}$/.test(typeText) ? MESSAGE_TYPES.get(Number(typeText)) : undefined;
    if (!messageType || messageType === 'CertRep') malformed(`the SCEP messageType ${JSON.stringify(typeText.slice(0, 16))} is not a request`);
    const transactionId = attributeText(attr(SCEP_OID.transactionID), 'transactionID');
    if (!transactionId) malformed('the SCEP pkiMessage has no transactionID');
    if (transactionId.length > 128) malformed('the SCEP transactionID is longer than 128 characters');
    const senderNonce = attributeOctets(attr(SCEP_OID.senderNonce), 'senderNonce');
    if (!senderNonce || senderNonce.length < 8 || senderNonce.length > 64) malformed('the SCEP senderNonce is missing or not 8..64 bytes');
    const digestAlgorithm = LEGACY_DIGESTS[s.digestAlgorithm] ?? s.digestAlgorithm;
    return {
      messageType,
      transactionId,
      transactionIdDer: attr(SCEP_OID.transactionID)![0]!,
      senderNonce,
      ...(s.certificateDer ? { signerCertificateDer: s.certificateDer } : {}),
      signatureValid: s.signatureValid,
      ...(s.failure ? { signatureFailure: s.failure } : {}),
      digestAlgorithm,
      envelope: sd.content,
    };
  });
}

/** IssuerAndSubject (CertPoll, RFC 8894 §3.3.3): both names as DER. */
export function parseIssuerAndSubject(der: Uint8Array): { issuerDer: Uint8Array; subjectDer: Uint8Array } {
  return guard('CertPoll IssuerAndSubject', () => {
    const [issuer, subject] = children(decode(der, 'IssuerAndSubject'), 'IssuerAndSubject', 2);
    if (!(issuer instanceof asn1js.Sequence) || !(subject instanceof asn1js.Sequence)) malformed('the IssuerAndSubject does not hold two Names');
    return { issuerDer: raw(issuer), subjectDer: raw(subject) };
  });
}

/** IssuerAndSerialNumber (GetCert, GetCRL): the issuer Name and the serial as lower-case hex. */
export function parseIssuerAndSerial(der: Uint8Array): { issuerDer: Uint8Array; serial: string } {
  return guard('IssuerAndSerialNumber', () => {
    const [issuer, serial] = children(decode(der, 'IssuerAndSerialNumber'), 'IssuerAndSerialNumber', 2);
    if (!(issuer instanceof asn1js.Sequence)) malformed('the IssuerAndSerialNumber issuer is not a Name');
    const hex = Buffer.from(unsignedBytes(serial, 'serial number')).toString('hex');
    return { issuerDer: raw(issuer), serial: hex };
  });
}

export type CertRepDigest = 'sha256' | 'sha384' | 'sha512' | 'sha1' | 'md5';

export interface CertRepInput {
  transactionId: string;
  /** The request's transactionID value as received; without it, transactionId as a PrintableString. */
  transactionIdDer?: Uint8Array;
  /** The request's senderNonce, returned as recipientNonce. */
  recipientNonce: Uint8Array;
  senderNonce: Uint8Array;
  status: PkiStatusName;
  failInfo?: FailInfoName;
  /** SUCCESS: the pkcsPKIEnvelope (sealEnvelope of the degenerate PKCS#7 or CRL). */
  envelope?: Uint8Array;
  /** The RA signing certificate and its RSA key. */
  signerCertDer: Uint8Array;
  signerKey: KeyObject;
  digest: CertRepDigest;
  /** Further certificates to include (the CA chain). */
  extraCerts?: Uint8Array[];
}

const MD5_WITH_RSA = '1.2.840.113549.1.1.4';
const DIGEST_OID: Record<CertRepDigest, string> = { sha256: DIGEST_OID_BY_NAME.sha256!, sha384: DIGEST_OID_BY_NAME.sha384!, sha512: DIGEST_OID_BY_NAME.sha512!, sha1: DIGEST_OID_BY_NAME.sha1!, md5: '1.2.840.113549.2.5' };

/** Signs a pkiMessage: SignedData (content type data) over `content` with the SCEP attributes given, by an RSA key. */
function signPkiMessage(o: { content: Uint8Array | null; scepAttributes: Buffer[]; signerCertDer: Uint8Array; signerKey: KeyObject; digest: CertRepDigest; extraCerts?: Uint8Array[] }): Uint8Array {
  const content = o.content ?? new Uint8Array(0);
  const signer = readCertificate(decode(o.signerCertDer, 'signer certificate'), 'signer certificate');
  const attrs = [seq(oid(CMS_OID.contentType), set(oid(CMS_OID.data))), seq(oid(CMS_OID.messageDigest), set(octetString(createHash(o.digest).update(content).digest()))), ...o.scepAttributes];
  const signedAttrsSet = setOf(...attrs);
  const signature = sign(o.digest, signedAttrsSet, o.signerKey);
  const signedAttrs = Buffer.from(signedAttrsSet);
  signedAttrs[0] = 0xa0; // [0] IMPLICIT in the SignerInfo; the signature covers the SET OF form
  const digestAlg = seq(oid(DIGEST_OID[o.digest]), nullValue());
  const sigAlg = seq(oid(o.digest === 'md5' ? MD5_WITH_RSA : RSA_WITH[o.digest]!), nullValue());
  const signerInfo = seq(integer(1), seq(signer.issuerDer, integerFromBytes(signer.serial)), digestAlg, signedAttrs, sigAlg, octetString(signature));
  // PENDING and FAILURE have no pkcsPKIEnvelope (RFC 8894 §3.3.2), but an empty eContent rather than
  // none: OpenSSL's PKCS7_verify (certmonger's scep-submit) refuses a SignedData without content.
  const encap = seq(oid(CMS_OID.data), explicit(0, octetString(content)));
  const sd = seq(integer(1), set(digestAlg), encap, implicitCons(0, [o.signerCertDer, ...(o.extraCerts ?? [])]), set(signerInfo));
  return new Uint8Array(seq(oid(CMS_OID.signedData), explicit(0, sd)));
}

/**
 * CertRep (RFC 8894 §3.3.2): SignedData by the RA signing key with messageType 3, pkiStatus,
 * failInfo (FAILURE), the nonces and the transactionID. PENDING and FAILURE carry empty content.
 */
export function buildCertRep(o: CertRepInput): Uint8Array {
  if (o.status === 'FAILURE' && !o.failInfo) throw new OpencesError('internal', 'a FAILURE CertRep needs a failInfo');
  if (o.status === 'SUCCESS' && !o.envelope) throw new OpencesError('internal', 'a SUCCESS CertRep needs its envelope');
  return signPkiMessage({
    content: o.status === 'SUCCESS' ? o.envelope! : null,
    scepAttributes: [
      seq(oid(SCEP_OID.messageType), set(printable(String(MESSAGE_TYPE.CertRep)))),
      seq(oid(SCEP_OID.pkiStatus), set(printable(String(PKI_STATUS[o.status])))),
      ...(o.failInfo && o.status === 'FAILURE' ? [seq(oid(SCEP_OID.failInfo), set(printable(String(FAIL_INFO[o.failInfo]))))] : []),
      seq(oid(SCEP_OID.senderNonce), set(octetString(o.senderNonce))),
      seq(oid(SCEP_OID.recipientNonce), set(octetString(o.recipientNonce))),
      seq(oid(SCEP_OID.transactionID), set(o.transactionIdDer ?? printable(o.transactionId))),
    ],
    signerCertDer: o.signerCertDer,
    signerKey: o.signerKey,
    digest: o.digest,
    ...(o.extraCerts ? { extraCerts: o.extraCerts } : {}),
  });
}

/** A client's PKIOperation (PKCSReq, RenewalReq, CertPoll…): for the requester side, tests and the fuzz corpus. */
export function buildPkiRequest(o: { messageType: Exclude<MessageTypeName, 'CertRep'>; transactionId: string; senderNonce: Uint8Array; envelope: Uint8Array; signerCertDer: Uint8Array; signerKey: KeyObject; digest?: CertRepDigest }): Uint8Array {
  return signPkiMessage({
    content: o.envelope,
    scepAttributes: [
      seq(oid(SCEP_OID.messageType), set(printable(String(MESSAGE_TYPE[o.messageType])))),
      seq(oid(SCEP_OID.senderNonce), set(octetString(o.senderNonce))),
      seq(oid(SCEP_OID.transactionID), set(printable(o.transactionId))),
    ],
    signerCertDer: o.signerCertDer,
    signerKey: o.signerKey,
    digest: o.digest ?? 'sha256',
  });
}
