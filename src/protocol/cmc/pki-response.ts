/**
 * The client side: reads what a CES returns in its PKCS#7 BinarySecurityToken — a CMC PKI
 * Response (RFC 5272 §3.2.2) or a degenerate certs-only PKCS#7 (MS-WSTEP allows both).
 */
import * as asn1js from 'asn1js';
import { OpencesError } from '../../errors.js';
import { decode, octets, bigUint, malformed, matchSchema } from '../pkcs7/asn1.js';
import { CMS_OID } from '../pkcs7/oids.js';
import { decodeSignedData, guard, type SignerResult } from '../pkcs7/signed-data.js';
import { verifySigner } from '../pkcs7/verify.js';
import { CMC_OID } from './oids.js';
import { PKI_RESPONSE, sequenceItems, taggedAttribute, statusInfo, type StatusInfo, type TaggedAttribute } from './schema.js';
import { statusName, type CmcStatusName } from './status.js';


export interface PkiResponse {
  /** 'absent' for a certs-only PKCS#7 (no PKIResponse inside). */
  status: CmcStatusName | 'unknown' | 'absent';
  /** The raw CMCStatus, when there is a status. */
  statusCode?: number;
  statusString?: string;
  failInfo?: number;
  pendInfo?: { token: Uint8Array; time: Date };
  bodyList: number[];
  /** All status controls (a response may report per body part). */
  statuses: StatusInfo[];
  controls: TaggedAttribute[];
  transactionId?: string;
  recipientNonce?: Uint8Array;
  /** SignedData.certificates, as received (DER). */
  certificates: Uint8Array[];
  signers: SignerResult[];
}

export function parsePkiResponse(der: Uint8Array): PkiResponse {
  const sd = decodeSignedData(der, 'CMC response');
  const certificates = sd.certificates.map((c) => c.der);
  if (sd.contentType === CMS_OID.data && !sd.content) return { status: 'absent', bodyList: [], statuses: [], controls: [], certificates, signers: [] };
  if (sd.contentType !== CMC_OID.pkiResponse) throw new OpencesError('malformed', `the CMC response holds content type ${sd.contentType}, not id-cct-PKIResponse`);
  if (!sd.content) throw new OpencesError('malformed', 'the CMC response carries no PKIResponse');
  const content = sd.content;
  return guard('CMC response', () => {
    const r = matchSchema(decode(content, 'CMC PKIResponse'), PKI_RESPONSE, 'CMC PKIResponse');
    const tagged = sequenceItems(r.controlSequence, 'CMC controlSequence').map(taggedAttribute);
    const out: PkiResponse = { status: 'unknown', bodyList: [], statuses: [], controls: tagged.map(({ bodyPartId, type, values }) => ({ bodyPartId, type, values })), certificates, signers: sd.signerInfos.map((s) => verifySigner(s, content, sd.contentType, sd.certificates)) };
    for (const c of tagged) {
      const single = (): asn1js.AsnType => (c.nodes.length === 1 ? c.nodes[0]! : malformed(`the CMC control ${c.type} must have exactly one value`));
      if (c.type === CMC_OID.statusInfoV2 || c.type === CMC_OID.statusInfo) for (const n of c.nodes) out.statuses.push(statusInfo(n, c.type === CMC_OID.statusInfoV2 ? 2 : 1));
      else if (c.type === CMC_OID.transactionId) out.transactionId = bigUint(single(), 'CMC transactionId').toString();
      else if (c.type === CMC_OID.recipientNonce) out.recipientNonce = octets(single(), 'CMC recipientNonce');
    }
    const s = out.statuses[0];
    if (s) Object.assign(out, { status: statusName(s.code), statusCode: s.code, statusString: s.statusString, failInfo: s.failInfo, pendInfo: s.pendInfo, bodyList: s.bodyList });
    return out;
  });
}
