import type { Queryable } from './db.js';

/** A one-time SCEP challenge as stored (the secret itself is never stored). */
export interface ScepChallengeRow {
  id: string;
  profile: string;
  boundSubject: string | null;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
  usedBy: string | null;
}

interface Raw {
  id: string;
  profile: string;
  bound_subject: string | null;
  created_by: string;
  created_at: Date | string;
  expires_at: Date | string;
  used_at: Date | string | null;
  used_by: string | null;
}

const date = (v: Date | string): Date => (v instanceof Date ? v : new Date(v));
const row = (r: Raw): ScepChallengeRow => ({
  id: r.id,
  profile: r.profile,
  boundSubject: r.bound_subject,
  createdBy: r.created_by,
  createdAt: date(r.created_at),
  expiresAt: date(r.expires_at),
  usedAt: r.used_at === null ? null : date(r.used_at),
  usedBy: r.used_by,
});
const COLUMNS = 'id, profile, bound_subject, created_by, created_at, expires_at, used_at, used_by';

export async function insertChallenge(q: Queryable, c: { id: string; profile: string; boundSubject?: string; secretSha256: string; createdBy: string; createdAt: Date; expiresAt: Date }): Promise<void> {
  await q.query('INSERT INTO scep_challenges (id, profile, bound_subject, secret_sha256, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [c.id, c.profile, c.boundSubject ?? null, c.secretSha256, c.createdBy, c.createdAt, c.expiresAt]);
}

/**
 * Consumes the challenge with this hash for `profile` if it is unused and unexpired: one UPDATE,
 * so two requests racing for the same challenge cannot both have it. Null when it was not consumed.
 */
export async function consumeChallenge(q: Queryable, o: { profile: string; secretSha256: string; now: Date; usedBy: string }): Promise<ScepChallengeRow | null> {
  const r = await q.query<Raw>(
    `UPDATE scep_challenges SET used_at = $3, used_by = $4 WHERE secret_sha256 = $1 AND profile = $2 AND used_at IS NULL AND expires_at > $3 RETURNING ${COLUMNS}`,
    [o.secretSha256, o.profile, o.now, o.usedBy],
  );
  return r.rows[0] ? row(r.rows[0]) : null;
}

/** The challenge with this hash (any profile, any state): to say why it was refused. */
export async function findChallenge(q: Queryable, secretSha256: string): Promise<ScepChallengeRow | null> {
  const r = await q.query<Raw>(`SELECT ${COLUMNS} FROM scep_challenges WHERE secret_sha256 = $1`, [secretSha256]);
  return r.rows[0] ? row(r.rows[0]) : null;
}

/** Gives back a challenge consumed by a request that then failed before it was recorded (a CA outage). */
export async function releaseChallenge(q: Queryable, id: string): Promise<void> {
  await q.query('UPDATE scep_challenges SET used_at = NULL, used_by = NULL WHERE id = $1', [id]);
}

export async function listChallenges(q: Queryable, o: { profile?: string; limit?: number } = {}): Promise<ScepChallengeRow[]> {
  const r = await q.query<Raw>(`SELECT ${COLUMNS} FROM scep_challenges WHERE ($1::text IS NULL OR profile = $1) ORDER BY created_at DESC LIMIT $2`, [o.profile ?? null, o.limit ?? 100]);
  return r.rows.map(row);
}

export interface ScepTransaction {
  profile: string;
  transactionId: string;
  signerKeySha256: string;
  requestId: string;
}

export async function findTransaction(q: Queryable, profile: string, transactionId: string): Promise<ScepTransaction | null> {
  const r = await q.query<{ profile: string; transaction_id: string; signer_key_sha256: string; request_id: string | number }>(
    'SELECT profile, transaction_id, signer_key_sha256, request_id FROM scep_transactions WHERE profile = $1 AND transaction_id = $2',
    [profile, transactionId],
  );
  const t = r.rows[0];
  return t ? { profile: t.profile, transactionId: t.transaction_id, signerKeySha256: t.signer_key_sha256, requestId: String(t.request_id) } : null;
}

/** Records a transaction's request; the first one stands when two race (ON CONFLICT DO NOTHING). */
export async function recordTransaction(q: Queryable, t: ScepTransaction & { at: Date }): Promise<void> {
  await q.query('INSERT INTO scep_transactions (profile, transaction_id, signer_key_sha256, request_id, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (profile, transaction_id) DO NOTHING', [t.profile, t.transactionId, t.signerKeySha256, t.requestId, t.at]);
}
