import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startKdc, type Kdc, loadKerberosClient, type KerberosClientModule } from '../helpers/kdc.js';
import { startSlapd, type Slapd } from '../helpers/slapd.js';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import { fixedClock } from '../../src/clock.js';
import { makeCsr, tmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { buildGetPoliciesRequest, parseGetPoliciesResponse } from '../../src/protocol/xcep/index.js';
import { buildRstRequest, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { parseEnvelope } from '../../src/protocol/soap/envelope.js';
import { listTemplates } from '../../src/store/template-repo.js';
import { templatesToYaml } from '../../src/policy/template-yaml.js';
import type { Template } from '../../src/policy/template.js';
import { escapeFilterValue, LdapGroupLookup, type LdapGroupLookupConfig } from '../../src/auth/ldap-groups.js';

/**
 * Kerberos principals whose groups come from a directory: a real MIT KDC authenticates them, a real
 * slapd (memberof overlay, AD's userPrincipalName) says which groups they are in, and template
 * permissions on those groups decide what GetPolicies lists and CES issues.
 */
describe('LDAP group lookup for Kerberos principals (real KDC + real slapd)', () => {
  let kdc: Kdc;
  let ldap: Slapd;
  let s: TestServer;
  let agent: Agent;
  let krb: KerberosClientModule;
  let cfg: LdapGroupLookupConfig;
  const ccache: Record<string, string> = {};
  const dir = tmp('ldap-groups-');

  beforeAll(async () => {
    kdc = await startKdc();
    for (const u of ['alice', 'bob', 'carol']) kdc.addUser(u, `${u}-Kpass1`);
    const keytab = kdc.addService('HTTP/localhost');
    process.env.KRB5_CONFIG = kdc.env.KRB5_CONFIG;
    for (const u of ['alice', 'bob', 'carol']) ccache[u] = kdc.kinit(u, `${u}-Kpass1`);

    ldap = await startSlapd({ memberOf: true, principalSchema: true });
    ldap.addUser('alice', 'x-unused-1', { upn: 'alice@OPENCES.TEST' });
    ldap.addUser('bob', 'x-unused-2', { upn: 'bob@opences.test', krb5Principal: 'bob@OPENCES.TEST' });
    // carol has no directory entry at all
    ldap.addGroup('pki-staff', ['alice']);
    ldap.addGroup('other', ['bob']);
    const bindDn = ldap.addService('opences', 'Svc-pass-1');
    writeFileSync(join(dir, 'ldap.pw'), 'Svc-pass-1\n', { mode: 0o600 });
    cfg = { url: ldap.url, bindDn, bindPasswordFile: join(dir, 'ldap.pw'), searchBase: `ou=people,${ldap.suffix}`, filter: '(userPrincipalName={principal})', groupAttribute: 'memberOf', cacheSeconds: 2 };

    s = await startTestServer({ config: { 'auth.kerberos': { keytab, servicePrincipal: 'HTTP@localhost', groups: { 'bob@OPENCES.TEST': ['yaml-ops'] }, ldap: cfg } } });
    agent = new Agent({ connect: { ca: s.rootPem } });
    krb = await loadKerberosClient();

    const base = (await listTemplates(s.core.db)).find((t) => t.name === 'User')!;
    const made: Template[] = [
      { ...structuredClone(base), name: 'DirStaffUser', displayName: 'DirStaffUser', oid: `${base.oid}.71`, permissions: [{ principal: 'group:pki-staff', read: true, enroll: true, autoenroll: false }] },
      { ...structuredClone(base), name: 'YamlOpsUser', displayName: 'YamlOpsUser', oid: `${base.oid}.72`, permissions: [{ principal: 'group:yaml-ops', read: true, enroll: true, autoenroll: false }] },
      { ...structuredClone(base), name: 'EveryoneUser', displayName: 'EveryoneUser', oid: `${base.oid}.73`, permissions: [{ principal: 'group:authenticated', read: true, enroll: true, autoenroll: false }] },
    ];
    for (const t of await listTemplates(s.core.db)) await runOperation(s.core, 'template.disable', { name: t.name }, 'test');
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml(made) }, 'test');
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
    await ldap?.stop();
    await kdc?.stop();
  });

  /** A fresh Negotiate token from `user`'s ticket cache (GSSAPI reads KRB5CCNAME per context). */
  const tokenFor = async (user: string): Promise<string> => {
    process.env.KRB5CCNAME = `FILE:${ccache[user]}`;
    return (await krb.initializeClient('HTTP@localhost', { mechOID: krb.GSS_MECH_OID_SPNEGO })).step('');
  };
  const post = async (url: string, body: string, user: string) => {
    const r = await request(url, { method: 'POST', body, dispatcher: agent, headers: { 'content-type': 'application/soap+xml; charset=utf-8', authorization: `Negotiate ${await tokenFor(user)}` } });
    return { status: r.statusCode, body: await r.body.text() };
  };
  const listed = async (user: string): Promise<string[]> => {
    const cep = `${s.url}${cepPath('Kerberos')}`;
    const r = await post(cep, buildGetPoliciesRequest({ to: cep }), user);
    expect(r.status, r.body).toBe(200);
    return (parseGetPoliciesResponse(parseEnvelope(r.body, { maxBytes: 1 << 22 })).policies ?? []).map((p) => p.attributes.commonName).sort();
  };

  it('groups come from the directory (memberOf) and from the YAML mapping; a principal without an entry gets neither', async () => {
    expect(await listed('alice')).toEqual(['DirStaffUser', 'EveryoneUser']);
    expect(await listed('bob')).toEqual(['EveryoneUser', 'YamlOpsUser']);
    expect(await listed('carol')).toEqual(['EveryoneUser']);
    const ces = `${s.url}${cesPath('opences Issuing CA', 'Kerberos')}`;
    const r = await post(ces, buildRstRequest({ to: ces, requestType: 'issue', token: { valueType: 'pkcs10', der: makeCsr({ subject: 'CN=alice', templateName: 'DirStaffUser' }).csrDer } }), 'alice');
    expect(r.status, r.body).toBe(200);
    expect(parseRstrResponse(parseEnvelope(r.body, { maxBytes: 1 << 22 })).disposition).toBe('issued');
  });

  it('caches briefly: a membership change shows after cacheSeconds, not before', async () => {
    ldap.modify(`dn: cn=pki-staff,ou=groups,${ldap.suffix}\nchangetype: modify\nadd: member\nmember: ${ldap.userDn('bob')}\n`);
    expect(await listed('bob')).toEqual(['EveryoneUser', 'YamlOpsUser']);
    await new Promise((r) => setTimeout(r, 2_100));
    expect(await listed('bob')).toEqual(['DirStaffUser', 'EveryoneUser', 'YamlOpsUser']);
  });

  it('the lookup with groupOfNames search and a uid filter; filter values are escaped (RFC 4515)', async () => {
    const bySearch = new LdapGroupLookup({ ...cfg, filter: '(uid={user})', groupAttribute: undefined, groupSearch: { base: `ou=groups,${ldap.suffix}`, filter: '(member={dn})', nameAttribute: 'cn' }, groupPrefix: 'ldap:' }, { audit: s.core.audit });
    expect((await bySearch.groups('alice@OPENCES.TEST')).sort()).toEqual(['ldap:pki-staff']);
    expect((await bySearch.groups('bob@OPENCES.TEST')).sort()).toEqual(['ldap:other', 'ldap:pki-staff']);
    // MIT's krb5PrincipalName, matched case-exactly as its schema says
    const byKrb5 = new LdapGroupLookup({ ...cfg, filter: '(krb5PrincipalName={principal})' }, { audit: s.core.audit });
    expect((await byKrb5.groups('bob@OPENCES.TEST')).sort()).toEqual(['other', 'pki-staff']);
    expect(await byKrb5.groups('bob@opences.test')).toEqual([]);
    expect(escapeFilterValue('a*)(uid=*')).toBe('a\\2a\\29\\28uid=\\2a');
    // A wildcard in a principal name must not match everyone.
    expect(await bySearch.groups('*@OPENCES.TEST')).toEqual([]);
  });

  it('fails closed: wrong service password, an ambiguous filter, and a directory that is down give no directory groups and an audit event', async () => {
    writeFileSync(join(dir, 'wrong.pw'), 'not-the-password\n');
    const wrong = new LdapGroupLookup({ ...cfg, bindPasswordFile: join(dir, 'wrong.pw') }, { audit: s.core.audit });
    expect(await wrong.groups('alice@OPENCES.TEST')).toEqual([]);
    let ev = (await s.core.audit.list({ type: 'auth.groups', limit: 1 }))[0];
    expect(ev).toMatchObject({ outcome: 'failure', method: 'kerberos', principal: 'alice@OPENCES.TEST' });
    expect(ev?.reason).toMatch(/service bind as cn=opences,ou=services,dc=example,dc=test failed/);
    expect(JSON.stringify(ev)).not.toContain('not-the-password');

    const ambiguous = new LdapGroupLookup({ ...cfg, filter: '(|(uid={user})(uid=bob))' }, { audit: s.core.audit });
    expect(await ambiguous.groups('alice@OPENCES.TEST')).toEqual([]);
    expect((await s.core.audit.list({ type: 'auth.groups', limit: 1 }))[0]?.reason).toMatch(/matches more than one entry/);

    // A directory that is down is not asked again for retrySeconds: lookups meanwhile fail at once, each audited.
    const clock = fixedClock(new Date());
    const down = new LdapGroupLookup({ ...cfg, url: `ldap://127.0.0.1:${await freePort()}`, retrySeconds: 10 }, { audit: s.core.audit, clock });
    expect(await down.groups('alice@OPENCES.TEST')).toEqual([]);
    expect((await s.core.audit.list({ type: 'auth.groups', limit: 1 }))[0]?.reason).not.toMatch(/not asked/);
    expect(await down.groups('bob@OPENCES.TEST')).toEqual([]);
    expect((await s.core.audit.list({ type: 'auth.groups', limit: 1 }))[0]).toMatchObject({ principal: 'bob@OPENCES.TEST', reason: expect.stringMatching(/directory not asked for 10 s after a failure/) });
    clock.advance(10_001);
    expect(await down.groups('carol@OPENCES.TEST')).toEqual([]);
    expect((await s.core.audit.list({ type: 'auth.groups', limit: 1 }))[0]).toMatchObject({ principal: 'carol@OPENCES.TEST', reason: expect.not.stringMatching(/not asked/) });

    await ldap.stop();
    await new Promise((r) => setTimeout(r, 2_100)); // past the cache
    expect(await listed('alice')).toEqual(['EveryoneUser']);
    expect(await listed('bob')).toEqual(['EveryoneUser', 'YamlOpsUser']); // the YAML mapping still applies
    ev = (await s.core.audit.list({ type: 'auth.groups', limit: 1 }))[0];
    expect(ev).toMatchObject({ outcome: 'failure', principal: 'bob@OPENCES.TEST', reason: expect.stringMatching(/^LDAP group lookup failed, no directory groups granted: /) });
  });

  it('refuses to start with a lookup that cannot work', () => {
    expect(() => new LdapGroupLookup({ ...cfg, bindPasswordFile: join(dir, 'missing.pw') })).toThrow(/not readable/);
    expect(() => new LdapGroupLookup({ ...cfg, groupAttribute: undefined })).toThrow(/groupAttribute or groupSearch/);
    expect(() => new LdapGroupLookup({ ...cfg, filter: '(objectClass=person)' })).toThrow(/\{principal\} or \{user\}/);
  });
});
