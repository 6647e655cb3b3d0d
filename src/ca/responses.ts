/**
 * The CMC full responses a CES hands its clients, signed by the issuing CA as the Windows CA signs
 * them (MS-WSTEP §4.1.1.2: signer the issuing CA by issuer and serial, signed attributes
 * contentType id-cct-PKIResponse and messageDigest, the certificates a DER SET OF). The CA builds
 * the content itself, from the certificate it just signed or from the request's recorded state,
 * never from what a front end hands it: a signature here says what the CA knows.
 */
import { OpencesError } from '../errors.js';
import { buildPkiResponseContent, pendTokenFor, sortedCertificates } from '../protocol/cmc/build.js';
import { CMC_OID } from '../protocol/cmc/oids.js';
import { CMC_FAIL_INFO } from '../protocol/cmc/status.js';
import { prepareSignedData, type DigestName } from '../protocol/pkcs7/build.js';
import type { Queryable } from '../store/db.js';
import { findBySerial } from '../store/certificate-repo.js';
import { getRequest } from '../store/request-repo.js';
import { signatureAlgorithmFor } from './keys/algorithms.js';
import type { CaInfo, CaSigner } from './types.js';

/** The disposition messages of the Windows CA, which its CMC status strings repeat. */
export const DISPOSITION_TEXT = { issued: 'Issued', pending: 'Taken Under Submission' } as const;

/** What a response says: a certificate issued, a request waiting, or a request refused. */
export type ResponseState =
  | { status: 'issued'; certificate: Uint8Array }
  | { status: 'pending'; requestId: string; at: Date }
  | { status: 'denied'; message: string };

/** Signs the CMC full response for `state` with the issuing CA's key. */
export async function signPkiResponse(signer: CaSigner, info: CaInfo, state: ResponseState): Promise<Uint8Array> {
  const content =
    state.status === 'issued'
      ? buildPkiResponseContent({ status: 'success', bodyList: [1], statusString: DISPOSITION_TEXT.issued, issuedCertificate: state.certificate })
      : state.status === 'pending'
        ? buildPkiResponseContent({ status: 'pending', bodyList: [1], statusString: DISPOSITION_TEXT.pending, pendInfo: { token: pendTokenFor(state.requestId), time: state.at } })
        : buildPkiResponseContent({ status: 'failed', bodyList: [1], statusString: state.message, failInfo: CMC_FAIL_INFO.badRequest });
  const certificates = sortedCertificates(state.status === 'issued' ? [state.certificate, ...info.chain] : [...info.chain]);
  const p = prepareSignedData({
    contentType: CMC_OID.pkiResponse,
    content,
    signerCertDer: info.issuingCertificate,
    certificates,
    digest: signatureAlgorithmFor(signer.keyType).hash as DigestName,
    signatureAlgorithm: signer.signatureAlgorithm,
  });
  return p.finish(await signer.sign(p.toBeSigned));
}

/** The response for a recorded request, from its recorded state (a poll, a retry, a denial). */
export async function responseStateFor(db: Queryable, requestId: string, now: Date): Promise<ResponseState> {
  const row = await getRequest(db, requestId);
  if (!row) throw new OpencesError('notFound', `no request ${requestId}`);
  switch (row.status) {
    case 'issued': {
      const cert = row.serial ? await findBySerial(db, row.serial) : null;
      if (!cert) throw new OpencesError('internal', `request ${requestId} is issued but its certificate is missing`);
      return { status: 'issued', certificate: cert.der };
    }
    case 'pending':
      return { status: 'pending', requestId, at: now };
    case 'denied':
    case 'failed':
      return { status: 'denied', message: row.dispositionMessage };
  }
}
