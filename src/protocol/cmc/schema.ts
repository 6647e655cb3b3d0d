/**
 * asn1js schemas for the CMC types (RFC 5272 §3.2, module with IMPLICIT TAGS); pkijs has none.
 * Each type is matched against its own schema and reads its children itself, the way pkijs
 * classes do, so names never collide between nesting levels.
 */
import * as asn1js from 'asn1js';
import { children, malformed, matchSchema, octets, oidText, raw, smallInt, uint32 } from '../pkcs7/asn1.js';

const MAX_ITEMS = 256;
const seqOfAny = (name: string): asn1js.Sequence => new asn1js.Sequence({ name, value: [new asn1js.Repeated({ value: new asn1js.Any() })] });

/** PKIData ::= SEQUENCE { controlSequence, reqSequence, cmsSequence, otherMsgSequence } (all SEQUENCE OF). */
export const PKI_DATA = new asn1js.Sequence({ value: [seqOfAny('controlSequence'), seqOfAny('reqSequence'), seqOfAny('cmsSequence'), seqOfAny('otherMsgSequence')] });

/** PKIResponse ::= SEQUENCE { controlSequence, cmsSequence, otherMsgSequence }. */
export const PKI_RESPONSE = new asn1js.Sequence({ value: [seqOfAny('controlSequence'), seqOfAny('cmsSequence'), seqOfAny('otherMsgSequence')] });

/** TaggedAttribute ::= SEQUENCE { bodyPartID BodyPartID, attrType OID, attrValues SET OF AttributeValue }. */
export const TAGGED_ATTRIBUTE = new asn1js.Sequence({
  value: [new asn1js.Integer({ name: 'bodyPartID' }), new asn1js.ObjectIdentifier({ name: 'attrType' }), new asn1js.Set({ name: 'attrValues', value: [new asn1js.Repeated({ value: new asn1js.Any() })] })],
});

/** tcr [0] TaggedCertificationRequest ::= SEQUENCE { bodyPartID, certificationRequest } (IMPLICIT: the [0] replaces SEQUENCE). */
export const TAGGED_CERTIFICATION_REQUEST = new asn1js.Constructed({
  idBlock: { tagClass: 3, tagNumber: 0 },
  value: [new asn1js.Integer({ name: 'bodyPartID' }), new asn1js.Sequence({ name: 'certificationRequest' })],
});

/** TaggedContentInfo ::= SEQUENCE { bodyPartID, contentInfo ContentInfo }. */
export const TAGGED_CONTENT_INFO = new asn1js.Sequence({
  value: [new asn1js.Integer({ name: 'bodyPartID' }), new asn1js.Sequence({ name: 'contentInfo', value: [new asn1js.ObjectIdentifier({ name: 'contentType' }), new asn1js.Repeated({ value: new asn1js.Any() })] })],
});

/** OtherMsg ::= SEQUENCE { bodyPartID, otherMsgType OID, otherMsgValue ANY }. */
export const OTHER_MSG = new asn1js.Sequence({ value: [new asn1js.Integer({ name: 'bodyPartID' }), new asn1js.ObjectIdentifier({ name: 'otherMsgType' }), new asn1js.Any({ name: 'otherMsgValue' })] });

/** CMCStatusInfoV2 ::= SEQUENCE { cMCStatus, bodyList SEQUENCE OF BodyPartReference, statusString UTF8String OPTIONAL, otherInfo OtherStatusInfo OPTIONAL }. */
export const CMC_STATUS_INFO_V2 = new asn1js.Sequence({
  value: [
    new asn1js.Integer({ name: 'cMCStatus' }),
    new asn1js.Sequence({ name: 'bodyList', value: [new asn1js.Repeated({ value: new asn1js.Any() })] }),
    new asn1js.Utf8String({ name: 'statusString', optional: true }),
    // OtherStatusInfo ::= CHOICE { failInfo INTEGER, pendInfo PendInfo, extendedFailInfo SEQUENCE }
    new asn1js.Choice({ optional: true, value: [new asn1js.Integer({ name: 'failInfo' }), new asn1js.Sequence({ name: 'otherSeq' })] }),
  ],
});

/** PendInfo ::= SEQUENCE { pendToken OCTET STRING, pendTime GeneralizedTime }. */
export const PEND_INFO = new asn1js.Sequence({ value: [new asn1js.OctetString({ name: 'pendToken' }), new asn1js.GeneralizedTime({ name: 'pendTime' })] });

export interface TaggedAttribute {
  bodyPartId: number;
  type: string;
  /** DER of each value of attrValues. */
  values: Uint8Array[];
}

export interface TaggedAttributeNodes extends TaggedAttribute {
  nodes: asn1js.AsnType[];
}

export interface TaggedContentInfo {
  bodyPartId: number;
  contentType: string;
  contentInfoDer: Uint8Array;
}

export interface OtherMsg {
  bodyPartId: number;
  type: string;
  valueDer: Uint8Array;
}

export interface PendInfo {
  token: Uint8Array;
  time: Date;
}

export interface StatusInfo {
  /** 2 for CMCStatusInfoV2, 1 for the older CMCStatusInfo. */
  version: 1 | 2;
  code: number;
  /** BodyPartIDs the status is about (a BodyPartPath is given as its last element's ID and in bodyPaths). */
  bodyList: number[];
  bodyPaths: number[][];
  statusString?: string;
  failInfo?: number;
  pendInfo?: PendInfo;
  extendedFailInfo?: { type: string; valueDer: Uint8Array };
}

export function sequenceItems(node: unknown, what: string): asn1js.AsnType[] {
  return children(node as asn1js.AsnType, what, MAX_ITEMS);
}

export function taggedAttribute(node: asn1js.AsnType): TaggedAttributeNodes {
  const r = matchSchema(node, TAGGED_ATTRIBUTE, 'CMC TaggedAttribute');
  const nodes = children(r.attrValues as asn1js.AsnType, 'CMC TaggedAttribute values', MAX_ITEMS);
  return { bodyPartId: uint32(r.bodyPartID, 'CMC bodyPartID'), type: oidText(r.attrType, 'CMC attrType'), values: nodes.map(raw), nodes };
}

export function taggedContentInfo(node: asn1js.AsnType): TaggedContentInfo {
  const r = matchSchema(node, TAGGED_CONTENT_INFO, 'CMC TaggedContentInfo');
  const ci = r.contentInfo as asn1js.AsnType;
  if (children(ci, 'CMC TaggedContentInfo ContentInfo', 2).length > 2) malformed('the CMC TaggedContentInfo ContentInfo has extra elements');
  return { bodyPartId: uint32(r.bodyPartID, 'CMC bodyPartID'), contentType: oidText(r.contentType, 'CMC ContentInfo contentType'), contentInfoDer: raw(ci) };
}

export function otherMsg(node: asn1js.AsnType): OtherMsg {
  const r = matchSchema(node, OTHER_MSG, 'CMC OtherMsg');
  return { bodyPartId: uint32(r.bodyPartID, 'CMC bodyPartID'), type: oidText(r.otherMsgType, 'CMC otherMsgType'), valueDer: raw(r.otherMsgValue as asn1js.AsnType) };
}

function pendInfo(node: asn1js.AsnType): PendInfo {
  const r = matchSchema(node, PEND_INFO, 'CMC PendInfo');
  const t = (r.pendTime as asn1js.GeneralizedTime).toDate();
  if (Number.isNaN(t.getTime())) malformed('the CMC PendInfo time is not a valid GeneralizedTime');
  return { token: octets(r.pendToken, 'CMC pendToken'), time: t };
}

/**
 * CMCStatusInfoV2 (id-cmc-statusInfoV2) or CMCStatusInfo (id-cmc-statusInfo, bodyList of plain
 * BodyPartIDs). Both share the shape this schema accepts.
 */
export function statusInfo(node: asn1js.AsnType, version: 1 | 2): StatusInfo {
  const r = matchSchema(node, CMC_STATUS_INFO_V2, version === 2 ? 'CMCStatusInfoV2' : 'CMCStatusInfo');
  const out: StatusInfo = { version, code: smallInt(r.cMCStatus, 'CMC status'), bodyList: [], bodyPaths: [] };
  for (const ref of children(r.bodyList as asn1js.AsnType, 'CMC bodyList', MAX_ITEMS)) {
    if (ref instanceof asn1js.Integer) {
      const id = uint32(ref, 'CMC bodyList entry');
      out.bodyList.push(id);
      out.bodyPaths.push([id]);
    } else if (version === 2 && ref instanceof asn1js.Sequence) {
      const path = children(ref, 'CMC BodyPartPath', 32).map((p) => uint32(p, 'CMC BodyPartPath entry'));
      if (path.length === 0) malformed('a CMC BodyPartPath is empty');
      out.bodyList.push(path[path.length - 1]!);
      out.bodyPaths.push(path);
    } else malformed('a CMC bodyList entry is neither a BodyPartID nor a BodyPartPath');
  }
  if (r.statusString) out.statusString = (r.statusString as asn1js.Utf8String).valueBlock.value;
  if (r.failInfo) out.failInfo = smallInt(r.failInfo, 'CMC failInfo');
  const other = r.otherSeq as asn1js.Sequence | undefined;
  if (other) {
    const first = other.valueBlock.value[0];
    if (first instanceof asn1js.OctetString) out.pendInfo = pendInfo(other);
    else if (version === 2) {
      const [type, value] = children(other, 'CMC extendedFailInfo', 2);
      if (!value) malformed('the CMC extendedFailInfo has no value');
      out.extendedFailInfo = { type: oidText(type, 'CMC extendedFailInfo type'), valueDer: raw(value) };
    } else malformed('the CMC status otherInfo is neither failInfo nor pendInfo');
  }
  return out;
}
