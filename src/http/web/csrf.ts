import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { OpencesError } from '../../errors.js';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
export const CSRF_HEADER = 'x-csrf-token';
export const CSRF_FIELD = '_csrf';

export const isSafeMethod = (method: string | undefined): boolean => SAFE.has((method ?? 'GET').toUpperCase());

/**
 * Where the request comes from, as the browser says: a state-changing request whose
 * `Sec-Fetch-Site` is anything but same-origin, or whose `Origin` is not this server's, is
 * refused. Clients that send neither header (curl, the CLI) are no browser a page could drive.
 */
export function checkOrigin(req: IncomingMessage): void {
  if (isSafeMethod(req.method)) return;
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin') throw new OpencesError('forbidden', `cross-site request refused (Sec-Fetch-Site: ${site.slice(0, 20)})`, { audit: { reason: 'cross-site request' } });
  const origin = req.headers.origin;
  if (typeof origin === 'string' && origin !== `https://${req.headers.host ?? ''}`) throw new OpencesError('forbidden', 'cross-origin request refused (Origin does not match this server)', { audit: { reason: `cross-origin request from ${origin.slice(0, 100)}` } });
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The synchronizer token of a session-authenticated state change: header `X-CSRF-Token` (fetch)
 * or form field `_csrf` (form posts), compared in constant time with the session's. The origin
 * check comes first.
 */
export function checkCsrf(req: IncomingMessage & { body?: unknown }, expected: string): void {
  checkOrigin(req);
  if (isSafeMethod(req.method)) return;
  const header = req.headers[CSRF_HEADER];
  const field = typeof req.body === 'object' && req.body !== null && !Array.isArray(req.body) ? (req.body as Record<string, unknown>)[CSRF_FIELD] : undefined;
  const given = typeof header === 'string' ? header : typeof field === 'string' ? field : undefined;
  if (given === undefined) throw new OpencesError('forbidden', `the CSRF token is missing (send it as the ${CSRF_HEADER} header or the ${CSRF_FIELD} form field)`, { audit: { reason: 'missing CSRF token' } });
  if (!sameToken(given, expected)) throw new OpencesError('forbidden', 'the CSRF token does not match this session', { audit: { reason: 'wrong CSRF token' } });
}
