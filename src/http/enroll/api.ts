import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Core } from '../../app/core-types.js';
import { principalRef } from '../../auth/identity.js';
import type { Principal } from '../../auth/principal.js';
import { OpencesError, isOpencesError } from '../../errors.js';
import { visibleTemplates } from '../../policy/permissions.js';
import { decodeBase64Token } from '../../protocol/pkcs10/index.js';
import { buildCertsOnly } from '../../protocol/pkcs7/build.js';
import { listRequests } from '../../store/request-repo.js';
import { pem } from '../../ca/init.js';
import { sendProblem } from '../admin/problem.js';
import { clientAddress } from '../ces.js';
import { sessionOf, type WebKit, type WebSession } from '../web/index.js';
import { certificatePrincipal, kerberosPrincipal, passwordPrincipal } from './sign-in.js';
import { outcomeView, requestSummary, templateOffer } from './views.js';

/** "My requests" lists the latest this many. */
export const MY_REQUESTS = 50;
/** A CSR in PEM (an RSA-8192 one is under 4 KiB); the JSON body itself is bounded by the kit (64 KiB). */
const MAX_CSR_CHARS = 32 * 1024;

type Handler = (req: Request, res: Response, session: WebSession) => Promise<void>;

/**
 * /enroll/api: JSON for the web enrollment page. Sign-in opens an `enroll` session (src/http/web);
 * every other call needs that session, and every state change its CSRF token. Enrollment goes
 * through the RA exactly as a CES Issue does, with the session's principal; everything is audited
 * with channel `enroll` (src/audit/channel.ts).
 */
export function enrollApi(core: Core, kit: WebKit): Router {
  const router = express.Router();
  const identity = { accountRealms: core.config.auth.accountRealms };

  router.use(kit.headers, kit.channel('enroll'), (_req: Request, res: Response, next: NextFunction) => {
    res.set('cache-control', 'no-store');
    next();
  });
  router.use(kit.json);

  /** A failure that is no refusal or answer of ours (a bug, a database error): logged, then answered 500. */
  const logUnexpected = (e: unknown, req: Request): void => {
    if (!isOpencesError(e) || e.kind === 'internal') core.log.error({ err: e, path: req.path }, 'enrollment API failed');
  };

  /** A call of a signed-in browser: the session, then (for state changes) the origin and CSRF token. */
  const withSession = (fn: Handler) => [
    kit.requireSession('enroll'),
    kit.csrf,
    async (req: Request, res: Response): Promise<void> => {
      try {
        await fn(req, res, sessionOf(res));
      } catch (e) {
        logUnexpected(e, req);
        await kit.fail(req, res, e, 'enroll');
      }
    },
  ];

  /**
   * Opens a session for whoever the method authenticates; the answer carries the CSRF token. The
   * authenticators audit their own refusals and the password path has its own limits; the other
   * methods count failures per address in the kit's sign-in limiter.
   */
  const signIn = (resolve: (req: Request, res: Response) => Promise<Principal | null>) => [
    kit.sameOrigin,
    async (req: Request, res: Response): Promise<void> => {
      const address = clientAddress(req);
      try {
        if (kit.signInLimiter.isLimited(address)) throw new OpencesError('rateLimited', 'too many failed sign-ins; try again later');
        let principal: Principal | null;
        try {
          principal = await resolve(req, res);
        } catch (e) {
          if (isOpencesError(e) && e.kind === 'unauthenticated') kit.signInLimiter.fail(address);
          throw e;
        }
        if (!principal) return; // a Negotiate challenge went out
        const s = await kit.sessions.create(req, res, { channel: 'enroll', principal, method: principal.method });
        res.json(sessionView(s));
      } catch (e) {
        logUnexpected(e, req);
        // A refusal that names its audit reason was decided here: audited (rate limited) as the kit does.
        if (isOpencesError(e) && e.details.audit !== undefined) return kit.fail(req, res, e, 'enroll');
        // The others were audited by the authenticator that decided them: answered, not audited twice.
        res.set('cache-control', 'no-store');
        sendProblem(res, e);
      }
    },
  ];

  router.post('/session/password', ...signIn((req) => passwordPrincipal(core, req, bodyOf(req))));
  router.post('/session/certificate', ...signIn((req) => certificatePrincipal(core, req)));
  router.post('/session/kerberos', ...signIn((req, res) => kerberosPrincipal(core, req, res, () => kit.signInLimiter.fail(clientAddress(req)))));
  router.get('/session', ...withSession(async (_req, res, s) => void res.json(sessionView(s))));
  router.post(
    '/session/end',
    ...withSession(async (req, res) => {
      await kit.sessions.end(req, res, 'enroll');
      res.status(204).end();
    }),
  );

  router.get(
    '/templates',
    ...withSession(async (_req, res, s) => {
      const p = s.principal;
      const visible = visibleTemplates(p, await core.templates.list(), p.partner ? core.partners.scope(p.partner) : undefined);
      // Exactly GetPolicies' list (Read plus Enroll or Autoenroll): what the RA will accept.
      res.json({ templates: visible.map((v) => templateOffer(v.template)) });
    }),
  );

  router.post(
    '/requests',
    ...withSession(async (req, res, s) => {
      const body = bodyOf(req);
      const { template, csr } = body;
      if (typeof template !== 'string' || template.length === 0 || template.length > 256) throw new OpencesError('malformed', 'choose a template', { field: 'body.template' });
      if (typeof csr !== 'string' || csr.length > MAX_CSR_CHARS) throw new OpencesError('malformed', 'a certificate request (PKCS#10, PEM or base64) is required', { field: 'body.csr' });
      let raw: Uint8Array;
      try {
        raw = decodeBase64Token(csr, 'certificate request');
      } catch (e) {
        throw new OpencesError('badCsr', isOpencesError(e) ? e.message : 'the certificate request cannot be read', { field: 'body.csr' });
      }
      // The same RA path as a CES Issue: template named as the AdditionalContext item CertificateTemplate.
      const out = await core.ra.submit({ principal: s.principal, address: clientAddress(req), kind: 'issue', format: 'pkcs10', raw, additionalContext: [{ name: 'CertificateTemplate', value: template }] });
      res.json(outcomeView(out));
    }),
  );

  router.get(
    '/requests',
    ...withSession(async (_req, res, s) => {
      const rows = await listRequests(core.db, { requesterKey: principalRef(s.principal, identity).key, limit: MY_REQUESTS });
      res.json({ requests: rows.map(requestSummary) });
    }),
  );

  /** QueryTokenStatus for the browser: only the requester sees the request (the RA checks). */
  const retrieve = async (req: Request, s: WebSession, what: string) => {
    const id = String(req.params.id ?? '');
    try {
      const out = await core.ra.status(id, s.principal);
      await core.audit.record({ type: 'enroll.retrieve', outcome: out.status === 'issued' ? 'success' : out.status === 'pending' ? 'pending' : 'denied', principal: s.principal.name, method: s.principal.method, address: clientAddress(req), requestId: out.requestId, ...(out.status === 'issued' ? { serial: out.serial } : {}), details: { what } });
      return out;
    } catch (e) {
      if (isOpencesError(e) && e.kind === 'notFound') await core.audit.record({ type: 'enroll.retrieve', outcome: 'failure', principal: s.principal.name, method: s.principal.method, address: clientAddress(req), reason: `no request ${id.slice(0, 20)} for this caller`, details: { what } });
      throw e;
    }
  };

  router.get(
    '/requests/:id',
    ...withSession(async (req, res, s) => void res.json(outcomeView(await retrieve(req, s, 'status')))),
  );

  router.get(
    '/requests/:id/certificate.:format',
    ...withSession(async (req, res, s) => {
      const format = req.params.format;
      if (format !== 'pem' && format !== 'p7b') throw new OpencesError('notFound', 'download the certificate as .pem or .p7b');
      const out = await retrieve(req, s, format);
      if (out.status !== 'issued') throw new OpencesError('conflict', `request ${out.requestId ?? req.params.id} is ${out.status}: ${out.message}`);
      const name = `request-${out.requestId}`;
      if (format === 'pem') {
        res.type('application/x-pem-file').set('content-disposition', `attachment; filename="${name}.pem"`).send([out.certificate, ...out.chain].map((c) => pem(c)).join(''));
      } else {
        // Degenerate PKCS#7 (certs-only SignedData), DER, as certsrv's "Download certificate chain".
        res.type('application/pkcs7-mime').set('content-disposition', `attachment; filename="${name}.p7b"`).send(Buffer.from(buildCertsOnly([out.certificate, ...out.chain])));
      }
    }),
  );

  router.use((req: Request, res: Response) => sendProblem(res, new OpencesError('notFound', `no enrollment API route ${req.method} ${req.path.slice(0, 100)}`)));
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (isOpencesError(err)) return sendProblem(res, err);
    const e = err as { type?: string; status?: number };
    if (e.type === 'entity.too.large') return sendProblem(res, new OpencesError('tooLarge', 'the body is too large', { field: 'body' }));
    if (e.type === 'entity.parse.failed') return sendProblem(res, new OpencesError('malformed', 'the body is not valid JSON', { field: 'body' }));
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return sendProblem(res, new OpencesError('malformed', 'the body cannot be read', { field: 'body' }));
    core.log.error({ err, path: req.path }, 'enrollment API failed');
    return sendProblem(res, err);
  });
  return router;
}

function bodyOf(req: Request): Record<string, unknown> {
  const b: unknown = req.body;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new OpencesError('malformed', 'send a JSON object (content-type: application/json)', { field: 'body' });
  return b as Record<string, unknown>;
}

function sessionView(s: WebSession) {
  const p = s.principal;
  return { principal: { name: p.name, displayName: p.displayName ?? p.name, method: s.method }, csrf: s.csrf, expiresAt: s.expiresAt.toISOString() };
}
