import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { TLSSocket } from 'node:tls';
import type { ErrorObject } from 'ajv';
import type { Core } from '../../app/core-types.js';
import { verifyApiToken } from '../../auth/api-tokens.js';
import { OpencesError, isOpencesError } from '../../errors.js';
import { clientAddress } from '../ces.js';
import { AdminCertificateAuth, loadTrustRoots, type AdminCaller } from './client-cert.js';
import { TEXT_BODY_TYPES, loadOpenApi, type OperationSpec } from './openapi.js';
import { sendProblem } from './problem.js';
import { RefusalAudit } from '../../audit/refusal-audit.js';
import { checkJsonDepth } from '../json-limits.js';
import { ROUTES } from './routes.js';
import { withAuditChannel } from '../../audit/channel.js';
import { checkOrigin } from '../web/csrf.js';
import { WebSessions } from '../web/sessions.js';

export const JSON_LIMIT = 64 * 1024;
export const TEXT_LIMIT = 1024 * 1024;

function invalid(where: string, errors: ErrorObject[] | null | undefined): OpencesError {
  const e = errors?.[0];
  const extra = e?.keyword === 'additionalProperties' ? String((e.params as { additionalProperty?: string }).additionalProperty) : e?.keyword === 'required' ? String((e.params as { missingProperty?: string }).missingProperty) : '';
  const field = [where, ...(e?.instancePath ?? '').split('/').filter(Boolean), extra].filter(Boolean).join('.');
  const message = e?.keyword === 'additionalProperties' ? 'is not allowed' : e?.keyword === 'required' ? 'is required' : (e?.message ?? 'is invalid');
  return new OpencesError('malformed', `${field} ${message}`, { field });
}

/**
 * Operations name fields by their argument names (`name`, `subject.foo`); the API names them where
 * the caller put them (`path.name`, `body.subject.foo`).
 */
function locate(e: unknown, where: { path: object; query: object; body: object }): unknown {
  if (!isOpencesError(e) || typeof e.details.field !== 'string' || /^(path|query|body|header)\b/.test(e.details.field)) return e;
  const f = e.details.field;
  const head = f.split(/[.[]/)[0]!;
  const place = head in where.body ? 'body' : head in where.path ? 'path' : head in where.query ? 'query' : 'body';
  return new OpencesError(e.kind, e.message, { ...e.details, field: `${place}.${f}` });
}

export interface AdminMountOptions {
  /**
   * The operator console's session (src/http/console/session-auth.ts): the caller a console
   * session cookie stands for, null without one. Checked after a bearer token, before a client
   * certificate; it enforces the session's CSRF token on state changes.
   */
  sessionAuth?: (req: Request) => Promise<AdminCaller | null>;
}

/** `/api/v1`, routed and validated from openapi/opences.yaml; API tokens, console sessions or admin client certificates, with roles. */
export function mountAdmin(app: Express, core: Core, o: AdminMountOptions = {}): void {
  const { operations } = loadOpenApi();
  // Every 401 and 403 writes one audit event, at most 20 per source address a minute (refusal-audit.ts).
  const refusals = new RefusalAudit(core.audit, core.clock);
  /** Refusals whose event was written where they happened (certificate checks, role denials). */
  const audited = new WeakSet<object>();
  const certAuth = new AdminCertificateAuth(core, core.config.admin.certificates, loadTrustRoots(core.config.admin.trustRoots), refusals);
  const router = express.Router();
  // Admin answers name accounts, certificates and audit events: never cached by anyone.
  router.use((_req: Request, res: Response, next: NextFunction) => {
    res.set('cache-control', 'no-store');
    next();
  });
  // Depth is checked on the raw bytes before JSON.parse builds anything (issue #15).
  router.use(express.json({ limit: JSON_LIMIT, type: ['application/json', 'application/*+json'], verify: (_req, _res, buf) => checkJsonDepth(buf) }));
  router.use(express.text({ limit: TEXT_LIMIT, type: Object.values(TEXT_BODY_TYPES).flat() }));

  /** A bearer token when one is sent (it wins), else an admin client certificate, else 401. */
  const authenticate = async (req: Request): Promise<AdminCaller> => {
    const h = req.headers.authorization;
    if (h === undefined) {
      // No bearer token: a browser may be the sender, so a cross-site state change is refused
      // before any credential it carries along (cookie, client certificate) is looked at.
      checkOrigin(req);
      const bySession = o.sessionAuth ? await o.sessionAuth(req) : null;
      if (bySession) return bySession;
      let byCert: AdminCaller | null;
      try {
        byCert = await certAuth.fromTls(req.socket as TLSSocket, clientAddress(req));
      } catch (e) {
        if (typeof e === 'object' && e !== null) audited.add(e);
        throw e;
      }
      if (byCert) return byCert;
      throw new OpencesError('unauthenticated', certAuth.enabled ? 'an API token (Authorization: Bearer …) or an admin client certificate is required' : 'an API token is required (Authorization: Bearer …)', { audit: { method: 'none', reason: 'no credentials' } });
    }
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    if (!m) throw new OpencesError('unauthenticated', 'an API token is required (Authorization: Bearer …)', { audit: { method: 'none', reason: 'an Authorization header that is no bearer token' } });
    try {
      const t = await verifyApiToken(core.db, m[1]!, core.clock.now());
      return { principal: t.principal, role: t.role, method: 'token', credential: t.tokenId };
    } catch (e) {
      if (isOpencesError(e) && e.kind === 'unauthenticated') throw new OpencesError('unauthenticated', e.message, { audit: { method: 'token', reason: 'invalid, expired or revoked API token' } });
      throw e;
    }
  };

  /** The audit event of a 401 or 403 not audited where it happened (rate limited per source). */
  const auditRefusal = async (req: Request, e: unknown, operation: string, who: AdminCaller | undefined): Promise<void> => {
    if (!isOpencesError(e) || audited.has(e)) return;
    const status = e.kind === 'unauthenticated' ? 401 : e.kind === 'forbidden' || e.kind === 'templateDenied' ? 403 : 0;
    if (!status) return;
    const a = (e.details.audit ?? {}) as { method?: string; reason?: string };
    await refusals
      .record({ type: 'auth.failure', outcome: status === 401 ? 'failure' : 'denied', method: a.method ?? who?.method ?? 'none', address: clientAddress(req), reason: `admin API ${operation} (${status}): ${a.reason ?? e.message}`, ...(who ? { actor: who.principal.name, principal: who.principal.name } : {}) })
      .catch(() => undefined);
  };

  const handler = (spec: OperationSpec) => async (req: Request, res: Response): Promise<void> => {
    const params = { ...req.params } as Record<string, unknown>;
    const query = { ...(req.query as Record<string, unknown>) };
    const body = (typeof req.body === 'object' && req.body !== null && !Array.isArray(req.body) ? req.body : {}) as Record<string, unknown>;
    let who: AdminCaller | undefined;
    try {
      const route = ROUTES[spec.operationId];
      if (!route) throw new OpencesError('internal', `no handler for ${spec.operationId}`);
      who = await authenticate(req);
      if (!route.roles.includes(who.role)) {
        // A valid credential whose role may not do this: its one event is authz.denied (rate limited too).
        await refusals.record({ type: 'authz.denied', outcome: 'denied', actor: who.principal.name, method: who.method, address: clientAddress(req), reason: `${who.role} may not ${spec.operationId}` });
        const denied = new OpencesError('forbidden', `the role ${who.role} may not ${spec.operationId}`);
        audited.add(denied);
        throw denied;
      }
      if (!spec.validateParams(params)) throw invalid('path', spec.validateParams.errors);
      if (!spec.validateQuery(query)) throw invalid('query', spec.validateQuery.errors);
      let text: string | undefined;
      if (spec.textBody) {
        if (typeof req.body !== 'string') throw new OpencesError('unsupported', `send the body as ${spec.textBody} (content-type)`, { field: 'header.content-type' });
        text = req.body;
      } else if (typeof req.body === 'string') {
        throw new OpencesError('unsupported', 'this operation takes application/json', { field: 'header.content-type' });
      }
      if (spec.validateBody) {
        if (req.body !== undefined && (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body))) throw new OpencesError('malformed', 'body must be a JSON object', { field: 'body' });
        if (spec.bodyRequired && (req.body === undefined || Object.keys(body).length === 0)) throw new OpencesError('malformed', 'body is required', { field: 'body' });
        if (!spec.validateBody(body)) throw invalid('body', spec.validateBody.errors);
      }
      const out = await route.handle(core, { params: params as Record<string, string>, query, body, text, who });
      if ('file' in out) {
        res.status(200).type(out.file.contentType).set('content-disposition', `attachment; filename="${out.file.name}"`).send(typeof out.file.body === 'string' ? out.file.body : Buffer.from(out.file.body));
      } else {
        if (out.status === 204) res.status(204).end(); // no content: no body, no content-type
        else res.status(out.status ?? 200).json(out.json);
      }
    } catch (e) {
      await auditRefusal(req, e, spec.operationId, who);
      sendProblem(res, locate(e, { path: params, query, body }));
    }
  };

  // Requests of the console (a session cookie, no bearer token) are audited with the channel console.
  if (o.sessionAuth) router.use((req: Request, _res: Response, next: NextFunction) => (req.headers.authorization === undefined && WebSessions.hasCookie(req, 'console') ? withAuditChannel('console', next) : next()));
  for (const spec of operations) router[spec.method](spec.expressPath, handler(spec));
  router.use((_req: Request, res: Response) => sendProblem(res, new OpencesError('notFound', 'no such API route')));
  // Body parser errors (bad JSON, too large, unknown charset) become problems too.
  router.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    // Our own checks (JSON depth, in the parser's verify step) say what is wrong themselves.
    if (isOpencesError(err)) return sendProblem(res, err);
    const e = err as { type?: string; status?: number };
    if (e.type === 'entity.too.large') return sendProblem(res, new OpencesError('tooLarge', `the body exceeds ${_req.is('json') ? '64 KiB' : '1 MiB'}`, { field: 'body' }));
    if (e.type === 'entity.parse.failed') return sendProblem(res, new OpencesError('malformed', 'the body is not valid JSON', { field: 'body' }));
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return sendProblem(res, new OpencesError('malformed', 'the body cannot be read', { field: 'body' }));
    return sendProblem(res, err);
  });
  app.use('/api/v1', router);
}
