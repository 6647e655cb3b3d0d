import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Agent, request } from 'undici';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/app/serve.js';
import { runOperation } from '../../src/ops/operations.js';
import { freshTestDb, urlWithSchema, type TestDb } from '../helpers/db.js';
import { freePort } from '../helpers/server.js';
import { tmp } from '../helpers/openssl.js';

/** Every log line of a real server at trace level, kept in memory. */
describe('admin API: secrets never reach the log', () => {
  const lines: string[] = [];
  let s: RunningServer;
  let db: TestDb;
  let agent: Agent;
  let dataDir: string;
  let adminToken: string;
  beforeAll(async () => {
    db = await freshTestDb();
    dataDir = tmp('opences-logs-');
    const config = loadConfig({ env: {}, flags: { dataDir, port: await freePort(), pkiPort: await freePort(), host: '127.0.0.1', hostname: 'localhost', databaseUrl: urlWithSchema(db.schema), databaseAllowExcessPrivileges: true } });
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    s = await startServer(config, { log: pino({ level: 'trace' }, sink) });
    agent = new Agent({ connect: { ca: readFileSync(join(dataDir, 'certs', 'root_ca.crt'), 'utf8') } });
    await runOperation(s.core, 'user.add', { name: 'erin' }, 'test').catch(() => undefined); // token create --for names an existing principal
    adminToken = ((await runOperation(s.core, 'token.create', { role: 'ca-admin', principal: 'erin' }, 'test')) as { token: string }).token;
  });
  afterAll(async () => {
    await agent?.close();
    await s?.close();
    await db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('account passwords and API tokens (good or bad) appear in no log line', async () => {
    const password = 'Unl0ggable-Secret-9931';
    const post = async (path: string, body: unknown, token: string) => {
      const r = await request(`${s.url}/api/v1${path}`, { method: 'POST', dispatcher: agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.statusCode, text: await r.body.text() };
    };
    const created = await post('/accounts', { name: 'gina', password, groups: ['ops'] }, adminToken);
    expect(created.status, created.text).toBe(201);
    expect(created.text).not.toContain(password);
    const badToken = `oc_${'a'.repeat(12)}_${'S'.repeat(43)}`;
    expect((await post('/accounts', { name: 'hank', password }, badToken)).status).toBe(401);
    expect((await post('/accounts', { name: 'x/y', password }, adminToken)).status).toBe(400);
    expect(lines.length).toBeGreaterThan(0); // the server did log (start-up at least)
    const all = lines.join('');
    expect(all).toContain('opences is serving');
    // The token's secret part is all after `oc_<id>_` (base64url: it may hold '_' itself).
    const tokenSecret = adminToken.slice(`oc_${adminToken.split('_')[1]}_`.length);
    expect(tokenSecret).toHaveLength(43);
    for (const secret of [password, adminToken, tokenSecret, badToken]) expect(all).not.toContain(secret);
  });
});
