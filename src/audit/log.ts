import { once } from 'node:events';
import type { Clock } from '../clock.js';
import type { Db, Queryable } from '../store/db.js';
import { insertRow, lastLink, listRows, lockChain, rowsAfter } from '../store/audit-repo.js';
import { GENESIS, normaliseEvent, rowHash } from './chain.js';
import type { AuditEvent, AuditFilter, AuditRow, VerifyResult } from './event.js';

export type { AuditEvent, AuditFilter, AuditRow, VerifyResult } from './event.js';
export { GENESIS, canonical, rowHash, scrub } from './chain.js';

export interface VerifyOptions {
  pageSize?: number;
  /**
   * A (seq, hash) pair recorded earlier outside the database (`head()`), e.g. in a ticket or a
   * SIEM. The chain alone cannot show that its newest events were cut off; an anchor can.
   */
  anchor?: { seq: number; hash: string };
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

  /**
   * Appends one event. Under a transaction-scoped advisory lock, so concurrent writers on any
   * number of nodes extend one chain; with `tx` the lock is held until the caller commits.
   */
  async record(e: AuditEvent, tx?: Queryable): Promise<void> {
    const event = normaliseEvent(e);
    const write = async (q: Queryable): Promise<void> => {
      await lockChain(q);
      const prev = await lastLink(q);
      const partial: Omit<AuditRow, 'hash'> = { ...event, seq: prev ? prev.seq + 1 : 1, at: this.clock.now(), prevHash: prev?.hash ?? GENESIS };
      await insertRow(q, { ...partial, hash: rowHash(partial) });
    };
    if (tx) await write(tx);
    else await this.db.transaction(write);
  }

  /** The newest event's seq and hash: worth writing down somewhere else as an anchor. */
  async head(): Promise<{ seq: number; hash: string } | null> {
    return lastLink(this.db);
  }

  /**
   * Walks the chain in seq order, a page at a time, and reports the first event that does not fit:
   * changed (its hash does not match its fields), removed (a gap: the event after it is named),
   * reordered or re-linked (prev_hash is not the previous event's hash).
   */
  async verify(opts: VerifyOptions = {}): Promise<VerifyResult> {
    const pageSize = opts.pageSize ?? 1000;
    let prevHash = GENESIS;
    let expectedSeq = 1;
    let count = 0;
    let anchorSeen = false;
    for (;;) {
      const page = await rowsAfter(this.db, expectedSeq - 1, pageSize);
      for (const row of page) {
        if (row.seq !== expectedSeq) {
          const missing = row.seq - 1 === expectedSeq ? `event ${expectedSeq} is missing` : `events ${expectedSeq}–${row.seq - 1} are missing`;
          return { ok: false, firstBrokenSeq: row.seq, reason: `${missing}: event ${row.seq} does not follow event ${expectedSeq - 1}`, count };
        }
        if (row.prevHash !== prevHash) return { ok: false, firstBrokenSeq: row.seq, reason: `event ${row.seq} does not follow event ${row.seq - 1} (removed, reordered or re-linked events)`, count };
        if (rowHash(row) !== row.hash) return { ok: false, firstBrokenSeq: row.seq, reason: `event ${row.seq} was changed after it was written`, count };
        if (opts.anchor && row.seq === opts.anchor.seq) {
          if (row.hash !== opts.anchor.hash) return { ok: false, firstBrokenSeq: row.seq, reason: `event ${row.seq} differs from the anchor`, count };
          anchorSeen = true;
        }
        prevHash = row.hash;
        expectedSeq++;
        count++;
      }
      if (page.length < pageSize) break;
    }
    if (opts.anchor && !anchorSeen) return { ok: false, firstBrokenSeq: expectedSeq, reason: `the log ends at event ${expectedSeq - 1}, before the anchor (event ${opts.anchor.seq}): newer events were removed`, count };
    return { ok: true, count };
  }

  /** Newest first, filtered, paged (limit 1–1000, default 100). */
  async list(f: AuditFilter = {}): Promise<AuditRow[]> {
    return listRows(this.db, f);
  }

  /**
   * JSON lines for a SIEM, oldest first, streamed in pages with back-pressure. Each line carries
   * seq, prevHash and hash, so an unfiltered export can be verified on its own (docs/audit.md).
   */
  async export(out: NodeJS.WritableStream, filter: Pick<AuditFilter, 'type' | 'from' | 'to'> & { afterSeq?: number } = {}): Promise<number> {
    let after = filter.afterSeq ?? 0;
    let n = 0;
    for (;;) {
      const page = await rowsAfter(this.db, after, 1000, filter);
      for (const row of page) {
        const line = JSON.stringify({ ...row, at: row.at.toISOString() }) + '\n';
        if (out.write(line) === false && typeof out.once === 'function') await once(out, 'drain');
        after = row.seq;
        n++;
      }
      if (page.length < 1000) return n;
    }
  }
}
