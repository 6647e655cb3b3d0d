/**
 * The narrow database surface every repository uses. Two engines implement it: node-postgres
 * (a real PostgreSQL server) and PGlite (embedded, files in the data directory). SQL written
 * against it must run unchanged on both.
 */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

import { createHash } from 'node:crypto';

/**
 * A statement on the hot path, prepared once per connection (a named prepared statement) instead
 * of parsed and planned on every call: for the enrollment CTEs planning costs PostgreSQL ~4× the
 * execution. Its text must be fixed (no interpolated values), or every variant would be kept.
 */
export interface Statement {
  readonly text: string;
  readonly name: string;
}

export function statement(text: string): Statement {
  return { text, name: `opences_${createHash('sha256').update(text).digest('hex').slice(0, 16)}` };
}

export const sqlText = (sql: string | Statement): string => (typeof sql === 'string' ? sql : sql.text);

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string | Statement, params?: unknown[]): Promise<QueryResult<R>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly engine: 'postgres' | 'pglite';
  /** Runs fn in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Cheap liveness check used by /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
