import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Core } from '../../app/core-types.js';
import { OpencesError } from '../../errors.js';
import type { AdminCaller } from '../admin/client-cert.js';
import { checkCsrf } from '../web/csrf.js';
import { WebSessions } from '../web/sessions.js';

/** Whether the API token a console session was made from is still good (not revoked, not expired). */
async function tokenActive(core: Core, id: string): Promise<boolean> {
  const r = await core.db.query<{ n: number }>('SELECT 1 AS n FROM api_tokens WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)', [id, core.clock.now()]);
  return r.rows.length > 0;
}

function peerFingerprint(req: IncomingMessage): string | null {
  const socket = req.socket as TLSSocket;
  const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : null;
  return peer?.raw?.length ? createHash('sha256').update(peer.raw).digest('hex') : null;
}

/**
 * The /api/v1 caller a console session stands for, or null when the request carries no console
 * session cookie. The session is only a way of holding the credential it was made from: a session
 * from an API token dies with the token (revoked or expired), one from a client certificate is
 * good only on connections presenting that certificate. State changes need the CSRF token.
 */
export function consoleSessionAuth(core: Core, sessions: WebSessions): (req: IncomingMessage & { body?: unknown }) => Promise<AdminCaller | null> {
  return async (req) => {
    if (!WebSessions.hasCookie(req, 'console')) return null;
    const s = await sessions.current(req, 'console');
    if (!s || !s.role) throw new OpencesError('unauthenticated', 'the console session has ended; sign in again', { audit: { method: 'session', reason: 'no valid console session' } });
    if (s.method === 'token' && !(s.credential && (await tokenActive(core, s.credential)))) throw new OpencesError('unauthenticated', 'the API token of this console session is revoked or expired; sign in again', { audit: { method: 'session', reason: `console session of revoked or expired token ${s.credential ?? ''}` } });
    if (s.method === 'certificate' && peerFingerprint(req) !== s.credential) throw new OpencesError('unauthenticated', 'this console session needs the client certificate it was made with', { audit: { method: 'session', reason: 'console session without its client certificate' } });
    checkCsrf(req, s.csrf);
    return { principal: s.principal, role: s.role, method: s.method === 'certificate' ? 'certificate' : 'token', credential: s.credential ?? s.ref };
  };
}
