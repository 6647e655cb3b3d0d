import type { Queryable } from './db.js';

/** One row of web_sessions (migrations/014_web_sessions.sql); `principal` is JSON text. */
export interface WebSessionRow {
  idHash: string;
  channel: 'console' | 'enroll';
  principal: string;
  role: string | null;
  authMethod: string;
  credential: string | null;
  csrfToken: string;
  endpoint: string;
  address: string | null;
  createdAt: Date;
  expiresAt: Date;
  lastSeenAt: Date;
}

interface Raw {
  id_hash: string;
  channel: 'console' | 'enroll';
  principal: string;
  role: string | null;
  auth_method: string;
  credential: string | null;
  csrf_token: string;
  endpoint: string;
  address: string | null;
  created_at: Date | string;
  expires_at: Date | string;
  last_seen_at: Date | string;
}

const date = (d: Date | string): Date => (d instanceof Date ? d : new Date(d));

export async function insertWebSession(q: Queryable, r: WebSessionRow): Promise<void> {
  await q.query(
    `INSERT INTO web_sessions (id_hash, channel, principal, role, auth_method, credential, csrf_token, endpoint, address, created_at, expires_at, last_seen_at)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
    [r.idHash, r.channel, r.principal, r.role, r.authMethod, r.credential, r.csrfToken, r.endpoint, r.address, r.createdAt, r.expiresAt, r.lastSeenAt],
  );
}

export async function findWebSession(q: Queryable, idHash: string): Promise<WebSessionRow | null> {
  const r = await q.query<Raw>('SELECT * FROM web_sessions WHERE id_hash = $1', [idHash]);
  const x = r.rows[0];
  if (!x) return null;
  return {
    idHash: x.id_hash,
    channel: x.channel,
    principal: x.principal,
    role: x.role,
    authMethod: x.auth_method,
    credential: x.credential,
    csrfToken: x.csrf_token,
    endpoint: x.endpoint,
    address: x.address,
    createdAt: date(x.created_at),
    expiresAt: date(x.expires_at),
    lastSeenAt: date(x.last_seen_at),
  };
}

export async function touchWebSession(q: Queryable, idHash: string, at: Date): Promise<void> {
  await q.query('UPDATE web_sessions SET last_seen_at = $2 WHERE id_hash = $1', [idHash, at]);
}

export async function deleteWebSession(q: Queryable, idHash: string): Promise<boolean> {
  const r = await q.query('DELETE FROM web_sessions WHERE id_hash = $1', [idHash]);
  return r.rowCount > 0;
}

/** Removes sessions past their absolute expiry or idle for longer than `idleMs`. */
export async function purgeWebSessions(q: Queryable, now: Date, idleMs: number): Promise<number> {
  const r = await q.query('DELETE FROM web_sessions WHERE expires_at <= $1 OR last_seen_at <= $2', [now, new Date(now.getTime() - idleMs)]);
  return r.rowCount;
}
