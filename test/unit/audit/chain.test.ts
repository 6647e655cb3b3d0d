import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshTestDb, type TestDb } from '../../helpers/db.js';
import { AuditLog } from '../../../src/audit/log.js';
import { systemClock } from '../../../src/clock.js';
import { PostgresDb } from '../../../src/store/postgres.js';
import { openDb } from '../../../src/store/open.js';

describe('hash-chained audit log on PostgreSQL', () => {
  let db: TestDb;
  let log: AuditLog;
  beforeEach(async () => {
    await db?.close();
    db = await freshTestDb();
    log = new AuditLog(db, systemClock);
    for (let i = 0; i < 20; i++) await log.record({ type: 'test', outcome: 'info', principal: `p${i}`, reason: `event ${i}`, details: { i, password: 'never-stored', nested: { token: 'x', ok: 1 } } });
  });
  afterAll(async () => db?.close());

  it('verifies an untouched chain and never stores secrets', async () => {
    expect(await log.verify()).toEqual({ ok: true, count: 20 });
    const raw = JSON.stringify((await db.query('SELECT details FROM audit_events')).rows);
    expect(raw).not.toContain('never-stored');
    expect(raw).not.toContain('"token"');
  });

  it('keeps one chain under concurrent writers from two pools', async () => {
    const other = new PostgresDb({ url: db.url, schema: db.schema, max: 4 });
    const log2 = new AuditLog(other, systemClock);
    await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? log : log2).record({ type: 'concurrent', outcome: 'info', reason: String(i) })));
    await other.close();
    expect(await log.verify()).toEqual({ ok: true, count: 120 });
  });

  it('names the changed row', async () => {
    await db.query(`UPDATE audit_events SET reason = 'tampered' WHERE seq = 7`);
    expect(await log.verify()).toMatchObject({ ok: false, firstBrokenSeq: 7, reason: 'event 7 was changed after it was written' });
  });

  it('names the row after a deleted one', async () => {
    await db.query('DELETE FROM audit_events WHERE seq = 11');
    expect(await log.verify()).toMatchObject({ ok: false, firstBrokenSeq: 11, reason: 'event 11 is missing' });
  });

  it('detects reordered rows', async () => {
    await db.query(`UPDATE audit_events SET seq = -1 WHERE seq = 4; UPDATE audit_events SET seq = 4 WHERE seq = 5; UPDATE audit_events SET seq = 5 WHERE seq = -1`);
    expect(await log.verify()).toMatchObject({ ok: false, firstBrokenSeq: 4 });
  });

  it('detects a rewritten tail (hash recomputed without the chain)', async () => {
    await db.query(`UPDATE audit_events SET principal = 'someone-else', hash = md5(hash) || md5(hash) WHERE seq = 20`);
    expect(await log.verify()).toMatchObject({ ok: false, firstBrokenSeq: 20 });
  });

  it('writes nothing when the surrounding transaction rolls back', async () => {
    await expect(db.transaction(async (tx) => {
      await log.record({ type: 'rolled-back', outcome: 'info' }, tx);
      throw new Error('abort');
    })).rejects.toThrow('abort');
    expect((await log.list({ type: 'rolled-back' })).length).toBe(0);
    expect(await log.verify()).toEqual({ ok: true, count: 20 });
  });
});

describe('the same chain on embedded PGlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opences-audit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('verifies and detects tampering', async () => {
    const db = await openDb({ dataDir: dir });
    const log = new AuditLog(db, systemClock);
    for (let i = 0; i < 5; i++) await log.record({ type: 'pglite', outcome: 'info', reason: String(i) });
    expect(await log.verify()).toEqual({ ok: true, count: 5 });
    await db.query(`UPDATE audit_events SET reason = 'x' WHERE seq = 3`);
    expect(await log.verify()).toMatchObject({ ok: false, firstBrokenSeq: 3 });
    await db.close();
  }, 60_000);
});
