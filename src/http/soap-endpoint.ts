import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../auth/principal.js';
import { OpencesError } from '../errors.js';
import type { Logger } from '../log.js';
import { EnvelopeReader, type SoapEnvelope } from '../protocol/soap/index.js';
import type { XmlLimits } from '../protocol/soap/index.js';
import { buildResponseEnvelope, buildResponseEnvelopeBytes } from '../protocol/soap/build.js';
import { streamBody } from './body.js';
import type { EndpointAuth } from './endpoints.js';
import type { Metrics } from './metrics.js';
import { sendFault, sendSoap } from './soap-reply.js';
import type { Tarpit } from './tarpit.js';

/** Authenticates a caller for one endpoint kind; throws OpencesError('unauthenticated'). */
export interface EndpointAuthenticator {
  /** Transport-level step before the body is read (Negotiate, TLS client certificate). */
  transport?(req: IncomingMessage, res: ServerResponse): Promise<Principal | null>;
  /** Message-level step (WS-Security) once the envelope is parsed. */
  message?(env: SoapEnvelope, req: IncomingMessage, res: ServerResponse): Promise<Principal>;
}

export interface SoapOperation {
  service: 'cep' | 'ces';
  /** WS-Addressing actions this endpoint answers. */
  actions: string[];
  /** The response body: XML text, or UTF-8 bytes (a cached answer, encoded once). */
  handle(env: SoapEnvelope, principal: Principal, req: IncomingMessage): Promise<{ action: string; body: string | Uint8Array; status?: number }>;
}

export interface SoapEndpointOptions {
  auth: EndpointAuth;
  authenticator: EndpointAuthenticator;
  operation: SoapOperation;
  maxBodyBytes: number;
  /** Structural limits on the envelope, checked as the body streams in (before authentication). */
  xmlLimits: XmlLimits;
  log: Logger;
  metrics: Metrics;
  /** Holds refusals of bodies refused before a credential was checked (absent: sent at once). */
  tarpit?: Tarpit;
}

/** A SOAP endpoint's handler: plain Node request and response, so it runs with or without express. */
export type SoapHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * The SOAP 1.2 request cycle shared by CEP and CES: read a bounded body while parsing it within
 * limits, check the Action, authenticate, dispatch, and turn every failure into a SOAP fault in one place.
 */
export function soapEndpoint(o: SoapEndpointOptions): SoapHandler {
  const endpoint = `${o.operation.service}_${o.auth}`;
  return async (req, res) => {
    const end = o.metrics.duration.startTimer({ endpoint });
    let relatesTo: string | undefined;
    // WCF's ActivityId header: the activity's GUID, and a GUID of this message as its CorrelationId.
    const activity = { activityId: randomUUID(), correlationId: randomUUID() };
    // True while the body is read and parsed by a caller not yet authenticated: a failure then is
    // a stranger's unreadable (hostile) body, and its refusal goes through the tarpit.
    let strangersBody = false;
    try {
      let principal = o.authenticator.transport ? await o.authenticator.transport(req, res) : null;
      if (res.headersSent) return; // the transport step answered (401 challenge)
      // Parsed as it arrives: a body breaking a limit is refused at that byte, unread beyond it.
      const reader = new EnvelopeReader({ maxBytes: o.maxBodyBytes, limits: o.xmlLimits });
      strangersBody = principal === null;
      await streamBody(req, o.maxBodyBytes, (chunk) => reader.push(chunk));
      const env = reader.end();
      strangersBody = false;
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
      const head = { action: out.action, relatesTo, ...activity };
      sendSoap(res, out.status ?? 200, typeof out.body === 'string' ? buildResponseEnvelope({ ...head, bodyXml: out.body }) : buildResponseEnvelopeBytes({ ...head, body: out.body }));
      o.metrics.requests.inc({ endpoint, outcome: 'ok' });
    } catch (e) {
      o.metrics.requests.inc({ endpoint, outcome: 'fault' });
      if (e instanceof OpencesError && e.kind === 'unauthenticated') o.metrics.authFailures.inc({ method: o.auth });
      if (!(e instanceof OpencesError) || e.kind === 'internal') o.log.error({ err: e, endpoint }, 'request failed');
      // A stranger's unreadable body (over a limit, not well-formed, not SOAP 1.2): held, then closed.
      const hostile = strangersBody && e instanceof OpencesError && e.kind !== 'internal';
      // Refused before its end (a parser limit, too large): close rather than read the rest.
      if ((hostile || !req.complete) && !res.headersSent) res.setHeader('connection', 'close');
      if (hostile && o.tarpit) o.tarpit.hold(req, () => sendFault(res, e, o.operation.service, relatesTo, activity));
      else sendFault(res, e, o.operation.service, relatesTo, activity);
    } finally {
      end();
    }
  };
}
