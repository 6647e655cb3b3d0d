import pg from 'pg';
import { sqlText, type Db, type Queryable, type QueryResult, type Statement } from './db.js';
import { OpencesError } from '../errors.js';

/** Connection-level failures become 'unavailable' so /readyz and SOAP faults can say so. */
function mapPgError(e: unknown): unknown {
  if (e instanceof Error && 'code' in e) {
    const code = String((e as { code: unknown }).code);
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08006', '08001', '08003'].includes(code)) {
      return new OpencesError('unavailable', 'the database is unreachable', { cause: code });
    }
    // A least-privilege node role (src/store/db-roles.ts) asked for something it may not do: an
    // operator's command on the wrong node, or a compromised node. Say so instead of "internal error".
    if (code === '42501') return new OpencesError('forbidden', `the database refused: ${e.message} (this node's database role does not allow it; docs/deployment.md, "Database roles")`, { cause: code });
  }
  return e;
}

export interface PostgresOptions {
  url: string;
  /** Schema to use (tests use one schema per file); created if missing. */
  schema?: string;
  max?: number;
  /** Use named prepared statements for `Statement`s (default on; off behind a pooler that cannot keep them). */
  prepare?: boolean;
}

export class PostgresDb implements Db {
  readonly engine = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly prepare: boolean;

  constructor(opts: PostgresOptions) {
    this.prepare = opts.prepare ?? true;
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.max ?? 10,
      connectionTimeoutMillis: 5_000,
      ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}),
    });
    // An idle client losing its server (PostgreSQL restart) must not crash the process.
    this.pool.on('error', () => undefined);
  }

  /** node-postgres' query config: named (prepared per connection) for a Statement when enabled. */
  private config(sql: string | Statement, params?: unknown[]): pg.QueryConfig {
    return typeof sql !== 'string' && this.prepare ? { name: sql.name, text: sql.text, values: params } : { text: sqlText(sql), values: params };
  }

  async query<R = Record<string, unknown>>(sql: string | Statement, params?: unknown[]): Promise<QueryResult<R>> {
    try {
      const r = await this.pool.query(this.config(sql, params));
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
      query: async <R>(sql: string | Statement, params?: unknown[]): Promise<QueryResult<R>> => {
        const r = await client.query(this.config(sql, params));
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
