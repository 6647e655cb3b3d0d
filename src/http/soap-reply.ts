import type { Response } from 'express';
import { buildFaultEnvelope } from '../protocol/soap/index.js';
import { buildEnrollmentFaultDetail } from '../protocol/wstep/index.js';
import { faultFor } from './soap-fault.js';

/** Writes the SOAP fault for any error (typed or not) — the single exit for failures. */
export function sendFault(res: Response, e: unknown, service: 'cep' | 'ces', relatesTo?: string): void {
  const f = faultFor(e, service);
  const detailXml = f.enrollment
    ? buildEnrollmentFaultDetail({
        errorCode: f.enrollment.errorCode,
        invalidRequest: f.enrollment.invalidRequest,
        requestId: f.enrollment.requestId,
        binaryResponseDer: f.enrollment.binaryResponseDer,
      })
    : undefined;
  if (res.headersSent) return;
  res
    .status(f.httpStatus)
    .type('application/soap+xml; charset=utf-8')
    .send(buildFaultEnvelope({ code: f.code, reason: f.reason, detailXml, relatesTo }));
}
