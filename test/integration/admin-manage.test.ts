import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, openssl, tmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { buildGetPoliciesRequest, parseGetPoliciesResponse } from '../../src/protocol/xcep/index.js';
import { buildRstRequest, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { templatesFromYaml } from '../../src/policy/template-yaml.js';
import type { Template } from '../../src/policy/template.js';
import { templateSchema } from '../../src/policy/template-schema.js';
import { loadOpenApi } from '../../src/http/admin/openapi.js';
import { z } from 'zod';

type Reply = { status: number; ct: string; raw: Buffer; headers: Record<string, unknown>; json: (Record<string, unknown> & unknown[]) | null };

describe('admin REST API: templates, accounts and partners (ca-admin)', () => {
  let s: TestServer;
  let agent: Agent;
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    s = await startTestServer();
    agent = new Agent({ connect: { ca: s.rootPem } });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret-alice' }, 'test');
    for (const [k, role, who] of [['admin', 'ca-admin', 'erin'], ['manager', 'cert-manager', 'carol'], ['auditor', 'auditor', 'dave']] as const) {
      await runOperation(s.core, 'user.add', { name: who }, 'test').catch(() => undefined); // token create --for names an existing principal
      tokens[k] = ((await runOperation(s.core, 'token.create', { role, principal: who }, 'test')) as { token: string }).token;
    }
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const api = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, o: { token?: string; body?: unknown; raw?: string; type?: string } = {}): Promise<Reply> => {
    const r = await request(`${s.url}/api/v1${path}`, {
      method,
      dispatcher: agent,
      headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(o.body !== undefined || o.raw !== undefined ? { 'content-type': o.type ?? 'application/json' } : {}) },
      body: o.raw ?? (o.body !== undefined ? JSON.stringify(o.body) : undefined),
    });
    const raw = Buffer.from(await r.body.arrayBuffer());
    const ct = String(r.headers['content-type'] ?? '');
    return { status: r.statusCode, ct, raw, headers: r.headers, json: ct.includes('json') ? (JSON.parse(raw.toString()) as Record<string, unknown> & unknown[]) : null };
  };
  const admin = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, o: { body?: unknown; raw?: string; type?: string } = {}) => api(method, path, { ...o, token: tokens.admin });

  /** The templates GetPolicies offers `user` right now (through the real CEP endpoint). */
  async function offered(user = 'alice', password = 'S3cret-alice'): Promise<string[]> {
    const url = `${s.url}${cepPath('UsernamePassword')}`;
    const r = await postSoap(url, buildGetPoliciesRequest({ to: url, securityHeaderXml: usernameHeader({ username: user, password }) }), agent);
    if (r.status !== 200) throw new Error(`GetPolicies as ${user}: ${r.status} ${r.body.slice(0, 300)}`);
    return parseGetPoliciesResponse(r.env!).policies!.map((p) => p.attributes.commonName);
  }
  async function canSignIn(user: string, password: string): Promise<boolean> {
    const url = `${s.url}${cepPath('UsernamePassword')}`;
    const r = await postSoap(url, buildGetPoliciesRequest({ to: url, securityHeaderXml: usernameHeader({ username: user, password }) }), agent);
    return r.status === 200;
  }
  async function submit(template: string): Promise<{ requestId: string; disposition: string }> {
    const csr = makeCsr({ subject: 'CN=ops.example.test', sans: ['DNS:ops.example.test'], templateName: template });
    const url = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const r = await postSoap(url, buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'alice', password: 'S3cret-alice' }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
    if (r.status !== 200) return { requestId: '', disposition: 'fault' };
    const out = parseRstrResponse(r.env!);
    return { requestId: out.requestId!, disposition: out.disposition };
  }
  const events = async (type: string) => s.core.audit.list({ type, limit: 100 });

  async function webServerLike(name: string, oidSuffix: number): Promise<Template> {
    const web = ((await admin('GET', '/templates/WebServer')).json as unknown as { template: Template }).template;
    return { ...web, name, displayName: `${name} (API)`, oid: `${web.oid.split('.').slice(0, -1).join('.')}.${oidSuffix}` };
  }

  describe('templates', () => {
    it('the OpenAPI Template schema is the template model (generated from the zod schema; regenerate when the model changes)', () => {
      const { doc } = loadOpenApi();
      const inDoc = { ...((doc as { components: { schemas: Record<string, Record<string, unknown>> } }).components.schemas.Template) };
      delete inDoc.description;
      const fromModel = z.toJSONSchema(templateSchema) as Record<string, unknown>;
      delete fromModel.$schema;
      expect(inDoc).toEqual(fromModel);
    });

    it('POST creates a template that the very next GetPolicies offers; audited with the actor; ca-admin only', async () => {
      expect(await offered()).not.toContain('OpsWeb'); // fills the GetPolicies cache first
      const t = await webServerLike('OpsWeb', 901);
      expect((await api('POST', '/templates', { token: tokens.manager, body: t })).status).toBe(403);
      expect((await api('POST', '/templates', { token: tokens.auditor, body: t })).status).toBe(403);
      expect((await api('POST', '/templates', { body: t })).status).toBe(401);
      const r = await admin('POST', '/templates', { body: t });
      expect(r.status, r.raw.toString()).toBe(201);
      expect(r.json).toMatchObject({ name: 'OpsWeb', created: true });
      expect(await offered()).toContain('OpsWeb');
      const ev = (await events('template.created')).find((e) => e.template === 'OpsWeb');
      expect(ev).toMatchObject({ actor: 'erin', outcome: 'success' });
      const denied = (await events('authz.denied')).map((e) => e.actor);
      expect(denied).toEqual(expect.arrayContaining(['carol', 'dave']));
      const shown = await api('GET', '/templates/OpsWeb', { token: tokens.auditor });
      expect((shown.json as unknown as { template: Template }).template).toEqual(t);
    });

    it('POST refuses an existing name or OID (409) and invalid models (400 naming the field)', async () => {
      const t = await webServerLike('OpsWeb2', 902);
      const dupName = await admin('POST', '/templates', { body: { ...t, name: 'opsweb' } });
      expect(dupName.status).toBe(409);
      expect(dupName.json?.field).toBe('body.name');
      const web = ((await admin('GET', '/templates/WebServer')).json as unknown as { template: Template }).template;
      const dupOid = await admin('POST', '/templates', { body: { ...t, oid: web.oid } });
      expect(dupOid.status).toBe(409);
      expect(dupOid.json?.field).toBe('body.oid');
      expect(dupOid.json?.detail).toContain('WebServer');
      const unknownKey = await admin('POST', '/templates', { body: { ...t, subject: { ...t.subject, foo: 1 } } });
      expect([unknownKey.status, unknownKey.json?.field]).toEqual([400, 'body.subject.foo']);
      const wrongType = await admin('POST', '/templates', { body: { ...t, enabled: 'yes' } });
      expect([wrongType.status, wrongType.json?.field]).toEqual([400, 'body.enabled']);
      const missing = await admin('POST', '/templates', { body: { ...t, oid: undefined } });
      expect([missing.status, missing.json?.field]).toEqual([400, 'body.oid']);
      const refined = await admin('POST', '/templates', { body: { ...t, renewalPeriodSeconds: t.validityPeriodSeconds } });
      expect([refined.status, refined.json?.field]).toEqual([400, 'body.renewalPeriodSeconds']);
      const badName = await admin('POST', '/templates', { body: { ...t, name: '../../etc/passwd' } });
      expect([badName.status, badName.json?.field]).toEqual([400, 'body.name']);
      expect((await admin('GET', '/templates/OpsWeb2')).status).toBe(404);
    });

    it('concurrent creates of one name (or one OID) make one template: one 201, the rest 409, never a 500', async () => {
      const t = await webServerLike('Racy', 904);
      const same = await Promise.all(Array.from({ length: 6 }, () => admin('POST', '/templates', { body: t })));
      expect(same.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
      const oid = await Promise.all(Array.from({ length: 6 }, (_, i) => admin('POST', '/templates', { body: { ...t, name: `RacyOid${i}`, oid: `${t.oid}.1` } })));
      expect(oid.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
      expect(oid.filter((r) => r.status === 409).every((r) => r.json?.field === 'body.oid')).toBe(true);
      expect((await events('template.created')).filter((e) => e.template === 'Racy')).toHaveLength(1);
    });

    it('PUT replaces (audited with the changed fields), keeps the name, 404 for an unknown one; disable/enable take effect at once', async () => {
      const t = ((await admin('GET', '/templates/OpsWeb')).json as unknown as { template: Template }).template;
      const changed = { ...t, enrollment: { ...t.enrollment, pendAllRequests: true }, minorRevision: t.minorRevision + 1 };
      const renamed = await admin('PUT', '/templates/OpsWeb', { body: { ...changed, name: 'Other' } });
      expect([renamed.status, renamed.json?.field]).toEqual([400, 'body.name']);
      expect((await admin('PUT', '/templates/NoSuch', { body: { ...changed, name: 'NoSuch' } })).status).toBe(404);
      const r = await admin('PUT', '/templates/opsweb', { body: { ...changed, name: 'opsweb' } });
      expect(r.status, r.raw.toString()).toBe(200);
      expect(r.json).toMatchObject({ name: 'OpsWeb', updated: true }); // stored under its existing spelling
      const now = ((await admin('GET', '/templates/OpsWeb')).json as unknown as { template: Template }).template;
      expect(now.enrollment.pendAllRequests).toBe(true);
      const ev = (await events('template.updated')).find((e) => e.template === 'OpsWeb');
      expect(ev?.actor).toBe('erin');
      expect((ev?.details as { changed: string[] }).changed.sort()).toEqual(['enrollment', 'minorRevision']);

      expect((await api('POST', '/templates/OpsWeb/disable', { token: tokens.manager })).status).toBe(403);
      expect((await admin('POST', '/templates/OpsWeb/disable')).json).toEqual({ name: 'OpsWeb', enabled: false });
      expect(await offered()).not.toContain('OpsWeb');
      expect(['denied', 'fault']).toContain((await submit('OpsWeb')).disposition);
      expect((await admin('POST', '/templates/OpsWeb/enable')).json).toEqual({ name: 'OpsWeb', enabled: true });
      expect(await offered()).toContain('OpsWeb');
      expect((await events('template.disabled')).some((e) => e.template === 'OpsWeb' && e.actor === 'erin')).toBe(true);
      expect((await events('template.enabled')).some((e) => e.template === 'OpsWeb' && e.actor === 'erin')).toBe(true);
      expect((await admin('POST', '/templates/NoSuch/enable')).status).toBe(404);
    });

    it('DELETE refuses while requests for the template are pending (409), then deletes once they are resolved', async () => {
      const pending = await submit('OpsWeb');
      expect(pending.disposition).toBe('pending');
      const refused = await admin('DELETE', '/templates/OpsWeb');
      expect(refused.status).toBe(409);
      expect(refused.json?.detail).toMatch(/pending request.*disable the template instead/);
      expect((await api('POST', `/requests/${pending.requestId}/deny`, { token: tokens.manager, body: { reason: 'template retired' } })).status).toBe(200);
      expect((await api('DELETE', '/templates/OpsWeb', { token: tokens.manager })).status).toBe(403);
      const gone = await admin('DELETE', '/templates/OpsWeb');
      expect(gone.status, gone.raw.toString()).toBe(200);
      expect(await offered()).not.toContain('OpsWeb');
      expect((await admin('GET', '/templates/OpsWeb')).status).toBe(404);
      expect((await admin('DELETE', '/templates/OpsWeb')).status).toBe(404);
      expect((await events('template.deleted')).find((e) => e.template === 'OpsWeb')?.actor).toBe('erin');
    });

    it('exports YAML (all or one) that imports back; import is all or nothing and a 400 names the line and field', async () => {
      const all = await api('GET', '/templates?format=yaml', { token: tokens.auditor });
      expect(all.status).toBe(200);
      expect(all.ct).toContain('application/yaml');
      const names = templatesFromYaml(all.raw.toString()).map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(['User', 'Machine', 'WebServer', 'WebServerApproval']));
      const one = await api('GET', '/templates/WebServer?format=yaml', { token: tokens.auditor });
      expect(String(one.headers['content-disposition'])).toBe('attachment; filename="WebServer.yaml"');
      const web = templatesFromYaml(one.raw.toString());
      expect(web).toHaveLength(1);

      const edited = one.raw.toString().replace(/displayName: .*/, 'displayName: Web Server (imported)');
      expect((await api('POST', '/templates/import', { token: tokens.manager, raw: edited, type: 'application/yaml' })).status).toBe(403);
      const asJson = await admin('POST', '/templates/import', { body: { yaml: edited } });
      expect([asJson.status, asJson.json?.field]).toEqual([400, 'header.content-type']);
      const ok = await admin('POST', '/templates/import', { raw: edited, type: 'application/yaml' });
      expect(ok.status, ok.raw.toString()).toBe(200);
      expect(ok.json).toEqual({ imported: ['WebServer'] });
      expect(((await admin('GET', '/templates/WebServer')).json as unknown as { template: Template }).template.displayName).toBe('Web Server (imported)');
      expect((await events('template.updated')).some((e) => e.template === 'WebServer' && e.reason === 'imported' && e.actor === 'erin')).toBe(true);

      // A second template with an unknown key deep inside: nothing is imported, the line is named.
      const second = `${edited.replace(/displayName: .*/, 'displayName: Broken').replace(/name: WebServer\n/, 'name: Broken\n').replace(/oid: .*/, 'oid: 1.2.3.4.5')}`;
      const lines = second.split('\n');
      const at = lines.findIndex((l) => /^\s+strict:/.test(l));
      lines.splice(at + 1, 0, '      sneaky: true');
      const bad = `${edited}${lines.slice(1).join('\n').replace(/^/, '')}`;
      const expectedLine = bad.split('\n').findIndex((l) => l.includes('sneaky')) + 1;
      const r = await admin('POST', '/templates/import', { raw: bad, type: 'application/yaml' });
      expect(r.status, r.raw.toString()).toBe(400);
      expect(r.json?.line).toBe(expectedLine);
      expect(r.json?.field).toBe('body.templates[1].subject.sneaky');
      expect(r.json?.detail).toContain(`line ${expectedLine}`);
      expect((await admin('GET', '/templates/Broken')).status).toBe(404);

      const notYaml = await admin('POST', '/templates/import', { raw: 'templates: [unclosed', type: 'application/yaml' });
      expect(notYaml.status).toBe(400);
      expect(notYaml.json?.line).toBe(1);
    });
  });

  describe('accounts', () => {
    it('create (password never returned or audited), sign in, disable/enable, set groups — ca-admin only', async () => {
      const password = 'Gl4cier-Pass-7781';
      expect((await api('POST', '/accounts', { token: tokens.manager, body: { name: 'bob', password } })).status).toBe(403);
      const r = await admin('POST', '/accounts', { body: { name: 'bob', password, groups: ['staff'], email: 'bob@example.test' } });
      expect(r.status, r.raw.toString()).toBe(201);
      expect(r.json).toEqual({ name: 'bob', groups: ['staff'], passwordSet: true });
      expect(r.raw.toString()).not.toContain(password);
      expect(await canSignIn('bob', password)).toBe(true);

      const list = await admin('GET', '/accounts');
      expect(list.headers['cache-control']).toBe('no-store');
      expect(list.raw.toString()).not.toContain(password);
      expect(list.raw.toString()).not.toMatch(/scrypt|hash/i);
      expect((list.json as unknown as { name: string }[]).map((a) => a.name)).toEqual(expect.arrayContaining(['alice', 'bob']));
      expect((await admin('GET', '/accounts/bob')).json).toMatchObject({ name: 'bob', groups: ['staff'], email: 'bob@example.test', disabled: false });
      expect((await api('GET', '/accounts', { token: tokens.auditor })).status).toBe(403);

      expect((await admin('POST', '/accounts/bob/disable')).json).toEqual({ name: 'bob', disabled: true });
      expect(await canSignIn('bob', password)).toBe(false);
      expect((await admin('POST', '/accounts/bob/enable')).json).toEqual({ name: 'bob', disabled: false });
      expect(await canSignIn('bob', password)).toBe(true);

      const g = await admin('PUT', '/accounts/bob/groups', { body: { groups: ['ops', 'staff', 'ops'] } });
      expect(g.json).toEqual({ name: 'bob', groups: ['ops', 'staff'] });
      expect(((await admin('GET', '/accounts/bob')).json as unknown as { groups: string[] }).groups).toEqual(['ops', 'staff']);

      expect((await admin('POST', '/accounts', { body: { name: 'bob' } })).status).toBe(409);
      expect((await admin('POST', '/accounts/nobody/disable')).status).toBe(404);
      expect((await admin('GET', '/accounts/nobody')).status).toBe(404);

      const audit = await api('GET', '/audit?limit=1000', { token: tokens.auditor });
      expect(audit.raw.toString()).not.toContain(password);
      const exported = (await runOperation(s.core, 'audit.export', {}, 'test')) as { jsonl: string };
      expect(exported.jsonl).not.toContain(password);
      for (const t of ['account.add', 'account.disable', 'account.enable', 'account.groups']) {
        expect((await events(t)).some((e) => e.principal === 'bob' && e.actor === 'erin'), t).toBe(true);
      }
      expect((await events('account.groups')).find((e) => e.principal === 'bob')?.details).toEqual({ before: ['staff'], after: ['ops', 'staff'] });
    });

    it('refuses bad account input with the field named', async () => {
      const cases: [unknown, string][] = [
        [{ name: 'x/../y', password: 'long-enough-1' }, 'body.name'],
        [{ name: 5 }, 'body.name'],
        [{ name: 'carl', password: 'short' }, 'body.password'],
        [{ name: 'carl', groups: ['ok', 'no;DROP TABLE accounts'] }, 'body.groups.1'],
        [{ name: 'carl', admin: true }, 'body.admin'],
        [{ name: 'carl', email: 'not-an-address' }, 'body.email'],
      ];
      for (const [body, field] of cases) {
        const r = await admin('POST', '/accounts', { body });
        expect([r.status, r.json?.field], JSON.stringify(body)).toEqual([400, field]);
      }
      const g = await admin('PUT', '/accounts/bob/groups', { body: { groups: 'ops' } });
      expect([g.status, g.json?.field]).toEqual([400, 'body.groups']);
      expect((await admin('GET', '/accounts/carl')).status).toBe(404);
    });
  });

  describe('partners', () => {
    const dir = tmp('partner-');
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'root.key'), '-out', join(dir, 'root.pem'), '-subj', '/CN=Acme Root', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'leaf.key'), '-out', join(dir, 'leaf.pem'), '-subj', '/CN=not a ca', '-days', '30', '-addext', 'basicConstraints=critical,CA:FALSE']);
    const rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');

    it('add, list, show (roots with fingerprints), remove — ca-admin only, audited', async () => {
      const body = { name: 'acme', rootsPem: rootPem, mapFrom: 'email', templates: ['WebServer'], crlUrls: ['http://127.0.0.1:9/acme.crl'], crlGraceHours: 2, crlCheck: 'chain' };
      expect((await api('POST', '/partners', { token: tokens.manager, body })).status).toBe(403);
      const r = await admin('POST', '/partners', { body });
      expect(r.status, r.raw.toString()).toBe(201);
      expect((await admin('POST', '/partners', { body })).status).toBe(409);
      expect(((await admin('GET', '/partners')).json as unknown as { name: string }[]).map((p) => p.name)).toEqual(['acme']);
      const shown = (await admin('GET', '/partners/acme')).json as unknown as { roots: { sha256: string; subject: string; pem: string }[]; templates: string[]; mapFrom: string };
      expect(shown.roots[0]!.sha256).toBe(new X509Certificate(rootPem).fingerprint256.replace(/:/g, '').toLowerCase());
      expect(shown.roots[0]!.subject).toBe('CN=Acme Root');
      expect(openssl(['x509', '-noout', '-subject'], shown.roots[0]!.pem)).toMatch(/Acme Root/);
      expect(shown).toMatchObject({ templates: ['WebServer'], mapFrom: 'email', crlUrls: ['http://127.0.0.1:9/acme.crl'], crlGraceHours: 2, crlCheck: 'chain', intermediates: [] });
      expect((await api('GET', '/partners', { token: tokens.auditor })).status).toBe(403);
      // A newer CRL of the partner root, made with openssl ca, loaded through the API.
      writeFileSync(join(dir, 'ca.cnf'), `[ca]\ndefault_ca = d\n[d]\ndatabase = ${join(dir, 'index.txt')}\ncrlnumber = ${join(dir, 'crlnumber')}\ndefault_md = sha256\ndefault_crl_days = 7\n`);
      writeFileSync(join(dir, 'index.txt'), '');
      writeFileSync(join(dir, 'crlnumber'), '01\n');
      openssl(['ca', '-gencrl', '-config', join(dir, 'ca.cnf'), '-keyfile', join(dir, 'root.key'), '-cert', join(dir, 'root.pem'), '-out', join(dir, 'root.crl')]);
      const crl = readFileSync(join(dir, 'root.crl')).toString('base64');
      expect((await api('POST', '/partners/acme/crls', { token: tokens.manager, body: { crls: [crl] } })).status).toBe(403);
      const loaded = await admin('POST', '/partners/acme/crls', { body: { crls: [crl] } });
      expect(loaded.status, loaded.raw.toString()).toBe(200);
      expect((loaded.json as unknown as { crls: { issuer: string }[] }).crls[0]!.issuer).toMatch(/Acme Root/);
      const listed = (await admin('GET', '/partners')).json as unknown as { crls: { source: string }[] }[];
      expect(listed[0]!.crls.length).toBeGreaterThanOrEqual(1);
      const forged = await admin('POST', '/partners/acme/crls', { body: { crls: [Buffer.from('-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n').toString('base64')] } });
      expect(forged.status).toBeGreaterThanOrEqual(400);
      expect(forged.status).toBeLessThan(500);
      expect((await admin('POST', '/partners/nosuch/crls', { body: { crls: [crl] } })).status).toBe(404);
      expect((await api('DELETE', '/partners/acme', { token: tokens.manager })).status).toBe(403);
      expect((await admin('DELETE', '/partners/acme')).json).toEqual({ name: 'acme', removed: true });
      expect((await admin('GET', '/partners/acme')).status).toBe(404);
      expect((await admin('DELETE', '/partners/acme')).status).toBe(404);
      for (const t of ['partner.add', 'partner.remove']) expect((await events(t)).some((e) => e.actor === 'erin' && (e.details as { partner?: string }).partner === 'acme'), t).toBe(true);
    });

    it('refuses roots that are not CA certificates or not PEM, and bad names, naming the field', async () => {
      const notCa = await admin('POST', '/partners', { body: { name: 'beta', rootsPem: readFileSync(join(dir, 'leaf.pem'), 'utf8') } });
      expect([notCa.status, notCa.json?.field]).toEqual([400, 'body.rootsPem']);
      expect(notCa.json?.detail).toMatch(/not a CA certificate/);
      const noPem = await admin('POST', '/partners', { body: { name: 'beta', rootsPem: 'hello' } });
      expect([noPem.status, noPem.json?.field]).toEqual([400, 'body.rootsPem']);
      const badName = await admin('POST', '/partners', { body: { name: 'Beta Corp', rootsPem: rootPem } });
      expect([badName.status, badName.json?.field]).toEqual([400, 'body.name']);
      const badMap = await admin('POST', '/partners', { body: { name: 'beta', rootsPem: rootPem, mapFrom: 'serial' } });
      expect([badMap.status, badMap.json?.field]).toEqual([400, 'body.mapFrom']);
      const badUrl = await admin('POST', '/partners', { body: { name: 'beta', rootsPem: rootPem, crlUrls: ['file:///etc/passwd'] } });
      expect([badUrl.status, badUrl.json?.field]).toEqual([400, 'body.crlUrls.0']);
      const badCrl = await admin('POST', '/partners', { body: { name: 'beta', rootsPem: rootPem, crls: ['not base64!'] } });
      expect([badCrl.status, badCrl.json?.field]).toEqual([400, 'body.crls.0']);
      expect((await admin('GET', '/partners/beta')).status).toBe(404);
    });
  });

  describe('hostile input never reaches a 500', () => {
    it('oversized JSON is 413; wrong types and unknown keys are 400 with the field; wrong media types are refused', async () => {
      const t = await webServerLike('Big', 903);
      const big = await admin('POST', '/templates', { body: { ...t, displayName: 'x'.repeat(70_000) } });
      expect(big.status).toBe(413);
      expect(big.ct).toContain('application/problem+json');
      const hugeYaml = await admin('POST', '/templates/import', { raw: `# ${'x'.repeat(1_100_000)}\n`, type: 'application/yaml' });
      expect(hugeYaml.status).toBe(413);
      expect((await admin('POST', '/templates', { raw: '[1,2,3]' })).status).toBe(400);
      expect((await admin('POST', '/templates', { raw: '"just a string"' })).status).toBe(400);
      expect((await admin('POST', '/templates', { raw: '{"name": ' })).json?.field).toBe('body');
      const wrong = await api('POST', '/crl/publish', { token: tokens.manager, body: { delta: 'true' } });
      expect([wrong.status, wrong.json?.field]).toEqual([400, 'body.delta']);
      expect((await api('GET', '/requests?offset=-1', { token: tokens.manager })).json?.field).toBe('query.offset');
      expect((await api('GET', '/certificates?revoked=maybe', { token: tokens.manager })).json?.field).toBe('query.revoked');
    });

    it('SQL meta characters in search fields are data, not SQL', async () => {
      const before = (await s.core.db.query<{ n: number }>('SELECT count(*)::int AS n FROM certificates')).rows[0]!.n;
      expect((await submit('WebServer')).disposition).toBe('issued');
      expect(((await api('GET', '/certificates?search=ops.example', { token: tokens.manager })).json as unknown[]).length).toBe(1);
      const sql = ["' OR '1'='1", "x'; DROP TABLE certificates; --", '%', '_', '\\', 'a" OR ""="'];
      for (const q of sql) {
        for (const path of [`/certificates?search=${encodeURIComponent(q)}`, `/certificates?requester=${encodeURIComponent(q)}`, `/requests?requester=${encodeURIComponent(q)}`, `/requests?template=${encodeURIComponent(q)}`]) {
          const r = await api('GET', path, { token: tokens.manager });
          expect([r.status, r.json], path).toEqual([200, []]);
        }
        const a = await api('GET', `/audit?principal=${encodeURIComponent(q)}`, { token: tokens.auditor });
        expect([a.status, a.json], q).toEqual([200, []]);
      }
      // The tables are still there and still answer.
      expect((await api('GET', '/certificates', { token: tokens.manager })).status).toBe(200);
      expect((await s.core.db.query<{ n: number }>('SELECT count(*)::int AS n FROM certificates')).rows[0]!.n).toBe(before + 1);
      expect(((await api('GET', '/certificates', { token: tokens.manager })).json as unknown[]).length).toBe(before + 1);
    });

    it('path traversal and odd names in path parameters are 400 naming path.name (or 404), never a file', async () => {
      for (const p of ['/templates/..%2F..%2Fsecrets%2Fissuing_ca.key', "/templates/x';DROP TABLE templates;--", '/partners/..%2Fetc', '/partners/ACME', '/accounts/..%2F..%2Fetc%2Fpasswd', '/accounts/a%00b']) {
        const r = await admin('GET', p);
        expect([r.status, r.json?.field], p).toEqual([400, 'path.name']);
      }
      for (const p of ['/templates/..%2Fx/disable', '/accounts/..%2Fx/disable']) expect((await admin('POST', p)).status, p).toBe(400);
      expect((await admin('DELETE', '/templates/%2e%2e%2f%2e%2e')).status).toBe(400);
      // The URL parser resolves dot segments (also %2e%2e) before they are sent: no route, never a file.
      for (const p of ['/templates/..', '/templates/%2e%2e', '/templates/%2e%2e/%2e%2e/secrets']) expect((await admin('GET', p)).status, p).toBe(404);
      expect((await admin('GET', '/../../etc/passwd')).status).toBe(404);
    });
  });
});
