import express, { type Express, type Request, type Response } from 'express';
import type { TLSSocket } from 'node:tls';
import type { Core } from '../../app/core-types.js';
import { verifyApiToken } from '../../auth/api-tokens.js';
import { OpencesError, isOpencesError } from '../../errors.js';
import type { AdminCaller } from '../admin/client-cert.js';
import { AdminCertificateAuth, loadTrustRoots } from '../admin/client-cert.js';
import { clientAddress } from '../ces.js';
import { sessionOf, webKit, type WebKit } from '../web/index.js';
import { consoleSessionAuth } from './session-auth.js';

const view = (s: { principal: { name: string }; role?: string; csrf: string; method: string; expiresAt: Date }) => ({ principal: s.principal.name, role: s.role, method: s.method, csrf: s.csrf, expiresAt: s.expiresAt.toISOString() });

/**
 * The operator console (docs/console.md): the page shell at /console and its sign-in and sign-out.
 * Everything else the console shows or does goes through /api/v1 with the session cookie as the
 * credential (session-auth.ts), under the same roles and checks as any API client.
 * Returns the hook mountAdmin uses to accept console sessions.
 */
export function mountConsole(app: Express, core: Core): { sessionAuth: ReturnType<typeof consoleSessionAuth>; kit: WebKit } {
  const kit = webKit(app, core);
  const certAuth = new AdminCertificateAuth(core, core.config.admin.certificates, loadTrustRoots(core.config.admin.trustRoots), kit.refusals);
  const router = express.Router();
  // Origin checks first: a cross-site state change is refused (403) before any session is looked at.
  router.use(kit.headers, kit.channel('console'), kit.sameOrigin);
  router.use((_req, res, next) => {
    res.set('cache-control', 'no-store');
    next();
  });

  /** The session as the page needs it (also how a script learns its CSRF token). */
  router.get('/session', kit.requireSession('console'), (_req, res) => {
    res.json(view(sessionOf(res)));
  });

  const signIn = async (req: Request, res: Response, caller: AdminCaller): Promise<void> => {
    const s = await kit.sessions.create(req, res, { channel: 'console', principal: caller.principal, role: caller.role, method: caller.method, credential: caller.credential });
    // A form post lands on the console; a script gets the session as JSON.
    if (req.is('application/x-www-form-urlencoded')) res.redirect(303, '/console/');
    else res.status(201).json(view(s));
  };

  /** Sign in with an API token (JSON `{ token }` or form field `token`). */
  router.post('/session', kit.json, kit.form, async (req, res) => {
    const address = clientAddress(req);
    try {
      if (kit.signInLimiter.isLimited(address)) throw new OpencesError('rateLimited', 'too many failed sign-ins from this address; try again later');
      const token = (req.body as { token?: unknown } | undefined)?.token;
      if (typeof token !== 'string' || token.length === 0 || token.length > 200) throw new OpencesError('malformed', 'token is required', { field: 'token' });
      let caller: AdminCaller;
      try {
        const t = await verifyApiToken(core.db, token.trim(), core.clock.now());
        caller = { principal: t.principal, role: t.role, method: 'token', credential: t.tokenId };
      } catch (e) {
        if (isOpencesError(e) && e.kind === 'unauthenticated') {
          kit.signInLimiter.fail(address);
          throw new OpencesError('unauthenticated', 'invalid or expired API token', { audit: { reason: 'console sign-in with an invalid, expired or revoked API token' } });
        }
        throw e;
      }
      await signIn(req, res, caller);
    } catch (e) {
      await kit.fail(req, res, e, 'console');
    }
  });

  /** Sign in with the TLS client certificate of this connection, when admin.certificates lists it. */
  router.post('/session/certificate', async (req, res) => {
    try {
      let caller: AdminCaller | null;
      try {
        caller = await certAuth.fromTls(req.socket as TLSSocket, clientAddress(req));
      } catch (e) {
        // A certificate that is no admin credential was audited where it was refused.
        throw isOpencesError(e) ? new OpencesError(e.kind, e.message, { ...e.details, audited: true }) : e;
      }
      if (!caller) throw new OpencesError('unauthenticated', certAuth.enabled ? 'no client certificate was presented' : 'certificate sign-in is not configured (admin.certificates)', { audit: { reason: 'console certificate sign-in without a certificate' } });
      await signIn(req, res, caller);
    } catch (e) {
      await kit.fail(req, res, e, 'console');
    }
  });

  /** Sign out (needs the session's CSRF token like every state change). */
  router.post('/session/end', kit.requireSession('console'), kit.form, kit.csrf, async (req, res) => {
    try {
      await kit.sessions.end(req, res, 'console');
      if (req.is('application/x-www-form-urlencoded')) res.redirect(303, '/console/');
      else res.status(204).end();
    } catch (e) {
      await kit.fail(req, res, e, 'console');
    }
  });

  // Every other GET is the single-page app (its router reads the path).
  router.get(/^\/(?!api\/).*/, async (req, res) => {
    const s = await kit.sessions.current(req, 'console').catch(() => null);
    kit.page(res, 'console', { title: 'opences console', data: s ? { session: view(s) } : {} });
  });
  app.use('/console', router);
  return { sessionAuth: consoleSessionAuth(core, kit.sessions), kit };
}
