import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import type { PGlite as PGliteType } from '@electric-sql/pglite';
import { collectGarbage } from '../gc.js';
import { sqlText, type Db, type Queryable, type QueryResult, type Statement } from './db.js';

/**
 * PostgreSQL's memory settings for the embedded instance. Its buffers live in PGlite's WebAssembly
 * memory, which grows to the largest size ever needed and never shrinks, so PostgreSQL's defaults
 * (128 MB of shared buffers, 64 MB per maintenance operation) stayed resident in an idle server
 * (docs/benchmarks.md, memory). One session, one data set of a single node: small buffers do.
 * OPENCES_PGLITE_SETTINGS (comma-separated name=value) overrides them, for measuring.
 */
/**
 * PGlite's WebAssembly compiled by V8's baseline compiler only (`--liftoff-only`), never tiered up
 * to TurboFan: the optimised code of PostgreSQL's 9 MB module stayed resident (~60 MB), while a
 * warm insert + select cost ~6 % more CPU without it (docs/benchmarks.md). Process-wide, so only in
 * the embedded mode, which is a small deployment's; OPENCES_PGLITE_TIER_UP=1 keeps V8's default.
 */
const LIFTOFF_ONLY = process.env.OPENCES_PGLITE_TIER_UP !== '1';

const EMBEDDED_SETTINGS = (process.env.OPENCES_PGLITE_SETTINGS ?? 'shared_buffers=16MB,maintenance_work_mem=8MB,work_mem=2MB,temp_buffers=2MB,wal_buffers=1MB').split(',').map((x) => x.trim()).filter(Boolean);

/**
 * Embedded PostgreSQL (PGlite) in `<dataDir>/db`. PGlite is a single session: a second
 * connection waits while another holds a transaction (facts.md), so everything funnels through
 * one instance and transactions are serialised here.
 */
export class PgliteDb implements Db {
  readonly engine = 'pglite' as const;
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(private readonly pg: PGliteType) {}

  static async open(dir: string | undefined): Promise<PgliteDb> {
    // Before PGlite compiles its WebAssembly: baseline code only (see LIFTOFF_ONLY).
    if (LIFTOFF_ONLY) setFlagsFromString('--liftoff-only');
    const { PGlite } = await import('@electric-sql/pglite');
    if (dir) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const options = { startParams: [...PGlite.defaultStartParams, ...EMBEDDED_SETTINGS.flatMap((c) => ['-c', c])] };
    const fresh = !dir || !existsSync(join(dir, 'PG_VERSION'));
    const pg = dir ? await PGlite.create(dir, options) : await PGlite.create(options);
    // A first start ran initdb in a second PGlite instance, now closed: its WebAssembly memory
    // (hundreds of MB touched) stays resident until V8 collects it, which an idle server never
    // prompts — one full collection now gives it back (~620 → ~200 MB RSS, docs/benchmarks.md).
    if (fresh) collectGarbage();
    return new PgliteDb(pg);
  }

  /** Queue work so a plain query never interleaves with an open transaction. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  // One embedded session, no network round trip: statements are not named (planning is the lesser cost here).
  query<R = Record<string, unknown>>(sql: string | Statement, params?: unknown[]): Promise<QueryResult<R>> {
    return this.serial(async () => {
      const r = await this.pg.query<R>(sqlText(sql), params);
      return { rows: r.rows, rowCount: Math.max(r.rows.length, r.affectedRows ?? 0) };
    });
  }

  exec(sql: string): Promise<void> {
    return this.serial(async () => {
      await this.pg.exec(sql);
    });
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.serial(() =>
      this.pg.transaction(async (t) => {
        const tx: Queryable = {
          async query<R>(sql: string | Statement, params?: unknown[]): Promise<QueryResult<R>> {
            const r = await t.query<R>(sqlText(sql), params);
            return { rows: r.rows, rowCount: Math.max(r.rows.length, r.affectedRows ?? 0) };
          },
          async exec(sql: string): Promise<void> {
            await t.exec(sql);
          },
        };
        return fn(tx);
      }),
    );
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.chain.catch(() => undefined);
    await this.pg.close();
  }
}
