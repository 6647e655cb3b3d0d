import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Core } from '../../app/core-types.js';
import { withAuditChannel } from '../../audit/channel.js';
import { FailureLimiter } from '../../auth/rate-limit.js';
import { OpencesError, isOpencesError } from '../../errors.js';
import { JSON_LIMIT } from '../admin/index.js';
import { sendProblem } from '../admin/problem.js';
import { RefusalAudit } from '../../audit/refusal-audit.js';
import { clientAddress } from '../ces.js';
import { checkJsonDepth } from '../json-limits.js';
import { ASSET_PATH, WebAssets } from './assets.js';
import { checkCsrf, checkOrigin } from './csrf.js';
import { securityHeaders } from './headers.js';
import { WebSessions, type WebChannel, type WebSession } from './sessions.js';

export type { WebChannel, WebSession } from './sessions.js';
export { CSRF_FIELD, CSRF_HEADER } from './csrf.js';

/**
 * What /console and /enroll share (docs/web.md): sessions, CSRF, security headers, the audit
 * channel, rate limits, body parsers and the built pages. One per HTTPS app, so both front ends on
 * an `all` node share one session store, one refusal budget and one asset route.
 */
export interface WebKit {
  sessions: WebSessions;
  assets: WebAssets;
  /** The rate-limited audit of refusals (20 events per address and minute), for checks that audit themselves. */
  refusals: RefusalAudit;
  /** Sign-in failures per client address (as the account password sign-in: 50 per 5 minutes). */
  signInLimiter: FailureLimiter;
  /** Security headers (CSP and the rest) on everything the router answers. */
  headers: RequestHandler;
  /** Everything audited while the request is handled carries `details.channel`. */
  channel(channel: WebChannel): RequestHandler;
  /** JSON (64 KiB, depth-checked) and urlencoded form bodies, limits as the admin API's. */
  json: RequestHandler;
  form: RequestHandler;
  /** Sets `res.locals.session` (WebSession) or answers 401 problem+json. */
  requireSession(channel: WebChannel): RequestHandler;
  /** After requireSession: refuses a state change without the session's CSRF token or from another origin (403, audited). */
  csrf: RequestHandler;
  /** For requests without a session yet (sign-in forms): refuses cross-site state changes (403, audited). */
  sameOrigin: RequestHandler;
  /** Answers an error as problem+json; a 401/403 is audited first (rate limited per address) unless `details.audited` says it was. */
  fail(req: Request, res: Response, e: unknown, channel: WebChannel): Promise<void>;
  /** The page shell of a bundle (src/web/<entry>/main.tsx). */
  page(res: Response, entry: string, o: { title: string; data?: Record<string, unknown> }): void;
}

const kits = new WeakMap<Express, WebKit>();

/** The session of a request that went through requireSession. */
export function sessionOf(res: Response): WebSession {
  const s = (res.locals as { session?: WebSession }).session;
  if (!s) throw new OpencesError('internal', 'no session on this route (requireSession missing)');
  return s;
}

export function webKit(app: Express, core: Core): WebKit {
  const known = kits.get(app);
  if (known) return known;
  const minutes = 60_000;
  const sessions = new WebSessions(core.db, core.audit, core.clock, { maxMs: core.config.web.sessionMaxMinutes * minutes, idleMs: core.config.web.sessionIdleMinutes * minutes });
  const assets = new WebAssets();
  const refusals = new RefusalAudit(core.audit, core.clock);
  const signInLimiter = new FailureLimiter(50, 5 * minutes, () => core.clock.now().getTime());

  const fail = async (req: Request, res: Response, e: unknown, channel: WebChannel): Promise<void> => {
    if (isOpencesError(e) && (e.kind === 'unauthenticated' || e.kind === 'forbidden') && e.details.audited !== true) {
      const a = (e.details.audit ?? {}) as { reason?: string };
      const s = (res.locals as { session?: WebSession }).session;
      await refusals
        .record({ type: e.kind === 'forbidden' ? 'web.refused' : 'auth.failure', outcome: e.kind === 'forbidden' ? 'denied' : 'failure', method: s?.method ?? 'none', address: clientAddress(req), reason: `${channel} ${req.method} ${req.path.slice(0, 100)}: ${a.reason ?? e.message}`, details: { channel }, ...(s ? { actor: s.principal.name, principal: s.principal.name } : {}) })
        .catch(() => undefined);
    }
    res.set('cache-control', 'no-store');
    sendProblem(res, e);
  };

  const kit: WebKit = {
    sessions,
    assets,
    refusals,
    signInLimiter,
    headers: securityHeaders,
    channel: (channel) => (_req, _res, next) => withAuditChannel(channel, next),
    json: express.json({ limit: JSON_LIMIT, type: ['application/json'], verify: (_req, _res, buf) => checkJsonDepth(buf) }),
    form: express.urlencoded({ limit: JSON_LIMIT, extended: false, parameterLimit: 100 }),
    requireSession: (channel) => async (req, res, next) => {
      try {
        const s = await sessions.current(req, channel);
        if (!s) throw new OpencesError('unauthenticated', 'sign in first (no valid session)', { audit: { reason: 'no valid session' } });
        (res.locals as { session?: WebSession }).session = s;
        next();
      } catch (e) {
        await fail(req, res, e, channel);
      }
    },
    csrf: (req: Request, res: Response, next: NextFunction) => {
      const s = (res.locals as { session?: WebSession }).session;
      try {
        if (!s) throw new OpencesError('internal', 'csrf check without a session (requireSession missing)');
        checkCsrf(req, s.csrf);
        next();
      } catch (e) {
        void fail(req, res, e, s?.channel ?? 'console');
      }
    },
    sameOrigin: (req, res, next) => {
      try {
        checkOrigin(req);
        next();
      } catch (e) {
        void fail(req, res, e, req.baseUrl.startsWith('/enroll') ? 'enroll' : 'console');
      }
    },
    fail,
    page: (res, entry, o) => assets.page(res, entry, o),
  };
  app.get(`${ASSET_PATH}/:file`, assets.serve);
  kits.set(app, kit);
  return kit;
}
