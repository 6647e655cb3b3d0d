/**
 * CMC builders: a PKIData around one PKCS#10 (the client side and tests), and the full PKI
 * Response our CES front end returns (RFC 5272 §3.2.2/§4.2), unsigned because front ends hold
 * no signing key.
 */
import { OpencesError } from '../../errors.js';
import { bmp, generalizedTime, implicitCons, integer, octetString, oid, seq, setOf, utf8 } from '../../ca/der.js';
import { buildUnsignedSignedData } from '../pkcs7/build.js';
import { CMC_OID } from './oids.js';
import { CMC_STATUS, type CmcStatus } from './status.js';
import type { TaggedAttribute } from './schema.js';

export interface BuildPkiDataOptions {
  /** The PKCS#10 CertificationRequest, DER; carried as tcr. */
  csrDer: Uint8Array;
  /** BodyPartID of the tcr (default 1); controls are numbered after it. */
  bodyPartId?: number;
  /** Enrollment name/value pairs, e.g. { CertificateTemplate: 'WebServer' } (1.3.6.1.4.1.311.13.2.1). */
  nameValuePairs?: Record<string, string>;
  /** id-cmc-transactionId. */
  transactionId?: bigint | number;
  /** id-cmc-senderNonce. */
  senderNonce?: Uint8Array;
  /** Further controls; their bodyPartIds must not collide. */
  extraControls?: TaggedAttribute[];
}

function taggedAttribute(a: TaggedAttribute): Buffer {
  return seq(integer(a.bodyPartId), oid(a.type), setOf(...a.values));
}

function checkUnique(ids: number[]): void {
  if (new Set(ids).size !== ids.length) throw new OpencesError('internal', `CMC body part IDs must be unique, got ${ids.join(', ')}`);
}

/** PKIData { controls, reqSequence: [tcr bodyPartId csr], cmsSequence: [], otherMsgSequence: [] }. */
export function buildPkiData(o: BuildPkiDataOptions): Uint8Array {
  const id = o.bodyPartId ?? 1;
  let next = id + 1;
  const controls: TaggedAttribute[] = [];
  const pairs = Object.entries(o.nameValuePairs ?? {});
  if (pairs.length) controls.push({ bodyPartId: next++, type: CMC_OID.msEnrollNameValuePair, values: pairs.map(([k, v]) => seq(bmp(k), bmp(v))) });
  if (o.transactionId !== undefined) controls.push({ bodyPartId: next++, type: CMC_OID.transactionId, values: [integer(o.transactionId)] });
  if (o.senderNonce) controls.push({ bodyPartId: next++, type: CMC_OID.senderNonce, values: [octetString(o.senderNonce)] });
  controls.push(...(o.extraControls ?? []));
  checkUnique([id, ...controls.map((c) => c.bodyPartId)]);
  return new Uint8Array(seq(seq(...controls.map(taggedAttribute)), seq(implicitCons(0, [integer(id), o.csrDer])), seq(), seq()));
}

export interface BuildPkiResponseOptions {
  status: CmcStatus;
  /** The request's body part IDs the status is about (the tcr's, usually [1]). */
  bodyList: number[];
  /** CMCFailInfo (CMC_FAIL_INFO), with status 'failed'. */
  failInfo?: number;
  statusString?: string;
  /** With status 'pending': the token the client quotes when polling, and when to poll. */
  pendInfo?: { token: Uint8Array; time: Date };
  /** Issued certificate first, then its chain. */
  certificates: Uint8Array[];
  /** Echoed back when the request had them (RFC 5272 §6.6). */
  transactionId?: bigint | number | string;
  recipientNonce?: Uint8Array;
  extraControls?: TaggedAttribute[];
}

/**
 * A full PKI Response: ContentInfo/SignedData, eContentType id-cct-PKIResponse, a controls
 * sequence with id-cmc-statusInfoV2, the certificates in SignedData.certificates, and an empty
 * signerInfos set.
 */
export function buildPkiResponse(o: BuildPkiResponseOptions): Uint8Array {
  if (o.bodyList.length === 0) throw new OpencesError('internal', 'a CMC status needs at least one body part reference');
  if (o.failInfo !== undefined && o.pendInfo) throw new OpencesError('internal', 'CMC status otherInfo is either failInfo or pendInfo, not both');
  const other = o.failInfo !== undefined ? [integer(o.failInfo)] : o.pendInfo ? [seq(octetString(o.pendInfo.token), generalizedTime(o.pendInfo.time))] : [];
  const statusInfo = seq(integer(CMC_STATUS[o.status]), seq(...o.bodyList.map((b) => integer(b))), ...(o.statusString ? [utf8(o.statusString)] : []), ...other);
  const controls: TaggedAttribute[] = [{ bodyPartId: 1, type: CMC_OID.statusInfoV2, values: [statusInfo] }];
  let next = 2;
  if (o.transactionId !== undefined) controls.push({ bodyPartId: next++, type: CMC_OID.transactionId, values: [integer(BigInt(o.transactionId))] });
  if (o.recipientNonce) controls.push({ bodyPartId: next++, type: CMC_OID.recipientNonce, values: [octetString(o.recipientNonce)] });
  controls.push(...(o.extraControls ?? []));
  checkUnique(controls.map((c) => c.bodyPartId));
  const response = seq(seq(...controls.map(taggedAttribute)), seq(), seq());
  return buildUnsignedSignedData({ contentType: CMC_OID.pkiResponse, content: response, certificates: o.certificates });
}
