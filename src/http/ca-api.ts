import { listCas } from '../store/ca-repo.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AUDIT_SIGNING_PROFILE } from '../audit/checkpoint.js';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { X509Certificate, constants } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { AuditEvent, AuditLog } from '../audit/log.js';
import type { LocalCa } from '../ca/engine.js';
import { FEATURES, CA_API_PREFIX, batchSchema, crlRequestSchema, decodeOrder, encodeChain, encodeInfo, encodeIssued, parse, pkiResponseRequestSchema, problemBody, revokeSchema, sameChain } from '../ca/backends/wire.js';
import { OpencesError, isOpencesError, type ErrorKind } from '../errors.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import { findBySerial } from '../store/certificate-repo.js';
import { getRequest } from '../store/request-repo.js';
import { CA_CLIENT_AUTH_METHOD, CA_CLIENT_PROFILE } from '../ca/backends/client-cert.js';
import { RefusalAudit } from '../audit/refusal-audit.js';
import { CaClientGrants, type CaClientEntry } from './ca-api-access.js';
import type { CaApiOperation } from '../config.js';
import { systemClock } from '../clock.js';
import { readBody } from './body.js';
import { checkJsonDepth } from './json-limits.js';


const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export interface CaApiOptions {
  ca: LocalCa;
  db: Db;
  audit: AuditLog;
  log: Logger;
  /** The node's TLS server certificate and key. */
  tls: { cert: string; key: string };
  /** PEM CA certificates a client certificate must chain to (this deployment's root, plus ca.clients.trustRoots). */
  clientRoots: string[];
  /**
   * The nodes allowed to call, by their certificate's DN (attribute order free): a plain DN may
   * `sign` (an enrollment node); `{subject, operations}` grants what it names.
   */
  allowedSubjects: readonly CaClientEntry[];
  host: string;
  port: number;
}

/** A caller that passed the certificate checks, and what it may do. */
interface Client {
  name: string;
  operations: ReadonlySet<CaApiOperation>;
}

export interface CaApiServer {
  server: HttpsServer;
  port: number;
  close(): Promise<void>;
}

const STATUS: Record<ErrorKind, number> = {
  malformed: 400,
  badCsr: 422,
  badSignature: 422,
  badPublicKey: 422,
  unauthenticated: 401,
  forbidden: 403,
  templateNotFound: 422,
  templateDenied: 422,
  policyDenied: 422,
  notFound: 404,
  conflict: 409,
  rateLimited: 429,
  tooLarge: 413,
  unsupported: 415,
  unavailable: 503,
  internal: 500,
};

/** The largest request body the signing API reads (a full batch of RSA-4096 requests is far below). */
const BODY_LIMIT = 1 << 20;

/** How long a connection's client-certificate verdict is kept (bounds how late a revocation bites). */
export const AUTHORIZED_FOR_MS = 5_000;

/**
 * The CA node's signing API: JSON over HTTPS with mutual TLS, on its own port, for enrollment
 * nodes only. The TLS handshake already refuses client certificates that do not chain to
 * `clientRoots`; each request then needs a subject from `allowedSubjects`, the client-auth EKU,
 * and — for certificates this CA issued — a record made by `opences ca client-cert issue` that is
 * not revoked (an enrollee's certificate with the same subject is no credential). Each operation
 * (sign, revoke, crl) is then allowed only to the clients granted it, checked before the body is
 * read: an enrollment node that is taken over can neither revoke nor publish a CRL. Orders are
 * re-checked by LocalCa (enabled template, key policy, proof of possession) before signing.
 * Errors become problem+json with our error kind, in this one place.
 */
export async function startCaApi(o: CaApiOptions): Promise<CaApiServer> {
  const grants = new CaClientGrants(o.allowedSubjects);
  // A refused client or operation is one audit event per request, bounded per address: a taken-over
  // node looping on revocations, or a stranger knocking, must not grow the audit chain without
  // limit (as on the admin API).
  const denials = new RefusalAudit(o.audit, systemClock);
  const app = express();
  app.disable('x-powered-by');
  /** Errors become our typed errors here, in one place; anything unexpected is logged and said no more of. */
  const parserError = (e: unknown): string | undefined => (typeof e === 'object' && e !== null && 'type' in e ? String((e as { type: unknown }).type) : undefined);
  const toTyped = (e: unknown): OpencesError =>
    isOpencesError(e)
      ? e
      : e instanceof SyntaxError || parserError(e) === 'entity.parse.failed'
        ? new OpencesError('malformed', 'the body is not JSON')
        : parserError(e) === 'entity.too.large'
          ? new OpencesError('tooLarge', `request body exceeds the limit of ${BODY_LIMIT} bytes`)
          : (o.log.error({ err: e instanceof Error ? e.message : String(e) }, 'CA API: unexpected error'), new OpencesError('internal', 'internal error'));

  const refuse = async (req: IncomingMessage, reason: string): Promise<never> => {
    await denials.record({ type: 'auth.failure', outcome: 'failure', method: 'ca-client', address: req.socket.remoteAddress ?? '', reason: `CA API: ${reason}` });
    throw new OpencesError('forbidden', 'this client certificate may not use the CA signing API');
  };

  // A connection's client certificate cannot change, so its verdict is kept on the connection for
  // a few seconds (orders arrive over long-lived keep-alive connections): no parse, signature check
  // and two lookups per order, and a revocation still takes effect within AUTHORIZED_FOR_MS.
  const verdicts = new WeakMap<TLSSocket, { client: Client; until: number }>();
  const authorize = async (req: IncomingMessage): Promise<Client> => {
    const socket = req.socket as TLSSocket;
    const kept = verdicts.get(socket);
    if (kept && kept.until > Date.now()) return kept.client;
    const client = await authorizeAfresh(req, socket);
    verdicts.set(socket, { client, until: Date.now() + AUTHORIZED_FOR_MS });
    return client;
  };
  const authorizeAfresh = async (req: IncomingMessage, socket: TLSSocket): Promise<Client> => {
    const peer = socket.getPeerCertificate();
    if (!socket.authorized || !peer?.raw?.length) return refuse(req, `no trusted client certificate (${String(socket.authorizationError ?? 'none presented')})`);
    const cert = new X509Certificate(peer.raw);
    const name = cert.subject.replace(/\n/g, ', ');
    const operations = grants.of(cert.subject);
    if (!operations) return refuse(req, `${name} is not in ca.clients.allowedSubjects`);
    const ekus = cert.keyUsage;
    if (ekus && ekus.length && !ekus.includes(CLIENT_AUTH)) return refuse(req, `${name} does not allow client authentication`);
    // Issued by any generation of this CA (a renewal leaves client certificates of the earlier ones valid): then it must be a recorded CA client certificate.
    const generations = (await listCas(o.db)).filter((c) => c.kind === 'issuing').map((c) => new X509Certificate(Buffer.from(c.certificate)));
    if (generations.some((issuing) => cert.checkIssued(issuing) && cert.verify(issuing.publicKey))) {
      const rec = await findBySerial(o.db, cert.serialNumber);
      const made = rec?.requestId ? await getRequest(o.db, rec.requestId) : null;
      if (!rec || rec.template !== CA_CLIENT_PROFILE || made?.authMethod !== CA_CLIENT_AUTH_METHOD) return refuse(req, `${name} (serial ${cert.serialNumber.toLowerCase()}) was not issued as a CA client certificate`);
      if (rec.revokedAt) return refuse(req, `${name} (serial ${rec.serial}) is revoked`);
    }
    return { name, operations };
  };

  /**
   * The caller, when it may call `operation` (null: reading the CA's public info, which every
   * listed client may). A refusal is a 403 naming the operation, audited as `authz.denied`.
   */
  const permit = async (req: IncomingMessage, operation: CaApiOperation | null): Promise<string> => {
    const client = await authorize(req);
    if (operation === null || client.operations.has(operation)) return client.name;
    const granted = [...client.operations].join(', ');
    const serial = /^\/ca\/v1\/certificates\/([^/?]{1,128})\//.exec(req.url ?? '')?.[1];
    await denials.record({
      type: 'authz.denied',
      outcome: 'denied',
      actor: client.name,
      method: 'ca-client',
      address: req.socket.remoteAddress ?? '',
      reason: `CA API: ${client.name} may not ${operation} (granted: ${granted})`,
      details: { operation, caller: client.name, ...(serial ? { serial } : {}) },
    });
    o.log.warn({ client: client.name, operation }, 'CA API: operation not granted to this client');
    throw new OpencesError('forbidden', `${client.name} may not ${operation} through the CA API (ca.clients.allowedSubjects grants it: ${granted})`, { operation });
  };

  // Who was let through, from the guard to its route (the body is parsed in between).
  const callers = new WeakMap<IncomingMessage, string>();
  /** Authorises the operation before the body is read. */
  const guard =
    (operation: CaApiOperation | null) =>
    (req: Request, _res: Response, next: NextFunction): void => {
      permit(req, operation).then((client) => {
        callers.set(req, client);
        next();
      }, next);
    };
  const route =
    (fn: (req: Request, client: string) => Promise<{ status?: number; body?: unknown }>) =>
    (req: Request, res: Response, next: NextFunction): void => {
      const client = callers.get(req);
      if (client === undefined) return next(new OpencesError('internal', 'a CA API route without its guard'));
      fn(req, client)
        .then((r) => {
          if (r.body === undefined) res.status(r.status ?? 204).end();
          else res.status(r.status ?? 200).type('application/json').send(JSON.stringify(r.body));
        })
        .catch(next);
    };

  /**
   * Signs an order; when the enrollment node asks, the issuance audit event (built here from the
   * order, not taken from the caller) is parked in the statement that records the certificate.
   */
  const issueWithAudit = async (order: ReturnType<typeof decodeOrder>) => {
    const { issuanceAudit, fullResponse, ...plain } = order;
    const event: AuditEvent | undefined = issuanceAudit
      ? { type: 'certificate.issue', outcome: 'success', actor: issuanceAudit.actor, principal: order.requester, method: issuanceAudit.method, template: order.template, requestId: order.orderId }
      : undefined;
    const issued = await o.ca.issue(plain, { ...(event ? { audit: o.audit.forQueue(event) } : {}), ...(fullResponse ? { fullResponse: true } : {}) });
    if (issued.audited) o.audit.queued();
    return issued;
  };

  /**
   * A refused order, audited here on the CA node with the enrollment node that sent it: the CA's
   * own record of what a (possibly compromised) enrollment node tried. Outages are not refusals.
   */
  const auditRefusal = async (client: string, raw: unknown, e: OpencesError): Promise<void> => {
    if (e.kind === 'unavailable' || e.kind === 'internal') return;
    const o1 = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
    const text = (k: string): string | undefined => (typeof o1[k] === 'string' ? (o1[k] as string).slice(0, 256) : undefined);
    const requestId = text('orderId');
    await o.audit.enqueue({
      type: 'ca.order.refuse',
      outcome: 'denied',
      actor: client,
      principal: text('requester'),
      template: text('template'),
      // Only a well-formed id goes into the event's request column (a bigint).
      ...(requestId && /^\d{1,18}$/.test(requestId) ? { requestId } : {}),
      reason: e.message,
      details: { kind: e.kind, caller: client },
    });
  };

  /**
   * A batch: each order is checked and signed on its own (in parallel: signatures use every core);
   * a refusal answers that order only. One log line per batch, naming every order: under load a
   * batch holds dozens, and a line each cost the node a write to its log pipe each.
   */
  const signBatch = async (body: unknown, client: string): Promise<{ results: unknown[]; chain?: string[] }> => {
    const { orders, chainOnce } = parse(batchSchema, body, 'order batch');
    const caChain = o.ca.info().chain;
    const logged: Record<string, unknown>[] = [];
    const results = await Promise.all(
      orders.map(async (raw, i) => {
        try {
          const order = decodeOrder(raw);
          if (order.template === CA_CLIENT_PROFILE || order.template === AUDIT_SIGNING_PROFILE) throw new OpencesError('forbidden', `${order.template} certificates are issued on the CA node only`);
          const issued = await issueWithAudit(order);
          logged[i] = { orderId: order.orderId, template: order.template, serial: issued.serial, replayed: issued.replayed };
          return { issued: encodeIssued(issued, { withoutChain: chainOnce === true && sameChain(issued.chain, caChain) }) };
        } catch (e) {
          const typed = toTyped(e);
          logged[i] = { refused: typed.kind, detail: typed.kind === 'internal' ? 'internal error' : typed.message };
          await auditRefusal(client, raw, typed);
          return { problem: problemBody(typed, STATUS[typed.kind]) };
        }
      }),
    );
    o.log.info({ client, batch: orders.length, orders: logged }, 'CA API: order batch answered');
    return chainOnce ? { results, chain: encodeChain(caChain) } : { results };
  };

  /**
   * POST /ca/v1/orders/batch with a JSON body, straight from the HTTPS server: express's routing
   * and request decoration cost more per batch than the batch's own JSON. The same limits, checks
   * and answers as through express (which takes any other spelling of the path).
   */
  const batchDirect = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let status = 200;
    let out: unknown;
    try {
      const client = await permit(req, 'sign');
      const body = await readBody(req, res, BODY_LIMIT);
      checkJsonDepth(body);
      out = await signBatch(JSON.parse(body.toString('utf8')), client);
    } catch (e) {
      const typed = toTyped(e);
      status = STATUS[typed.kind];
      out = problemBody(typed, status);
    }
    const bytes = Buffer.from(JSON.stringify(out));
    res.writeHead(status, { 'content-type': status === 200 ? 'application/json; charset=utf-8' : 'application/problem+json; charset=utf-8', 'content-length': bytes.length });
    res.end(bytes);
  };
  const BATCH_PATH = `${CA_API_PREFIX}/orders/batch`;
  const isJson = (ct: string | undefined): boolean => /^application\/json\s*(;|$)/i.test(ct ?? '');

  // A batch of MAX_BATCH orders with RSA-4096 requests stays well below this.
  // Nesting is checked on the raw bytes before JSON.parse builds anything (issue #15).
  const json = express.json({ limit: BODY_LIMIT, strict: true, verify: (_req, _res, buf) => checkJsonDepth(buf) });
  app.get(`${CA_API_PREFIX}/info`, guard(null), route(async () => ({ body: encodeInfo(o.ca.info()) })));
  app.get(`${CA_API_PREFIX}/features`, guard(null), route(async () => ({ body: { features: [...FEATURES] } })));
  app.post(
    `${CA_API_PREFIX}/orders`,
    guard('sign'),
    json,
    route(async (req, client) => {
      let issued;
      let order;
      try {
        order = decodeOrder(req.body);
        if (order.template === CA_CLIENT_PROFILE || order.template === AUDIT_SIGNING_PROFILE) throw new OpencesError('forbidden', `${order.template} certificates are issued on the CA node only`);
        issued = await issueWithAudit(order);
      } catch (e) {
        await auditRefusal(client, req.body, toTyped(e));
        throw e;
      }
      o.log.info({ client, orderId: order.orderId, template: order.template, serial: issued.serial, replayed: issued.replayed }, 'CA API: order signed');
      return { body: encodeIssued(issued) };
    }),
  );
  app.post(
    `${CA_API_PREFIX}/orders/batch`,
    guard('sign'),
    json,
    route(async (req, client) => ({ body: await signBatch(req.body, client) })),
  );
  app.post(
    `${CA_API_PREFIX}/responses`,
    guard('sign'),
    json,
    route(async (req) => {
      const r = parse(pkiResponseRequestSchema, req.body, 'CMC response request');
      return { body: { response: Buffer.from(await o.ca.pkiResponse(r.requestId)).toString('base64') } };
    }),
  );
  app.post(
    `${CA_API_PREFIX}/certificates/:serial/revoke`,
    guard('revoke'),
    json,
    route(async (req) => {
      const r = parse(revokeSchema, req.body, 'revocation');
      await o.ca.revoke(String(req.params.serial), r.reason, r.at);
      return {};
    }),
  );
  app.post(
    `${CA_API_PREFIX}/certificates/:serial/unrevoke`,
    guard('revoke'),
    json,
    route(async (req) => {
      await o.ca.unrevoke(String(req.params.serial));
      return {};
    }),
  );
  app.post(
    `${CA_API_PREFIX}/crls`,
    guard('crl'),
    json,
    route(async (req) => {
      const r = parse(crlRequestSchema, req.body ?? {}, 'CRL request');
      return { body: { crl: Buffer.from(await o.ca.publishCrl({ delta: r.delta })).toString('base64') } };
    }),
  );
  app.use((_req: Request, res: Response) => {
    problem(res, new OpencesError('notFound', 'no such CA API resource'));
  });
  app.use((e: unknown, _req: Request, res: Response, _next: NextFunction) => {
    problem(res, toTyped(e));
  });

  const server = createHttpsServer(
    {
      cert: o.tls.cert,
      key: o.tls.key,
      requestCert: true,
      rejectUnauthorized: true,
      ca: o.clientRoots,
      minVersion: 'TLSv1.2',
      secureOptions: constants.SSL_OP_NO_TICKET,
    },
    (req, res) => {
      if (req.method !== 'POST' || req.url !== BATCH_PATH || !isJson(req.headers['content-type'])) return void app(req, res);
      batchDirect(req, res).catch((e: unknown) => {
        o.log.error({ err: e instanceof Error ? e.message : String(e) }, 'CA API: batch handler failed');
        res.destroy();
      });
    },
  );
  server.headersTimeout = 30_000;
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      }),
  };
}

function problem(res: Response, e: OpencesError): void {
  const status = STATUS[e.kind];
  res.status(status).type('application/problem+json').send(JSON.stringify(problemBody(e, status)));
}
