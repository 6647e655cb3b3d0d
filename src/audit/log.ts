import { createHash } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Db, Queryable } from '../store/db.js';

export interface AuditEvent {
  type: string;
  outcome: 'success' | 'failure' | 'denied' | 'pending' | 'info';
  actor?: string;
  principal?: string;
  method?: string;
  address?: string;
  template?: string;
  requestId?: string;
  serial?: string;
  reason?: string;
  details?: Record<string, unknown>;
}

export interface AuditRow extends AuditEvent {
  seq: number;
  at: Date;
  prevHash: string;
  hash: string;
}

export type VerifyResult = { ok: true; count: number } | { ok: false; firstBrokenSeq: number; reason: string; count: number };

export const GENESIS = '0'.repeat(64);
// Serialises writers across every node on one database so the chain never forks.
const AUDIT_LOCK = 0x61756469; // "audi"
const SECRET_KEYS = /pass(word|phrase)?|secret|token|private|^key$/i;

/** Drops anything that looks like a secret, recursively, before it is hashed and stored. */
export function scrub(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(scrub);
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (!SECRET_KEYS.test(k)) out[k] = scrub(x);
    return out;
  }
  return v;
}

/** Canonical JSON: sorted keys, no whitespace; the same bytes on every node and at verify time. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

export function rowHash(r: Omit<AuditRow, 'hash'>): string {
  const body = canonical({
    seq: r.seq,
    at: r.at.toISOString(),
    type: r.type,
    outcome: r.outcome,
    actor: r.actor ?? null,
    principal: r.principal ?? null,
    method: r.method ?? null,
    address: r.address ?? null,
    template: r.template ?? null,
    requestId: r.requestId ?? null,
    serial: r.serial ?? null,
    reason: r.reason ?? null,
    details: r.details ?? {},
    prevHash: r.prevHash,
  });
  return createHash('sha256').update(body).digest('hex');
}

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

export interface AuditFilter {
  type?: string;
  principal?: string;
  from?: Date;
  to?: Date;
  limit?: number;
  offset?: number;
}

/**
 * Append-only, hash-chained audit log. Each row stores the previous row's hash and its own hash
 * over a canonical serialisation, so `verify()` finds any changed, removed or reordered row.
 * Written inside the caller's transaction when given one: a decision and its record commit together.
 */
export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async record(e: AuditEvent, tx?: Queryable): Promise<void> {
    const write = async (q: Queryable): Promise<void> => {
      await q.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK]);
      const last = await q.query<{ seq: string; hash: string }>('SELECT seq::text AS seq, hash FROM audit_events ORDER BY audit_events.seq DESC LIMIT 1');
      const prev = last.rows[0];
      // Milliseconds only: what PostgreSQL stores back must hash the same at verify time.
      const at = new Date(Math.floor(this.clock.now().getTime()));
      const row: Omit<AuditRow, 'hash'> = {
        ...e,
        details: scrub(e.details ?? {}) as Record<string, unknown>,
        reason: e.reason,
        seq: prev ? Number(prev.seq) + 1 : 1,
        at,
        prevHash: prev?.hash ?? GENESIS,
      };
      const hash = rowHash(row);
      await q.query(
        `INSERT INTO audit_events (seq, at, type, outcome, actor, principal, method, address, template, request_id, serial, reason, details, prev_hash, hash)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)`,
        [row.seq, at, row.type, row.outcome, row.actor ?? null, row.principal ?? null, row.method ?? null, row.address ?? null, row.template ?? null, row.requestId ?? null, row.serial ?? null, row.reason ?? null, JSON.stringify(row.details), row.prevHash, hash],
      );
    };
    if (tx) await write(tx);
    else await this.db.transaction(write);
  }

  /** Walks the chain in pages; reports the first row whose hash, link or position is wrong. */
  async verify(pageSize = 1000): Promise<VerifyResult> {
    let prevHash = GENESIS;
    let expectedSeq = 1;
    let count = 0;
    for (;;) {
      const r = await this.db.query<DbRow>(`SELECT ${COLS} FROM audit_events WHERE seq >= $1 ORDER BY audit_events.seq LIMIT ${pageSize}`, [expectedSeq]);
      if (r.rows.length === 0) return { ok: true, count };
      for (const raw of r.rows) {
        const row = toRow(raw);
        if (row.seq !== expectedSeq) return { ok: false, firstBrokenSeq: expectedSeq, reason: `event ${expectedSeq} is missing`, count };
        if (row.prevHash !== prevHash) return { ok: false, firstBrokenSeq: row.seq, reason: `event ${row.seq} does not follow event ${row.seq - 1} (removed or reordered rows)`, count };
        if (rowHash(row) !== row.hash) return { ok: false, firstBrokenSeq: row.seq, reason: `event ${row.seq} was changed after it was written`, count };
        prevHash = row.hash;
        expectedSeq++;
        count++;
      }
    }
  }

  async list(f: AuditFilter = {}): Promise<AuditRow[]> {
    const where: string[] = [];
    const p: unknown[] = [];
    if (f.type) where.push(`type = $${p.push(f.type)}`);
    if (f.principal) where.push(`principal = $${p.push(f.principal)}`);
    if (f.from) where.push(`at >= $${p.push(f.from)}`);
    if (f.to) where.push(`at < $${p.push(f.to)}`);
    const limit = Math.min(Math.max(f.limit ?? 100, 1), 1000);
    const offset = Math.max(f.offset ?? 0, 0);
    const r = await this.db.query<DbRow>(`SELECT ${COLS} FROM audit_events ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY audit_events.seq DESC LIMIT ${limit} OFFSET ${offset}`, p);
    return r.rows.map(toRow);
  }

  /** JSON lines for a SIEM, oldest first, streamed in pages. */
  async export(out: NodeJS.WritableStream, pageSize = 1000): Promise<number> {
    let after = 0;
    let n = 0;
    for (;;) {
      const r = await this.db.query<DbRow>(`SELECT ${COLS} FROM audit_events WHERE seq > $1 ORDER BY audit_events.seq LIMIT ${pageSize}`, [after]);
      if (r.rows.length === 0) return n;
      for (const raw of r.rows) {
        const row = toRow(raw);
        out.write(JSON.stringify({ ...row, at: row.at.toISOString() }) + '\n');
        after = row.seq;
        n++;
      }
    }
  }
}
