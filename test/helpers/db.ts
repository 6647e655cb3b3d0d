import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Db } from '../../src/store/db.js';
import { openDb } from '../../src/store/open.js';

export const TEST_DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export type TestDb = Db & { schema: string; url: string };

/**
 * A fresh schema on the real PostgreSQL with all migrations applied. `close()` drops the schema.
 * Each test file gets its own, so files can run in parallel against one server.
 */
export async function freshTestDb(opts: { poolSize?: number } = {}): Promise<TestDb> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const db = await openDb({ url: TEST_DATABASE_URL, schema, poolSize: opts.poolSize });
  const close = db.close.bind(db);
  return Object.assign(db, {
    schema,
    url: TEST_DATABASE_URL,
    async close() {
      await close();
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  });
}

/** URL with `options=-c search_path=<schema>` so child processes (servers under test) share the schema. */
export function urlWithSchema(schema: string): string {
  const u = new URL(TEST_DATABASE_URL);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}
