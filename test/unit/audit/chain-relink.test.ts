import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshTestDb, type TestDb } from '../../helpers/db.js';
import { AuditLog } from '../../../src/audit/log.js';
import { rowHash } from '../../../src/audit/chain.js';
import { systemClock } from '../../../src/clock.js';
import { rowsAfter } from '../../../src/store/audit-repo.js';

/**
 * An attacker with write access to the table rewrites one event in the middle of the chain and
 * recomputes that event's own hash correctly (the format is public, docs/audit.md). The row now
 * checks out on its own; only the next event's prev_hash link gives it away.
 */
describe('audit chain: a middle event rewritten with a correctly recomputed own hash', () => {
  let db: TestDb;
  let log: AuditLog;
  beforeAll(async () => {
    db = await freshTestDb();
    log = new AuditLog(db, systemClock);
    for (let i = 0; i < 10; i++) await log.record({ type: 'cert.issue', outcome: 'success', principal: `p${i}`, reason: `event ${i}` });
  });
  afterAll(async () => db?.close());

  it('is reported at the event after it, whose prev_hash no longer matches', async () => {
    expect(await log.verify()).toEqual({ ok: true, count: 10 });
    const [row] = await rowsAfter(db, 4, 1);
    expect(row!.seq).toBe(5);
    const forged = { ...row!, principal: 'mallory' };
    const { hash: _old, ...unhashed } = forged;
    const newHash = rowHash(unhashed);
    expect(newHash).not.toBe(row!.hash);
    await db.query(`UPDATE audit_events SET principal = $1, hash = $2 WHERE seq = 5`, ['mallory', newHash]);
    // The rewritten row is self-consistent: its own hash matches its content.
    const [again] = await rowsAfter(db, 4, 1);
    const { hash: stored, ...content } = again!;
    expect(rowHash(content)).toBe(stored);
    const v = await log.verify();
    expect(v).toMatchObject({ ok: false, firstBrokenSeq: 6 });
    expect((v as { reason: string }).reason).toMatch(/does not follow event 5/);
  });
});
