import type { Queryable } from './db.js';

/** SQL over `audit_checkpoints` and `audit_signers`. What a checkpoint means lives in src/audit/checkpoint.ts. */

export interface StoredCheckpoint {
  seq: number;
  hash: string;
  at: Date;
  signer: string;
  signature: string;
  /** DER of the signer's certificate. */
  certificate: Uint8Array;
}

export async function saveSigner(q: Queryable, fingerprint: string, der: Uint8Array): Promise<void> {
  await q.query('INSERT INTO audit_signers (fingerprint, certificate) VALUES ($1, $2) ON CONFLICT (fingerprint) DO NOTHING', [fingerprint, Buffer.from(der)]);
}

export async function insertCheckpoint(q: Queryable, c: Omit<StoredCheckpoint, 'certificate'>): Promise<void> {
  await q.query('INSERT INTO audit_checkpoints (seq, hash, at, signer, signature) VALUES ($1, $2, $3, $4, $5)', [c.seq, c.hash, c.at, c.signer, c.signature]);
}

/** The checkpoint with the highest seq (the newest of those on a tie), with its signer's certificate. */
export async function latestCheckpoint(q: Queryable): Promise<StoredCheckpoint | null> {
  const r = await q.query<{ seq: string; hash: string; at: Date | string; signer: string; signature: string; certificate: Uint8Array }>(
    `SELECT c.seq::text AS seq, c.hash, c.at, c.signer, c.signature, s.certificate
       FROM audit_checkpoints c JOIN audit_signers s ON s.fingerprint = c.signer
      ORDER BY c.seq DESC, c.id DESC LIMIT 1`,
  );
  const x = r.rows[0];
  return x ? { seq: Number(x.seq), hash: x.hash, at: new Date(x.at), signer: x.signer, signature: x.signature, certificate: new Uint8Array(x.certificate) } : null;
}

/** The hash the chain holds at one seq, or null when that event is absent. */
export async function hashAt(q: Queryable, seq: number): Promise<string | null> {
  const r = await q.query<{ hash: string }>('SELECT hash FROM audit_events WHERE seq = $1', [seq]);
  return r.rows[0]?.hash ?? null;
}
