import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { ErrorObject } from 'ajv';
import type { Core } from '../../app/core-types.js';
import { verifyApiToken, type AdminIdentity } from '../../auth/api-tokens.js';
import { OpencesError } from '../../errors.js';
import { clientAddress } from '../ces.js';
import { loadOpenApi, type OperationSpec } from './openapi.js';
import { sendProblem } from './problem.js';
import { ROUTES } from './routes.js';

function invalid(where: string, errors: ErrorObject[] | null | undefined): OpencesError {
  const e = errors?.[0];
  const extra = e?.keyword === 'additionalProperties' ? String((e.params as { additionalProperty?: string }).additionalProperty) : e?.keyword === 'required' ? String((e.params as { missingProperty?: string }).missingProperty) : '';
  const field = [where, ...(e?.instancePath ?? '').split('/').filter(Boolean), extra].filter(Boolean).join('.');
  const message = e?.keyword === 'additionalProperties' ? 'is not allowed' : e?.keyword === 'required' ? 'is required' : (e?.message ?? 'is invalid');
  return new OpencesError('malformed', `${field} ${message}`, { field });
}

/** `/api/v1`, routed and validated from openapi/opences.yaml; bearer tokens with roles. */
export function mountAdmin(app: Express, core: Core): void {
  const { operations } = loadOpenApi();
  const router = express.Router();
  router.use(express.json({ limit: '64kb', type: ['application/json', 'application/*+json'] }));

  const authenticate = async (req: Request): Promise<AdminIdentity> => {
    const h = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    if (!m) throw new OpencesError('unauthenticated', 'an API token is required (Authorization: Bearer …)');
    try {
      return await verifyApiToken(core.db, m[1]!, core.clock.now());
    } catch (e) {
      await core.audit.record({ type: 'auth.failure', outcome: 'failure', method: 'token', address: clientAddress(req), reason: 'invalid, expired or revoked API token' });
      throw e;
    }
  };

  const handler = (spec: OperationSpec) => async (req: Request, res: Response): Promise<void> => {
    try {
      const route = ROUTES[spec.operationId];
      if (!route) throw new OpencesError('internal', `no handler for ${spec.operationId}`);
      const who = await authenticate(req);
      if (!route.roles.includes(who.role)) {
        await core.audit.record({ type: 'authz.denied', outcome: 'denied', actor: who.principal.name, method: 'token', address: clientAddress(req), reason: `${who.role} may not ${spec.operationId}` });
        throw new OpencesError('forbidden', `the role ${who.role} may not ${spec.operationId}`);
      }
      const params = { ...req.params } as Record<string, unknown>;
      const query = { ...(req.query as Record<string, unknown>) };
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (!spec.validateParams(params)) throw invalid('path', spec.validateParams.errors);
      if (!spec.validateQuery(query)) throw invalid('query', spec.validateQuery.errors);
      if (spec.validateBody) {
        if (spec.bodyRequired && (req.body === undefined || Object.keys(body).length === 0)) throw new OpencesError('malformed', 'body is required', { field: 'body' });
        if (!spec.validateBody(body)) throw invalid('body', spec.validateBody.errors);
      }
      const out = await route.handle(core, { params: params as Record<string, string>, query, body, who });
      if ('file' in out) {
        res.status(200).type(out.file.contentType).set('content-disposition', `attachment; filename="${out.file.name}"`).send(typeof out.file.body === 'string' ? out.file.body : Buffer.from(out.file.body));
      } else {
        res.status(200).json(out.json);
      }
    } catch (e) {
      sendProblem(res, e);
    }
  };

  for (const spec of operations) router[spec.method](spec.expressPath, handler(spec));
  router.use((_req: Request, res: Response) => sendProblem(res, new OpencesError('notFound', 'no such API route')));
  // Body parser errors (bad JSON, too large) become problems too.
  router.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number };
    if (e.type === 'entity.too.large') return sendProblem(res, new OpencesError('tooLarge', 'the JSON body exceeds 64 KiB'));
    if (e.type === 'entity.parse.failed') return sendProblem(res, new OpencesError('malformed', 'the body is not valid JSON', { field: 'body' }));
    return sendProblem(res, err);
  });
  app.use('/api/v1', router);
}
