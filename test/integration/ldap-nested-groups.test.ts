import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import type { Client } from 'ldapts';
import { startKdc, type Kdc, loadKerberosClient } from '../helpers/kdc.js';
import { startSlapd, type Slapd } from '../helpers/slapd.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeCsr, tmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { buildGetPoliciesRequest, parseGetPoliciesResponse } from '../../src/protocol/xcep/index.js';
import { buildRstRequest, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { parseEnvelope } from '../../src/protocol/soap/envelope.js';
import { listTemplates } from '../../src/store/template-repo.js';
import { templatesToYaml } from '../../src/policy/template-yaml.js';
import type { Template } from '../../src/policy/template.js';
import { AuditLog } from '../../src/audit/log.js';
import { systemClock } from '../../src/clock.js';
import { freshTestDb, type TestDb } from '../helpers/db.js';
import { expandNestedGroups, inChainFilter, LdapGroupLookup, memberOfAnyFilter, type LdapGroupLookupConfig } from '../../src/auth/ldap-groups.js';
import { ldapAuthenticate } from '../../src/auth/ldap.js';
import { configSchema } from '../../src/config.js';

const WEIRD = 'we*rd (x)\\y';
const INJECT = 'a)(member=*';

describe('nested-group filters (RFC 4515 escaping; AD in-chain)', () => {
  it('builds the in-chain filter with the DN escaped', () => {
    expect(inChainFilter('CN=Alice Smith,OU=Users,DC=example,DC=com')).toBe('(member:1.2.840.113556.1.4.1941:=CN=Alice Smith,OU=Users,DC=example,DC=com)');
    expect(inChainFilter('CN=a*b (c)\\,d\\\\e,DC=x', 'uniqueMember')).toBe('(uniqueMember:1.2.840.113556.1.4.1941:=CN=a\\2ab \\28c\\29\\5c,d\\5c\\5ce,DC=x)');
    expect(inChainFilter('CN=x)(objectClass=*,DC=x')).toBe('(member:1.2.840.113556.1.4.1941:=CN=x\\29\\28objectClass=\\2a,DC=x)');
    expect(() => inChainFilter('CN=x', 'member)(cn=*')).toThrow(/not an LDAP attribute name/);
  });

  it('builds the walk filter: one DN plain, several in an OR, each escaped', () => {
    expect(memberOfAnyFilter(['cn=g1,dc=x'])).toBe('(member=cn=g1,dc=x)');
    expect(memberOfAnyFilter(['cn=g1,dc=x', 'cn=*,dc=x', 'cn=a)(b\\5c,dc=x'])).toBe('(|(member=cn=g1,dc=x)(member=cn=\\2a,dc=x)(member=cn=a\\29\\28b\\5c5c,dc=x))');
    expect(() => memberOfAnyFilter([])).toThrow();
  });

  it('in-chain is one search under the base, the names from the name attribute (or the first RDN), capped', async () => {
    const calls: { base: string; filter: unknown; sizeLimit: unknown }[] = [];
    const fake = {
      async search(base: string, o: { filter?: unknown; sizeLimit?: unknown }) {
        calls.push({ base, filter: o.filter, sizeLimit: o.sizeLimit });
        return { searchEntries: [{ dn: 'CN=PKI Web Admins,OU=G,DC=x', cn: 'PKI Web Admins' }, { dn: 'CN=Web Server Enrollers,OU=G,DC=x', cn: 'Web Server Enrollers' }], searchReferences: [] };
      },
    } as unknown as Client;
    const r = await expandNestedGroups(fake, { mode: 'in-chain', base: 'DC=x', memberAttribute: 'member', maxDepth: 8, maxGroups: 1000 }, { userDn: 'CN=Al*ce,OU=U,DC=x', directDns: [] });
    expect(r).toEqual({ names: ['PKI Web Admins', 'Web Server Enrollers'] });
    expect(calls).toEqual([{ base: 'DC=x', filter: '(member:1.2.840.113556.1.4.1941:=CN=Al\\2ace,OU=U,DC=x)', sizeLimit: 1001 }]);
    const capped = await expandNestedGroups(fake, { mode: 'in-chain', base: 'DC=x', memberAttribute: 'member', nameAttribute: 'cn', maxDepth: 8, maxGroups: 1 }, { userDn: 'CN=u,DC=x', directDns: [] });
    expect(capped).toEqual({ names: ['PKI Web Admins'], stopped: 'groups' });
  });

  it('config: off by default; walk and in-chain accepted; bad attribute names and a base-less auth.ldap walk refused', () => {
    const k = (ldap: Record<string, unknown>) => configSchema.shape.auth.safeParse({ kerberos: { ldap: { url: 'ldap://x', bindDn: 'cn=s', bindPasswordFile: '/p', searchBase: 'dc=x', groupAttribute: 'memberOf', ...ldap } } });
    const parsed = k({});
    expect(parsed.success && parsed.data.kerberos?.ldap).toMatchObject({ nestedGroups: false, groupMemberAttribute: 'member', nestedGroupsMaxDepth: 8, nestedGroupsMaxGroups: 1000 });
    expect(k({ nestedGroups: 'walk' }).success).toBe(true);
    expect(k({ nestedGroups: 'in-chain' }).success).toBe(true);
    expect(k({ nestedGroups: true }).success).toBe(false);
    expect(k({ groupMemberAttribute: 'member)(x=*' }).success).toBe(false);
    const u = (ldap: Record<string, unknown>) => configSchema.shape.auth.safeParse({ ldap: { url: 'ldap://x', bindDnTemplate: 'uid={user},dc=x', groupAttribute: 'memberOf', ...ldap } });
    expect(u({ nestedGroups: 'walk' }).success).toBe(false);
    expect(u({ nestedGroups: 'walk', nestedGroupsBase: 'ou=groups,dc=x' }).success).toBe(true);
  });
});

/**
 * A real slapd (memberof overlay: memberOf on an entry lists only its direct groups, as in AD) with
 * groups inside groups, and a real KDC for the end-to-end check.
 */
describe('nested directory groups (real slapd + real KDC)', () => {
  let kdc: Kdc;
  let ldap: Slapd;
  let db: TestDb;
  let audit: AuditLog;
  let cfg: LdapGroupLookupConfig;
  let groupsBase: string;
  const dir = tmp('ldap-nested-');

  beforeAll(async () => {
    ldap = await startSlapd({ memberOf: true, principalSchema: true });
    groupsBase = `ou=groups,${ldap.suffix}`;
    const u = (uid: string) => {
      ldap.addUser(uid, `${uid}-Dpass1`, { upn: `${uid}@OPENCES.TEST` });
      return ldap.userDn(uid);
    };
    // alice ∈ pki-web-admins ∈ web-server-enrollers ∈ all-enrollers; bystander is in none of them
    const alice = u('alice');
    u('bystander');
    const inner = ldap.addGroupWithMembers('pki-web-admins', [alice]);
    const outer = ldap.addGroupWithMembers('web-server-enrollers', [inner]);
    ldap.addGroupWithMembers('all-enrollers', [outer]);
    ldap.addGroupWithMembers('unrelated', [ldap.userDn('bystander')]);
    // dave: a loop (cyc-a ∈ cyc-b ∈ cyc-a) and a group containing itself
    const dave = u('dave');
    const a = ldap.addGroupWithMembers('cyc-a', [dave]);
    const b = ldap.addGroupWithMembers('cyc-b', [a]);
    ldap.modify(`dn: ${a}\nchangetype: modify\nadd: member\nmember: ${b}\n`);
    const self = ldap.addGroupWithMembers('selfish', [dave]);
    ldap.modify(`dn: ${self}\nchangetype: modify\nadd: member\nmember: ${self}\n`);
    // erin: a chain ten deep, d0 … d9
    let prev = u('erin');
    for (let i = 0; i < 10; i++) prev = ldap.addGroupWithMembers(`d${i}`, [prev]);
    // frank: groups whose names hold filter syntax, and decoys a widened filter would match
    const frank = u('frank');
    const weird = ldap.addGroupWithMembers(WEIRD, [frank]);
    ldap.addGroupWithMembers('after-weird', [weird]);
    const inject = ldap.addGroupWithMembers(INJECT, [frank]);
    ldap.addGroupWithMembers('after-inject', [inject]);
    const star = ldap.addGroupWithMembers('*', [frank]);
    ldap.addGroupWithMembers('after-star', [star]);
    const lookalike = ldap.addGroupWithMembers('we-rd (x)y', [ldap.userDn('bystander')]);
    ldap.addGroupWithMembers('decoy', [lookalike, ldap.groupDn('unrelated')]);

    const bindDn = ldap.addService('opences', 'Svc-pass-1');
    writeFileSync(join(dir, 'ldap.pw'), 'Svc-pass-1\n', { mode: 0o600 });
    cfg = { url: ldap.url, bindDn, bindPasswordFile: join(dir, 'ldap.pw'), searchBase: `ou=people,${ldap.suffix}`, filter: '(userPrincipalName={principal})', groupAttribute: 'memberOf', cacheSeconds: 0 };
    db = await freshTestDb();
    audit = new AuditLog(db, systemClock);
  });
  afterAll(async () => {
    await ldap?.stop();
    await db?.close();
    await kdc?.stop();
  });

  const lookup = (extra: Partial<LdapGroupLookupConfig>) => new LdapGroupLookup({ ...cfg, nestedGroupsBase: groupsBase, ...extra }, { audit });
  const groupsOf = async (l: LdapGroupLookup, uid: string) => (await l.groups(`${uid}@OPENCES.TEST`)).sort();

  it('walk: user → inner → outer → outermost, with memberOf or with a groupSearch (names from its nameAttribute)', async () => {
    expect(await groupsOf(lookup({ nestedGroups: 'walk' }), 'alice')).toEqual(['all-enrollers', 'pki-web-admins', 'web-server-enrollers']);
    const bySearch = lookup({ nestedGroups: 'walk', groupAttribute: undefined, nestedGroupsBase: undefined, groupSearch: { base: groupsBase, filter: '(member={dn})', nameAttribute: 'cn' }, groupPrefix: 'ldap:' });
    expect(await groupsOf(bySearch, 'alice')).toEqual(['ldap:all-enrollers', 'ldap:pki-web-admins', 'ldap:web-server-enrollers']);
    expect(await groupsOf(lookup({ nestedGroups: 'walk' }), 'bystander')).toEqual(['unrelated', 'we-rd (x)y', 'decoy'].sort());
  });

  it('keeps at most cacheMaxEntries principals cached, however many distinct principals are looked up', async () => {
    const l = new LdapGroupLookup({ ...cfg, cacheSeconds: 3600 }, { audit, cacheMaxEntries: 3 });
    for (const uid of ['alice', 'erin', 'bystander', 'nobody-1', 'nobody-2', 'nobody-3']) await l.groups(`${uid}@OPENCES.TEST`);
    expect(l.cacheSize).toBe(3);
  });

  it('off (the default): only direct groups', async () => {
    expect(await groupsOf(lookup({}), 'alice')).toEqual(['pki-web-admins']);
    expect(await groupsOf(lookup({ nestedGroups: false }), 'erin')).toEqual(['d0']);
  });

  it('a loop (A ∈ B ∈ A) and a group containing itself end the walk, each group once', async () => {
    // Terminates (else the test times out) and reports each group once.
    expect(await lookup({ nestedGroups: 'walk', nestedGroupsMaxDepth: 32 }).groups('dave@OPENCES.TEST')).toHaveLength(3);
    expect(await groupsOf(lookup({ nestedGroups: 'walk', nestedGroupsMaxDepth: 32 }), 'dave')).toEqual(['cyc-a', 'cyc-b', 'selfish']);
  });

  it('the depth limit and the group cap stop the walk (audited as info; the groups found so far count)', async () => {
    const d = (n: number) => Array.from({ length: n }, (_, i) => `d${i}`).sort();
    expect(await groupsOf(lookup({ nestedGroups: 'walk', nestedGroupsMaxDepth: 3 }), 'erin')).toEqual(d(4));
    let ev = (await audit.list({ type: 'auth.groups', limit: 1 }))[0];
    expect(ev).toMatchObject({ outcome: 'info', principal: 'erin@OPENCES.TEST', reason: expect.stringMatching(/reached depth 3/) });
    expect(await groupsOf(lookup({ nestedGroups: 'walk' }), 'erin')).toEqual(d(9)); // default depth 8
    expect(await groupsOf(lookup({ nestedGroups: 'walk', nestedGroupsMaxDepth: 32 }), 'erin')).toEqual(d(10));
    expect(await groupsOf(lookup({ nestedGroups: 'walk', nestedGroupsMaxGroups: 5 }), 'erin')).toEqual(d(5));
    ev = (await audit.list({ type: 'auth.groups', limit: 1 }))[0];
    expect(ev).toMatchObject({ outcome: 'info', reason: expect.stringMatching(/stopped at 5 groups/) });
  });

  it('group DNs holding *, (, ) and \\ are escaped: the walk neither breaks nor widens', async () => {
    const before = (await audit.list({ type: 'auth.groups', limit: 1 }))[0]?.seq;
    expect(await groupsOf(lookup({ nestedGroups: 'walk' }), 'frank')).toEqual(['*', INJECT, WEIRD, 'after-inject', 'after-star', 'after-weird'].sort());
    // no failure (a broken filter fails closed, with an audit event)
    expect((await audit.list({ type: 'auth.groups', limit: 1 }))[0]?.seq).toBe(before);
  });

  it('UsernameToken directory users (auth.ldap, bound as themselves) get nested groups too', async () => {
    const base = { url: ldap.url, bindDnTemplate: `uid={user},ou=people,${ldap.suffix}`, groupAttribute: 'memberOf' };
    expect((await ldapAuthenticate(base, 'alice', 'alice-Dpass1'))?.groups).toEqual(['pki-web-admins']);
    expect((await ldapAuthenticate({ ...base, nestedGroups: 'walk', nestedGroupsBase: groupsBase }, 'alice', 'alice-Dpass1'))?.groups.sort()).toEqual(['all-enrollers', 'pki-web-admins', 'web-server-enrollers']);
    expect((await ldapAuthenticate({ ...base, nestedGroups: 'walk', nestedGroupsBase: groupsBase, nestedGroupsMaxDepth: 1 }, 'alice', 'alice-Dpass1'))?.groups.sort()).toEqual(['pki-web-admins', 'web-server-enrollers']);
  });

  it('end to end: a template granted to the OUTER group is listed and issues to a Kerberos user with nesting on, not with it off', async () => {
    kdc = await startKdc();
    kdc.addUser('alice', 'alice-Kpass1');
    const keytab = kdc.addService('HTTP/localhost');
    process.env.KRB5_CONFIG = kdc.env.KRB5_CONFIG;
    const ccache = kdc.kinit('alice', 'alice-Kpass1');
    const krb = await loadKerberosClient();

    const serve = async (nestedGroups: 'walk' | false): Promise<TestServer> => {
      const s = await startTestServer({ config: { 'auth.kerberos': { keytab, servicePrincipal: 'HTTP@localhost', ldap: { ...cfg, nestedGroups, nestedGroupsBase: groupsBase } } } });
      const base = (await listTemplates(s.core.db)).find((t) => t.name === 'User')!;
      const made: Template[] = [
        { ...structuredClone(base), name: 'OuterGroupUser', displayName: 'OuterGroupUser', oid: `${base.oid}.81`, permissions: [{ principal: 'group:all-enrollers', read: true, enroll: true, autoenroll: false }] },
        { ...structuredClone(base), name: 'DirectGroupUser', displayName: 'DirectGroupUser', oid: `${base.oid}.82`, permissions: [{ principal: 'group:pki-web-admins', read: true, enroll: true, autoenroll: false }] },
      ];
      for (const t of await listTemplates(s.core.db)) await runOperation(s.core, 'template.disable', { name: t.name }, 'test');
      await runOperation(s.core, 'template.import', { yaml: templatesToYaml(made) }, 'test');
      return s;
    };
    for (const nested of ['walk', false] as const) {
      const s = await serve(nested);
      const agent = new Agent({ connect: { ca: s.rootPem } });
      try {
        const post = async (url: string, body: string) => {
          process.env.KRB5CCNAME = `FILE:${ccache}`;
          const token = await (await krb.initializeClient('HTTP@localhost', { mechOID: krb.GSS_MECH_OID_SPNEGO })).step('');
          const r = await request(url, { method: 'POST', body, dispatcher: agent, headers: { 'content-type': 'application/soap+xml; charset=utf-8', authorization: `Negotiate ${token}` } });
          return { status: r.statusCode, body: await r.body.text() };
        };
        const cep = `${s.url}${cepPath('Kerberos')}`;
        const pol = await post(cep, buildGetPoliciesRequest({ to: cep }));
        expect(pol.status, pol.body).toBe(200);
        const listed = (parseGetPoliciesResponse(parseEnvelope(pol.body, { maxBytes: 1 << 22 })).policies ?? []).map((p) => p.attributes.commonName).sort();
        expect(listed, `nestedGroups: ${nested}`).toEqual(nested ? ['DirectGroupUser', 'OuterGroupUser'] : ['DirectGroupUser']);

        const ces = `${s.url}${cesPath('opences Issuing CA', 'Kerberos')}`;
        const r = await post(ces, buildRstRequest({ to: ces, requestType: 'issue', token: { valueType: 'pkcs10', der: makeCsr({ subject: 'CN=alice', templateName: 'OuterGroupUser' }).csrDer } }));
        if (nested) {
          expect(r.status, r.body).toBe(200);
          expect(parseRstrResponse(parseEnvelope(r.body, { maxBytes: 1 << 22 })).disposition).toBe('issued');
        } else {
          expect(r.status === 200 ? parseRstrResponse(parseEnvelope(r.body, { maxBytes: 1 << 22 })).disposition : 'refused').not.toBe('issued');
        }
      } finally {
        await agent.close();
        await s.stop();
      }
    }
  });
});
