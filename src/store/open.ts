import { join } from 'node:path';
import type { Db } from './db.js';
import { migrate } from './migrate.js';
import { PostgresDb } from './postgres.js';
import { PgliteDb } from './pglite.js';

export interface OpenDbOptions {
  /** postgres://… — a real PostgreSQL server. Without it, PGlite files live in `<dataDir>/db`. */
  url?: string;
  dataDir?: string;
  schema?: string;
  poolSize?: number;
  /** Named prepared statements on PostgreSQL (default true). */
  prepare?: boolean;
  /** Apply migrations (default true). */
  migrate?: boolean;
}

export async function openDb(opts: OpenDbOptions): Promise<Db> {
  const db: Db = opts.url
    ? new PostgresDb({ url: opts.url, schema: opts.schema, max: opts.poolSize, prepare: opts.prepare })
    : await PgliteDb.open(opts.dataDir ? join(opts.dataDir, 'db') : undefined);
  if (opts.migrate !== false) {
    try {
      await migrate(db);
    } catch (e) {
      await db.close().catch(() => undefined);
      throw e;
    }
  }
  return db;
}
