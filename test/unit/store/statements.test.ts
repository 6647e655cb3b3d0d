import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshTestDb, type TestDb } from '../../helpers/db.js';
import { statement } from '../../../src/store/db.js';
import { PostgresDb } from '../../../src/store/postgres.js';
import { openDb } from '../../../src/store/open.js';

const PLUS_ONE = statement('SELECT $1::int + 1 AS n');
const PREPARED = 'SELECT name FROM pg_prepared_statements';

describe('hot statements (src/store/db.ts statement())', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await freshTestDb({ poolSize: 3 });
  });
  afterAll(async () => db?.close());

  it('are named prepared statements on PostgreSQL, reused across calls and connections', async () => {
    const many = await Promise.all(Array.from({ length: 30 }, (_, i) => db.query<{ n: number }>(PLUS_ONE, [i])));
    expect(many.map((r) => r.rows[0]!.n)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const names = await db.transaction(async (tx) => {
      await tx.query(PLUS_ONE, [41]);
      return (await tx.query<{ name: string }>(PREPARED)).rows.map((r) => r.name);
    });
    expect(names).toContain(PLUS_ONE.name);
    expect(PLUS_ONE.name).toBe(statement('SELECT $1::int + 1 AS n').name); // same text, same name
    expect(PLUS_ONE.name).not.toBe(statement('SELECT $1::int + 2 AS n').name);
  });

  it('run unnamed with databasePreparedStatements off (for poolers that cannot keep them)', async () => {
    const plain = new PostgresDb({ url: db.url, schema: db.schema, max: 1, prepare: false });
    try {
      const names = await plain.transaction(async (tx) => {
        expect((await tx.query<{ n: number }>(PLUS_ONE, [1])).rows[0]!.n).toBe(2);
        return (await tx.query<{ name: string }>(PREPARED)).rows.map((r) => r.name);
      });
      expect(names).toEqual([]);
    } finally {
      await plain.close();
    }
  });

  it('run as plain SQL on the embedded database', async () => {
    const lite = await openDb({ migrate: false });
    try {
      expect((await lite.query<{ n: number }>(PLUS_ONE, [2])).rows[0]!.n).toBe(3);
    } finally {
      await lite.close();
    }
  });
});
