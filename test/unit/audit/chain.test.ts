import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { freshTestDb, type TestDb } from '../../helpers/db.js';
import { until } from '../../helpers/wait.js';
import { AuditLog } from '../../../src/audit/log.js';
import { systemClock } from '../../../src/clock.js';
import { PostgresDb } from '../../../src/store/postgres.js';

/**
 * The chain as docs/audit.md describes it, written again here from the document rather than
 * imported, so that a change to the format has to change the documentation too.
 */
function documentedHash(e: Record<string, unknown>): string {
  const canon = (v: unknown): string =>
    Array.isArray(v)
      ? `[${v.map(canon).join(',')}]`
      : v && typeof v === 'object'
        ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon((v as Record<string, unknown>)[k])}`).join(',')}}`
        : JSON.stringify(v ?? null);
  const f = (k: string): unknown => e[k] ?? null;
  const body = { seq: e.seq, at: e.at, type: e.type, outcome: e.outcome, actor: f('actor'), principal: f('principal'), method: f('method'), address: f('address'), template: f('template'), requestId: f('requestId'), serial: f('serial'), reason: f('reason'), details: e.details ?? {}, prevHash: e.prevHash };
  return createHash('sha256').update(canon(body)).digest('hex');
}

describe('hash-chained audit log on PostgreSQL', () => {
  let db: TestDb;
  let log: AuditLog;
  beforeEach(async () => {
    await db?.close();
    db = await freshTestDb();
    log = new AuditLog(db, systemClock);
    for (let i = 0; i < 20; i++) await log.record({ type: 'test', outcome: 'info', principal: `p${i}`, reason: `event ${i}`, details: { i, password: 'never-stored', nested: { token: 'x', ok: 1, list: [{ apiKey: 'k1', keyType: 'rsa' }] } } });
  });
  afterAll(async () => db?.close());

  it('verifies an untouched chain and never stores secrets', async () => {
    expect(await log.verify()).toEqual({ ok: true, count: 20 });
    const raw = JSON.stringify((await db.query('SELECT details FROM audit_events')).rows);
    expect(raw).not.toContain('never-stored');
    expect(raw).not.toContain('"token"');
    expect(raw).not.toContain('k1');
    expect(raw).toContain('"keyType":"rsa"'); // only secret-named keys go
    const first = (await db.query<{ prev_hash: string }>('SELECT prev_hash FROM audit_events WHERE seq = 1')).rows[0];
    expect(first?.prev_hash).toBe('0'.repeat(64));
  });

  it('keeps one contiguous chain under 200 concurrent writers from two pools', async () => {
    const other = new PostgresDb({ url: db.url, schema: db.schema, max: 5 });
    const log2 = new AuditLog(other, systemClock);
    await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? log : log2).record({ type: 'concurrent', outcome: 'info', reason: String(i) })));
    await other.close();
    expect(await log.verify({ pageSize: 7 })).toEqual({ ok: true, count: 220 });
    const seqs = (await db.query<{ seq: string }>('SELECT seq::text AS seq FROM audit_events ORDER BY audit_events.seq')).rows.map((r) => Number(r.seq));
    expect(seqs).toEqual(Array.from({ length: 220 }, (_, i) => i + 1));
    const reasons = new Set((await log.list({ type: 'concurrent', limit: 1000 })).map((r) => r.reason));
    expect(reasons.size).toBe(200);
  });

  it('names the changed row', async () => {
    await db.query(`UPDATE audit_events SET reason = 'tampered' WHERE seq = 7`);
    expect(await log.verify()).toMatchObject({ ok: false, firstBrokenSeq: 7, reason: 'event 7 was changed after it was written' });
  });

  it('notices a changed detail, even one nested inside', async () => {
    await db.query(`UPDATE audit_events SET details = jsonb_set(details, '{nested,ok}', '2') WHERE seq = 15`);
    expect(await log.verify()).toMatchObject({ ok: false, firstBrokenSeq: 15 });
  });

  it('names the row after a deleted one', async () => {
    await db.query('DELETE FROM audit_events WHERE seq = 11');
    expect(await log.verify()).toMatchObject({ ok: false, firstBrokenSeq: 12, reason: expect.stringContaining('event 11 is missing') });
  });

  it('notices a deleted first row', async () => {
    await db.query('DELETE FROM audit_events WHERE seq = 1');
    expect(await log.verify()).toMatchObject({ ok: false, firstBrokenSeq: 2 });
  });

  it('detects rows whose positions were swapped', async () => {
    await db.query(`UPDATE audit_events SET seq = -1 WHERE seq = 4; UPDATE audit_events SET seq = 4 WHERE seq = 5; UPDATE audit_events SET seq = 5 WHERE seq = -1`);
    expect(await log.verify()).toMatchObject({ ok: false, firstBrokenSeq: 4 });
  });

  it('detects two rows whose contents were swapped, hashes and links included', async () => {
    const cols = 'at, type, outcome, actor, principal, method, address, template, request_id, serial, reason, details, prev_hash, hash';
    const set = cols.split(', ').map((c) => `${c} = o.${c}`).join(', ');
    await db.query(`UPDATE audit_events a SET ${set} FROM (SELECT seq, ${cols} FROM audit_events WHERE seq IN (9, 10)) o WHERE a.seq IN (9, 10) AND o.seq = 19 - a.seq`);
    expect((await db.query<{ reason: string }>('SELECT reason FROM audit_events WHERE seq = 9')).rows[0]?.reason).toBe('event 9');
    expect(await log.verify()).toMatchObject({ ok: false, firstBrokenSeq: 9 });
  });

  it('detects a rewritten row whose stored hash no longer matches its content', async () => {
    await db.query(`UPDATE audit_events SET principal = 'someone-else', hash = md5(hash) || md5(hash) WHERE seq = 20`);
    expect(await log.verify()).toMatchObject({ ok: false, firstBrokenSeq: 20 });
  });

  it('detects a cut-off tail against an anchor written down earlier', async () => {
    const anchor = await log.head();
    expect(anchor).toMatchObject({ seq: 20 });
    expect(await log.verify({ anchor: anchor! })).toEqual({ ok: true, count: 20 });
    await db.query('DELETE FROM audit_events WHERE seq >= 19');
    expect(await log.verify()).toEqual({ ok: true, count: 18 }); // the chain alone cannot tell
    expect(await log.verify({ anchor: anchor! })).toMatchObject({ ok: false, firstBrokenSeq: 19 });
  });

  it('writes nothing when the surrounding transaction rolls back, and commits with it otherwise', async () => {
    await expect(
      db.transaction(async (tx) => {
        await log.record({ type: 'rolled-back', outcome: 'info' }, tx);
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect((await log.list({ type: 'rolled-back' })).length).toBe(0);
    expect(await log.verify()).toEqual({ ok: true, count: 20 });
    await db.transaction(async (tx) => {
      await tx.query(`INSERT INTO accounts (name) VALUES ('in-tx')`);
      await log.record({ type: 'committed', outcome: 'success', principal: 'in-tx' }, tx);
    });
    expect(await log.list({ type: 'committed' })).toHaveLength(1);
    expect(await log.verify()).toEqual({ ok: true, count: 21 });
  });

  it('chains an event another node queued and never sequenced (it crashed after its commit)', async () => {
    // What record(e, tx) leaves behind when its process dies between the commit and the sequencer run.
    await db.query(`INSERT INTO audit_queue (at, event) VALUES ($1, $2)`, [new Date('2026-03-04T05:06:07.089Z'), JSON.stringify({ type: 'orphan', outcome: 'success', principal: 'crashed-node', details: {} })]);
    expect((await db.query('SELECT 1 FROM audit_events WHERE type = $1', ['orphan'])).rowCount).toBe(0);
    expect(await log.verify()).toEqual({ ok: true, count: 21 });
    const [row] = await log.list({ type: 'orphan' });
    expect(row).toMatchObject({ seq: 21, principal: 'crashed-node', at: new Date('2026-03-04T05:06:07.089Z') });
    expect((await db.query('SELECT 1 FROM audit_queue')).rowCount).toBe(0);
  });

  it('chains parked events soon, but under a stream of them runs at most once per 250 ms', async () => {
    // Count the sequencer's transactions: each run is one.
    let runs = 0;
    const counting = new Proxy(db, {
      get(target, key, receiver) {
        if (key === 'transaction') return (fn: Parameters<TestDb['transaction']>[0]) => (runs++, target.transaction(fn));
        const v = Reflect.get(target, key, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const paced = new AuditLog(counting, systemClock);
    const park = async (i: number) => {
      await db.query(`INSERT INTO audit_queue (at, event) VALUES ($1, $2)`, [new Date(), JSON.stringify({ type: 'parked', outcome: 'info', principal: `p${i}`, details: {} })]);
      paced.queued();
    };
    const chained = async () => Number((await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM audit_events WHERE type = 'parked'`)).rows[0]!.n);
    // After an idle spell the first event is chained at once, by one run.
    await park(0);
    expect(await until(10_000, async () => (await chained()) === 1, 10)).toBe(true);
    expect(runs).toBe(1);
    // Many events in quick succession: the runs are paced (at most one per 250 ms, plus the one
    // that starts at once and one finishing the tail), not one per event as it used to be. The
    // bound is computed from the time the loop really took, so a slow machine cannot fail it.
    const started = Date.now();
    let parked = 0;
    for (let i = 1; i <= 100; i++, parked++) {
      await park(i);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await until(30_000, async () => (await chained()) === parked + 1, 20)).toBe(true);
    const elapsed = Date.now() - started;
    expect(runs).toBeGreaterThan(1);
    expect(runs).toBeLessThanOrEqual(Math.ceil(elapsed / 250) + 2);
    expect(runs).toBeLessThan(parked / 4);
    expect((await db.query('SELECT 1 FROM audit_queue')).rowCount).toBe(0);
    expect(await log.verify()).toMatchObject({ ok: true });
    await paced.stop();
  });

  it('stores awkward values so that they still verify: dates, bigints, NUL, lone surrogates, undefined', async () => {
    await log.record({ type: 'odd', outcome: 'info', principal: 'a\u0000b\uD800', reason: 'x\uDC00', details: { when: new Date('2026-01-02T03:04:05.678Z'), big: 12345678901234567890n, u: undefined, arr: [undefined, 1.5, 'n\u0000ul'] } });
    expect(await log.verify()).toEqual({ ok: true, count: 21 });
    const [row] = await log.list({ type: 'odd' });
    expect(row).toMatchObject({ principal: 'a\uFFFDb\uFFFD', reason: 'x\uFFFD', details: { when: '2026-01-02T03:04:05.678Z', big: '12345678901234567890', arr: [null, 1.5, 'n\uFFFDul'] } });
  });

  it('exports JSON lines that anyone can check with the documented format', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    expect(await log.export(out)).toBe(20);
    const lines = Buffer.concat(chunks).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    let prev = '0'.repeat(64);
    for (const [i, e] of lines.entries()) {
      expect(e.seq).toBe(i + 1);
      expect(e.prevHash).toBe(prev);
      expect(documentedHash(e)).toBe(e.hash);
      prev = e.hash as string;
    }
    expect(JSON.stringify(lines)).not.toContain('never-stored');
  });

  it('exports with a filter and waits for a slow reader', async () => {
    for (let i = 0; i < 5; i++) await log.record({ type: 'other', outcome: 'info' });
    let received = 0;
    const slow = new Writable({
      highWaterMark: 1,
      write(_chunk, _enc, done) {
        received++;
        setTimeout(done, 1);
      },
    });
    expect(await log.export(slow, { type: 'other' })).toBe(5);
    expect(await log.export(slow, { afterSeq: 18 })).toBe(7);
    await new Promise((r) => slow.end(r));
    expect(received).toBe(12);
  });

  it('lists newest first with filters and paging', async () => {
    const page = await log.list({ type: 'test', limit: 5, offset: 2 });
    expect(page.map((r) => r.seq)).toEqual([18, 17, 16, 15, 14]);
    expect((await log.list({ principal: 'p3' })).map((r) => r.seq)).toEqual([4]);
    expect(await log.list({ from: new Date(Date.now() + 60_000) })).toEqual([]);
    expect(await log.list({ limit: Number.NaN })).toHaveLength(20);
  });
});
