import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { runOperation } from '../../src/ops/operations.js';

/** Issue #15 item 5: hostile YAML and JSON bodies to the admin API get 400/413 problem+json, never 500. */
describe('admin API body limits', () => {
  let s: TestServer;
  let agent: Agent;
  let token: string;
  beforeAll(async () => {
    s = await startTestServer();
    agent = new Agent({ connect: { ca: s.rootPem } });
    await runOperation(s.core, 'user.add', { name: 'erin', password: 'Erin-pass-1' }, 'test');
    token = ((await runOperation(s.core, 'token.create', { role: 'ca-admin', principal: 'erin' }, 'test')) as { token: string }).token;
  }, 120_000);
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const post = async (path: string, body: string, type: string) => {
    const r = await request(`${s.url}/api/v1${path}`, { method: 'POST', dispatcher: agent, headers: { authorization: `Bearer ${token}`, 'content-type': type }, body });
    const text = await r.body.text();
    return { status: r.statusCode, type: String(r.headers['content-type']), problem: JSON.parse(text) as { status: number; type: string; detail?: string } };
  };

  it('answers a YAML alias bomb ("billion laughs") to POST /templates/import with 400 problem+json', async () => {
    const levels = 'abcdefghi'.split('');
    const bomb = [`a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]`, ...levels.slice(1).map((l, i) => `${l}: &${l} [${Array(9).fill(`*${levels[i]}`).join(',')}]`), 'templates: *i'].join('\n');
    const r = await post('/templates/import', bomb, 'application/yaml');
    expect(r.status, r.problem.detail).toBe(400);
    expect(r.type).toContain('application/problem+json');
    expect(r.problem).toMatchObject({ status: 400, type: 'https://opences.dev/problems/malformed' });
    expect(r.problem.detail).toMatch(/Excessive alias count/);
  });

  it('answers deeply nested YAML (flow and block) with 400 and an oversized document with 413', async () => {
    const flow = await post('/templates/import', `templates: ${'['.repeat(20_000)}${']'.repeat(20_000)}`, 'application/yaml');
    expect([flow.status, flow.problem.detail]).toEqual([400, 'the YAML nests flow collections 20000 deep; at most 64 are accepted']);
    const block = await post('/templates/import', Array.from({ length: 400 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' 1', 'application/yaml');
    expect(block.status, block.problem.detail).toBe(400);
    expect(block.problem.detail).toMatch(/nested deeper than 128 columns/);
    const big = await post('/templates/import', `templates:\n${'  - name: x\n'.repeat(30_000)}`, 'application/yaml');
    expect([big.status, big.problem.status]).toEqual([413, 413]);
  });

  it('answers a deeply nested JSON body with 400 problem+json before parsing it', async () => {
    const r = await post('/accounts', `{"name": ${'['.repeat(20_000)}${']'.repeat(20_000)}}`, 'application/json');
    expect(r.status).toBe(400);
    expect(r.type).toContain('application/problem+json');
    expect(r.problem).toMatchObject({ status: 400, detail: 'the JSON body nests deeper than 32 levels' });
    // A body nested as deep as allowed is read (and then judged on its content).
    const ok = await post('/accounts', `{"name": ${'['.repeat(30)}${']'.repeat(30)}}`, 'application/json');
    expect(ok.status).toBe(400);
    expect(ok.problem.detail).not.toMatch(/nests deeper/);
  });
});
