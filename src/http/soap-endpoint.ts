import type { Request, Response } from 'express';
import type { Principal } from '../auth/principal.js';
import { OpencesError } from '../errors.js';
import type { Logger } from '../log.js';
import { parseEnvelope, type SoapEnvelope } from '../protocol/soap/index.js';
import { readBody } from './body.js';
import type { EndpointAuth } from './endpoints.js';
import type { Metrics } from './metrics.js';
import { sendFault } from './soap-reply.js';

/** Authenticates a caller for one endpoint kind; throws OpencesError('unauthenticated'). */
export interface EndpointAuthenticator {
  /** Transport-level step before the body is read (Negotiate, TLS client certificate). */
  transport?(req: Request, res: Response): Promise<Principal | null>;
  /** Message-level step (WS-Security) once the envelope is parsed. */
  message?(env: SoapEnvelope, req: Request, res: Response): Promise<Principal>;
}

export interface SoapOperation {
  service: 'cep' | 'ces';
  /** WS-Addressing actions this endpoint answers. */
  actions: string[];
  handle(env: SoapEnvelope, principal: Principal, req: Request): Promise<{ action: string; bodyXml: string; status?: number }>;
}

export interface SoapEndpointOptions {
  auth: EndpointAuth;
  authenticator: EndpointAuthenticator;
  operation: SoapOperation;
  maxBodyBytes: number;
  log: Logger;
  metrics: Metrics;
  buildResponse: (o: { action: string; relatesTo?: string; bodyXml: string }) => string;
}

/**
 * The SOAP 1.2 request cycle shared by CEP and CES: read a bounded body, parse it safely, check
 * the Action, authenticate, dispatch, and turn every failure into a SOAP fault in one place.
 */
export function soapEndpoint(o: SoapEndpointOptions) {
  const endpoint = `${o.operation.service}_${o.auth}`;
  return async (req: Request, res: Response): Promise<void> => {
    const end = o.metrics.duration.startTimer({ endpoint });
    let relatesTo: string | undefined;
    try {
      let principal = o.authenticator.transport ? await o.authenticator.transport(req, res) : null;
      if (res.headersSent) return; // the transport step answered (401 challenge)
      const body = await readBody(req, o.maxBodyBytes);
      const env = parseEnvelope(body, { maxBytes: o.maxBodyBytes });
      relatesTo = env.header.messageId;
      const action = env.header.action;
      if (!action || !o.operation.actions.includes(action)) {
        throw new OpencesError('unsupported', `the action ${action ?? '(none)'} is not supported at this endpoint`);
      }
      if (!principal) {
        if (!o.authenticator.message) throw new OpencesError('unauthenticated', 'no credentials');
        principal = await o.authenticator.message(env, req, res);
      }
      const out = await o.operation.handle(env, principal, req);
      res
        .status(out.status ?? 200)
        .type('application/soap+xml; charset=utf-8')
        .send(o.buildResponse({ action: out.action, relatesTo, bodyXml: out.bodyXml }));
      o.metrics.requests.inc({ endpoint, outcome: 'ok' });
    } catch (e) {
      o.metrics.requests.inc({ endpoint, outcome: 'fault' });
      if (e instanceof OpencesError && e.kind === 'unauthenticated') o.metrics.authFailures.inc({ method: o.auth });
      if (!(e instanceof OpencesError) || e.kind === 'internal') o.log.error({ err: e, endpoint }, 'request failed');
      sendFault(res, e, o.operation.service, relatesTo);
    } finally {
      end();
    }
  };
}
