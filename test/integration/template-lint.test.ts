import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, openssl, tmp, writeTmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseRstrResponse, type RstrResult } from '../../src/protocol/wstep/index.js';
import { buildPkiData } from '../../src/protocol/cmc/index.js';
import { templatesToYaml } from '../../src/policy/template-yaml.js';
import { listTemplates, getTemplate } from '../../src/store/template-repo.js';
import type { Template } from '../../src/policy/template.js';

const CLI = join(__dirname, '../../src/cli/main.ts');

function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, OPENCES_LOG_LEVEL: 'silent' } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => resolve({ code: code ?? 1, out, err }));
    p.stdin.end('');
  });
}

/** Template safety lint on every way a template is written, and ESC6: request attributes never add a SAN. */
describe('template safety lint: CLI, import, admin API; request attributes add no names', () => {
  let s: TestServer;
  let agent: Agent;
  let token: string;
  let web: Template;
  let esc1: Template;
  beforeAll(async () => {
    s = await startTestServer();
    agent = new Agent({ connect: { ca: s.rootPem } });
    await runOperation(s.core, 'user.add', { name: 'erin' }, 'test'); // token create --for names an existing principal
    token = ((await runOperation(s.core, 'token.create', { role: 'ca-admin', principal: 'erin' }, 'test')) as { token: string }).token;
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret', email: 'alice@example.test' }, 'test');
    web = (await listTemplates(s.core.db)).find((t) => t.name === 'WebServer')!;
    // ESC1: enrollee-supplied subject and UPN SANs, client authentication, no approval, every authenticated user.
    esc1 = { ...structuredClone(web), name: 'Esc1', displayName: 'ESC1 shape', oid: `${web.oid}.301` };
    esc1.extensions.ekus = ['1.3.6.1.5.5.7.3.2'];
    esc1.subject.allowedSanTypes = ['dns', 'upn'];
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });
  const dd = () => ['--data-dir', s.dataDir];
  const api = async (method: 'GET' | 'POST' | 'PUT', path: string, body?: string, contentType = 'application/json') => {
    const r = await request(`${s.url}/api/v1${path}`, { method, dispatcher: agent, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': contentType } : {}) }, ...(body !== undefined ? { body } : {}) });
    return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
  };

  it('opences template lint passes the default templates and names the finding, reason and fix in a file', async () => {
    const all = await cli(['template', 'lint', ...dd()]);
    expect(all.code, all.err).toBe(0);
    expect(all.out).toMatch(/no findings in .*WebServer/);
    const one = await cli(['template', 'lint', 'WebServer', ...dd()]);
    expect(one.code, one.err).toBe(0);
    const file = writeTmp(tmp(), 'esc1.yaml', templatesToYaml([esc1]));
    const r = await cli(['template', 'lint', file, ...dd()]);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/Esc1: ESC1: the enrollee supplies the subject/);
    expect(r.out).toMatch(/fix: /);
  });

  it('refuses an unsafe import without --accept-risk; with it, stores the template and audits the accepted risk', async () => {
    const file = writeTmp(tmp(), 'esc1.yaml', templatesToYaml([esc1]));
    const refused = await cli(['template', 'import', file, ...dd()]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/template Esc1 is unsafe/);
    expect(refused.err).toMatch(/--accept-risk ESC1/);
    expect(await getTemplate(s.core.db, 'Esc1')).toBeNull();
    const denied = (await s.core.audit.list({ type: 'template.lint' })).find((e) => e.template === 'Esc1');
    expect(denied).toMatchObject({ outcome: 'denied' });
    // Accepting another risk does not cover this one.
    expect((await cli(['template', 'import', file, '--accept-risk', 'ESC2', ...dd()])).code).toBe(1);
    const ok = await cli(['template', 'import', file, '--accept-risk', 'ESC1', ...dd()]);
    expect(ok.code, ok.err).toBe(0);
    expect(await getTemplate(s.core.db, 'Esc1')).not.toBeNull();
    const ev = (await s.core.audit.list({ type: 'template.created' })).find((e) => e.template === 'Esc1');
    expect(ev?.details).toMatchObject({ acceptedRisks: ['ESC1'] });
  });

  it('the admin API lints, and refuses unsafe writes (create, replace, import) unless acceptRisk names the finding', async () => {
    const lint = await api('GET', '/templates/WebServer/lint');
    expect(lint).toMatchObject({ status: 200, json: { findings: [] } });
    const body = await api('POST', '/templates/lint', templatesToYaml([{ ...esc1, name: 'Esc1b', oid: `${web.oid}.302` }]), 'application/yaml');
    expect(body.status).toBe(200);
    expect((body.json.findings as { id: string }[]).map((f) => f.id)).toEqual(['ESC1']);

    const esc2 = { ...structuredClone(web), name: 'Esc2', displayName: 'ESC2 shape', oid: `${web.oid}.303` };
    esc2.extensions.ekus = ['2.5.29.37.0'];
    esc2.subject.enrolleeSupplies = false;
    const created = await api('POST', '/templates', JSON.stringify(esc2));
    expect(created.status).toBe(409);
    expect(String(created.json.detail)).toMatch(/ESC2/);
    expect((await api('POST', '/templates?acceptRisk=ESC2', JSON.stringify(esc2))).status).toBe(201);

    // Making the safe WebServer unsafe through PUT is refused the same way.
    const unsafeWeb = { ...structuredClone(web), extensions: { ...web.extensions, ekus: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'] } };
    expect((await api('PUT', '/templates/WebServer', JSON.stringify(unsafeWeb))).status).toBe(409);
    expect((await getTemplate(s.core.db, 'WebServer'))!.extensions.ekus).toEqual(['1.3.6.1.5.5.7.3.1']);
    const imp = await api('POST', '/templates/import', templatesToYaml([{ ...esc1, name: 'Esc1c', oid: `${web.oid}.304` }]), 'application/yaml');
    expect(imp.status).toBe(409);
    expect((await api('POST', '/templates/import?acceptRisk=ESC1', templatesToYaml([{ ...esc1, name: 'Esc1c', oid: `${web.oid}.304` }]), 'application/yaml')).status).toBe(200);
  });

  it('ESC6: SAN request attributes (CMC name-value pair, AdditionalContext) never add a name', async () => {
    const url = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const csr = makeCsr({ key: 'ec:P-256', subject: 'CN=alice' });
    // EDITF_ATTRIBUTESUBJECTALTNAME2's attribute form: san:upn=…&dns=…
    const cmc = buildPkiData({ csrDer: csr.csrDer, nameValuePairs: { CertificateTemplate: 'User', SAN: 'upn=administrator@example.test&dns=dc.example.test' } });
    const xml = buildRstRequest({
      to: url,
      securityHeaderXml: usernameHeader({ username: 'alice', password: 'S3cret' }),
      requestType: 'issue',
      token: { valueType: 'cmc', der: cmc },
      additionalContext: [{ name: 'SAN', value: 'upn=administrator@example.test&dns=dc.example.test' }, { name: 'san', value: 'url=tag:microsoft.com,2022-09-14:sid:S-1-5-21-1-2-3-500' }],
    });
    const r = await postSoap(url, xml, agent);
    expect(r.status, r.body).toBe(200);
    const out = parseRstrResponse(r.env as never) as Extract<RstrResult, { disposition: 'issued' }>;
    expect(out.disposition).toBe('issued');
    const text = openssl(['x509', '-inform', 'DER', '-noout', '-text'], Buffer.from(out.certificateDer));
    expect(text).not.toMatch(/administrator/i);
    expect(text).not.toMatch(/dc\.example\.test/);
    expect(text).not.toMatch(/sid:/);
    expect(text).not.toContain('1.3.6.1.4.1.311.25.2');
    expect(text).toMatch(/alice/);
  });
});
