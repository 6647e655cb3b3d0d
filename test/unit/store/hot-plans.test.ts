import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshTestDb, type TestDb } from '../../helpers/db.js';
import { REPLAY_WRITES } from '../../../src/auth/replay.js';
import { REQUEST_WRITES } from '../../../src/store/request-repo.js';
import { ISSUED_WRITES } from '../../../src/store/certificate-repo.js';
import type { WriteKind } from '../../../src/store/combined-writes.js';

/**
 * The hot path's statements are prepared once per connection and run with the generic plan
 * PostgreSQL picks after a few executions. A plan that reads a whole table costs per statement
 * what the table holds: the replay kind's lookup of keys met again once planned a hash join over a
 * sequential scan of `replay_seen` while the table was small, and the scan grew with the table
 * (docs/benchmarks.md, the eighth session). Each kind's generic plan must reach the big tables
 * through their indexes only.
 */
const BIG_TABLES = ['replay_seen', 'requests', 'certificates', 'audit_queue', 'audit_events'];

function sqlOf(kind: WriteKind<never, unknown>): string {
  return `WITH ${kind.ctes((k) => `$${k}`)}\n${kind.select}`;
}

describe('generic plans of the combined writes (src/store/combined-writes.ts)', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await freshTestDb({ poolSize: 1 });
    // A small table, as a fresh deployment (or a bench) starts with: where a scan looks cheap.
    await db.query(`INSERT INTO replay_seen (key, bound, expires_at)
      SELECT decode(md5(i::text), 'hex'), CASE WHEN i % 2 = 0 THEN 'b' END, now() + interval '10 minutes' FROM generate_series(1, 300) i`);
    await db.query('ANALYZE replay_seen');
  });
  afterAll(async () => db?.close());

  const kinds: [string, WriteKind<never, unknown>][] = [
    ['replay', REPLAY_WRITES as unknown as WriteKind<never, unknown>],
    ['request', REQUEST_WRITES as unknown as WriteKind<never, unknown>],
    ['issued', ISSUED_WRITES as unknown as WriteKind<never, unknown>],
  ];
  for (const [name, kind] of kinds) {
    it(`${name}: no sequential scan of a table that grows`, async () => {
      const plan = await db.transaction(async (tx) => {
        await tx.query('SET LOCAL plan_cache_mode = force_generic_plan');
        await tx.query(`PREPARE hot_plan AS ${sqlOf(kind)}`);
        const nulls = Array.from({ length: kind.params }, () => 'NULL').join(', ');
        const r = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE hot_plan(${nulls})`);
        await tx.query('DEALLOCATE hot_plan');
        return r.rows.map((x) => x['QUERY PLAN']).join('\n');
      });
      console.log(plan); console.log(plan); console.log(plan); for (const t of BIG_TABLES) expect(plan, plan).not.toMatch(new RegExp(`Seq Scan on ${t}\\b`));
    });
  }
});
