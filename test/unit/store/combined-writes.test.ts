import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshTestDb, type TestDb } from '../../helpers/db.js';
import { CombinedWrites, type WriteKind } from '../../../src/store/combined-writes.js';
import { sqlText, type Db, type Statement } from '../../../src/store/db.js';

/** A kind that inserts its items into `table` (a CHECK refuses 'bad') and answers `ok:<item>` for each row written. */
function insertKind(name: string, rank: number, table: string, opts: { max?: number; key?: (i: string) => string } = {}): WriteKind<string, string> {
  return {
    name,
    rank,
    params: 1,
    max: opts.max ?? 100,
    ctes: ($) => `${name}_ins AS (INSERT INTO ${table} (v) SELECT v FROM unnest(${$(1)}::text[]) AS u (v) RETURNING v)`,
    select: `SELECT '${name}'::text AS kind, NULL::integer AS ord, v AS a, NULL::text AS b FROM ${name}_ins`,
    values: (items) => [items],
    outcomes: (rows, items) =>
      items.map((i) => {
        if (!rows.some((r) => r.a === i)) throw new Error(`no row for ${i}`);
        return `ok:${i}`;
      }),
    key: opts.key ?? ((i) => i),
  };
}

describe('combined writes (one statement for every kind waiting)', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await freshTestDb({ poolSize: 4 });
    await db.exec("CREATE TABLE cw_a (v text CHECK (v <> 'bad')); CREATE TABLE cw_b (v text CHECK (v <> 'bad'))");
  });
  afterAll(async () => db?.close());

  const rows = async (table: string): Promise<string[]> => (await db.query<{ v: string }>(`SELECT v FROM ${table} ORDER BY v`)).rows.map((r) => r.v);

  it('writes everything of every kind submitted in one event-loop turn in one statement, and what arrives while it runs in the next', async () => {
    const w = new CombinedWrites(db);
    const a = insertKind('a', 1, 'cw_a');
    const b = insertKind('b', 2, 'cw_b');
    // One turn: the first item does not go alone (it did before the ninth session: two statements).
    const turn = Promise.all([w.submit(a, 'a1'), w.submit(b, 'b1'), w.submit(a, 'a2')]);
    // The next turn: that statement is in flight, so these wait for the one after it.
    await new Promise((r) => setImmediate(r));
    expect(w.stats.statements).toBe(1);
    const later = Promise.all([w.submit(b, 'b2'), w.submit(a, 'a3')]);
    expect(await turn).toEqual(['ok:a1', 'ok:b1', 'ok:a2']);
    expect(await later).toEqual(['ok:b2', 'ok:a3']);
    expect(w.stats).toEqual({ statements: 2, items: 5 });
    expect(await rows('cw_a')).toEqual(['a1', 'a2', 'a3']);
    expect(await rows('cw_b')).toEqual(['b1', 'b2']);
  });

  it('never puts two items with one key in a statement, and caps a statement at each kind’s max', async () => {
    const w = new CombinedWrites(db);
    const a = insertKind('a', 1, 'cw_a', { max: 2, key: (i) => i.split('#')[0]! });
    const out = await Promise.all(['x', 'y#1', 'y#2', 'z', 'w'].map((i) => w.submit(a, `k-${i}`)));
    expect(out).toEqual(['ok:k-x', 'ok:k-y#1', 'ok:k-y#2', 'ok:k-z', 'ok:k-w']);
    // [x, y#1] (the cap), then [y#2, z], then [w].
    expect(w.stats).toEqual({ statements: 3, items: 5 });
    expect((await rows('cw_a')).filter((v) => v.startsWith('k-'))).toEqual(['k-w', 'k-x', 'k-y#1', 'k-y#2', 'k-z']);
  });

  it('names only the kinds it carries: a kind whose table this connection cannot use does not hold up the others', async () => {
    const w = new CombinedWrites(db);
    const a = insertKind('a', 1, 'cw_a');
    const broken = insertKind('nowhere', 2, 'cw_missing_table');
    expect(await w.submit(a, 'alone')).toBe('ok:alone');
    // Together in one statement they fail; the statement is then tried kind by kind.
    const first = w.submit(a, 'first');
    const both = [w.submit(a, 'with-broken'), w.submit(broken, 'b').then((v) => v, (e: Error) => e.message)];
    expect(await first).toBe('ok:first');
    const [ok, err] = await Promise.all(both);
    expect(ok).toBe('ok:with-broken');
    expect(err).toMatch(/cw_missing_table/);
  });

  it('when a combined statement fails, tries each kind alone and then item by item: only the bad item fails', async () => {
    const w = new CombinedWrites(db);
    const a = insertKind('a', 1, 'cw_a');
    const b = insertKind('b', 2, 'cw_b');
    const first = w.submit(a, 'p0');
    const rest = [w.submit(a, 'p1'), w.submit(b, 'q1'), w.submit(a, 'bad'), w.submit(a, 'p2'), w.submit(b, 'q2')].map((p) => p.then((v) => v, (e: Error) => `error: ${e.message}`));
    expect(await first).toBe('ok:p0');
    const out = await Promise.all(rest);
    expect(out.slice(0, 2)).toEqual(['ok:p1', 'ok:q1']);
    expect(out[2]).toMatch(/^error: .*check constraint/);
    expect(out.slice(3)).toEqual(['ok:p2', 'ok:q2']);
    expect((await rows('cw_a')).filter((v) => /^p\d$/.test(v))).toEqual(['p0', 'p1', 'p2']);
    expect((await rows('cw_b')).filter((v) => /^q\d$/.test(v))).toEqual(['q1', 'q2']);
  });

  it('commits a statement of relaxed kinds only without waiting for the WAL flush, and only that statement', async () => {
    const texts: string[] = [];
    // A handle that notes each statement's text and runs it on one connection.
    const one = await freshTestDb({ poolSize: 1 });
    try {
      await one.exec('CREATE TABLE cw_a (v text); CREATE TABLE cw_b (v text)');
      const spy: Db = {
        engine: one.engine,
        query: <R,>(sql: string | Statement, params?: unknown[]) => {
          texts.push(sqlText(sql));
          return one.query<R>(sql, params);
        },
        exec: (sql) => one.exec(sql),
        transaction: (fn) => one.transaction(fn),
        ping: () => one.ping(),
        close: () => one.close(),
      };
      const w = new CombinedWrites(spy, 2, { relaxedCommit: true });
      const relaxed = { ...insertKind('a', 1, 'cw_a'), relaxed: true };
      const durable = insertKind('b', 2, 'cw_b');
      expect(await w.submit(relaxed, 'r1')).toBe('ok:r1');
      expect(texts.pop()).toMatch(/set_config\('synchronous_commit', 'off', true\)/);
      // The setting was the statement's transaction's own: the connection is back to synchronous commits.
      expect((await one.query<{ s: string }>("SELECT current_setting('synchronous_commit') AS s")).rows[0]!.s).toBe('on');
      // With a durable kind in the statement, every row waits for the flush.
      await Promise.all([w.submit(relaxed, 'r2'), w.submit(relaxed, 'r3'), w.submit(durable, 'd1')]);
      expect(texts.slice(-1)[0]).not.toMatch(/set_config/);
      expect(await w.submit(durable, 'd2')).toBe('ok:d2');
      expect(texts.pop()).not.toMatch(/set_config/);
      // Off (databaseAsyncReplayCommit: false, the default), relaxed kinds commit synchronously too.
      const strict = new CombinedWrites(spy);
      expect(await strict.submit(relaxed, 'r4')).toBe('ok:r4');
      expect(texts.pop()).not.toMatch(/set_config/);
      expect((await one.query<{ v: string }>('SELECT v FROM cw_a ORDER BY v')).rows.map((r) => r.v)).toEqual(['r1', 'r2', 'r3', 'r4']);
    } finally {
      await one.close();
    }
  });
});
