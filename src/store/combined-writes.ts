import { statement, type Db, type Statement } from './db.js';

/**
 * Combined group commit: every hot-path write a process makes — replay keys (src/auth/replay.ts),
 * request rows (src/store/request-repo.ts), issued certificates (src/store/certificate-repo.ts) —
 * waits for the next statement on its database, and that one statement writes what every kind has
 * waiting, as data-modifying CTEs side by side. Under load one statement and one commit serve
 * several enrollments' replay checks, requests and certificates; alone, a write waits for nothing.
 * A statement costs PostgreSQL more in waking a backend, parsing the protocol and committing than in
 * the rows it writes (docs/benchmarks.md: ~500 µs of CPU per statement on the bench machine against
 * ~40 µs per message in a batch), so what counts is statements per enrollment.
 *
 * The kinds of one statement are independent (different requests, different tables or rows the
 * others do not read), and a statement names only the kinds it carries: a node's database role
 * needs no privilege on a table it never writes (src/store/db-roles.ts).
 *
 * Under load, statements are paced: the next one starts no sooner than `gapMs` (2 ms) after the
 * previous one started, so a fast database does not answer each lone item with a statement of its
 * own — messages arriving within the gap share one (a micro-batch; GetPolicies' replay keys are
 * the case). After a quiet spell longer than the gap, a write is sent at the end of the current
 * event-loop turn (setImmediate): what else is submitted in that turn — the other kinds of one
 * enrollment, the requests whose data arrived in the same poll — rides the same statement instead
 * of the first item going alone and the rest in a second statement (docs/benchmarks.md, the ninth
 * session). The wait is the rest of the turn, microseconds, not a timer.
 *
 * Items of one kind with the same key never share a statement (two rows for one request would
 * contend inside it): a later one waits for the next. When a combined statement fails, each kind is
 * tried alone, and when that fails too, item by item, so one bad row answers with its own error.
 */

/** One result row of a combined statement: which kind it answers, and that kind's own fields. */
export interface CombinedRow {
  kind: string;
  ord: number | null;
  a: string | null;
  b: string | null;
}

export interface WriteKind<I, O> {
  /** Its tag in the result rows, and its place in the statement (kinds are written in a fixed order). */
  readonly name: string;
  readonly rank: number;
  /** Parameters it takes (its `$1`…`$n`, renumbered in a combined statement). */
  readonly params: number;
  /**
   * Its CTEs, comma-separated without WITH, names prefixed with the kind's own prefix; `$(k)` is its
   * k-th parameter.
   */
  ctes($: (k: number) => string): string;
  /** A SELECT over its CTEs giving (kind text, ord integer, a text, b text) rows. */
  readonly select: string;
  values(items: I[]): unknown[];
  /** One outcome per item, in order, from this kind's rows; throws when one is missing. */
  outcomes(rows: CombinedRow[], items: I[]): O[];
  key(item: I): string;
  /** Most items of this kind per statement. */
  readonly max: number;
  /**
   * Its rows may be lost if PostgreSQL itself crashes before flushing its WAL (replay keys: the
   * price is a replay window after a database crash, docs/authentication.md). A statement carrying
   * only such kinds commits without waiting for the WAL flush when `relaxedCommit` is on.
   */
  readonly relaxed?: boolean;
}

export interface CombinedWritesOptions {
  /**
   * Statements of relaxed kinds only commit asynchronously (`synchronous_commit = off` for their
   * transaction; other nodes see them at once, as before). Config `databaseAsyncReplayCommit`;
   * off unless asked for, as the config's default is.
   */
  relaxedCommit?: boolean;
}

interface Waiter<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

// Heterogeneous kinds in one queue map; each entry keeps its own item and outcome types.
type AnyKind = WriteKind<unknown, unknown>;
type AnyWaiter = Waiter<unknown, unknown>;

export class CombinedWrites {
  private readonly waiting = new Map<AnyKind, AnyWaiter[]>();
  private readonly statements = new Map<string, Statement>();
  private flushing = false;
  /** A flush is due at the end of this event-loop turn. */
  private due = false;
  private lastStart = -Infinity;
  /** Statements run and items they carried, for tests and measurements. */
  readonly stats = { statements: 0, items: 0 };

  relaxedCommit: boolean;

  constructor(
    private readonly db: Db,
    private readonly gapMs = 2,
    o: CombinedWritesOptions = {},
  ) {
    this.relaxedCommit = o.relaxedCommit ?? false;
  }

  submit<I, O>(kind: WriteKind<I, O>, item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      const k = kind as unknown as AnyKind;
      let q = this.waiting.get(k);
      if (!q) this.waiting.set(k, (q = []));
      q.push({ item, resolve: resolve as (o: unknown) => void, reject });
      this.kick();
    });
  }

  /** Starts a flush at the end of this turn, unless one is running (its loop takes what arrives) or due. */
  private kick(): void {
    if (this.flushing || this.due) return;
    this.due = true;
    setImmediate(() => {
      this.due = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.waiting.size) {
        // Paced under load: what arrives within the gap rides the same statement.
        const wait = this.lastStart + this.gapMs - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        this.lastStart = performance.now();
        const batch = new Map<AnyKind, AnyWaiter[]>();
        for (const [kind, q] of this.waiting) {
          const taken: AnyWaiter[] = [];
          const rest: AnyWaiter[] = [];
          const keys = new Set<string>();
          for (const w of q) {
            const key = kind.key(w.item);
            if (taken.length < kind.max && !keys.has(key)) {
              keys.add(key);
              taken.push(w);
            } else rest.push(w);
          }
          if (taken.length) batch.set(kind, taken);
          if (rest.length) this.waiting.set(kind, rest);
          else this.waiting.delete(kind);
        }
        if (!batch.size) break;
        await this.run(batch);
      }
    } finally {
      this.flushing = false;
    }
  }

  private async run(batch: Map<AnyKind, AnyWaiter[]>): Promise<void> {
    try {
      this.settle(batch, await this.write(batch));
    } catch (e) {
      if (batch.size === 1 && [...batch.values()][0]!.length === 1) return [...batch.values()][0]![0]!.reject(e);
      // Each kind alone, then (if that fails too) each item alone.
      for (const [kind, ws] of batch) {
        const one = new Map([[kind, ws]]);
        try {
          if (batch.size === 1) throw e;
          this.settle(one, await this.write(one));
        } catch (err) {
          if (ws.length === 1) {
            ws[0]!.reject(err);
            continue;
          }
          for (const w of ws) {
            const single = new Map([[kind, [w]]]);
            try {
              this.settle(single, await this.write(single));
            } catch (itemErr) {
              w.reject(itemErr);
            }
          }
        }
      }
    }
  }

  /** One statement for the batch's kinds; its rows sorted per kind. */
  private async write(batch: Map<AnyKind, AnyWaiter[]>): Promise<Map<AnyKind, unknown[]>> {
    const kinds = [...batch.keys()].sort((x, y) => x.rank - y.rank);
    const sql = this.statementFor(kinds);
    const params = kinds.flatMap((k) => {
      const v = k.values(batch.get(k)!.map((w) => w.item));
      if (v.length !== k.params) throw new Error(`combined writes: ${k.name} gave ${v.length} parameters, not ${k.params}`);
      return v;
    });
    this.stats.statements++;
    this.stats.items += [...batch.values()].reduce((t, ws) => t + ws.length, 0);
    const r = await this.db.query<CombinedRow>(sql, params);
    const out = new Map<AnyKind, unknown[]>();
    for (const k of kinds) {
      const items = batch.get(k)!.map((w) => w.item);
      const outcomes = k.outcomes(
        r.rows.filter((row) => row.kind === k.name),
        items,
      );
      if (outcomes.length !== items.length) throw new Error(`combined writes: ${outcomes.length} ${k.name} outcomes for ${items.length} items`);
      out.set(k, outcomes);
    }
    return out;
  }

  private settle(batch: Map<AnyKind, AnyWaiter[]>, out: Map<AnyKind, unknown[]>): void {
    for (const [kind, ws] of batch) ws.forEach((w, i) => w.resolve(out.get(kind)![i]));
  }

  /**
   * The statement for a set of kinds (fixed text per set, so each set is prepared once per
   * connection). When every kind is relaxed, one more row sets `synchronous_commit` off for the
   * statement's own transaction (set_config's is_local: it reverts when the statement commits).
   */
  private statementFor(kinds: AnyKind[]): Statement {
    const relax = this.relaxedCommit && kinds.every((k) => k.relaxed === true);
    const id = kinds.map((k) => k.name).join('+') + (relax ? '~' : '');
    let s = this.statements.get(id);
    if (!s) {
      let base = 0;
      const ctes: string[] = [];
      for (const k of kinds) {
        const offset = base;
        ctes.push(k.ctes((n) => `$${offset + n}`));
        base += k.params;
      }
      const selects = kinds.map((k) => k.select);
      if (relax) selects.push(`SELECT '${RELAXED}'::text AS kind, NULL::integer AS ord, set_config('synchronous_commit', 'off', true) AS a, NULL::text AS b`);
      s = statement(`WITH ${ctes.join(',\n')}\n${selects.join('\nUNION ALL ')}`);
      this.statements.set(id, s);
    }
    return s;
  }
}

/** The kind name of the row that relaxes a statement's commit (no kind is named so). */
export const RELAXED = 'relaxed-commit';

const perDb = new WeakMap<Db, CombinedWrites>();

/** The combined writer of a database handle: every component writing through `db` shares it. */
export function combinedWrites(db: Db): CombinedWrites {
  let c = perDb.get(db);
  if (!c) perDb.set(db, (c = new CombinedWrites(db)));
  return c;
}

/** Sets the options of a database handle's combined writer (the composition root, once per process). */
export function configureCombinedWrites(db: Db, o: CombinedWritesOptions): void {
  combinedWrites(db).relaxedCommit = o.relaxedCommit ?? false;
}
