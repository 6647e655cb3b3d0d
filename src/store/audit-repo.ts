import type { AuditEvent, AuditFilter, AuditRow } from '../audit/event.js';
import { statement, type Db, type Queryable } from './db.js';

/** SQL over `audit_events`. The chain rules live in src/audit/; this file only moves rows. */

interface DbRow {
  seq: string;
  at: Date | string;
  type: string;
  outcome: AuditEvent['outcome'];
  actor: string | null;
  principal: string | null;
  method: string | null;
  address: string | null;
  template: string | null;
  request_id: string | null;
  serial: string | null;
  reason: string | null;
  details: Record<string, unknown> | null;
  prev_hash: string;
  hash: string;
}

// seq and request_id as text: bigint would otherwise lose precision in JS numbers past 2^53.
const COLS = 'seq::text AS seq, at, type, outcome, actor, principal, method, address, template, request_id::text AS request_id, serial, reason, details, prev_hash, hash';

function toRow(r: DbRow): AuditRow {
  const n = <T>(v: T | null): T | undefined => (v === null ? undefined : v);
  return {
    seq: Number(r.seq),
    at: new Date(r.at),
    type: r.type,
    outcome: r.outcome,
    actor: n(r.actor),
    principal: n(r.principal),
    method: n(r.method),
    address: n(r.address),
    template: n(r.template),
    requestId: n(r.request_id),
    serial: n(r.serial),
    reason: n(r.reason),
    details: r.details ?? {},
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

// The sequencer's statements, prepared once per connection (src/store/db.ts).
const LOCK_CHAIN = statement('SELECT pg_advisory_xact_lock($1)');
const LAST_LINK = statement('SELECT seq::text AS seq, hash FROM audit_events ORDER BY audit_events.seq DESC LIMIT 1');
const ENQUEUE = statement('INSERT INTO audit_queue (at, event) VALUES ($1, $2)');
const TAKE_QUEUED = statement('SELECT audit_queue.id::text AS id, at, event FROM audit_queue ORDER BY audit_queue.id LIMIT $1');
const DELETE_QUEUED = statement('DELETE FROM audit_queue WHERE id = ANY($1::bigint[])');

// Serialises chain writers across every node on one database (any constant; the same everywhere).
const AUDIT_LOCK = 0x61756469; // "audi"

/** Takes the chain lock for the rest of the caller's transaction. */
export async function lockChain(tx: Queryable): Promise<void> {
  await tx.query(LOCK_CHAIN, [AUDIT_LOCK]);
}

/** The newest event's seq and hash, or null for an empty log. */
export async function lastLink(q: Queryable): Promise<{ seq: number; hash: string } | null> {
  // ORDER BY the column, not the text alias of the same name (text order would put 9 after 10).
  const r = await q.query<{ seq: string; hash: string }>(LAST_LINK);
  const x = r.rows[0];
  return x ? { seq: Number(x.seq), hash: x.hash } : null;
}

/** Up to `limit` rows with seq > afterSeq, oldest first (keyset paging: cheap at any depth). */
export async function rowsAfter(q: Queryable, afterSeq: number, limit: number, f: Pick<AuditFilter, 'type' | 'from' | 'to'> = {}): Promise<AuditRow[]> {
  const p: unknown[] = [afterSeq];
  const where = ['audit_events.seq > $1'];
  if (f.type) where.push(`type = $${p.push(f.type)}`);
  if (f.from) where.push(`at >= $${p.push(f.from)}`);
  if (f.to) where.push(`at < $${p.push(f.to)}`);
  const r = await q.query<DbRow>(`SELECT ${COLS} FROM audit_events WHERE ${where.join(' AND ')} ORDER BY audit_events.seq LIMIT ${Math.max(1, Math.floor(limit))}`, p);
  return r.rows.map(toRow);
}

/** Newest first, for the admin API and operators. */
export async function listRows(db: Db, f: AuditFilter): Promise<AuditRow[]> {
  const where: string[] = [];
  const p: unknown[] = [];
  if (f.type) where.push(`type = $${p.push(f.type)}`);
  if (f.principal) where.push(`principal = $${p.push(f.principal)}`);
  if (f.from) where.push(`at >= $${p.push(f.from)}`);
  if (f.to) where.push(`at < $${p.push(f.to)}`);
  const int = (v: number | undefined, d: number): number => (typeof v === 'number' && Number.isFinite(v) ? Math.floor(v) : d);
  const limit = Math.min(Math.max(int(f.limit, 100), 1), 1000);
  const offset = Math.max(int(f.offset, 0), 0);
  const r = await db.query<DbRow>(`SELECT ${COLS} FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY audit_events.seq DESC LIMIT ${limit} OFFSET ${offset}`, p);
  return r.rows.map(toRow);
}

/** Parks an event written inside a caller's transaction until the sequencer chains it. */
export async function enqueue(q: Queryable, at: Date, event: AuditEvent): Promise<void> {
  await q.query(ENQUEUE, [at, JSON.stringify(event)]);
}

export interface QueuedEvent {
  id: string;
  at: Date;
  event: AuditEvent;
}

/** The oldest committed queued events (call under the chain lock). */
export async function takeQueued(tx: Queryable, limit: number): Promise<QueuedEvent[]> {
  const r = await tx.query<{ id: string; at: Date | string; event: AuditEvent | string }>(TAKE_QUEUED, [Math.max(1, Math.floor(limit))]);
  return r.rows.map((x) => ({ id: x.id, at: new Date(x.at), event: typeof x.event === 'string' ? (JSON.parse(x.event) as AuditEvent) : x.event }));
}

export async function deleteQueued(tx: Queryable, ids: string[]): Promise<void> {
  if (ids.length) await tx.query(DELETE_QUEUED, [ids]);
}

/** Appends chained rows in one statement of fixed text (a batch costs one round trip, and the plan is kept). */
export async function insertRows(tx: Queryable, rows: AuditRow[], queueIds: (string | null)[] = rows.map(() => null)): Promise<void> {
  if (!rows.length) return;
  const col = <T>(f: (r: AuditRow) => T): T[] => rows.map(f);
  await tx.query(INSERT_ROWS, [
    col((r) => r.seq),
    col((r) => r.at),
    col((r) => r.type),
    col((r) => r.outcome),
    col((r) => r.actor ?? null),
    col((r) => r.principal ?? null),
    col((r) => r.method ?? null),
    col((r) => r.address ?? null),
    col((r) => r.template ?? null),
    col((r) => r.requestId ?? null),
    col((r) => r.serial ?? null),
    col((r) => r.reason ?? null),
    col((r) => JSON.stringify(r.details ?? {})),
    col((r) => r.prevHash),
    col((r) => r.hash),
    queueIds,
  ]);
}

const INSERT_ROWS = statement(
  `INSERT INTO audit_events (seq, at, type, outcome, actor, principal, method, address, template, request_id, serial, reason, details, prev_hash, hash, queue_id)
   SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
     $10::bigint[], $11::text[], $12::text[], $13::jsonb[], $14::text[], $15::text[], $16::bigint[])`,
);
