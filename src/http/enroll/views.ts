import type { EnrollmentOutcome } from '../../enrollment/types.js';
import type { Template } from '../../policy/template.js';
import type { RequestRow } from '../../store/request-repo.js';
import { pem } from '../../ca/init.js';

/**
 * What /enroll/api answers, as JSON: a template as the enrollment page needs it (the key kinds
 * and names it may put in a request), and a request as its requester may see it.
 */
export interface TemplateOffer {
  name: string;
  displayName: string;
  keyAlgorithms: Template['privateKey']['algorithms'];
  minimalKeyLength: number;
  hashAlgorithm: Template['hashAlgorithm'];
  /** The enrollee types subject and SANs; otherwise they come from the signed-in identity. */
  enrolleeSupplies: boolean;
  allowedSanTypes: Template['subject']['allowedSanTypes'];
  requireSan: Template['subject']['requireSan'];
  /** Every request waits for a certificate manager. */
  approval: boolean;
}

export function templateOffer(t: Template): TemplateOffer {
  return {
    name: t.name,
    displayName: t.displayName,
    keyAlgorithms: t.privateKey.algorithms,
    minimalKeyLength: t.privateKey.minimalKeyLength,
    hashAlgorithm: t.hashAlgorithm,
    enrolleeSupplies: t.subject.enrolleeSupplies,
    allowedSanTypes: t.subject.enrolleeSupplies ? t.subject.allowedSanTypes : [],
    requireSan: t.subject.requireSan,
    approval: t.enrollment.pendAllRequests,
  };
}

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

export function outcomeView(out: EnrollmentOutcome): RequestView {
  switch (out.status) {
    case 'issued':
      return { requestId: out.requestId, status: 'issued', message: out.message, serial: out.serial, certificate: pem(out.certificate), chain: out.chain.map((c) => pem(c)) };
    case 'pending':
      return { requestId: out.requestId, status: 'pending', message: out.message };
    case 'denied':
      return { ...(out.requestId ? { requestId: out.requestId } : {}), status: 'denied', message: out.message };
  }
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

export function requestSummary(r: RequestRow): RequestSummary {
  return {
    requestId: r.id,
    status: r.status === 'failed' ? 'denied' : r.status,
    template: r.template,
    message: r.dispositionMessage,
    submittedAt: r.submittedAt.toISOString(),
    resolvedAt: r.resolvedAt ? r.resolvedAt.toISOString() : null,
    serial: r.serial,
  };
}
