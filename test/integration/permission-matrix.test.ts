import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { startKdc, type Kdc, loadKerberosClient, type KerberosClientModule } from '../helpers/kdc.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, pemOf } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath, type EndpointAuth } from '../../src/http/endpoints.js';
import { buildGetPoliciesRequest, parseGetPoliciesResponse } from '../../src/protocol/xcep/index.js';
import { buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { listTemplates } from '../../src/store/template-repo.js';
import { templatesToYaml } from '../../src/policy/template-yaml.js';
import type { Template, TemplatePermission } from '../../src/policy/template.js';

/**
 * Templates with different ACLs; users in different groups; three authentication methods. Local
 * accounts carry their groups (UsernamePassword, Certificate); Kerberos principals of the throwaway
 * realm get the same groups from the opences.yaml mapping, and are named `bob@OPENCES.TEST`.
 */
const REALM = 'OPENCES.TEST';
const ACLS: Record<string, TemplatePermission[]> = {
  StaffWeb: [{ principal: 'group:staff', read: true, enroll: true, autoenroll: false }],
  BobWeb: [
    { principal: 'user:bob', read: true, enroll: true, autoenroll: false },
    { principal: `user:bob@${REALM}`, read: true, enroll: true, autoenroll: false },
  ],
  // Names the local account only: the Kerberos principal bob@OPENCES.TEST is someone else to an ACL.
  BobLocalWeb: [{ principal: 'user:bob', read: true, enroll: true, autoenroll: false }],
  ReadOnlyWeb: [{ principal: 'group:authenticated', read: true, enroll: false, autoenroll: false }],
  OpsAutoWeb: [{ principal: 'group:ops', read: true, enroll: false, autoenroll: true }],
  NoReadWeb: [{ principal: 'group:staff', read: false, enroll: true, autoenroll: false }],
};
const USERS: Record<string, string[]> = { alice: ['staff'], bob: [], carol: ['ops'] };
const EXPECT: Record<string, string[]> = { alice: ['StaffWeb'], bob: ['BobLocalWeb', 'BobWeb'], carol: ['OpsAutoWeb'] };
const expected = (user: string, auth: EndpointAuth): string[] => (auth === 'Kerberos' ? EXPECT[user]!.filter((t) => t !== 'BobLocalWeb') : EXPECT[user]!);

describe('permission matrix: users × groups × templates × methods — listing and issuing agree', () => {
  let s: TestServer;
  let kdc: Kdc;
  let krb: KerberosClientModule;
  const ccaches: Record<string, string> = {};
  const agents: Record<string, Record<EndpointAuth, Agent>> = {};
  beforeAll(async () => {
    kdc = await startKdc({ realm: REALM });
    const keytab = kdc.addService('HTTP/localhost');
    process.env.KRB5_CONFIG = kdc.env.KRB5_CONFIG;
    for (const name of Object.keys(USERS)) {
      kdc.addUser(name, `${name}-Kpw1`);
      ccaches[name] = kdc.kinit(name, `${name}-Kpw1`);
    }
    // The realm's principals get their groups from the opences.yaml mapping, as the local accounts have them.
    const groups = Object.fromEntries(Object.entries(USERS).filter(([, g]) => g.length).map(([n, g]) => [`${n}@${REALM}`, g]));
    s = await startTestServer({ config: { 'auth.kerberos': { keytab, servicePrincipal: 'HTTP@localhost', groups } } });
    krb = await loadKerberosClient();
    const base = (await listTemplates(s.core.db)).find((t) => t.name === 'WebServer')!;
    const made: Template[] = Object.entries(ACLS).map(([name, permissions], i) => ({ ...structuredClone(base), name, displayName: name, oid: `${base.oid}.${50 + i}`, permissions }));
    // The defaults are open to everyone; switch them off so only the matrix templates count.
    for (const t of await listTemplates(s.core.db)) await runOperation(s.core, 'template.disable', { name: t.name }, 'test');
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml(made) }, 'test');
    // A User-like template only for getting each user a client certificate.
    const user = (await listTemplates(s.core.db)).find((t) => t.name === 'User')!;
    await runOperation(s.core, 'template.enable', { name: 'User' }, 'test');
    const plain = new Agent({ connect: { ca: s.rootPem } });
    for (const [name, groups] of Object.entries(USERS)) {
      await runOperation(s.core, 'user.add', { name, password: `${name}-pw`, groups }, 'test');
      const csr = makeCsr({ key: 'ec:P-256', subject: `CN=${name}`, templateName: user.name });
      const u = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
      const out = parseRstrResponse((await postSoap(u, buildRstRequest({ to: u, securityHeaderXml: usernameHeader({ username: name, password: `${name}-pw` }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), plain)).env!);
      if (out.disposition !== 'issued') throw new Error('no client certificate');
      agents[name] = { UsernamePassword: plain, Certificate: new Agent({ connect: { ca: s.rootPem, cert: pemOf(out.certificateDer), key: csr.keyPem } }), Kerberos: plain };
    }
    await runOperation(s.core, 'template.disable', { name: 'User' }, 'test');
  });
  afterAll(async () => {
    await s?.stop();
    await kdc?.stop();
  });

  const header = (user: string, auth: EndpointAuth) => (auth === 'UsernamePassword' ? usernameHeader({ username: user, password: `${user}-pw` }) : undefined);
  /** HTTP headers: a fresh Negotiate token from the user's ticket cache for Kerberos (tokens are single-use). */
  const http = async (user: string, auth: EndpointAuth): Promise<Record<string, string>> => {
    if (auth !== 'Kerberos') return {};
    process.env.KRB5CCNAME = `FILE:${ccaches[user]}`;
    return { authorization: `Negotiate ${await (await krb.initializeClient('HTTP@localhost', { mechOID: krb.GSS_MECH_OID_SPNEGO })).step('')}` };
  };

  for (const user of Object.keys(USERS)) {
    for (const auth of ['UsernamePassword', 'Certificate', 'Kerberos'] as const) {
      it(`${user} via ${auth}: lists exactly ${expected(user, auth).join(', ')} and can enroll for exactly those`, async () => {
        const cep = `${s.url}${cepPath(auth)}`;
        const pol = parseGetPoliciesResponse((await postSoap(cep, buildGetPoliciesRequest({ to: cep, securityHeaderXml: header(user, auth) }), agents[user]![auth], await http(user, auth))).env!);
        const listed = (pol.policies ?? []).map((p) => p.attributes.commonName).sort();
        expect(listed).toEqual(expected(user, auth));
        const ces = `${s.url}${cesPath('opences Issuing CA', auth)}`;
        for (const template of Object.keys(ACLS)) {
          const r = await postSoap(ces, buildRstRequest({ to: ces, securityHeaderXml: header(user, auth), requestType: 'issue', token: { valueType: 'pkcs10', der: makeCsr({ subject: `CN=${template.toLowerCase()}.example.test`, templateName: template }).csrDer } }), agents[user]![auth], await http(user, auth));
          expect(r.status === 401, `${user}/${auth}/${template}: not authenticated`).toBe(false);
          const issued = r.status === 200 && parseRstrResponse(r.env!).disposition === 'issued';
          expect(issued, `${user}/${auth}/${template}: ${parseFault(r.env!)?.reason ?? 'issued'}`).toBe(listed.includes(template));
          if (issued) {
            const row = (await s.core.db.query<{ requester: string; auth_method: string }>('SELECT requester, auth_method FROM requests WHERE id = $1', [parseRstrResponse(r.env!).requestId])).rows[0];
            expect(row).toEqual(auth === 'Kerberos' ? { requester: `${user}@${REALM}`, auth_method: 'kerberos' } : { requester: user, auth_method: auth === 'Certificate' ? 'certificate' : 'username' });
          }
        }
      });
    }
  }
});
