import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { runOperation } from '../../src/ops/operations.js';
import { templatesToYaml } from '../../src/policy/template-yaml.js';
import { getTemplate } from '../../src/store/template-repo.js';
import { insertRequest } from '../../src/store/request-repo.js';

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

/** The CLI verbs added with the admin API go through the same operations (here: the control socket of a running server). */
describe('operator CLI: user enable|groups, template delete — same operations as the API', () => {
  let s: TestServer;
  let agent: Agent;
  let token: string;
  beforeAll(async () => {
    s = await startTestServer();
    agent = new Agent({ connect: { ca: s.rootPem } });
    await runOperation(s.core, 'user.add', { name: 'erin' }, 'test').catch(() => undefined); // token create --for names an existing principal
    token = ((await runOperation(s.core, 'token.create', { role: 'ca-admin', principal: 'erin' }, 'test')) as { token: string }).token;
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });
  const dd = () => ['--data-dir', s.dataDir];
  const apiGet = async (path: string) => {
    const r = await request(`${s.url}/api/v1${path}`, { dispatcher: agent, headers: { authorization: `Bearer ${token}` } });
    return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
  };

  it('user enable and user groups change what the API shows, audited with the operator as actor', async () => {
    await runOperation(s.core, 'user.add', { name: 'frank', groups: ['staff'] }, 'test');
    expect((await cli(['user', 'disable', 'frank', ...dd()])).code).toBe(0);
    expect((await apiGet('/accounts/frank')).json).toMatchObject({ disabled: true });
    const en = await cli(['user', 'enable', 'frank', ...dd()]);
    expect(en.code, en.err).toBe(0);
    expect(en.out).toContain('account frank enabled');
    expect((await apiGet('/accounts/frank')).json).toMatchObject({ disabled: false });
    const g = await cli(['user', 'groups', 'frank', '--group', 'ops', '--group', 'pki', ...dd()]);
    expect(g.code, g.err).toBe(0);
    expect((await apiGet('/accounts/frank')).json).toMatchObject({ groups: ['ops', 'pki'] });
    const bad = await cli(['user', 'groups', 'frank', '--group', 'x;y', ...dd()]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/groups\.0/);
    const ev = (await s.core.audit.list({ type: 'account.groups' })).find((e) => e.principal === 'frank');
    expect(ev?.actor).toMatch(/^local:/);
  });

  it('template delete refuses while a request for the template is pending, then deletes', async () => {
    const web = (await getTemplate(s.core.db, 'WebServerApproval'))!;
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([{ ...web, name: 'Retiring', displayName: 'Retiring', oid: `${web.oid}.7` }]) }, 'test');
    const id = await insertRequest(s.core.db, { status: 'pending', requester: 'alice', authMethod: 'username', template: 'Retiring', requestFormat: 'pkcs10', rawRequest: new Uint8Array([1]), disposition: 5, dispositionMessage: 'Taken under submission', submittedAt: new Date() });
    const refused = await cli(['template', 'delete', 'Retiring', ...dd()]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/pending request/);
    expect((await getTemplate(s.core.db, 'Retiring'))).not.toBeNull();
    await runOperation(s.core, 'request.deny', { id, reason: 'retired' }, 'carol');
    const ok = await cli(['template', 'delete', 'Retiring', ...dd()]);
    expect(ok.code, ok.err).toBe(0);
    expect((await apiGet('/templates/Retiring')).status).toBe(404);
  });
});
