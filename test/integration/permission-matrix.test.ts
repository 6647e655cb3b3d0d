import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
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

/** Templates with different ACLs; users in different groups; two authentication methods. */
const ACLS: Record<string, TemplatePermission[]> = {
  StaffWeb: [{ principal: 'group:staff', read: true, enroll: true, autoenroll: false }],
  BobWeb: [{ principal: 'user:bob', read: true, enroll: true, autoenroll: false }],
  ReadOnlyWeb: [{ principal: 'group:authenticated', read: true, enroll: false, autoenroll: false }],
  OpsAutoWeb: [{ principal: 'group:ops', read: true, enroll: false, autoenroll: true }],
  NoReadWeb: [{ principal: 'group:staff', read: false, enroll: true, autoenroll: false }],
};
const USERS: Record<string, string[]> = { alice: ['staff'], bob: [], carol: ['ops'] };
const EXPECT: Record<string, string[]> = { alice: ['StaffWeb'], bob: ['BobWeb'], carol: ['OpsAutoWeb'] };

describe('permission matrix: users × groups × templates × methods — listing and issuing agree', () => {
  let s: TestServer;
  const agents: Record<string, Record<EndpointAuth, Agent>> = {};
  beforeAll(async () => {
    s = await startTestServer();
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
  afterAll(async () => s?.stop());

  const header = (user: string, auth: EndpointAuth) => (auth === 'UsernamePassword' ? usernameHeader({ username: user, password: `${user}-pw` }) : undefined);

  for (const user of Object.keys(USERS)) {
    for (const auth of ['UsernamePassword', 'Certificate'] as const) {
      it(`${user} via ${auth}: lists exactly ${EXPECT[user]!.join(', ')} and can enroll for exactly those`, async () => {
        const cep = `${s.url}${cepPath(auth)}`;
        const pol = parseGetPoliciesResponse((await postSoap(cep, buildGetPoliciesRequest({ to: cep, securityHeaderXml: header(user, auth) }), agents[user]![auth])).env!);
        const listed = (pol.policies ?? []).map((p) => p.attributes.commonName).sort();
        expect(listed).toEqual(EXPECT[user]);
        const ces = `${s.url}${cesPath('opences Issuing CA', auth)}`;
        for (const template of Object.keys(ACLS)) {
          const r = await postSoap(ces, buildRstRequest({ to: ces, securityHeaderXml: header(user, auth), requestType: 'issue', token: { valueType: 'pkcs10', der: makeCsr({ subject: `CN=${template.toLowerCase()}.example.test`, templateName: template }).csrDer } }), agents[user]![auth]);
          const issued = r.status === 200 && parseRstrResponse(r.env!).disposition === 'issued';
          expect(issued, `${user}/${auth}/${template}: ${parseFault(r.env!)?.reason ?? 'issued'}`).toBe(listed.includes(template));
        }
      });
    }
  }
});
