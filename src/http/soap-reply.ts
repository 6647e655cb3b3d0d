import type { ServerResponse } from 'node:http';
import { buildFaultEnvelope } from '../protocol/soap/index.js';
import { WSTEP, buildEnrollmentFaultDetail } from '../protocol/wstep/index.js';
import { faultFor } from './soap-fault.js';

/**
 * Writes the SOAP fault for any error (typed or not) — the single exit for failures. A fault with
 * MS-WSTEP's CertificateEnrollmentWSDetail carries its own Action (WSTEP.faultAction), every other
 * the WS-Addressing fault action; both carry WCF's ActivityId after RelatesTo, as ADCS's do.
 */
export function sendFault(res: ServerResponse, e: unknown, service: 'cep' | 'ces', relatesTo?: string, activity?: { activityId: string; correlationId: string }): void {
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
  sendSoap(res, f.httpStatus, buildFaultEnvelope({ code: f.code, reason: f.reason, detailXml, relatesTo, ...activity, ...(f.enrollment ? { action: WSTEP.faultAction } : {}) }));
}

/** Writes a SOAP 1.2 message as the whole response. */
export function sendSoap(res: ServerResponse, status: number, xml: string | Buffer): void {
  if (res.headersSent) return;
  const body = typeof xml === 'string' ? Buffer.from(xml, 'utf8') : xml;
  res.writeHead(status, { 'content-type': 'application/soap+xml; charset=utf-8', 'content-length': body.length });
  res.end(body);
}
