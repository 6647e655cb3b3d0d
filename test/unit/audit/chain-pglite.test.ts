import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../../../src/audit/log.js';
import { systemClock } from '../../../src/clock.js';
import { openDb } from '../../../src/store/open.js';

// The chain of chain.test.ts on embedded PGlite, in a file of its own: PGlite's initdb costs ~20 s,
// and the mutation run (vitest.mutate.config.ts) leaves *-pglite files out — the statements are
// the same, and the PostgreSQL file exercises every branch of src/audit/log.ts.
describe('the same chain on embedded PGlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opences-audit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('verifies, rolls back with its transaction, and detects tampering', async () => {
    const db = await openDb({ dataDir: dir });
    const log = new AuditLog(db, systemClock);
    await Promise.all(Array.from({ length: 10 }, (_, i) => log.record({ type: 'pglite', outcome: 'info', reason: String(i), details: { password: 'p', n: i } })));
    await expect(db.transaction(async (tx) => {
      await log.record({ type: 'gone', outcome: 'info' }, tx);
      throw new Error('abort');
    })).rejects.toThrow('abort');
    expect(await log.verify()).toEqual({ ok: true, count: 10 });
    const original = (await db.query<{ reason: string }>('SELECT reason FROM audit_events WHERE seq = 3')).rows[0]?.reason;
    await db.query(`UPDATE audit_events SET reason = 'x' WHERE seq = 3`);
    expect(await log.verify()).toMatchObject({ ok: false, firstBrokenSeq: 3 });
    await db.query('UPDATE audit_events SET reason = $1 WHERE seq = 3', [original]);
    expect(await log.verify()).toEqual({ ok: true, count: 10 });
    await db.query('DELETE FROM audit_events WHERE seq = 6');
    expect(await log.verify()).toMatchObject({ ok: false, firstBrokenSeq: 7 });
    await db.close();
  });
});
