import * as asn1js from 'asn1js';
import { OpencesError } from '../../errors.js';
import { explicit, implicitCons, integer, oid, seq, set, bmp, tlv, generalizedTime, octetString } from '../../ca/der.js';
import { parseSignedData, buildUnsignedSignedData, OID_SIGNED_DATA } from '../pkcs7/signed-data.js';

export const CMC_OID = {
  pkiData: '1.3.6.1.5.5.7.12.2',
  pkiResponse: '1.3.6.1.5.5.7.12.3',
  statusInfoV2: '1.3.6.1.5.5.7.7.25',
  msEnrollNameValuePair: '1.3.6.1.4.1.311.13.2.1',
  msCmcAddAttributes: '1.3.6.1.4.1.311.10.10.1',
  transactionId: '1.3.6.1.5.5.7.7.5',
  senderNonce: '1.3.6.1.5.5.7.7.6',
} as const;

export interface PkiData {
  controls: { bodyPartId: number; type: string; values: Uint8Array[] }[];
  requests: { bodyPartId: number; kind: 'pkcs10'; csrDer: Uint8Array }[];
  nameValuePairs: Record<string, string>;
  /** Present when the PKIData came inside a SignedData. */
  signer?: { certificateDer?: Uint8Array; signatureValid: boolean };
}

const MAX_ITEMS = 256;

function seqItems(node: asn1js.AsnType | undefined, what: string): asn1js.AsnType[] {
  if (!(node instanceof asn1js.Sequence)) throw new OpencesError('malformed', `CMC ${what} is not a SEQUENCE`);
  const items = node.valueBlock.value;
  if (items.length > MAX_ITEMS) throw new OpencesError('malformed', `CMC ${what} has too many elements`);
  return items;
}

function intValue(node: asn1js.AsnType | undefined, what: string): number {
  if (!(node instanceof asn1js.Integer)) throw new OpencesError('malformed', `CMC ${what} is not an INTEGER`);
  return node.valueBlock.valueDec;
}

function str(node: asn1js.AsnType | undefined): string | undefined {
  const v = (node as { valueBlock?: { value?: unknown } } | undefined)?.valueBlock?.value;
  return typeof v === 'string' ? v : undefined;
}

function collectPairs(values: asn1js.AsnType[], into: Record<string, string>): void {
  for (const v of values) {
    if (!(v instanceof asn1js.Sequence)) continue;
    const [n, val] = v.valueBlock.value;
    const name = str(n);
    const value = str(val);
    if (name !== undefined && value !== undefined) into[name] = value;
  }
}

/** RFC 5272 PKIData, bare or inside a CMS SignedData (as Windows sends it). Only tcr (PKCS#10) requests are accepted. */
export function parsePkiData(der: Uint8Array): PkiData {
  try {
    return decodePkiData(der);
  } catch (e) {
    if (e instanceof OpencesError) throw e;
    throw new OpencesError('malformed', 'the CMC request is malformed');
  }
}

function decodePkiData(der: Uint8Array): PkiData {
  const top = asn1js.fromBER(der);
  if (top.offset === -1 || top.result.error || !(top.result instanceof asn1js.Sequence)) throw new OpencesError('malformed', 'the CMC request is not valid DER');
  const first = top.result.valueBlock.value[0];
  let body: Uint8Array = der;
  let signer: PkiData['signer'];
  if (first instanceof asn1js.ObjectIdentifier && first.valueBlock.toString() === OID_SIGNED_DATA) {
    const sd = parseSignedData(der, 'CMC request');
    if (sd.contentType !== CMC_OID.pkiData) throw new OpencesError('malformed', `the CMC SignedData holds ${sd.contentType}, not PKIData`);
    body = sd.content;
    const s = sd.signers[0];
    if (s) signer = { certificateDer: s.certificateDer, signatureValid: s.signatureValid };
  }
  const asn = body === der ? top : asn1js.fromBER(body);
  if (asn.offset === -1 || asn.result.error) throw new OpencesError('malformed', 'the CMC PKIData is not valid DER');
  const [controlSeq, reqSeq] = seqItems(asn.result, 'PKIData');
  const out: PkiData = { controls: [], requests: [], nameValuePairs: {}, signer };
  for (const c of seqItems(controlSeq, 'controlSequence')) {
    const [id, type, values] = seqItems(c, 'TaggedAttribute');
    if (!(type instanceof asn1js.ObjectIdentifier) || !(values instanceof asn1js.Set)) throw new OpencesError('malformed', 'CMC TaggedAttribute is malformed');
    const t = type.valueBlock.toString();
    out.controls.push({ bodyPartId: intValue(id, 'bodyPartID'), type: t, values: values.valueBlock.value.map((v) => new Uint8Array(v.toBER(false))) });
    if (t === CMC_OID.msEnrollNameValuePair) collectPairs(values.valueBlock.value, out.nameValuePairs);
    if (t === CMC_OID.msCmcAddAttributes) {
      // CmcAddAttributesInfo ::= SEQUENCE { dataReference, certReferences SEQUENCE OF BodyPartID, attributes SET OF Attribute }
      for (const info of values.valueBlock.value) {
        const attrs = info instanceof asn1js.Sequence ? info.valueBlock.value[2] : undefined;
        if (!(attrs instanceof asn1js.Set)) continue;
        for (const a of attrs.valueBlock.value) {
          const [at, av] = a instanceof asn1js.Sequence ? a.valueBlock.value : [];
          if (at instanceof asn1js.ObjectIdentifier && at.valueBlock.toString() === CMC_OID.msEnrollNameValuePair && av instanceof asn1js.Set) collectPairs(av.valueBlock.value, out.nameValuePairs);
        }
      }
    }
  }
  for (const r of seqItems(reqSeq, 'reqSequence')) {
    const tag = r.idBlock.tagClass === 3 ? r.idBlock.tagNumber : -1;
    if (tag === 1) throw new OpencesError('unsupported', 'CMC CRMF (crm) requests are not supported; send a PKCS#10 (tcr)');
    if (tag === 2) throw new OpencesError('unsupported', 'CMC "orm" requests are not supported; send a PKCS#10 (tcr)');
    if (tag !== 0) throw new OpencesError('malformed', 'CMC TaggedRequest has an unknown choice');
    const inner = (r as asn1js.Constructed).valueBlock.value;
    const [id, csr] = inner;
    if (!(csr instanceof asn1js.Sequence)) throw new OpencesError('malformed', 'CMC tcr holds no certification request');
    out.requests.push({ bodyPartId: intValue(id, 'bodyPartID'), kind: 'pkcs10', csrDer: new Uint8Array(csr.toBER(false)) });
  }
  return out;
}

/** Builds a PKIData around one PKCS#10 with optional name/value pairs (the client side and tests). */
export function buildPkiData(o: { csrDer: Uint8Array; nameValuePairs?: Record<string, string>; bodyPartId?: number }): Uint8Array {
  const id = o.bodyPartId ?? 1;
  const pairs = Object.entries(o.nameValuePairs ?? {});
  const controls = pairs.length ? [seq(integer(id + 1), oid(CMC_OID.msEnrollNameValuePair), set(...pairs.map(([k, v]) => seq(bmp(k), bmp(v)))))] : [];
  return new Uint8Array(seq(seq(...controls), seq(implicitCons(0, [integer(id), o.csrDer])), seq(), seq()));
}

export type CmcStatus = 'success' | 'failed' | 'pending';
const STATUS_CODE: Record<CmcStatus, number> = { success: 0, failed: 2, pending: 3 };

/**
 * A full PKI Response (RFC 5272 §3.2.2) with CMCStatusInfoV2, the certificates in the SignedData,
 * and no signer: front ends hold no signing key.
 */
export function buildPkiResponse(o: { status: CmcStatus; bodyList: number[]; statusString?: string; failInfo?: number; pendInfo?: { token: Uint8Array; time: Date }; certificates: Uint8Array[] }): Uint8Array {
  const other = o.failInfo !== undefined ? [integer(o.failInfo)] : o.pendInfo ? [seq(octetString(o.pendInfo.token), generalizedTime(o.pendInfo.time))] : [];
  const statusInfo = seq(integer(STATUS_CODE[o.status]), seq(...o.bodyList.map((b) => integer(b))), ...(o.statusString ? [tlv(0x0c, Buffer.from(o.statusString, 'utf8'))] : []), ...other);
  const response = seq(seq(seq(integer(1), oid(CMC_OID.statusInfoV2), set(statusInfo))), seq(), seq());
  return buildUnsignedSignedData({ contentType: CMC_OID.pkiResponse, content: response, certificates: o.certificates });
}

export function parsePkiResponse(der: Uint8Array): { status: CmcStatus | 'unknown'; certificates: Uint8Array[]; statusString?: string } {
  const sd = parseSignedData(der, 'CMC response');
  const asn = asn1js.fromBER(sd.content);
  let status: CmcStatus | 'unknown' = 'unknown';
  let statusString: string | undefined;
  try {
    const controls = (asn.result as asn1js.Sequence).valueBlock.value[0] as asn1js.Sequence;
    for (const c of controls.valueBlock.value) {
      const [, type, values] = (c as asn1js.Sequence).valueBlock.value;
      if ((type as asn1js.ObjectIdentifier).valueBlock.toString() === CMC_OID.statusInfoV2) {
        const si = ((values as asn1js.Set).valueBlock.value[0] as asn1js.Sequence).valueBlock.value;
        const code = (si[0] as asn1js.Integer).valueBlock.valueDec;
        status = code === 0 ? 'success' : code === 2 ? 'failed' : code === 3 ? 'pending' : 'unknown';
        statusString = str(si[2]);
      }
    }
  } catch {
    throw new OpencesError('malformed', 'the CMC response is malformed');
  }
  return { status, certificates: sd.certificates, statusString };
}

export { explicit };
