import { describe, expect, it } from 'vitest';
import { accountFilter, accountRefusal, filetimeToDate, DirectoryLookup } from '../../../src/auth/directory.js';
import { applyDirectoryAccount } from '../../../src/auth/kerberos.js';
import type { Principal } from '../../../src/auth/principal.js';

/** The pure parts of the Active Directory lookup (the Samba test covers the directory itself). */
describe('Active Directory accounts', () => {
  const now = new Date('2026-12-03T10:00:00Z');
  // 2026-01-01T00:00:00Z as a FILETIME (100 ns since 1601).
  const past = String(BigInt(Date.parse('2026-01-01T00:00:00Z')) * 10000n + 116444736000000000n);
  const future = String(BigInt(Date.parse('2027-01-01T00:00:00Z')) * 10000n + 116444736000000000n);

  it('finds users by sAMAccountName, computers by NAME$ or host/ SPN, other realms by UPN — filter values escaped', () => {
    expect(accountFilter('alice@AD.TEST', 'AD.TEST')).toBe('(&(objectClass=user)(sAMAccountName=alice))');
    expect(accountFilter('LINUX1$@ad.test', 'AD.TEST')).toBe('(&(objectClass=computer)(sAMAccountName=LINUX1$))');
    expect(accountFilter('host/linux1.ad.test@AD.TEST', 'AD.TEST')).toBe('(&(objectClass=computer)(servicePrincipalName=host/linux1.ad.test))');
    expect(accountFilter('bob@OTHER.TEST', 'AD.TEST')).toBe('(&(objectClass=user)(userPrincipalName=bob@OTHER.TEST))');
    expect(accountFilter('x*)(objectClass=*@AD.TEST', 'AD.TEST')).toBe('(&(objectClass=user)(sAMAccountName=x\\2a\\29\\28objectClass=\\2a))');
    expect(accountFilter('HTTP/web.ad.test@AD.TEST', 'AD.TEST')).toBeNull();
    expect(accountFilter('noRealm', 'AD.TEST')).toBeNull();
  });

  it('refuses disabled, locked-out and expired accounts; accepts the rest', () => {
    expect(accountRefusal({ userAccountControl: '512' }, now)).toBeNull();
    expect(accountRefusal({ userAccountControl: '514' }, now)).toMatch(/disabled/);
    expect(accountRefusal({ userAccountControl: '4098' }, now)).toMatch(/disabled/); // a disabled computer (WORKSTATION_TRUST_ACCOUNT|ACCOUNTDISABLE)
    // The constructed attribute knows whether the lockout duration has passed; lockoutTime alone does not.
    expect(accountRefusal({ userAccountControl: '512', computedUac: '16', lockoutTime: past }, now)).toMatch(/locked out/);
    expect(accountRefusal({ userAccountControl: '512', computedUac: '0', lockoutTime: past }, now)).toBeNull();
    expect(accountRefusal({ userAccountControl: '512', lockoutTime: past }, now)).toMatch(/locked out/);
    expect(accountRefusal({ userAccountControl: '512', lockoutTime: '0' }, now)).toBeNull();
    expect(accountRefusal({ accountExpires: past }, now)).toMatch(/expired on 2026-01-01T00:00:00/);
    expect(accountRefusal({ accountExpires: future }, now)).toBeNull();
    expect(accountRefusal({ accountExpires: '0' }, now)).toBeNull();
    expect(accountRefusal({ accountExpires: '9223372036854775807' }, now)).toBeNull();
    expect(filetimeToDate(past).toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  it('puts SID, groups, UPN, mail and (computers only) dNSHostName on the principal, keeping its Kerberos name', () => {
    const p: Principal = { name: 'carol@AD.TEST', groups: ['authenticated'], method: 'kerberos', realm: 'AD.TEST' };
    applyDirectoryAccount(p, { dn: 'CN=carol,CN=Users,DC=ad,DC=test', sid: 'S-1-5-21-1-2-3-1103', groups: ['S-1-5-21-1-2-3-513', 'Domain Users'], groupSids: ['S-1-5-21-1-2-3-513'], computer: false, samAccountName: 'carol', upn: 'carol@ad.test', email: 'carol@ad.test', dnsName: 'ignored.ad.test' });
    expect(p).toMatchObject({ name: 'carol@AD.TEST', sid: 'S-1-5-21-1-2-3-1103', upn: 'carol@ad.test', email: 'carol@ad.test', groups: ['authenticated', 'S-1-5-21-1-2-3-513', 'Domain Users'] });
    expect(p.dnsName).toBeUndefined();
    const h: Principal = { name: 'LINUX1$@AD.TEST', groups: ['authenticated'], method: 'kerberos' };
    applyDirectoryAccount(h, { dn: 'CN=LINUX1,CN=Computers,DC=ad,DC=test', sid: 'S-1-5-21-1-2-3-1104', groups: [], groupSids: [], computer: true, samAccountName: 'LINUX1$', dnsName: 'linux1.ad.test' });
    expect(h.dnsName).toBe('linux1.ad.test');
  });

  it('never binds in cleartext: ldap:// without StartTLS is refused; an unreachable directory fails closed', async () => {
    expect(() => new DirectoryLookup({ url: 'ldap://dc.example', bindDn: 'x', bindPasswordFile: '/dev/null', baseDn: 'DC=x', realm: 'X' })).toThrow(/startTls/);
    const d = new DirectoryLookup({ url: 'ldaps://127.0.0.1:1', bindDn: 'x', bindPasswordFile: '/dev/null', baseDn: 'DC=x', realm: 'X', timeoutMs: 500 });
    await expect(d.account('alice@X')).rejects.toMatchObject({ kind: 'unavailable' });
    // A principal of the domain's realm that cannot name an account is refused without asking.
    await expect(d.account('HTTP/web@X')).rejects.toMatchObject({ kind: 'unauthenticated' });
  });
});
