import type { EnrollmentOutcome } from '../../enrollment/types.js';
import type { Template } from '../../policy/template.js';
import type { RequestRow } from '../../store/request-repo.js';
import { pem } from '../../ca/init.js';
import type { RequestSummary, RequestView } from './wire.js';

export type { RequestSummary, RequestView } from './wire.js';

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
