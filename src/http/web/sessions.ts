import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AdminRole } from '../../auth/api-tokens.js';
import type { Principal } from '../../auth/principal.js';
import type { AuditLog } from '../../audit/log.js';
import type { Clock } from '../../clock.js';
import type { Db } from '../../store/db.js';
import { deleteWebSession, findWebSession, insertWebSession, purgeWebSessions, touchWebSession } from '../../store/web-session-repo.js';
import { clientAddress } from '../ces.js';
import { hostCookie, readCookie } from './cookies.js';
import { principalFromJson, principalToJson } from './principal-json.js';

export type WebChannel = 'console' | 'enroll';

/** A signed-in browser. */
export interface WebSession {
  /** A short, non-secret reference for logs and the audit trail (a prefix of the stored hash). */
  ref: string;
  channel: WebChannel;
  principal: Principal;
  /** The admin role of a console session; absent for enrollment sessions. */
  role?: AdminRole;
  /** How the principal signed in: token, certificate, username, kerberos. */
  method: string;
  /** API token id or certificate fingerprint (SHA-256) the session was made from, when there is one. */
  credential?: string;
  /** The synchronizer token every state-changing request of this session must echo (csrf.ts). */
  csrf: string;
  createdAt: Date;
  expiresAt: Date;
}

export interface SessionOptions {
  maxMs: number;
  idleMs: number;
}

export const cookieName = (channel: WebChannel): string => `__Host-opences-${channel}`;
const hashSecret = (secret: string): string => createHash('sha256').update(`opences-web-session:${secret}`).digest('hex');
const SECRET = /^[A-Za-z0-9_-]{43}$/;
/** last_seen_at is written at most this often per session: a page load is many requests. */
const TOUCH_EVERY_MS = 60_000;

const endpoints = new WeakMap<object, string>();

/**
 * The TLS endpoint a request arrived on: SHA-256 of the server certificate that this connection
 * presented, and the local port. A session is bound to the endpoint that created it.
 */
export function tlsEndpoint(req: IncomingMessage): string {
  const socket = req.socket as TLSSocket;
  const known = endpoints.get(socket);
  if (known) return known;
  const cert = typeof socket.getCertificate === 'function' ? socket.getCertificate() : null;
  const raw = cert && 'raw' in cert && Buffer.isBuffer(cert.raw) ? cert.raw : null;
  // Plain HTTP never serves the console or enrollment (the HTTPS server is the only one mounting them).
  const value = `${raw ? createHash('sha256').update(raw).digest('hex') : 'no-tls'}:${socket.localPort ?? 0}`;
  endpoints.set(socket, value);
  return value;
}

/**
 * Browser sessions in the database (web_sessions): the cookie holds a random 256-bit secret, the
 * table its SHA-256. A session ends at its absolute expiry, after `idleMs` without use, at sign-out,
 * or — refused, not ended — when presented on another TLS endpoint or on the other channel.
 */
export class WebSessions {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly o: SessionOptions,
  ) {}

  /** Signs the principal in: stores the session, sets the cookie, audits `web.session.start`. */
  async create(req: IncomingMessage, res: ServerResponse, s: { channel: WebChannel; principal: Principal; role?: AdminRole; method: string; credential?: string }): Promise<WebSession> {
    const now = this.clock.now();
    // Expired sessions go when new ones come: the table stays as small as the signed-in crowd.
    await purgeWebSessions(this.db, now, this.o.idleMs).catch(() => 0);
    // A session id from before sign-in is never reused (session fixation): the old cookie is ended.
    const old = readCookie(req, cookieName(s.channel));
    if (old && SECRET.test(old)) await deleteWebSession(this.db, hashSecret(old));
    const secret = randomBytes(32).toString('base64url');
    const idHash = hashSecret(secret);
    const csrf = randomBytes(32).toString('base64url');
    const expiresAt = new Date(now.getTime() + this.o.maxMs);
    await insertWebSession(this.db, {
      idHash,
      channel: s.channel,
      principal: principalToJson(s.principal),
      role: s.role ?? null,
      authMethod: s.method,
      credential: s.credential ?? null,
      csrfToken: csrf,
      endpoint: tlsEndpoint(req),
      address: clientAddress(req),
      createdAt: now,
      expiresAt,
      lastSeenAt: now,
    });
    res.setHeader('set-cookie', hostCookie(cookieName(s.channel), secret, Math.floor(this.o.maxMs / 1000)));
    const ref = idHash.slice(0, 16);
    await this.audit.record({ type: 'web.session.start', outcome: 'success', actor: s.principal.name, principal: s.principal.name, method: s.method, address: clientAddress(req), details: { channel: s.channel, session: ref, ...(s.role ? { role: s.role } : {}), ...(s.credential ? { credential: s.credential } : {}) } });
    return { ref, channel: s.channel, principal: s.principal, ...(s.role ? { role: s.role } : {}), method: s.method, ...(s.credential ? { credential: s.credential } : {}), csrf, createdAt: now, expiresAt };
  }

  /**
   * The request's session on this channel, or null (no cookie, unknown, expired, idle too long, made
   * on another TLS endpoint or for the other channel). Refreshes its idle clock.
   */
  async current(req: IncomingMessage, channel: WebChannel): Promise<WebSession | null> {
    const secret = readCookie(req, cookieName(channel));
    if (!secret || !SECRET.test(secret)) return null;
    const idHash = hashSecret(secret);
    const row = await findWebSession(this.db, idHash);
    if (!row || row.channel !== channel) return null;
    const now = this.clock.now().getTime();
    if (row.expiresAt.getTime() <= now || row.lastSeenAt.getTime() + this.o.idleMs <= now) {
      await deleteWebSession(this.db, idHash);
      return null;
    }
    if (row.endpoint !== tlsEndpoint(req)) return null;
    if (now - row.lastSeenAt.getTime() >= TOUCH_EVERY_MS) await touchWebSession(this.db, idHash, new Date(now));
    return {
      ref: idHash.slice(0, 16),
      channel,
      principal: principalFromJson(row.principal),
      ...(row.role ? { role: row.role as AdminRole } : {}),
      method: row.authMethod,
      ...(row.credential ? { credential: row.credential } : {}),
      csrf: row.csrfToken,
      createdAt: row.createdAt,
      expiresAt: row.expiresAt,
    };
  }

  /** Signs out: deletes the session (when there is one), clears the cookie, audits `web.session.end`. */
  async end(req: IncomingMessage, res: ServerResponse, channel: WebChannel): Promise<void> {
    const session = await this.current(req, channel);
    const secret = readCookie(req, cookieName(channel));
    if (secret && SECRET.test(secret)) await deleteWebSession(this.db, hashSecret(secret));
    res.setHeader('set-cookie', hostCookie(cookieName(channel), '', 0));
    if (session) await this.audit.record({ type: 'web.session.end', outcome: 'success', actor: session.principal.name, principal: session.principal.name, method: session.method, address: clientAddress(req), details: { channel, session: session.ref } });
  }

  /** Whether the request carries a cookie of this channel at all (valid or not). */
  static hasCookie(req: IncomingMessage, channel: WebChannel): boolean {
    return readCookie(req, cookieName(channel)) !== undefined;
  }
}
