import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { freshTestDb, type TestDb } from '../../helpers/db.js';
import { NonceGuard } from '../../../src/auth/replay.js';

describe('UsernameToken replay guard on PostgreSQL (batched writes)', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await freshTestDb();
  });
  afterAll(async () => db?.close());
  const now = new Date('2026-06-01T12:00:00Z');
  const created = new Date('2026-06-01T11:59:30Z');

  it('accepts exactly one of many identical messages sent at once', async () => {
    const guard = new NonceGuard(db);
    const nonce = randomBytes(16);
    const results = await Promise.all(Array.from({ length: 50 }, () => guard.check(nonce, created, 'urn:uuid:1', now)));
    expect(results.filter((r) => r === null)).toHaveLength(1);
    expect(results.filter((r) => r?.includes('replayed'))).toHaveLength(49);
  });

  it('accepts 2,000 distinct messages sent at once, and refuses each of them afterwards on another node', async () => {
    const nonces = Array.from({ length: 2000 }, () => randomBytes(16));
    const a = new NonceGuard(db);
    expect((await Promise.all(nonces.map((n, i) => a.check(n, created, `urn:uuid:${i}`, now)))).every((r) => r === null)).toBe(true);
    const b = new NonceGuard(db); // a second node on the same database
    expect((await Promise.all(nonces.map((n, i) => b.check(n, created, `urn:uuid:${i}`, now)))).every((r) => r?.includes('replayed'))).toBe(true);
  });

  it('tells a reused token with a new MessageID from a replayed message, and refuses stale or future tokens', async () => {
    const g = new NonceGuard(db);
    const nonce = randomBytes(16);
    expect(await g.check(nonce, created, 'urn:uuid:a', now)).toBeNull();
    expect(await g.check(nonce, created, 'urn:uuid:b', now)).toBeNull();
    expect(await g.check(nonce, created, 'urn:uuid:a', now)).toMatch(/replayed/);
    expect(await g.check(randomBytes(16), new Date(now.getTime() - 6 * 60_000), 'x', now)).toMatch(/too old/);
    expect(await g.check(randomBytes(16), new Date(now.getTime() + 6 * 60_000), 'x', now)).toMatch(/future/);
    expect(await g.check(randomBytes(4), created, 'x', now)).toMatch(/bad length/);
  });

  it('reports a database failure to every waiting caller instead of accepting', async () => {
    const broken = await freshTestDb();
    await broken.query('DROP TABLE seen_nonces');
    const g = new NonceGuard(broken);
    const r = await Promise.allSettled([g.check(randomBytes(16), created, '1', now), g.check(randomBytes(16), created, '2', now)]);
    expect(r.every((x) => x.status === 'rejected')).toBe(true);
    await broken.close();
  });
});
