/**
 * RFC 5272 PKIData: a CMC request, bare or inside a CMS SignedData (as Windows sends it, signed
 * by the request key itself or by an RA). Only tcr (PKCS#10) requests are accepted.
 */
import * as asn1js from 'asn1js';
import { OpencesError } from '../../errors.js';
import { splitCsr } from '../pkcs10/inspect.js';
import { decode, malformed, matchSchema, octets, raw, bigUint, stringValue, children, uint32, isContext } from '../pkcs7/asn1.js';
import { CMS_OID } from '../pkcs7/oids.js';
import { decodeSignedData, detectInnerKind, guard, type CandidateKey, type SignerResult } from '../pkcs7/signed-data.js';
import { verifySigner } from '../pkcs7/verify.js';
import { CMC_OID } from './oids.js';
import { PKI_DATA, TAGGED_CERTIFICATION_REQUEST, otherMsg, sequenceItems, taggedAttribute, taggedContentInfo, type OtherMsg, type TaggedAttribute, type TaggedAttributeNodes, type TaggedContentInfo } from './schema.js';

export interface TaggedCertificationRequest {
  bodyPartId: number;
  kind: 'pkcs10';
  /** The PKCS#10 CertificationRequest exactly as it arrived. */
  csrDer: Uint8Array;
}

export interface PkiData {
  controls: TaggedAttribute[];
  requests: TaggedCertificationRequest[];
  cmsSequence: TaggedContentInfo[];
  otherMsgs: OtherMsg[];
  /**
   * Enrollment name/value pairs (CertificateTemplate, ccm, rmd…) from the MS name-value pair
   * controls (1.3.6.1.4.1.311.13.2.1, also inside 1.3.6.1.4.1.311.10.10.1) and id-cmc-regInfo.
   */
  nameValuePairs: Record<string, string>;
  /** id-cmc-transactionId, decimal. */
  transactionId?: string;
  /** id-cmc-senderNonce octets. */
  senderNonce?: Uint8Array;
  /** id-cmc-regInfo octets as sent. */
  regInfo?: Uint8Array;
  /** How it arrived. */
  envelope: 'bare' | 'signedData';
  /** The first signer when the PKIData came inside a SignedData (see signers for all). */
  signer?: SignerResult;
  signers: SignerResult[];
  /** Certificates of the enclosing SignedData (DER). */
  certificates: Uint8Array[];
}

function addPair(into: Record<string, string>, name: string, value: string): void {
  const clash = Object.keys(into).find((k) => k.toLowerCase() === name.toLowerCase());
  // Two different values for one name (say CertificateTemplate) would let the reader pick: refuse.
  if (clash !== undefined && into[clash] !== value) malformed(`the CMC request names "${name}" twice with different values`);
  into[clash ?? name] = value;
}

/** EnrollmentNameValuePair ::= SEQUENCE { name BMPString, value BMPString }. */
function collectPairs(values: asn1js.AsnType[], into: Record<string, string>): void {
  for (const v of values) {
    const [n, val] = children(v, 'enrollment name-value pair', 2);
    const name = stringValue(n);
    const value = stringValue(val);
    if (name === undefined || value === undefined) malformed('an enrollment name-value pair does not hold two strings');
    if (name !== '') addPair(into, name, value);
  }
}

/** CmcAddAttributesInfo ::= SEQUENCE { dataReference BodyPartID, certReferences SEQUENCE OF BodyPartID, attributes SET OF Attribute } (MS-WCCE). */
function collectAddAttributes(values: asn1js.AsnType[], into: Record<string, string>): void {
  for (const info of values) {
    const attrs = children(info, 'CmcAddAttributesInfo', 3)[2];
    if (!(attrs instanceof asn1js.Set)) malformed('a CmcAddAttributesInfo has no attribute SET');
    for (const a of children(attrs, 'CmcAddAttributesInfo attributes', 64)) {
      const [type, vals] = children(a, 'CmcAddAttributesInfo attribute', 2);
      if (type instanceof asn1js.ObjectIdentifier && type.valueBlock.toString() === CMC_OID.msEnrollNameValuePair && vals instanceof asn1js.Set) collectPairs(children(vals, 'name-value pairs', 64), into);
    }
  }
}

/** regInfo is free-form; clients put "name:value" lines (certreq -attrib style) or "name=value&…" in it. */
function collectRegInfo(bytes: Uint8Array, into: Record<string, string>): void {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return; // binary regInfo: not name/value pairs
  }
  const form = text.includes('&') || (!text.includes(':') && text.includes('=')) ? 'url' : 'lines';
  for (const part of text.split(form === 'url' ? '&' : /\r?\n/)) {
    const at = part.indexOf(form === 'url' ? '=' : ':');
    if (at <= 0) continue;
    let [k, v] = [part.slice(0, at).trim(), part.slice(at + 1).trim()];
    if (form === 'url') {
      try {
        [k, v] = [decodeURIComponent(k.replace(/\+/g, ' ')), decodeURIComponent(v.replace(/\+/g, ' '))];
      } catch {
        continue;
      }
    }
    if (k) addPair(into, k, v);
  }
}

function readPkiData(node: asn1js.AsnType, what: string): Omit<PkiData, 'envelope' | 'signers' | 'certificates'> {
  const r = matchSchema(node, PKI_DATA, what);
  const controls: TaggedAttributeNodes[] = sequenceItems(r.controlSequence, 'CMC controlSequence').map(taggedAttribute);
  const requests: TaggedCertificationRequest[] = [];
  for (const tr of sequenceItems(r.reqSequence, 'CMC reqSequence')) {
    if (isContext(tr, 1)) throw new OpencesError('unsupported', 'CMC CRMF requests (TaggedRequest crm) are not supported; send the request as PKCS#10 (tcr)');
    if (isContext(tr, 2)) throw new OpencesError('unsupported', 'CMC "other request message" requests (TaggedRequest orm) are not supported; send the request as PKCS#10 (tcr)');
    if (!isContext(tr, 0)) malformed('a CMC TaggedRequest is not one of tcr [0], crm [1], orm [2]');
    const t = matchSchema(tr, TAGGED_CERTIFICATION_REQUEST, 'CMC TaggedCertificationRequest');
    requests.push({ bodyPartId: uint32(t.bodyPartID, 'CMC bodyPartID'), kind: 'pkcs10', csrDer: raw(t.certificationRequest as asn1js.AsnType) });
  }
  const cmsSequence = sequenceItems(r.cmsSequence, 'CMC cmsSequence').map(taggedContentInfo);
  const otherMsgs = sequenceItems(r.otherMsgSequence, 'CMC otherMsgSequence').map(otherMsg);

  // RFC 5272 §3.2.1.3.1: body part IDs are unique within one PKIData; references depend on it.
  const seen = new Set<number>();
  for (const { bodyPartId } of [...controls, ...requests, ...cmsSequence, ...otherMsgs]) {
    if (seen.has(bodyPartId)) malformed(`the CMC request uses bodyPartID ${bodyPartId} twice`);
    seen.add(bodyPartId);
  }

  const out: Omit<PkiData, 'envelope' | 'signers' | 'certificates'> = { controls: controls.map(({ bodyPartId, type, values }) => ({ bodyPartId, type, values })), requests, cmsSequence, otherMsgs, nameValuePairs: {} };
  for (const c of controls) {
    const single = (): asn1js.AsnType => (c.nodes.length === 1 ? c.nodes[0]! : malformed(`the CMC control ${c.type} must have exactly one value`));
    switch (c.type) {
      case CMC_OID.msEnrollNameValuePair:
        collectPairs(c.nodes, out.nameValuePairs);
        break;
      case CMC_OID.msCmcAddAttributes:
        collectAddAttributes(c.nodes, out.nameValuePairs);
        break;
      case CMC_OID.regInfo:
        out.regInfo = octets(single(), 'CMC regInfo');
        collectRegInfo(out.regInfo, out.nameValuePairs);
        break;
      case CMC_OID.transactionId:
        out.transactionId = bigUint(single(), 'CMC transactionId').toString();
        break;
      case CMC_OID.senderNonce:
        out.senderNonce = octets(single(), 'CMC senderNonce');
        break;
    }
  }
  return out;
}

function requestKeys(requests: TaggedCertificationRequest[]): CandidateKey[] {
  const keys: CandidateKey[] = [];
  for (const r of requests) {
    try {
      const spki = splitCsr(r.csrDer).spki;
      const bits = children(decode(spki, 'request public key'), 'SubjectPublicKeyInfo', 2)[1];
      if (bits instanceof asn1js.BitString) keys.push({ spkiDer: spki, publicKeyBits: new Uint8Array(bits.valueBlock.valueHexView), source: 'request' });
    } catch {
      // an unreadable CSR fails later, in the PKCS#10 decoder, with its own message
    }
  }
  return keys;
}

/**
 * Decodes a CMC PKIData (RFC 5272 §3.2.1), bare or as ContentInfo/SignedData with eContentType
 * id-cct-PKIData (or id-data holding a PKIData). Inside a SignedData every signer is verified,
 * against its certificate or, for a SKI signer without one, against a request's own key.
 * crm/orm requests → OpencesError('unsupported'); anything malformed → OpencesError('malformed').
 */
export function parsePkiData(der: Uint8Array): PkiData {
  return guard('CMC request', () => {
    const top = decode(der, 'CMC request');
    const first = top instanceof asn1js.Sequence ? top.valueBlock.value[0] : undefined;
    const isContentInfo = first instanceof asn1js.ObjectIdentifier;
    if (!isContentInfo) return { ...readPkiData(top, 'CMC PKIData'), envelope: 'bare' as const, signers: [], certificates: [] };
    const sd = decodeSignedData(der, 'CMC request', top);
    if (!sd.content) malformed('the CMC SignedData carries no content');
    const content = sd.content;
    if (sd.contentType !== CMC_OID.pkiData && !(sd.contentType === CMS_OID.data && detectInnerKind(sd.contentType, content) === 'pkiData')) {
      malformed(`the CMC SignedData holds content type ${sd.contentType}, not id-cct-PKIData`);
    }
    // One level of wrapping only: a SignedData inside the SignedData is not a PKIData.
    const pki = readPkiData(decode(content, 'CMC PKIData'), 'CMC PKIData');
    const candidates = requestKeys(pki.requests);
    const signers = sd.signerInfos.map((s) => verifySigner(s, content, sd.contentType, sd.certificates, candidates));
    return { ...pki, envelope: 'signedData' as const, signers, signer: signers[0], certificates: sd.certificates.map((c) => c.der) };
  });
}
