import { describe, expect, it } from 'vitest';
import { candidateKeys, inferredRef, kerberosRef, principalRef } from '../../../src/auth/identity.js';
import { isOwnRequest } from '../../../src/enrollment/separation.js';

const o = { domains: ['example.com', 'EXAMPLE'], accountRealms: [] as string[] };

describe('canonical identities (src/auth/identity.ts)', () => {
  it('alice, ALICE, alice@example.com, EXAMPLE\\alice and local:alice all may stand for the account alice', () => {
    for (const s of ['alice', 'ALICE', 'alice@example.com', 'Alice@EXAMPLE.COM', 'EXAMPLE\\alice', 'example\\ALICE', 'local:alice']) expect(candidateKeys(s, o), s).toContain('account:alice');
  });

  it('a domain that is not accepted, a service and a partner user are never the account', () => {
    expect(candidateKeys('alice@elsewhere.example', o)).not.toContain('account:alice');
    expect(candidateKeys('OTHER\\alice', o)).not.toContain('account:alice');
    expect(candidateKeys('service:alice', o)).toEqual(['service:alice']);
    expect(candidateKeys('partner:acme/alice', o)).toEqual(['partner:acme/alice']);
  });

  it('a Kerberos principal is its realm-qualified self, unless its realm is mapped to local accounts', () => {
    expect(kerberosRef('alice@example.test', { accountRealms: [] })).toEqual({ kind: 'kerberos', key: 'kerberos:alice@EXAMPLE.TEST' });
    expect(kerberosRef('Alice@EXAMPLE.TEST', { accountRealms: ['example.test'] })).toEqual({ kind: 'account', key: 'account:alice' });
    // machines and services never become an account
    expect(kerberosRef('WEB1$@EXAMPLE.TEST', { accountRealms: ['EXAMPLE.TEST'] }).kind).toBe('kerberos');
    expect(kerberosRef('host/web1.example.test@EXAMPLE.TEST', { accountRealms: ['EXAMPLE.TEST'] }).kind).toBe('kerberos');
    expect(principalRef({ name: 'alice@EXAMPLE.TEST', groups: [], method: 'kerberos' })).toEqual({ kind: 'kerberos', key: 'kerberos:alice@EXAMPLE.TEST' });
  });

  it('rows recorded before keys existed are owned by the name and sign-in method they recorded', () => {
    expect(inferredRef('alice@EXAMPLE.TEST', 'kerberos', o)).toEqual({ kind: 'kerberos', key: 'kerberos:alice@EXAMPLE.TEST' });
    expect(inferredRef('alice', 'username', o)).toEqual({ kind: 'account', key: 'account:alice' });
    expect(inferredRef('partner:acme/Bob@acme.test', 'certificate', o)).toEqual({ kind: 'partner', key: 'partner:acme/bob@acme.test' });
  });

  it('separation of duties: the same person under any spelling, a different person never', () => {
    const alices = { name: 'alice', key: 'account:alice' };
    for (const officer of ['ALICE', 'alice@example.com', 'EXAMPLE\\alice', 'local:alice']) expect(isOwnRequest(alices, { name: officer }, o), officer).toBe(true);
    expect(isOwnRequest(alices, { name: 'carol' }, o)).toBe(false);
    expect(isOwnRequest(alices, { name: 'service:alice' }, o)).toBe(false);
    // a Kerberos alice is someone else than the account alice …
    expect(isOwnRequest({ name: 'alice@REALM.TEST', key: 'kerberos:alice@REALM.TEST' }, { name: 'alice' }, o)).toBe(false);
    // … but not than a token for alice@REALM.TEST, nor an officer known exactly by that key
    expect(isOwnRequest({ name: 'alice@REALM.TEST', key: 'kerberos:alice@REALM.TEST' }, { name: 'Alice@realm.test' }, o)).toBe(true);
    expect(isOwnRequest({ name: 'x', key: 'kerberos:alice@REALM.TEST' }, { name: 'whoever', ref: { kind: 'kerberos', key: 'kerberos:alice@REALM.TEST' } }, o)).toBe(true);
    // a legacy row (no key) compares by every key its name may stand for
    expect(isOwnRequest({ name: 'alice', key: null, authMethod: 'username' }, { name: 'EXAMPLE\\ALICE' }, o)).toBe(true);
  });
});
