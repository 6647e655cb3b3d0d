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

  it('scope node: refuses a replay in this process without a database write, not on another node', async () => {
    const before = Number((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM seen_nonces')).rows[0]!.n);
    const a = new NonceGuard(db);
    const nonce = randomBytes(16);
    expect(await a.check(nonce, created, 'urn:uuid:n1', now, 'node')).toBeNull();
    expect(await a.check(nonce, created, 'urn:uuid:n1', now, 'node')).toMatch(/replayed/);
    expect(await a.check(nonce, created, 'urn:uuid:n2', now, 'node')).toBeNull();
    expect(Number((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM seen_nonces')).rows[0]!.n)).toBe(before);
    // Another process has its own memory (the documented limit of scope node)...
    expect(await new NonceGuard(db).check(nonce, created, 'urn:uuid:n1', now, 'node')).toBeNull();
    // ...and the deployment-wide check is separate: an enrollment message is still new there once.
    expect(await a.check(nonce, created, 'urn:uuid:n1', now, 'deployment')).toBeNull();
    expect(await a.check(nonce, created, 'urn:uuid:n1', now, 'deployment')).toMatch(/replayed/);
  });

  it('scope node: forgets a message after twice the window, and hands overflow to the database', async () => {
    const g = new NonceGuard(db, 5 * 60_000, 2);
    const [n1, n2, n3] = [randomBytes(16), randomBytes(16), randomBytes(16)];
    expect(await g.check(n1, created, 'o1', now, 'node')).toBeNull();
    expect(await g.check(n2, created, 'o2', now, 'node')).toBeNull();
    // Full: the third message goes to the database, which catches its replay from any node.
    expect(await g.check(n3, created, 'o3', now, 'node')).toBeNull();
    expect(await new NonceGuard(db).check(n3, created, 'o3', now, 'deployment')).toMatch(/replayed/);
    expect(await g.check(n3, created, 'o3', now, 'node')).toMatch(/replayed/);
    // Ten minutes on, the first two are forgotten (a Created that old is refused anyway), so a new
    // message is remembered here again: not written to the database.
    const later = new Date(now.getTime() + 10 * 60_000 + 1);
    const n4 = randomBytes(16);
    const recent = new Date(later.getTime() - 1000);
    expect(await g.check(n4, recent, 'o4', later, 'node')).toBeNull();
    expect(await g.check(n4, recent, 'o4', later, 'node')).toMatch(/replayed/);
    expect(await new NonceGuard(db).check(n4, recent, 'o4', later, 'deployment')).toBeNull();
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
