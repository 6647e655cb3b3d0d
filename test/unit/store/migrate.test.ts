import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshTestDb, type TestDb } from '../../helpers/db.js';
import { loadMigrations, migrate } from '../../../src/store/migrate.js';
import { openDb } from '../../../src/store/open.js';
import { PostgresDb } from '../../../src/store/postgres.js';

const EXPECTED_TABLES = ['accounts', 'audit_events', 'cas', 'certificates', 'crls', 'replay_seen', 'requests', 'settings', 'templates'];

describe('migrations on a real PostgreSQL', () => {
  let db: TestDb;
  afterAll(async () => db?.close());

  it('creates every table once and is idempotent', async () => {
    db = await freshTestDb();
    const again = await migrate(db);
    expect(again).toEqual([]);
    const r = await db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
      [db.schema],
    );
    const names = r.rows.map((x) => x.table_name);
    for (const t of EXPECTED_TABLES) expect(names).toContain(t);
    const v = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(v.rows.map((x) => x.version)).toEqual(loadMigrations().map((m) => m.version));
  });

  it('several nodes migrating one database at once apply each migration exactly once', async () => {
    const fresh = await freshTestDb({ poolSize: 2 });
    await fresh.query('DROP TABLE schema_migrations');
    // Drop everything so the racers start from nothing.
    await fresh.query(`DROP SCHEMA ${fresh.schema} CASCADE`);
    await fresh.query(`CREATE SCHEMA ${fresh.schema}`);
    const racers = Array.from({ length: 4 }, () => new PostgresDb({ url: fresh.url, schema: fresh.schema, max: 2 }));
    const results = await Promise.all(racers.map((r) => migrate(r).catch((e: unknown) => e)));
    const applied = results.filter(Array.isArray).flat();
    expect(applied.sort()).toEqual(loadMigrations().map((m) => m.version).sort());
    await Promise.all(racers.map((r) => r.close()));
    await fresh.close();
  });

  it('transaction rolls back on error', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO settings (key, value) VALUES ('x', '1')`);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const r = await db.query(`SELECT 1 FROM settings WHERE key = 'x'`);
    expect(r.rowCount).toBe(0);
  });
});

describe('migrations on embedded PGlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opences-pglite-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('applies the same SQL and survives a reopen', async () => {
    const db = await openDb({ dataDir: dir });
    expect(db.engine).toBe('pglite');
    await db.query(`INSERT INTO settings (key, value) VALUES ('policy_id', '"abc"')`);
    await db.close();
    const again = await openDb({ dataDir: dir });
    const r = await again.query<{ value: string }>(`SELECT value FROM settings WHERE key = 'policy_id'`);
    expect(r.rows[0]?.value).toBe('abc');
    expect(await migrate(again)).toEqual([]);
    await again.transaction(async (tx) => {
      await tx.query(`INSERT INTO settings (key, value) VALUES ('y', '2')`);
    });
    await expect(again.transaction(async (tx) => {
      await tx.query(`INSERT INTO settings (key, value) VALUES ('z', '3')`);
      throw new Error('nope');
    })).rejects.toThrow('nope');
    expect((await again.query(`SELECT key FROM settings ORDER BY key`)).rows.map((x) => (x as { key: string }).key)).toEqual(['policy_id', 'y']);
    await again.close();
  }, 180_000);
});
