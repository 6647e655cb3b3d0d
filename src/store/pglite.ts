import { mkdirSync } from 'node:fs';
import type { PGlite as PGliteType } from '@electric-sql/pglite';
import { sqlText, type Db, type Queryable, type QueryResult, type Statement } from './db.js';

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
    const { PGlite } = await import('@electric-sql/pglite');
    if (dir) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const pg = dir ? await PGlite.create(dir) : await PGlite.create();
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
