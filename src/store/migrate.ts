import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from './db.js';

/** migrations/ sits at the package root, beside src/ and dist/. */
export function migrationsDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function loadMigrations(dir = migrationsDir()): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .map((f) => ({ version: Number.parseInt(f, 10), name: f, sql: readFileSync(join(dir, f), 'utf8') }))
    .sort((a, b) => a.version - b.version);
}

// Any constant works; it only has to be the same for every opences process on one database.
const MIGRATION_LOCK = 0x6f70656e; // "open"

/**
 * Versions not applied yet (all of them on an empty database). Needs only SELECT on
 * schema_migrations: the least-privilege node roles can tell whether the schema is current without
 * the right to change it.
 */
export async function pendingMigrations(db: Db, migrations = loadMigrations()): Promise<Migration[]> {
  const exists = await db.query<{ t: string | null }>(`SELECT to_regclass('schema_migrations')::text AS t`);
  if (!exists.rows[0]?.t) return migrations;
  const r = await db.query<{ version: number }>('SELECT version FROM schema_migrations');
  const applied = new Set(r.rows.map((x) => Number(x.version)));
  return migrations.filter((m) => !applied.has(m.version));
}

/**
 * Applies pending migrations in order, each in its own transaction, under a transaction-scoped
 * advisory lock so that several nodes starting at once on one database migrate exactly once.
 * Returns the versions applied by this call.
 */
export async function migrate(db: Db, migrations = loadMigrations()): Promise<number[]> {
  await db.query(
    `CREATE TABLE IF NOT EXISTS schema_migrations (
       version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
  ).catch(async () => {
    // Two nodes racing on CREATE TABLE IF NOT EXISTS can collide on the catalog; the loser retries.
    await db.query('SELECT 1 FROM schema_migrations LIMIT 1');
  });
  const applied: number[] = [];
  for (const m of migrations) {
    const did = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const seen = await tx.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version]);
      if (seen.rowCount > 0) return false;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      return true;
    });
    if (did) applied.push(m.version);
  }
  return applied;
}
