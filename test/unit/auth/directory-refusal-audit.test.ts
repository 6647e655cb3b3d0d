import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { freshTestDb, type TestDb } from '../../helpers/db.js';
import { UsernameAuthenticator } from '../../../src/auth/username.js';
import { AuditLog } from '../../../src/audit/log.js';
import { systemClock } from '../../../src/clock.js';

describe('a UsernameToken refused because the user directory is down', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await freshTestDb();
  });
  afterAll(async () => db?.close());

  it('answers unavailable (no server named) and writes an auth.failure event without the password', async () => {
    const audit = new AuditLog(db, systemClock);
    const authn = new UsernameAuthenticator({ db, clock: systemClock, audit, ldap: { url: 'ldap://127.0.0.1:1', bindDnTemplate: 'uid={user},ou=people,dc=example,dc=test' } });
    const err = await authn.authenticate({ username: 'erin', password: 'Er1n-secret', nonce: randomBytes(16), created: new Date(), messageId: 'm1' }, { address: '192.0.2.7' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'unavailable', message: 'the user directory cannot be reached' });
    const ev = (await audit.list({ type: 'auth.failure', limit: 1 }))[0];
    expect(ev).toMatchObject({ outcome: 'failure', principal: 'erin', method: 'username', address: '192.0.2.7', reason: 'the user directory cannot be reached' });
    expect(JSON.stringify(ev)).not.toContain('Er1n-secret');
  });
});
