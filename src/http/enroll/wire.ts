/**
 * The request shapes /enroll/api answers, shared with the browser (src/web/enroll/api.ts imports
 * them as types): no imports here, so the browser's type-check can read this file.
 */
export interface RequestView {
  /** Absent only for a request too malformed to be recorded. */
  requestId?: string;
  status: 'issued' | 'pending' | 'denied';
  message: string;
  serial?: string;
  /** PEM of the issued certificate, and of its chain (issuing CA first, root last). */
  certificate?: string;
  chain?: string[];
}

/** One line of "my requests". A request that failed at the CA reads as denied, with its reason. */
export interface RequestSummary {
  requestId: string;
  status: 'issued' | 'pending' | 'denied';
  template: string | null;
  message: string;
  submittedAt: string;
  resolvedAt: string | null;
  serial: string | null;
}
