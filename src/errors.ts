/**
 * One closed set of error kinds (after Boulder's berrors). Every layer below the front ends
 * throws or returns these; each front end maps them to its wire format in exactly one place
 * (SOAP faults in src/http/soap-fault.ts, problem+json in src/http/admin/problem.ts).
 */
export type ErrorKind =
  | 'malformed' // the message or structure is wrong (bad XML, bad base64, bad ASN.1)
  | 'badCsr' // the certificate request itself is unacceptable
  | 'badSignature' // a signature (CSR proof of possession, XML signature, PKCS#7) does not verify
  | 'badPublicKey' // key algorithm or size refused by key policy
  | 'unauthenticated' // no or wrong credentials
  | 'forbidden' // authenticated, but not allowed
  | 'templateNotFound' // no such template, or it is disabled
  | 'templateDenied' // the caller may not enroll for this template
  | 'policyDenied' // the request violates the template (strict subject, renewal window...)
  | 'notFound'
  | 'conflict'
  | 'rateLimited'
  | 'tooLarge'
  | 'unsupported'
  | 'unavailable' // a dependency (database, remote CA) is down
  | 'internal';

export interface ErrorDetails {
  /** An HRESULT a Windows client understands (MS-WCCE), when one applies. */
  hresult?: number;
  /** The field or element that was wrong. */
  field?: string;
  /** The CA request id when the request was recorded. */
  requestId?: string;
  [key: string]: unknown;
}

export class OpencesError extends Error {
  readonly kind: ErrorKind;
  readonly details: ErrorDetails;
  constructor(kind: ErrorKind, message: string, details: ErrorDetails = {}) {
    super(message);
    this.name = 'OpencesError';
    this.kind = kind;
    this.details = details;
  }
}

export function isOpencesError(e: unknown): e is OpencesError {
  return e instanceof OpencesError;
}

/** HRESULTs from winerror.h / certsrv that Windows clients interpret (MS-WCCE 2.2.2.4). */
export const HRESULT = {
  E_INVALIDARG: 0x80070057,
  E_ACCESSDENIED: 0x80070005,
  NTE_BAD_KEY: 0x80090003,
  NTE_BAD_SIGNATURE: 0x80090006,
  NTE_BAD_ALGID: 0x80090008,
  NTE_BAD_KEY_LENGTH: 0x80090031 >>> 0, // reported by ADCS as CERTSRV_E_KEY_LENGTH too
  CERTSRV_E_BAD_REQUESTSUBJECT: 0x80094001,
  CERTSRV_E_NO_REQUEST: 0x80094002,
  CERTSRV_E_BAD_REQUESTSTATUS: 0x80094003,
  CERTSRV_E_RESTRICTEDOFFICER: 0x80094009,
  CERTSRV_E_UNSUPPORTED_CERT_TYPE: 0x80094800,
  CERTSRV_E_NO_CERT_TYPE: 0x80094801,
  CERTSRV_E_TEMPLATE_CONFLICT: 0x80094802,
  CERTSRV_E_SUBJECT_ALT_NAME_REQUIRED: 0x80094803,
  CERTSRV_E_ARCHIVED_KEY_REQUIRED: 0x80094804,
  CERTSRV_E_SIGNATURE_POLICY_REQUIRED: 0x80094809,
  CERTSRV_E_SIGNATURE_COUNT: 0x8009480a,
  CERTSRV_E_SIGNATURE_REJECTED: 0x8009480b,
  CERTSRV_E_SUBJECT_DNS_REQUIRED: 0x8009480f,
  CERTSRV_E_SUBJECT_UPN_REQUIRED: 0x80094811,
  CERTSRV_E_SUBJECT_EMAIL_REQUIRED: 0x80094812,
  CERTSRV_E_TEMPLATE_DENIED: 0x80094012,
  CERTSRV_E_KEY_LENGTH: 0x80094811 + 0x8, // 0x80094819 per certsrv.h
  CERTSRV_E_BAD_RENEWAL_SUBJECT: 0x80094806,
  CERTSRV_E_BAD_RENEWAL_CERT_ATTRIBUTE: 0x8009400e,
  CRYPT_E_ASN1_BADTAG: 0x8009310b,
  CRYPT_E_REVOKED: 0x80092010,
  CERT_E_EXPIRED: 0x800b0101,
  CERT_E_UNTRUSTEDROOT: 0x800b0109,
  E_UNEXPECTED: 0x8000ffff,
  RPC_S_SERVER_UNAVAILABLE: 0x800706ba,
} as const;
