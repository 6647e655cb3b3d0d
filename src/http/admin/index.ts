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
import { ROUTES } from './routes.js';

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

/** `/api/v1`, routed and validated from openapi/opences.yaml; API tokens or admin client certificates, with roles. */
export function mountAdmin(app: Express, core: Core): void {
  const { operations } = loadOpenApi();
  const certAuth = new AdminCertificateAuth(core, core.config.admin.certificates, loadTrustRoots(core.config.admin.trustRoots));
  const router = express.Router();
  // Admin answers name accounts, certificates and audit events: never cached by anyone.
  router.use((_req: Request, res: Response, next: NextFunction) => {
    res.set('cache-control', 'no-store');
    next();
  });
  router.use(express.json({ limit: JSON_LIMIT, type: ['application/json', 'application/*+json'] }));
  router.use(express.text({ limit: TEXT_LIMIT, type: Object.values(TEXT_BODY_TYPES).flat() }));

  /** A bearer token when one is sent (it wins), else an admin client certificate, else 401. */
  const authenticate = async (req: Request): Promise<AdminCaller> => {
    const h = req.headers.authorization;
    if (h === undefined) {
      const byCert = await certAuth.fromTls(req.socket as TLSSocket, clientAddress(req));
      if (byCert) return byCert;
      throw new OpencesError('unauthenticated', certAuth.enabled ? 'an API token (Authorization: Bearer …) or an admin client certificate is required' : 'an API token is required (Authorization: Bearer …)');
    }
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    try {
      if (!m) throw new OpencesError('unauthenticated', 'an API token is required (Authorization: Bearer …)');
      const t = await verifyApiToken(core.db, m[1]!, core.clock.now());
      return { principal: t.principal, role: t.role, method: 'token', credential: t.tokenId };
    } catch (e) {
      await core.audit.record({ type: 'auth.failure', outcome: 'failure', method: 'token', address: clientAddress(req), reason: 'invalid, expired or revoked API token' });
      throw e;
    }
  };

  const handler = (spec: OperationSpec) => async (req: Request, res: Response): Promise<void> => {
    const params = { ...req.params } as Record<string, unknown>;
    const query = { ...(req.query as Record<string, unknown>) };
    const body = (typeof req.body === 'object' && req.body !== null && !Array.isArray(req.body) ? req.body : {}) as Record<string, unknown>;
    try {
      const route = ROUTES[spec.operationId];
      if (!route) throw new OpencesError('internal', `no handler for ${spec.operationId}`);
      const who = await authenticate(req);
      if (!route.roles.includes(who.role)) {
        await core.audit.record({ type: 'authz.denied', outcome: 'denied', actor: who.principal.name, method: who.method, address: clientAddress(req), reason: `${who.role} may not ${spec.operationId}` });
        throw new OpencesError('forbidden', `the role ${who.role} may not ${spec.operationId}`);
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
      sendProblem(res, locate(e, { path: params, query, body }));
    }
  };

  for (const spec of operations) router[spec.method](spec.expressPath, handler(spec));
  router.use((_req: Request, res: Response) => sendProblem(res, new OpencesError('notFound', 'no such API route')));
  // Body parser errors (bad JSON, too large, unknown charset) become problems too.
  router.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number };
    if (e.type === 'entity.too.large') return sendProblem(res, new OpencesError('tooLarge', `the body exceeds ${_req.is('json') ? '64 KiB' : '1 MiB'}`, { field: 'body' }));
    if (e.type === 'entity.parse.failed') return sendProblem(res, new OpencesError('malformed', 'the body is not valid JSON', { field: 'body' }));
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return sendProblem(res, new OpencesError('malformed', 'the body cannot be read', { field: 'body' }));
    return sendProblem(res, err);
  });
  app.use('/api/v1', router);
}
