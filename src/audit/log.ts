import { once } from 'node:events';
import type { Clock } from '../clock.js';
import type { Db, Queryable } from '../store/db.js';
import { deleteQueued, enqueue, insertRows, lastLink, listRows, lockChain, rowsAfter, takeQueued } from '../store/audit-repo.js';
import { GENESIS, normaliseEvent, rowHash } from './chain.js';
import { stampChannel } from './channel.js';
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

/** Events chained per sequencer transaction: bounds the statement (15 parameters per row). */
const BATCH = 500;

/**
 * Least time from the start of one run to the next that parked events ask for (`queued()`). A run
 * is seven round trips whatever it chains; under load every process parks events continuously, and
 * a run per parked batch kept each process draining back to back, most of each run spent waiting
 * for the chain lock another process held. One queue serves every node, so each run chains what
 * all of them parked meanwhile. Readers and waiting writers still run at once.
 */
const QUEUED_RUN_GAP_MS = 250;

interface Waiting {
  at: Date;
  event: AuditEvent;
  done: (e?: unknown) => void;
}

/**
 * Append-only, hash-chained audit log. Each row stores the previous row's hash and its own hash
 * over a canonical serialisation, so `verify()` finds any changed, removed or reordered row.
 *
 * One chain needs one writer at a time, and holding the chain lock across a caller's transaction
 * would serialise every enrollment on it. So writes are sequenced in batches:
 * - `record(e, tx)` parks the event in `audit_queue` inside the caller's transaction, without the
 *   lock: the decision and its record commit (or roll back) together;
 * - `record(e)` waits until its event is chained and committed;
 * - the sequencer takes the chain lock (a transaction-scoped advisory lock, so nodes on one
 *   database extend one chain), chains the queued rows and the waiting events in one
 *   transaction and one INSERT, and commits. Under load one commit serves many events.
 * Readers (`verify`, `list`, `export`, `head`) chain what is queued first, so they see every
 * committed event.
 */
export class AuditLog {
  private waiting: Waiting[] = [];
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private lastRunAt = 0;

  /**
   * False on nodes whose database role may park events but not chain them (cep, ces:
   * src/store/db-roles.ts): `record()` parks every event, and the sequencer of a ca or admin node
   * on the same database chains it (its timer runs every second).
   */
  private readonly chain: boolean;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    opts: { chain?: boolean } = {},
  ) {
    this.chain = opts.chain ?? true;
  }

  /** Appends one event; with `tx` it commits with the caller's transaction. */
  async record(e: AuditEvent, tx?: Queryable): Promise<void> {
    const event = normaliseEvent(stampChannel(e));
    const at = this.clock.now();
    if (!this.chain) {
      await enqueue(tx ?? this.db, at, event);
      return;
    }
    if (tx) {
      await enqueue(tx, at, event);
      // The caller commits after this returns.
      this.queued();
      return;
    }
    await new Promise<void>((resolve, reject) => {
      this.waiting.push({ at, event, done: (err) => (err === undefined ? resolve() : reject(err)) });
      void this.flush().catch(() => undefined);
    });
  }

  /**
   * An event in the form the queue table stores, for a repository statement that writes it
   * together with the row it records (e.g. `insertRequestOnce`). Call `queued()` after that
   * statement (or its transaction) has committed.
   */
  forQueue(e: AuditEvent): { at: Date; event: string } {
    return { at: this.clock.now(), event: JSON.stringify(normaliseEvent(stampChannel(e))) };
  }

  /** Parks one event in the queue (autocommit, one round trip) without waiting for it to be chained. */
  async enqueue(e: AuditEvent): Promise<void> {
    await enqueue(this.db, this.clock.now(), normaliseEvent(stampChannel(e)));
    this.queued();
  }

  /**
   * Something was parked in the queue: chain it shortly (5 ms after an idle spell, else
   * QUEUED_RUN_GAP_MS after the last run began). What a caller parks before it commits is chained
   * by a later run, at the latest by the `start()` timer's.
   */
  queued(): void {
    if (this.soon || !this.chain) return;
    this.soon = setTimeout(
      () => {
        this.soon = null;
        // A run under way may have begun before this was parked: ask again once it is over.
        if (this.running) void this.running.then(() => this.queued(), () => this.queued());
        else void this.flush().catch(() => undefined);
      },
      Math.max(5, this.lastRunAt + QUEUED_RUN_GAP_MS - Date.now()),
    );
    this.soon.unref();
  }

  /**
   * Chains every committed queued event and every waiting one. Concurrent calls share runs: a
   * call made while a run is under way gets one more run after it.
   */
  flush(): Promise<void> {
    if (!this.chain) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.runOnce();
        } while (this.again || this.waiting.length > 0);
      } catch (e) {
        // The database is failing: tell every waiting writer now rather than retry behind their backs.
        for (const w of this.waiting.splice(0)) w.done(e);
        throw e;
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /** Chains leftovers (of crashed or slow writers) every `ms` until `stop()`. */
  start(ms = 1_000): void {
    if (!this.chain) return;
    this.timer ??= setInterval(() => void this.flush().catch(() => undefined), ms);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
    this.timer = null;
    this.soon = null;
    await this.flush().catch(() => undefined);
  }

  private async runOnce(): Promise<void> {
    this.lastRunAt = Date.now();
    const batch = this.waiting.splice(0, BATCH);
    try {
      let mine = batch;
      for (;;) {
        const events = mine;
        const full = await this.db.transaction(async (tx) => {
          await lockChain(tx);
          const queued = await takeQueued(tx, BATCH);
          if (!queued.length && !events.length) return false;
          const prev = await lastLink(tx);
          let seq = prev ? prev.seq : 0;
          let prevHash = prev?.hash ?? GENESIS;
          const rows: AuditRow[] = [];
          for (const { at, event } of [...queued, ...events]) {
            const partial: Omit<AuditRow, 'hash'> = { ...event, seq: ++seq, at, prevHash };
            prevHash = rowHash(partial);
            rows.push({ ...partial, hash: prevHash });
          }
          // Each chained row names its queue row: only then may that row be deleted (migrations/010).
          await insertRows(tx, rows, [...queued.map((q) => q.id), ...events.map(() => null)]);
          await deleteQueued(
            tx,
            queued.map((q) => q.id),
          );
          return queued.length === BATCH;
        });
        mine = [];
        if (!full) break;
      }
    } catch (e) {
      for (const w of batch) w.done(e);
      throw e;
    }
    for (const w of batch) w.done();
  }

  /** The newest event's seq and hash: worth writing down somewhere else as an anchor. */
  async head(): Promise<{ seq: number; hash: string } | null> {
    await this.flush();
    return lastLink(this.db);
  }

  /**
   * Walks the chain in seq order, a page at a time, and reports the first event that does not fit:
   * changed (its hash does not match its fields), removed (a gap: the event after it is named),
   * reordered or re-linked (prev_hash is not the previous event's hash).
   */
  async verify(opts: VerifyOptions = {}): Promise<VerifyResult> {
    await this.flush();
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
    await this.flush();
    return listRows(this.db, f);
  }

  /**
   * JSON lines for a SIEM, oldest first, streamed in pages with back-pressure. Each line carries
   * seq, prevHash and hash, so an unfiltered export can be verified on its own (docs/audit.md).
   */
  async export(out: NodeJS.WritableStream, filter: Pick<AuditFilter, 'type' | 'from' | 'to'> & { afterSeq?: number } = {}): Promise<number> {
    await this.flush();
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
