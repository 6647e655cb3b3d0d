import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { freshTestDb, type TestDb } from '../../helpers/db.js';
import { AuditLog } from '../../../src/audit/log.js';
import { fixedClock } from '../../../src/clock.js';
import { UsernameAuthenticator } from '../../../src/auth/username.js';
import { addUser, disableUser, setPassword } from '../../../src/auth/accounts.js';
import * as password from '../../../src/auth/password.js';

describe('UsernameToken authentication against local accounts', () => {
  let db: TestDb;
  const clock = fixedClock(new Date());
  let audit: AuditLog;
  let authn: UsernameAuthenticator;
  const ctx = { address: '192.0.2.1' };
  beforeAll(async () => {
    db = await freshTestDb();
    audit = new AuditLog(db, clock);
    await addUser(db, { name: 'alice', password: 'S3cret', groups: ['staff'], email: 'alice@example.test' });
    await addUser(db, { name: 'dave', password: 'D4ve-pass' });
    await addUser(db, { name: 'gone', password: 'G0ne-pass' });
    await disableUser(db, 'gone');
    authn = new UsernameAuthenticator({ db, clock, audit, domains: ['example.test', 'EXAMPLE'], maxFailuresPerAccount: 3, maxFailuresPerAddress: 6 });
  });
  afterAll(async () => db?.close());
  const tok = (username: string, pw: string, extra: { nonce?: Uint8Array; created?: Date; messageId?: string } = {}) => ({ username, password: pw, nonce: randomBytes(16), created: clock.now(), messageId: `urn:uuid:${randomBytes(8).toString('hex')}`, ...extra });

  it('accepts the account name, the UPN and the DOMAIN\\ form', async () => {
    for (const u of ['alice', 'alice@example.test', 'EXAMPLE\\alice']) {
      const p = await authn.authenticate(tok(u, 'S3cret'), ctx);
      expect(p).toMatchObject({ name: 'alice', method: 'username', groups: ['authenticated', 'staff'], email: 'alice@example.test' });
    }
    await expect(authn.authenticate(tok('alice@other.test', 'S3cret'), ctx)).rejects.toMatchObject({ kind: 'unauthenticated' });
  });

  it('gives the same answer for a wrong password, an unknown user and a disabled account, and audits each', async () => {
    // The disabled account is tried with its right password: only the account state refuses it.
    const errs = await Promise.all([tok('alice', 'nope'), tok('nobody', 'S3cret'), tok('gone', 'G0ne-pass')].map((t) => authn.authenticate(t, { address: '192.0.2.50' }).catch((e: unknown) => e)));
    expect(errs).toHaveLength(3);
    for (const e of errs) expect(e).toMatchObject({ kind: 'unauthenticated', message: 'authentication failed' });
    expect(new Set(errs.map((e) => JSON.stringify(e, Object.getOwnPropertyNames(e as object).filter((k) => k !== 'stack')))).size).toBe(1);
    const rows = await audit.list({ type: 'auth.failure' });
    expect(rows.map((r) => r.reason)).toEqual(expect.arrayContaining(['wrong password', 'unknown account', 'account disabled']));
    expect(JSON.stringify(rows)).not.toContain('nope');
    expect(JSON.stringify(rows)).not.toContain('G0ne-pass');
  });

  it('caches at most cacheMaxEntries verified credentials, dropping the least recently used', async () => {
    for (let i = 0; i < 5; i++) await addUser(db, { name: `bulk${i}`, password: `Bulk-pass-${i}` });
    const small = new UsernameAuthenticator({ db, clock, audit, cacheMaxEntries: 3 });
    for (let i = 0; i < 5; i++) await small.authenticate(tok(`bulk${i}`, `Bulk-pass-${i}`), ctx);
    expect(small.cacheSize).toBe(3);
    const spy = vi.spyOn(password, 'verifyPassword');
    try {
      // The latest credential is still cached (no scrypt); the first was dropped (scrypt again).
      await small.authenticate(tok('bulk4', 'Bulk-pass-4'), ctx);
      expect(spy).not.toHaveBeenCalled();
      await small.authenticate(tok('bulk0', 'Bulk-pass-0'), ctx);
      expect(spy).toHaveBeenCalledTimes(1);
      expect(small.cacheSize).toBe(3);
    } finally {
      spy.mockRestore();
    }
  });

  it('refuses a replayed message and a stale token', async () => {
    const t = tok('alice', 'S3cret');
    await authn.authenticate(t, ctx);
    await expect(authn.authenticate(t, ctx)).rejects.toMatchObject({ kind: 'unauthenticated' });
    // the same token in a new message is accepted (cepces reuses one token per session)
    await authn.authenticate({ ...t, messageId: 'urn:uuid:another' }, ctx);
    // Older than the 5-minute window plus 5 minutes of skew, or later than the skew.
    await expect(authn.authenticate(tok('alice', 'S3cret', { created: new Date(clock.now().getTime() - 11 * 60_000) }), ctx)).rejects.toMatchObject({ kind: 'unauthenticated' });
    await expect(authn.authenticate(tok('alice', 'S3cret', { created: new Date(clock.now().getTime() + 6 * 60_000) }), ctx)).rejects.toMatchObject({ kind: 'unauthenticated' });
    // A token without Nonce and Created, in a message without Timestamp, proves no freshness.
    await expect(authn.authenticate({ username: 'alice', password: 'S3cret', messageId: 'urn:uuid:bare' }, ctx)).rejects.toMatchObject({ kind: 'unauthenticated' });
  });

  it('rate-limits failures per account and per address', async () => {
    for (let i = 0; i < 3; i++) await authn.authenticate(tok('dave', 'wrong'), { address: `198.51.100.${i}` }).catch(() => undefined);
    await expect(authn.authenticate(tok('dave', 'D4ve-pass'), { address: '198.51.100.9' })).rejects.toMatchObject({ kind: 'rateLimited' });
    clock.advance(6 * 60_000);
    await expect(authn.authenticate(tok('dave', 'D4ve-pass'), { address: '198.51.100.9' })).resolves.toMatchObject({ name: 'dave' });
    for (let i = 0; i < 6; i++) await authn.authenticate(tok(`ghost${i}`, 'x'), { address: '203.0.113.7' }).catch(() => undefined);
    await expect(authn.authenticate(tok('alice', 'S3cret'), { address: '203.0.113.7' })).rejects.toMatchObject({ kind: 'rateLimited' });
  });

  it('does not run scrypt for a cached credential, and forgets it when the account is disabled', async () => {
    const spy = vi.spyOn(password, 'verifyPassword');
    const fresh = new UsernameAuthenticator({ db, clock, audit });
    const before = spy.mock.calls.length;
    await fresh.authenticate(tok('alice', 'S3cret'), ctx);
    const calls = spy.mock.calls.length;
    expect(calls).toBe(before + 1); // the spy sees scrypt verification
    await fresh.authenticate(tok('alice', 'S3cret'), ctx);
    expect(spy.mock.calls.length).toBe(calls);
    await disableUser(db, 'alice');
    fresh.invalidate('alice');
    await expect(fresh.authenticate(tok('alice', 'S3cret'), ctx)).rejects.toMatchObject({ kind: 'unauthenticated' });
    await disableUser(db, 'alice', false);
    spy.mockRestore();
  });

  it('does not remember a sign-in whose check was running when the password changed', async () => {
    await addUser(db, { name: 'erin', password: 'Old-pass1' });
    const fresh = new UsernameAuthenticator({ db, clock, audit });
    // scrypt runs for tens of milliseconds: change the password while it does.
    const inFlight = fresh.authenticate(tok('erin', 'Old-pass1'), ctx);
    await setPassword(db, 'erin', 'New-pass2');
    fresh.invalidate('erin');
    await inFlight.catch(() => undefined); // answered with what was true when it started, or refused
    await expect(fresh.authenticate(tok('erin', 'Old-pass1'), ctx)).rejects.toMatchObject({ kind: 'unauthenticated' });
    await expect(fresh.authenticate(tok('erin', 'New-pass2'), ctx)).resolves.toMatchObject({ name: 'erin' });
  });
});
