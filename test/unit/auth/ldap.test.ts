import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startSlapd, type Slapd } from '../../helpers/slapd.js';
import { freshTestDb, type TestDb } from '../../helpers/db.js';
import { escapeDnValue, ldapAuthenticate, type LdapConfig } from '../../../src/auth/ldap.js';
import { UsernameAuthenticator } from '../../../src/auth/username.js';
import { AuditLog } from '../../../src/audit/log.js';
import { systemClock } from '../../../src/clock.js';
import { addUser } from '../../../src/auth/accounts.js';

describe('LDAP simple bind against a real slapd', () => {
  let ldap: Slapd;
  let db: TestDb;
  let cfg: LdapConfig;
  beforeAll(async () => {
    ldap = await startSlapd();
    ldap.addUser('erin', 'Er1n-pass', { mail: 'erin@example.test', groups: ['pki-admins'] });
    ldap.addUser('local', 'Dir-pass');
    cfg = { url: ldap.url, bindDnTemplate: `uid={user},ou=people,${ldap.suffix}`, groupAttribute: 'businessCategory' };
    db = await freshTestDb();
  });
  afterAll(async () => {
    await ldap?.stop();
    await db?.close();
  });

  it('escapes user names in the DN (RFC 4514)', () => {
    expect(escapeDnValue('a,b+c"d\\e<f>g;h=i')).toBe('a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h\\=i');
    expect(escapeDnValue(' #lead')).toBe('\\ #lead');
  });

  it('binds as the user and reads groups and mail; wrong password, unknown user, empty password and DN injection are refused', async () => {
    expect(await ldapAuthenticate(cfg, 'erin', 'Er1n-pass')).toEqual({ dn: `uid=erin,ou=people,${ldap.suffix}`, groups: ['pki-admins'], email: 'erin@example.test' });
    expect(await ldapAuthenticate(cfg, 'erin', 'wrong')).toBeNull();
    expect(await ldapAuthenticate(cfg, 'nobody', 'Er1n-pass')).toBeNull();
    expect(await ldapAuthenticate(cfg, 'erin', '')).toBeNull();
    expect(await ldapAuthenticate(cfg, 'erin,ou=people', 'Er1n-pass')).toBeNull();
  });

  it('UsernameToken falls back to the directory for users without a local account; local accounts win', async () => {
    await addUser(db, { name: 'local', password: 'L0cal-pass' });
    const authn = new UsernameAuthenticator({ db, clock: systemClock, audit: new AuditLog(db, systemClock), ldap: cfg });
    const t = (u: string, p: string) => ({ username: u, password: p, nonce: randomBytes(16), created: new Date(), messageId: randomBytes(8).toString('hex') });
    expect(await authn.authenticate(t('erin@example.test', 'Er1n-pass'), { address: '192.0.2.9' })).toMatchObject({ name: 'erin', groups: ['authenticated', 'pki-admins'], email: 'erin@example.test' });
    await expect(authn.authenticate(t('erin', 'nope'), { address: '192.0.2.9' })).rejects.toMatchObject({ kind: 'unauthenticated' });
    // 'local' exists locally: the directory password does not work for it
    await expect(authn.authenticate(t('local', 'Dir-pass'), { address: '192.0.2.9' })).rejects.toMatchObject({ kind: 'unauthenticated' });
    expect(await authn.authenticate(t('local', 'L0cal-pass'), { address: '192.0.2.9' })).toMatchObject({ name: 'local' });
  });

  it('says the directory is unavailable when it cannot be reached', async () => {
    await expect(ldapAuthenticate({ ...cfg, url: 'ldap://127.0.0.1:1' }, 'erin', 'Er1n-pass')).rejects.toMatchObject({ kind: 'unavailable' });
  });
});
