import { join } from 'node:path';
import type { Db } from './db.js';
import { migrate, pendingMigrations } from './migrate.js';
import { OpencesError } from '../errors.js';
import { isPermissionDenied } from './db-roles.js';
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
      // A current schema is left alone: a node connected with a least-privilege role (no DDL,
      // src/store/db-roles.ts) starts as long as the owner has run the migrations.
      const pending = await pendingMigrations(db);
      if (pending.length) {
        try {
          await migrate(db);
        } catch (e) {
          if (isPermissionDenied(e)) {
            throw new OpencesError('unavailable', `the database needs migrations ${pending.map((m) => m.name).join(', ')}, and this connection may not change the schema: run \`opences db migrate\` with the database owner's URL (docs/deployment.md)`);
          }
          throw e;
        }
      }
    } catch (e) {
      await db.close().catch(() => undefined);
      throw e;
    }
  }
  return db;
}
