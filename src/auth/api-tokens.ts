import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { OpencesError } from '../errors.js';
import type { Queryable } from '../store/db.js';
import type { Principal } from './principal.js';

export const ADMIN_ROLES = ['ca-admin', 'cert-manager', 'auditor'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

export interface AdminIdentity {
  principal: Principal;
  role: AdminRole;
  tokenId: string;
}

const hash = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/**
 * Creates an API token `oc_<id>_<secret>`; only the SHA-256 of the secret is kept (a 256-bit random
 * secret needs no slow hash). The whole token is returned once and never again.
 */
export async function createApiToken(q: Queryable, o: { name: string; role: AdminRole; principal: string; createdBy: string; expiresAt?: Date }): Promise<{ id: string; token: string }> {
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  await q.query('INSERT INTO api_tokens (id, name, role, principal, secret_hash, created_by, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7)', [id, o.name, o.role, o.principal, hash(secret), o.createdBy, o.expiresAt ?? null]);
  return { id, token: `oc_${id}_${secret}` };
}

export async function revokeApiToken(q: Queryable, id: string): Promise<void> {
  const r = await q.query('UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [id]);
  if (r.rowCount === 0) throw new OpencesError('notFound', `no active token ${id}`);
}

export async function listApiTokens(q: Queryable): Promise<{ id: string; name: string; role: string; principal: string; expiresAt: Date | null; revokedAt: Date | null }[]> {
  const r = await q.query<{ id: string; name: string; role: string; principal: string; expires_at: Date | null; revoked_at: Date | null }>('SELECT id, name, role, principal, expires_at, revoked_at FROM api_tokens ORDER BY created_at');
  return r.rows.map((x) => ({ id: x.id, name: x.name, role: x.role, principal: x.principal, expiresAt: x.expires_at, revokedAt: x.revoked_at }));
}

/** Checks a bearer token in constant time; unknown, wrong, expired and revoked tokens look the same. */
export async function verifyApiToken(q: Queryable, token: string, now: Date): Promise<AdminIdentity> {
  const m = /^oc_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/.exec(token);
  const fail = (): never => {
    throw new OpencesError('unauthenticated', 'invalid or expired API token');
  };
  if (!m) return fail();
  const r = await q.query<{ role: AdminRole; principal: string; secret_hash: string; expires_at: Date | null; revoked_at: Date | null }>('SELECT role, principal, secret_hash, expires_at, revoked_at FROM api_tokens WHERE id = $1', [m[1]]);
  const row = r.rows[0];
  const expected = Buffer.from(row?.secret_hash ?? '0'.repeat(64), 'hex');
  const ok = timingSafeEqual(expected, Buffer.from(hash(m[2]!), 'hex'));
  if (!row || !ok || row.revoked_at || (row.expires_at && new Date(row.expires_at).getTime() <= now.getTime())) return fail();
  void q.query('UPDATE api_tokens SET last_used_at = now() WHERE id = $1', [m[1]]).catch(() => undefined);
  return { principal: { name: row.principal, groups: [], method: 'token' }, role: row.role, tokenId: m[1]! };
}
