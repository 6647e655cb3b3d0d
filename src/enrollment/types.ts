import type { Principal } from '../auth/principal.js';
import type { RequestFormat } from '../store/request-repo.js';

/** What a front end hands the RA: transport-free, XML-free. */
export interface SubmitInput {
  principal: Principal;
  address: string;
  kind: 'issue' | 'renew';
  format: RequestFormat;
  raw: Uint8Array;
  /** WS-Trust AdditionalContext items (CertificateTemplate, ccm, rmd, …). */
  additionalContext: { name: string; value: string }[];
  /** The endpoint accepts only renewals (ADCS renewalOnly). */
  renewalOnly?: boolean;
}

export interface IssuedOutcome {
  status: 'issued';
  requestId: string;
  disposition: 3;
  message: string;
  certificate: Uint8Array;
  /** Issuing CA first, root last. */
  chain: Uint8Array[];
  serial: string;
  /** The CA-signed CMC full response, when the CA made it with the certificate. */
  fullResponse?: Uint8Array;
}

export interface PendingOutcome {
  status: 'pending';
  requestId: string;
  disposition: 5;
  message: string;
}

export interface DeniedOutcome {
  status: 'denied';
  /** Set when the request was recorded (a malformed one never is). */
  requestId?: string;
  disposition: 2;
  message: string;
  hresult: number;
  /** The request itself is malformed or fails its own checks (a Sender fault). */
  malformed: boolean;
  /**
   * MS-WSTEP CertificateEnrollmentWSDetail InvalidRequest (§3.1.4.1.3.7): true when the issuer
   * denied the request (policy, a CA refusal, a CA manager), as ADCS sends it; false when it
   * failed for reasons that are not the request's (a CA error).
   */
  invalidRequest: boolean;
}

export type EnrollmentOutcome = IssuedOutcome | PendingOutcome | DeniedOutcome;
