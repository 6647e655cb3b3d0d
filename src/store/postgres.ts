import pg from 'pg';
import type { Db, Queryable, QueryResult } from './db.js';
import { OpencesError } from '../errors.js';

/** Connection-level failures become 'unavailable' so /readyz and SOAP faults can say so. */
function mapPgError(e: unknown): unknown {
  if (e instanceof Error && 'code' in e) {
    const code = String((e as { code: unknown }).code);
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08006', '08001', '08003'].includes(code)) {
      return new OpencesError('unavailable', 'the database is unreachable', { cause: code });
    }
  }
  return e;
}

export interface PostgresOptions {
  url: string;
  /** Schema to use (tests use one schema per file); created if missing. */
  schema?: string;
  max?: number;
}

export class PostgresDb implements Db {
  readonly engine = 'postgres' as const;
  private readonly pool: pg.Pool;

  constructor(opts: PostgresOptions) {
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.max ?? 10,
      connectionTimeoutMillis: 5_000,
      ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}),
    });
    // An idle client losing its server (PostgreSQL restart) must not crash the process.
    this.pool.on('error', () => undefined);
  }

  async query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
    try {
      const r = await this.pool.query(sql, params as unknown[]);
      return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
    } catch (e) {
      throw mapPgError(e);
    }
  }

  async exec(sql: string): Promise<void> {
    await this.query(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw mapPgError(e);
    }
    // A checked-out client whose server goes away between queries emits 'error'; unhandled, that
    // would end the process. The failing query (or the next one) rejects and the catch below drops it.
    const lost = (): void => undefined;
    client.on('error', lost);
    const release = (destroy?: boolean): void => {
      client.off('error', lost);
      client.release(destroy);
    };
    const tx: Queryable = {
      async query<R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
        const r = await client.query(sql, params as unknown[]);
        return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
      },
      async exec(sql: string): Promise<void> {
        await client.query(sql);
      },
    };
    try {
      await client.query('BEGIN');
      const out = await fn(tx);
      await client.query('COMMIT');
      release();
      return out;
    } catch (e) {
      try {
        await client.query('ROLLBACK');
        release();
      } catch {
        release(true);
      }
      throw mapPgError(e);
    }
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
