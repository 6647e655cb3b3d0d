/**
 * CMS SignedData (RFC 5652 §5) as requests arrive in it: a Renew (MS-WSTEP: a PKCS#7 whose
 * content is the new request, signed by the certificate being renewed), a "PKCS#7" Issue
 * wrapping a PKCS#10 or CMC, and a Windows CMC request (eContentType id-cct-PKIData).
 */
import * as asn1js from 'asn1js';
import { OpencesError } from '../../errors.js';
import { CMS_OID } from './oids.js';
import { children, decode, isContext, malformed, matchSchema, octets, oidText, raw, smallInt, unsignedBytes } from './asn1.js';
import { readCertificate, type CertificateIds } from './certificate.js';
import { verifySigner, type CandidateKey, type CmsAttribute, type SignerInfoFields, type SignerResult } from './verify.js';

export type { CmsAttribute, SignerResult, SignerIdentifier, CandidateKey } from './verify.js';

/** Kept for callers that imported these names from here. */
export const OID_SIGNED_DATA = CMS_OID.signedData;
export const OID_DATA = CMS_OID.data;

const MAX_CERTIFICATES = 64;
const MAX_SIGNERS = 8;
const MAX_ATTRIBUTES = 64;

/** What the encapsulated content is: a PKCS#10, a CMC PKIData, or something else. */
export type InnerKind = 'pkcs10' | 'pkiData' | 'other';

export interface SignedRequest {
  /** eContentType. */
  contentType: string;
  /** The eContent octets (the inner request). */
  content: Uint8Array;
  /** Detected from contentType and, for id-data and unknown types, from the content's structure. */
  innerKind: InnerKind;
  /** Every certificate in `certificates`, as received (DER). */
  certificates: Uint8Array[];
  signers: SignerResult[];
  version: number;
}

/** The structure of a SignedData before any signature is checked (content may be absent: certs-only). */
export interface DecodedSignedData {
  version: number;
  contentType: string;
  content?: Uint8Array;
  certificates: CertificateIds[];
  signerInfos: SignerInfoFields[];
}

const CONTENT_INFO = new asn1js.Sequence({
  value: [new asn1js.ObjectIdentifier({ name: 'contentType' }), new asn1js.Constructed({ name: 'content', optional: true, idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Any({ name: 'inner' })] })],
});

const SIGNED_DATA = new asn1js.Sequence({
  value: [
    new asn1js.Integer({ name: 'version' }),
    new asn1js.Set({ name: 'digestAlgorithms', value: [new asn1js.Repeated({ value: new asn1js.Sequence() })] }),
    new asn1js.Sequence({ name: 'encapContentInfo', value: [new asn1js.Repeated({ value: new asn1js.Any() })] }),
    new asn1js.Constructed({ name: 'certificates', optional: true, idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Repeated({ value: new asn1js.Any() })] }),
    new asn1js.Constructed({ name: 'crls', optional: true, idBlock: { tagClass: 3, tagNumber: 1 }, value: [new asn1js.Repeated({ value: new asn1js.Any() })] }),
    new asn1js.Set({ name: 'signerInfos', value: [new asn1js.Repeated({ value: new asn1js.Any() })] }),
  ],
});

const SIGNER_INFO = new asn1js.Sequence({
  value: [
    new asn1js.Integer({ name: 'version' }),
    new asn1js.Choice({ value: [new asn1js.Sequence({ name: 'issuerAndSerial' }), new asn1js.Primitive({ name: 'ski', idBlock: { tagClass: 3, tagNumber: 0 } })] }),
    new asn1js.Sequence({ name: 'digestAlgorithm' }),
    new asn1js.Constructed({ name: 'signedAttrs', optional: true, idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Repeated({ value: new asn1js.Any() })] }),
    new asn1js.Sequence({ name: 'signatureAlgorithm' }),
    new asn1js.OctetString({ name: 'signature' }),
    new asn1js.Constructed({ name: 'unsignedAttrs', optional: true, idBlock: { tagClass: 3, tagNumber: 1 }, value: [new asn1js.Repeated({ value: new asn1js.Any() })] }),
  ],
});

function attributes(node: asn1js.AsnType | undefined, what: string): { type: string; values: asn1js.AsnType[] }[] {
  if (!node) return [];
  return children(node, what, MAX_ATTRIBUTES).map((a) => {
    const [type, values] = children(a, `${what} attribute`, 2);
    if (!(values instanceof asn1js.Set)) malformed(`a ${what} attribute has no SET of values`);
    return { type: oidText(type, `${what} attribute type`), values: children(values, `${what} attribute values`, 64) };
  });
}

function rawAttributes(list: { type: string; values: asn1js.AsnType[] }[]): CmsAttribute[] {
  return list.map((a) => ({ type: a.type, values: a.values.map(raw) }));
}

function algorithm(node: unknown, what: string): { oid: string; params?: asn1js.AsnType } {
  const [id, params] = children(node as asn1js.AsnType, what, 2);
  return { oid: oidText(id, what), params };
}

function signerInfo(node: asn1js.AsnType): SignerInfoFields {
  const r = matchSchema(node, SIGNER_INFO, 'SignerInfo');
  const ias = r.issuerAndSerial as asn1js.Sequence | undefined;
  let sid: SignerInfoFields['sid'];
  if (ias) {
    const [issuer, serial] = children(ias, 'IssuerAndSerialNumber', 2);
    if (!(issuer instanceof asn1js.Sequence)) malformed('the SignerInfo issuer is not a Name');
    const serialBytes = serial instanceof asn1js.Integer && serial.valueBlock.valueHexView[0]! & 0x80 ? new Uint8Array(serial.valueBlock.valueHexView) : unsignedBytes(serial, 'SignerInfo serial number');
    sid = { kind: 'issuerAndSerial', issuerDer: raw(issuer), serial: serialBytes };
  } else {
    const ski = r.ski as asn1js.Primitive;
    sid = { kind: 'subjectKeyIdentifier', ski: new Uint8Array(ski.valueBlock.valueHexView) };
  }
  const signedAttrsNode = r.signedAttrs as asn1js.AsnType | undefined;
  const signed = attributes(signedAttrsNode, 'signed');
  const unsigned = attributes(r.unsignedAttrs as asn1js.AsnType | undefined, 'unsigned');
  const sig = algorithm(r.signatureAlgorithm, 'signature algorithm');
  return {
    version: smallInt(r.version, 'SignerInfo version'),
    sid,
    digestAlgorithm: algorithm(r.digestAlgorithm, 'digest algorithm').oid,
    signedAttrsDer: signedAttrsNode ? raw(signedAttrsNode) : undefined,
    signedAttributes: rawAttributes(signed),
    signedAttributeNodes: signed,
    signatureAlgorithm: sig.oid,
    signatureParams: sig.params,
    signature: octets(r.signature, 'SignerInfo signature'),
    unsignedAttributes: rawAttributes(unsigned),
  };
}

/** ContentInfo → SignedData, structure only (also accepts a bare SignedData). `decoded`: `der` already decoded (not twice). */
export function decodeSignedData(der: Uint8Array, what = 'PKCS#7 message', decoded?: asn1js.AsnType): DecodedSignedData {
  return guard(what, () => {
    const top = decoded ?? decode(der, what);
    let sdNode: asn1js.AsnType;
    const first = top instanceof asn1js.Sequence ? top.valueBlock.value[0] : undefined;
    if (first instanceof asn1js.ObjectIdentifier) {
      const ci = matchSchema(top, CONTENT_INFO, `${what} ContentInfo`);
      const type = oidText(ci.contentType, 'ContentInfo content type');
      if (type !== CMS_OID.signedData) malformed(`the ${what} is not CMS SignedData (content type ${type})`);
      if (!ci.inner) malformed(`the ${what} ContentInfo has no content`);
      sdNode = ci.inner as asn1js.AsnType;
    } else sdNode = top;
    const sd = matchSchema(sdNode, SIGNED_DATA, `${what} SignedData`);
    const encap = children(sd.encapContentInfo as asn1js.AsnType, 'EncapsulatedContentInfo', 2);
    const contentType = oidText(encap[0], 'eContentType');
    let content: Uint8Array | undefined;
    if (encap[1]) {
      if (!isContext(encap[1], 0)) malformed('the eContent is not tagged [0]');
      const inner = children(encap[1], 'eContent', 1)[0];
      // RFC 2315 (PKCS#7 1.5) put non-data content in directly rather than in an OCTET STRING.
      content = inner instanceof asn1js.OctetString ? octets(inner, 'eContent') : inner ? raw(inner) : malformed('the eContent [0] is empty');
    }
    const certNodes = sd.certificates ? children(sd.certificates as asn1js.AsnType, 'certificates', MAX_CERTIFICATES) : [];
    // Only X.509 certificates (a SEQUENCE); attribute certificates and others ([1]..[3]) are skipped.
    const certificates = certNodes.filter((c) => c instanceof asn1js.Sequence).map((c) => readCertificate(c));
    const signerInfos = children(sd.signerInfos as asn1js.AsnType, 'signerInfos', MAX_SIGNERS).map(signerInfo);
    return { version: smallInt(sd.version, 'SignedData version'), contentType, content, certificates, signerInfos };
  });
}

/** Every non-typed failure (asn1js throwing, a stack overflow) still reaches the caller as malformed. */
export function guard<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof OpencesError) throw e;
    throw new OpencesError('malformed', `the ${what} is malformed`);
  }
}

/** PKCS#10 by structure: SEQUENCE { SEQUENCE { INTEGER, Name, SPKI, [0] }, AlgorithmIdentifier, BIT STRING }; PKIData: four SEQUENCEs. */
export function detectInnerKind(contentType: string, content: Uint8Array): InnerKind {
  if (contentType === CMS_OID.pkiData) return 'pkiData';
  try {
    const n = decode(content, 'content');
    const items = n instanceof asn1js.Sequence ? n.valueBlock.value : [];
    if (items.length === 3 && items[0] instanceof asn1js.Sequence && items[1] instanceof asn1js.Sequence && items[2] instanceof asn1js.BitString && items[0].valueBlock.value[0] instanceof asn1js.Integer && isContext(items[0].valueBlock.value[3], 0)) return 'pkcs10';
    if (items.length === 4 && items.every((i) => i instanceof asn1js.Sequence)) return 'pkiData';
  } catch {
    // not DER at all: neither
  }
  return 'other';
}

/**
 * Unwraps ContentInfo → SignedData and verifies each SignerInfo against the certificate its sid
 * names in `certificates` (RSA PKCS#1 v1.5 and PSS, ECDSA; signed attributes with
 * contentType and messageDigest checks). A bad signature is `signatureValid: false`, not an error.
 * `candidateKeys` lets a CMC request signed by its own request key (SKI sid, no certificate) verify.
 */
export function parseSignedData(der: Uint8Array, what = 'PKCS#7 request', candidateKeys: CandidateKey[] = []): SignedRequest {
  const d = decodeSignedData(der, what);
  if (!d.content) throw new OpencesError('malformed', `the ${what} carries no content (detached or certs-only)`);
  const content = d.content;
  return guard(what, () => ({
    contentType: d.contentType,
    content,
    innerKind: detectInnerKind(d.contentType, content),
    certificates: d.certificates.map((c) => c.der),
    signers: d.signerInfos.map((s) => verifySigner(s, content, d.contentType, d.certificates, candidateKeys)),
    version: d.version,
  }));
}
