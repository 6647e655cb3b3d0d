import { describe, expect, it } from 'vitest';
import { OpencesError } from '../../../src/errors.js';
import { kerberosPrincipal, loadKerberosBinding, parseNegotiateHeader, KERBEROS_PACKAGE_MISSING } from '../../../src/auth/negotiate.js';
import { createKerberosAuthenticator } from '../../../src/auth/kerberos.js';
import { negotiateServiceFor, negotiateToken } from '../../../src/auth/negotiate-client.js';

const kind = async (p: Promise<unknown> | (() => unknown)): Promise<string> => {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e instanceof OpencesError ? e.kind : `not an OpencesError: ${String(e)}`;
  }
  return 'no error';
};

describe('Negotiate header', () => {
  it('takes the token of "Negotiate <base64>" in any case', () => {
    expect(parseNegotiateHeader('Negotiate YIIFaw==')).toBe('YIIFaw==');
    expect(parseNegotiateHeader('negotiate   YIIF+/ab ')).toBe('YIIF+/ab');
  });
  it.each([undefined, '', 'Negotiate', 'Negotiate ', 'Basic YWxpY2U6cHc=', 'Bearer x', 'Negotiate a b', 'Negotiate ###', 'Negotiate YQ===', `Negotiate ${'A'.repeat(70_000)}`, 'Negotiate TlRMTVNTUAABAAAAB4IIog=='])(
    'refuses %j as unauthenticated',
    async (h) => {
      expect(await kind(() => parseNegotiateHeader(h))).toBe('unauthenticated');
    },
  );
  it('says so when a client falls back to NTLM', () => {
    expect(() => parseNegotiateHeader('Negotiate TlRMTVNTUAABAAAAB4IIog==')).toThrow(/NTLM/);
  });
});

describe('Kerberos name → Principal', () => {
  const groupMapping = { 'alice@OPENCES.TEST': ['staff', 'pki-admins'], '@OPENCES.TEST': ['employees', 'staff'] };
  it('maps a user: name and UPN alice@REALM, method kerberos, groups from the name and the realm', () => {
    const p = kerberosPrincipal('alice@OPENCES.TEST', { groupMapping });
    expect(p).toMatchObject({ name: 'alice@OPENCES.TEST', upn: 'alice@OPENCES.TEST', method: 'kerberos', realm: 'OPENCES.TEST', displayName: 'alice' });
    expect(p.groups).toEqual(['authenticated', 'staff', 'pki-admins', 'employees']);
    expect(p.dnsName).toBeUndefined();
  });
  it('gives a user of another realm only "authenticated"', () => {
    expect(kerberosPrincipal('bob@ELSEWHERE.TEST', { groupMapping }).groups).toEqual(['authenticated']);
  });
  it('maps machine accounts to their DNS name and no UPN', () => {
    const host = kerberosPrincipal('host/web1.opences.test@OPENCES.TEST', { groupMapping });
    expect(host).toMatchObject({ name: 'host/web1.opences.test@OPENCES.TEST', dnsName: 'web1.opences.test' });
    expect(host.upn).toBeUndefined();
    const ad = kerberosPrincipal('WEB2$@CORP.EXAMPLE', { groupMapping });
    expect(ad).toMatchObject({ name: 'WEB2$@CORP.EXAMPLE', dnsName: 'web2.corp.example', realm: 'CORP.EXAMPLE' });
    expect(ad.upn).toBeUndefined();
  });
  it('gives other service principals neither UPN nor DNS name', () => {
    const p = kerberosPrincipal('HTTP/web1.opences.test@OPENCES.TEST', { groupMapping });
    expect(p.upn).toBeUndefined();
    expect(p.dnsName).toBeUndefined();
  });
  it('adds the default realm to a bare name', () => {
    expect(kerberosPrincipal('carol', { groupMapping, defaultRealm: 'OPENCES.TEST' })).toMatchObject({ name: 'carol@OPENCES.TEST', realm: 'OPENCES.TEST' });
  });
  it('refuses an empty name', async () => {
    expect(await kind(() => kerberosPrincipal('@OPENCES.TEST', { groupMapping }))).toBe('unauthenticated');
  });
});

describe('the optional kerberos package', () => {
  const missing = () => Promise.reject(new Error("Cannot find package 'kerberos'"));
  it('missing → unavailable, naming what to install (server and client side)', async () => {
    await expect(loadKerberosBinding(missing)).rejects.toThrow(KERBEROS_PACKAGE_MISSING);
    expect(await kind(createKerberosAuthenticator({ groupMapping: {}, servicePrincipal: 'HTTP@localhost', load: missing }))).toBe('unavailable');
    expect(await kind(negotiateToken('HTTP@localhost', { load: missing }))).toBe('unavailable');
  });
  it('something else under that name → unavailable', async () => {
    expect(await kind(loadKerberosBinding(() => Promise.resolve({ default: {} })))).toBe('unavailable');
  });
  it('refuses an unreadable keytab and a malformed service name at start', async () => {
    expect(await kind(createKerberosAuthenticator({ groupMapping: {}, keytab: '/nonexistent/http.keytab' }))).toBe('unavailable');
    expect(await kind(createKerberosAuthenticator({ groupMapping: {}, servicePrincipal: 'HTTP/localhost' }))).toBe('malformed');
  });
  it('derives the client service from a URL', () => {
    expect(negotiateServiceFor('https://ca.example.test:8443/ADPolicyProvider_CEP_Kerberos/service.svc/CEP')).toBe('HTTP@ca.example.test');
  });
});
