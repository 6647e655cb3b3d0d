import { HRESULT, isOpencesError, type ErrorKind } from '../errors.js';

/**
 * The one place where typed errors become SOAP faults (both services). Sender faults are the
 * caller's doing, Receiver faults (and policy denials, as ADCS reports them) are ours. Every fault
 * travels with HTTP 500, as WCF sends them: SOAP 1.2 allows 400 for Sender faults, but cepces (and
 * WCF clients) only read a fault body from a 500. The reason never carries a stack trace, and
 * authentication failures never say which part of the credentials was wrong.
 */
export interface FaultSpec {
  httpStatus: number;
  code: 'Sender' | 'Receiver';
  reason: string;
  /**
   * MS-WSTEP CertificateEnrollmentWSDetail, for CES faults. InvalidRequest (§3.1.4.1.3.7) is true
   * when the issuer refuses the request (malformed, refused by policy or key rules, denied by a CA
   * manager: ADCS sends true for all of these) and false when the failure is not the request's
   * (authentication, an unknown request id, a conflict, rate limits, an unavailable CA, our errors).
   */
  enrollment?: { errorCode: number; invalidRequest: boolean; requestId?: string; binaryResponseDer?: Uint8Array };
}

const STATUS: Record<ErrorKind, { code: 'Sender' | 'Receiver'; hresult: number; invalid: boolean }> = {
  malformed: { code: 'Sender', hresult: HRESULT.E_INVALIDARG, invalid: true },
  badCsr: { code: 'Sender', hresult: HRESULT.CRYPT_E_ASN1_BADTAG, invalid: true },
  badSignature: { code: 'Sender', hresult: HRESULT.NTE_BAD_SIGNATURE, invalid: true },
  badPublicKey: { code: 'Sender', hresult: HRESULT.NTE_BAD_KEY_LENGTH, invalid: true },
  unauthenticated: { code: 'Sender', hresult: HRESULT.E_ACCESSDENIED, invalid: false },
  forbidden: { code: 'Sender', hresult: HRESULT.E_ACCESSDENIED, invalid: false },
  templateNotFound: { code: 'Sender', hresult: HRESULT.CERTSRV_E_UNSUPPORTED_CERT_TYPE, invalid: true },
  templateDenied: { code: 'Sender', hresult: HRESULT.CERTSRV_E_TEMPLATE_DENIED, invalid: true },
  policyDenied: { code: 'Receiver', hresult: HRESULT.CERTSRV_E_TEMPLATE_DENIED, invalid: true },
  notFound: { code: 'Sender', hresult: HRESULT.CERTSRV_E_NO_REQUEST, invalid: false },
  conflict: { code: 'Sender', hresult: HRESULT.CERTSRV_E_BAD_REQUESTSTATUS, invalid: false },
  rateLimited: { code: 'Sender', hresult: HRESULT.E_ACCESSDENIED, invalid: false },
  tooLarge: { code: 'Sender', hresult: HRESULT.E_INVALIDARG, invalid: true },
  unsupported: { code: 'Sender', hresult: HRESULT.E_INVALIDARG, invalid: true },
  unavailable: { code: 'Receiver', hresult: HRESULT.RPC_S_SERVER_UNAVAILABLE, invalid: false },
  internal: { code: 'Receiver', hresult: HRESULT.E_UNEXPECTED, invalid: false },
};

export function faultFor(e: unknown, service: 'cep' | 'ces'): FaultSpec {
  if (!isOpencesError(e)) {
    return { httpStatus: 500, code: 'Receiver', reason: 'internal error', ...(service === 'ces' ? { enrollment: { errorCode: HRESULT.E_UNEXPECTED, invalidRequest: false } } : {}) };
  }
  const s = STATUS[e.kind];
  const reason = e.kind === 'unauthenticated' ? 'authentication failed' : e.kind === 'internal' ? 'internal error' : e.message;
  const spec: FaultSpec = { httpStatus: 500, code: s.code, reason };
  if (service === 'ces') {
    spec.enrollment = {
      errorCode: typeof e.details.hresult === 'number' ? e.details.hresult : s.hresult,
      // The error may say (a denial by the RA names it); else what its kind means.
      invalidRequest: typeof e.details.invalidRequest === 'boolean' ? e.details.invalidRequest : s.invalid,
      ...(typeof e.details.requestId === 'string' ? { requestId: e.details.requestId } : {}),
      ...(e.details.binaryResponseDer instanceof Uint8Array ? { binaryResponseDer: e.details.binaryResponseDer } : {}),
    };
  }
  return spec;
}
