/**
 * CMC builders: a PKIData around one PKCS#10 (the client side and tests), and the full PKI
 * Response a CES returns, shaped as the Windows CA's (MS-WCCE §2.2.2.8, MS-WSTEP §4.1.1.2): an
 * RFC 2797 id-cmc-statusInfo control and, for an issued certificate, Microsoft's add-attributes
 * control with the certificate's hash. The CA signs it (src/ca/responses.ts); the unsigned form is
 * what an enrollment node answers with when its CA cannot sign responses (an older CA node).
 */
import { OpencesError } from '../../errors.js';
import { createHash } from 'node:crypto';
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
  /**
   * The issued certificate (DER): its SHA-1 goes into Microsoft's add-attributes control
   * (szOID_ISSUED_CERT_HASH), as the Windows CA's response carries it (MS-WSTEP §4.1.1.2).
   */
  issuedCertificate?: Uint8Array;
  /** Issued certificate and its chain, in any order: a SignedData's certificates are a DER SET OF. */
  certificates: Uint8Array[];
  /** Echoed back when the request had them (RFC 5272 §6.6). */
  transactionId?: bigint | number | string;
  recipientNonce?: Uint8Array;
  extraControls?: TaggedAttribute[];
}

/** The request id as the Windows CA's pendToken carries it: a 32-bit little-endian number. */
export function pendTokenFor(requestId: string): Uint8Array {
  const n = Number(requestId);
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) throw new OpencesError('internal', `request id ${requestId.slice(0, 40)} does not fit a pend token`);
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return new Uint8Array(b);
}

/**
 * The PKIResponse (RFC 5272 §3.2.2 shape, RFC 2797 controls): id-cmc-statusInfo (bodyPartID 1),
 * then, for an issued certificate, szOID_CMC_ADD_ATTRIBUTES (bodyPartID 2) as CmcAddAttributesInfo
 * { dataReference 0, certReferences [1], attributes { szOID_ISSUED_CERT_HASH: SHA-1 } }, then
 * empty cmsSequence and otherMsgSequence: byte for byte the layout of MS-WSTEP §4.1.1.2's.
 */
export function buildPkiResponseContent(o: Omit<BuildPkiResponseOptions, 'certificates'>): Uint8Array {
  if (o.bodyList.length === 0) throw new OpencesError('internal', 'a CMC status needs at least one body part reference');
  if (o.failInfo !== undefined && o.pendInfo) throw new OpencesError('internal', 'CMC status otherInfo is either failInfo or pendInfo, not both');
  const other = o.failInfo !== undefined ? [integer(o.failInfo)] : o.pendInfo ? [seq(octetString(o.pendInfo.token), generalizedTime(o.pendInfo.time))] : [];
  // CMCStatusInfo (RFC 2797 §5.1.1): the statusString is always there in the Windows CA's.
  const statusInfo = seq(integer(CMC_STATUS[o.status]), seq(...o.bodyList.map((b) => integer(b))), ...(o.statusString !== undefined ? [utf8(o.statusString)] : []), ...other);
  const controls: TaggedAttribute[] = [{ bodyPartId: 1, type: CMC_OID.statusInfo, values: [statusInfo] }];
  let next = 2;
  if (o.issuedCertificate) {
    const hash = createHash('sha1').update(o.issuedCertificate).digest();
    const attributes = setOf(seq(oid(CMC_OID.msIssuedCertHash), setOf(octetString(hash))));
    controls.push({ bodyPartId: next++, type: CMC_OID.msCmcAddAttributes, values: [seq(integer(0), seq(integer(1)), attributes)] });
  }
  if (o.transactionId !== undefined) controls.push({ bodyPartId: next++, type: CMC_OID.transactionId, values: [integer(BigInt(o.transactionId))] });
  if (o.recipientNonce) controls.push({ bodyPartId: next++, type: CMC_OID.recipientNonce, values: [octetString(o.recipientNonce)] });
  controls.push(...(o.extraControls ?? []));
  checkUnique(controls.map((c) => c.bodyPartId));
  return new Uint8Array(seq(seq(...controls.map(taggedAttribute)), seq(), seq()));
}

/**
 * An unsigned full PKI Response (ContentInfo/SignedData with no signer): what an enrollment node
 * answers with only when its CA cannot sign responses. The CA's own is signed (src/ca/responses.ts).
 */
export function buildPkiResponse(o: BuildPkiResponseOptions): Uint8Array {
  return buildUnsignedSignedData({ contentType: CMC_OID.pkiResponse, content: buildPkiResponseContent(o), certificates: sortedCertificates(o.certificates) });
}

/** Certificates in DER SET OF order (X.690 §11.6), as a SignedData's certificates [0] IMPLICIT SET OF is encoded. */
export function sortedCertificates(certs: Uint8Array[]): Uint8Array[] {
  return [...certs].sort((a, b) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)));
}
