import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { freshTestDb, type TestDb } from '../../helpers/db.js';
import { until } from '../../helpers/wait.js';
import { ReplayGuard } from '../../../src/auth/replay.js';
import { checkFreshness, DEFAULT_FRESHNESS, type MessageEvidence } from '../../../src/auth/freshness.js';
import type { Principal } from '../../../src/auth/principal.js';

const alice: Principal = { name: 'alice', groups: ['authenticated'], method: 'username' };
const bob: Principal = { name: 'bob', groups: ['authenticated'], method: 'username' };
const count = async (db: TestDb): Promise<number> => Number((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM replay_seen')).rows[0]!.n);

describe('message freshness (pure)', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  const min = 60_000;
  const at = (ms: number): Date => new Date(now.getTime() + ms);
  const verdict = (e: MessageEvidence, p = DEFAULT_FRESHNESS): string => {
    const f = checkFreshness(e, now, p);
    return 'refused' in f ? f.refused : `keep ${(f.keepUntil.getTime() - now.getTime()) / min}`;
  };

  it('accepts Nonce + Created or a Timestamp, and keeps the keys until Created + window + skew', () => {
    expect(verdict({ nonce: randomBytes(16), tokenCreated: at(-min) })).toBe('keep 9');
    expect(verdict({ timestampCreated: at(-2 * min), timestampExpires: at(3 * min) })).toBe('keep 8');
  });

  it('refuses a message with neither Nonce + Created nor a Timestamp unless the legacy setting allows it', () => {
    expect(verdict({ messageId: 'urn:uuid:1' })).toMatch(/neither a Nonce and Created nor a Timestamp/);
    // A Created without a Nonce is not the UsernameToken profile's freshness.
    expect(verdict({ messageId: 'urn:uuid:1', tokenCreated: at(0) })).toMatch(/neither/);
    expect(verdict({ nonce: randomBytes(16) })).toMatch(/neither/);
    expect(verdict({ messageId: 'urn:uuid:1' }, { ...DEFAULT_FRESHNESS, allowUnprotected: true })).toBe('keep 10');
  });

  it('refuses a Created older than window + skew even with Expires far ahead, one in the future beyond the skew, and a past Expires', () => {
    expect(verdict({ timestampCreated: at(-365 * 24 * 60 * min), timestampExpires: at(10 * 365 * 24 * 60 * min) })).toMatch(/Timestamp Created is too old/);
    expect(verdict({ timestampCreated: at(-10 * min - 1000) })).toMatch(/too old/);
    expect(verdict({ timestampCreated: at(-10 * min + 1000) })).toMatch(/keep/);
    expect(verdict({ timestampCreated: at(5 * min + 1000) })).toMatch(/Timestamp Created is in the future/);
    expect(verdict({ nonce: randomBytes(16), tokenCreated: at(6 * min) })).toMatch(/UsernameToken Created is in the future/);
    expect(verdict({ timestampCreated: at(-7 * min), timestampExpires: at(-6 * min) })).toMatch(/has expired/);
    // Every Created present must be fresh, not just one of them.
    expect(verdict({ nonce: randomBytes(16), tokenCreated: at(-20 * min), timestampCreated: at(0) })).toMatch(/UsernameToken Created is too old/);
    // The window is a setting.
    expect(verdict({ timestampCreated: at(-3 * min) }, { windowMs: min, skewMs: min, allowUnprotected: false })).toMatch(/too old/);
  });
});

describe('replay store on PostgreSQL (one table for every node, batched writes)', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await freshTestDb();
  });
  afterAll(async () => db?.close());
  const now = new Date('2026-06-01T12:00:00Z');
  const created = new Date('2026-06-01T11:59:30Z');
  const ut = (nonce: Buffer, messageId?: string, c = created): MessageEvidence => ({ nonce, tokenCreated: c, ...(messageId !== undefined ? { messageId } : {}) });

  it('accepts exactly one of many identical messages sent at once', async () => {
    const guard = new ReplayGuard(db);
    const e = ut(randomBytes(16), 'urn:uuid:same');
    const results = await Promise.all(Array.from({ length: 50 }, () => guard.admit(alice, e, now)));
    expect(results.filter((r) => r === null)).toHaveLength(1);
    expect(results.filter((r) => r?.includes('replayed'))).toHaveLength(49);
  });

  it('accepts 2,000 distinct messages sent at once, and refuses each of them afterwards on another node', async () => {
    const msgs = Array.from({ length: 2000 }, (_, i) => ut(randomBytes(16), `urn:uuid:bulk-${i}`));
    const a = new ReplayGuard(db);
    expect((await Promise.all(msgs.map((m) => a.admit(alice, m, now)))).every((r) => r === null)).toBe(true);
    const b = new ReplayGuard(db); // a second node on the same database
    expect((await Promise.all(msgs.map((m) => b.admit(alice, m, now)))).every((r) => r?.includes('replayed'))).toBe(true);
  });

  it('lets one UsernameToken carry several messages (cepces), but never one MessageID twice nor its Nonce with another Created', async () => {
    const g = new ReplayGuard(db);
    const nonce = randomBytes(16);
    expect(await g.admit(alice, ut(nonce, 'urn:uuid:cep'), now)).toBeNull();
    expect(await g.admit(alice, ut(nonce, 'urn:uuid:ces'), now)).toBeNull();
    expect(await new ReplayGuard(db).admit(alice, ut(nonce, 'urn:uuid:ces'), now)).toMatch(/its MessageID was used before/);
    // Same Nonce, new Created and new MessageID: a forged or replayed token.
    expect(await g.admit(alice, ut(nonce, 'urn:uuid:other', new Date(created.getTime() + 1000)), now)).toMatch(/its Nonce was used before/);
    // Without a MessageID the Nonce alone names the message: usable once.
    const lone = randomBytes(16);
    expect(await g.admit(alice, ut(lone), now)).toBeNull();
    expect(await new ReplayGuard(db).admit(alice, ut(lone), now)).toMatch(/its Nonce was used before/);
    expect(await g.admit(alice, ut(lone, 'urn:uuid:lone'), now)).toMatch(/its Nonce was used before/);
  });

  it('accepts two messages of one token arriving together (one batch), each with its own MessageID', async () => {
    const g = new ReplayGuard(db);
    const nonce = randomBytes(16);
    const r = await Promise.all([g.admit(alice, ut(nonce, 'urn:uuid:b1'), now), g.admit(alice, ut(nonce, 'urn:uuid:b2'), now), g.admit(alice, ut(nonce, 'urn:uuid:b1'), now)]);
    expect(r.filter((x) => x === null)).toHaveLength(2);
    expect(r[2]).toMatch(/MessageID/);
  });

  it('accepts a Windows-shaped message (Timestamp and MessageID, no Nonce) once', async () => {
    const e: MessageEvidence = { messageId: 'urn:uuid:win-1', timestampCreated: created, timestampExpires: new Date(created.getTime() + 5 * 60_000) };
    expect(await new ReplayGuard(db).admit(alice, e, now)).toBeNull();
    expect(await new ReplayGuard(db).admit(alice, e, now)).toMatch(/its MessageID was used before/);
  });

  it('keys MessageIDs per principal: nobody can use up another caller’s MessageIDs', async () => {
    const e: MessageEvidence = { messageId: 'urn:uuid:shared', timestampCreated: created };
    expect(await new ReplayGuard(db).admit(bob, e, now)).toBeNull();
    expect(await new ReplayGuard(db).admit(alice, e, now)).toBeNull();
    expect(await new ReplayGuard(db).admit(alice, e, now)).toMatch(/replayed/);
  });

  it('refuses a signature value seen before whatever MessageID or principal comes with it', async () => {
    const sig = randomBytes(256).toString('base64');
    expect(await new ReplayGuard(db).admit(alice, { messageId: 'urn:uuid:s1', timestampCreated: created, signatureValue: sig }, now)).toBeNull();
    expect(await new ReplayGuard(db).admit(alice, { messageId: 'urn:uuid:s2', timestampCreated: created, signatureValue: sig }, now)).toMatch(/its signature was used before/);
    expect(await new ReplayGuard(db).admit(bob, { timestampCreated: created, signatureValue: sig.replace(/(.{60})/g, '$1\n') }, now)).toMatch(/its signature was used before/);
  });

  it('refuses a message nothing identifies, stale or unprotected messages, and bad Nonces', async () => {
    const g = new ReplayGuard(db);
    expect(await g.admit(alice, { timestampCreated: created }, now)).toMatch(/nothing identifies the message/);
    expect(await g.admit(alice, { messageId: 'urn:uuid:x' }, now)).toMatch(/neither a Nonce and Created nor a Timestamp/);
    expect(await g.admit(alice, ut(randomBytes(16), 'urn:uuid:old', new Date(now.getTime() - 11 * 60_000)), now)).toMatch(/too old/);
    expect(await g.admit(alice, ut(randomBytes(4), 'urn:uuid:short'), now)).toMatch(/bad length/);
    const legacy = new ReplayGuard(db, { ...DEFAULT_FRESHNESS, allowUnprotected: true });
    expect(await legacy.admit(alice, {}, now)).toBeNull();
    expect(await legacy.admit(alice, { messageId: 'urn:uuid:legacy' }, now)).toBeNull();
    expect(await legacy.admit(alice, { messageId: 'urn:uuid:legacy' }, now)).toMatch(/replayed/);
  });

  it('keeps a key only while its message could be fresh: purged in bounded batches, then free again', async () => {
    const purgeDb = await freshTestDb();
    try {
      const g = new ReplayGuard(purgeDb);
      const msgs = Array.from({ length: 12_000 }, (_, i) => ({ messageId: `urn:uuid:p-${i}`, timestampCreated: created }));
      expect((await Promise.all(msgs.map((m) => g.admit(alice, m, now)))).every((r) => r === null)).toBe(true);
      expect(await count(purgeDb)).toBe(12_000);
      // Created 11:59:30 + 5 min window + 5 min skew: nothing is due before 12:09:30.
      expect(await g.purge(new Date('2026-06-01T12:09:29Z'))).toBe(0);
      // An expired row not yet purged still blocks (no honest client reuses a MessageID); once
      // purged, the key is free. (This admit also starts the once-a-minute background purge.)
      const later = new Date('2026-06-01T12:10:00Z');
      const again = { messageId: 'urn:uuid:p-0', timestampCreated: new Date('2026-06-01T12:09:50Z') };
      expect(await g.admit(alice, again, later)).toMatch(/replayed/);
      await g.purge(later);
      expect(await until(10_000, async () => (await count(purgeDb)) === 0)).toBe(true);
      expect(await g.admit(alice, again, later)).toBeNull();
      expect(await g.admit(alice, again, later)).toMatch(/replayed/);
      // Purges run in chunks of 5,000 rows: 12,000 expired rows take three statements.
      const fresh = new ReplayGuard(purgeDb);
      await Promise.all(msgs.map((m) => fresh.admit(bob, m, now)));
      expect(await fresh.purge(later)).toBe(12_000);
      expect(await g.admit(alice, again, later)).toMatch(/replayed/);
    } finally {
      await purgeDb.close();
    }
  });

  it('reports a database failure to every waiting caller instead of accepting', async () => {
    const broken = await freshTestDb();
    await broken.query('DROP TABLE replay_seen');
    const g = new ReplayGuard(broken);
    const r = await Promise.allSettled([g.admit(alice, ut(randomBytes(16), '1'), now), g.admit(alice, ut(randomBytes(16), '2'), now)]);
    expect(r.every((x) => x.status === 'rejected')).toBe(true);
    await broken.close();
  });
});
