import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Agent, request } from 'undici';
import { loadConfig, type Config } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/app/serve.js';
import { createCore, type CoreWithPki } from '../../src/app/core.js';
import { createLogger } from '../../src/log.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { buildGetPoliciesRequest } from '../../src/protocol/xcep/index.js';
import { buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { freshTestDb, urlWithSchema, type TestDb } from '../helpers/db.js';
import { freePort } from '../helpers/server.js';
import { makeCsr, tmp } from '../helpers/openssl.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { runCli } from '../helpers/cli.js';
import { until } from '../helpers/wait.js';

/**
 * `opences user passwd` and POST /api/v1/accounts/{name}/password against a real server on the real
 * PostgreSQL, every log line kept (trace level): the old password stops working at once — also
 * right after it signed in (the credential cache), also on another process on the database — the
 * new one works, and no password reaches a log line, an answer or the audit log.
 */
describe('setting a local account password (CLI and admin API)', () => {
  const lines: string[] = [];
  let s: RunningServer;
  let config: Config;
  let other: CoreWithPki;
  let db: TestDb;
  let agent: Agent;
  let dataDir: string;
  const tokens: Record<string, string> = {};
  const secrets: string[] = [];
  const secret = (label: string): string => {
    const p = `${label}-${randomBytes(9).toString('base64url')}`;
    secrets.push(p);
    return p;
  };

  beforeAll(async () => {
    db = await freshTestDb();
    dataDir = tmp('opences-passwd-');
    config = loadConfig({ env: {}, flags: { dataDir, port: await freePort(), pkiPort: await freePort(), host: '127.0.0.1', hostname: 'localhost', databaseUrl: urlWithSchema(db.schema), databaseAllowExcessPrivileges: true } });
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    s = await startServer(config, { log: pino({ level: 'trace' }, sink) });
    // A second process on the same database (another worker or node): its cache must forget too.
    other = await createCore(config, { log: createLogger('silent') });
    agent = new Agent({ connect: { ca: readFileSync(join(dataDir, 'certs', 'root_ca.crt'), 'utf8') } });
    for (const [k, role, who] of [['admin', 'ca-admin', 'erin'], ['manager', 'cert-manager', 'carol'], ['auditor', 'auditor', 'dave']] as const) {
      await runOperation(s.core, 'user.add', { name: who }, 'test').catch(() => undefined); // token create --for names an existing principal
      tokens[k] = ((await runOperation(s.core, 'token.create', { role, principal: who }, 'test')) as { token: string }).token;
    }
  });
  afterAll(async () => {
    await agent?.close();
    await other?.close();
    await s?.close();
    await db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const api = async (path: string, o: { token?: string; body?: unknown; raw?: string } = {}) => {
    const r = await request(`${s.url}/api/v1${path}`, {
      method: 'POST',
      dispatcher: agent,
      headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(o.body !== undefined || o.raw !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: o.raw ?? (o.body !== undefined ? JSON.stringify(o.body) : undefined),
    });
    const text = await r.body.text();
    return { status: r.statusCode, text, headers: r.headers, json: text && String(r.headers['content-type'] ?? '').includes('json') ? (JSON.parse(text) as Record<string, unknown>) : null };
  };
  const setPassword = (name: string, body: unknown, token = tokens.admin) => api(`/accounts/${encodeURIComponent(name)}/password`, { token, body });

  /** GetPolicies through the real CEP endpoint: 'ok', or the SOAP fault's reason. */
  async function getPolicies(user: string, password: string): Promise<string> {
    const url = `${s.url}${cepPath('UsernamePassword')}`;
    const r = await postSoap(url, buildGetPoliciesRequest({ to: url, securityHeaderXml: usernameHeader({ username: user, password }) }), agent);
    if (r.status === 200) return 'ok';
    expect(r.status, r.body).toBe(500);
    const f = parseFault(r.env!);
    expect(f, r.body).not.toBeNull();
    return f!.reason;
  }
  /** An enrollment through the real CES endpoint: 'issued'/'pending', or the SOAP fault's reason. */
  async function enroll(user: string, password: string): Promise<string> {
    const csr = makeCsr({ subject: 'CN=pw.example.test', sans: ['DNS:pw.example.test'], templateName: 'WebServer' });
    const url = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const r = await postSoap(url, buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: user, password }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
    if (r.status === 200) return parseRstrResponse(r.env!).disposition;
    expect(r.status, r.body).toBe(500);
    const f = parseFault(r.env!);
    expect(f, r.body).not.toBeNull();
    return f!.reason;
  }
  /** Sign-in on the other process (its own credential cache). */
  const otherSignIn = (user: string, password: string): Promise<boolean> =>
    other.usernameAuth.authenticate({ username: user, password, nonce: randomBytes(16), created: new Date(), messageId: `urn:uuid:${randomBytes(8).toString('hex')}` }, { address: '192.0.2.77' }).then(() => true, () => false);
  const within = (ms: number, check: () => Promise<boolean>): Promise<boolean> => until(ms, check, 20);
  const events = async (type: string) => s.core.audit.list({ type, limit: 1000 });

  it('API: 204, then the old password fails (also right after it signed in, also on another process) and the new one works', async () => {
    const old = secret('Old-pass');
    const fresh = secret('New-pass');
    await runOperation(s.core, 'user.add', { name: 'pat', password: old, groups: ['staff'] }, 'test');
    // Signed in with the old password just now: the server and the other process both cache it.
    expect(await getPolicies('pat', old)).toBe('ok');
    expect(await enroll('pat', old)).toBe('issued');
    expect(await otherSignIn('pat', old)).toBe(true);

    const r = await setPassword('pat', { password: fresh });
    expect(r.status, r.text).toBe(204);
    expect(r.text).toBe('');
    expect(r.headers['cache-control']).toBe('no-store');

    expect(await getPolicies('pat', old)).toBe('authentication failed');
    expect(await enroll('pat', old)).toBe('authentication failed');
    expect(await getPolicies('pat', fresh)).toBe('ok');
    expect(await enroll('pat', fresh)).toBe('issued');
    // The other process hears of it through the database (NOTIFY), not when its cache expires.
    expect(await within(10_000, async () => !(await otherSignIn('pat', old)))).toBe(true);
    expect(await otherSignIn('pat', fresh)).toBe(true);
    // The account is otherwise unchanged.
    expect(await runOperation(s.core, 'user.show', { name: 'pat' }, 'test')).toMatchObject({ name: 'pat', groups: ['staff'], disabled: false });

    const ev = (await events('account.password')).filter((e) => e.principal === 'pat');
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ actor: 'erin', outcome: 'success' });
    expect(JSON.stringify(ev[0])).not.toContain(fresh);
  });

  it('API: the other account-changing roles apply (ca-admin only); 404 for an unknown account; 400 for a weak or malformed password', async () => {
    const old = secret('Keep-pass');
    await runOperation(s.core, 'user.add', { name: 'quentin', password: old }, 'test');
    const attempt = secret('Nope-pass');
    expect((await setPassword('quentin', { password: attempt }, tokens.manager)).status).toBe(403);
    expect((await setPassword('quentin', { password: attempt }, tokens.auditor)).status).toBe(403);
    const anon = await api('/accounts/quentin/password', { body: { password: attempt } });
    expect(anon.status).toBe(401);

    const unknown = await setPassword('nobody', { password: attempt });
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ status: 404, detail: 'no account nobody' });

    const weak = 'Ab1!x';
    secrets.push(weak);
    const cases: [string, unknown, string][] = [
      ['too short', { password: weak }, 'body.password'],
      ['too long', { password: 'x'.repeat(1025) }, 'body.password'],
      ['not a string', { password: 12345678 }, 'body.password'],
      ['missing', { pass: attempt }, 'body.password'],
      ['empty body', {}, 'body'],
    ];
    for (const [what, body, field] of cases) {
      const r = await setPassword('quentin', body);
      expect(r.status, `${what}: ${r.text}`).toBe(400);
      expect(r.headers['content-type']).toContain('application/problem+json');
      expect(r.json?.field, what).toBe(field);
      expect(r.text).not.toContain(weak);
      expect(r.text).not.toContain(attempt);
    }
    const notJson = await api('/accounts/quentin/password', { token: tokens.admin, raw: `{"password": "${attempt}"` });
    expect(notJson.status).toBe(400);
    expect(notJson.text).not.toContain(attempt);
    const badName = await setPassword('x:y', { password: attempt });
    expect(badName.status).toBe(400);
    expect(badName.json?.field).toBe('path.name');

    // Nothing changed: the old password still works, the refused ones never did.
    expect(await getPolicies('quentin', old)).toBe('ok');
    expect(await getPolicies('quentin', attempt)).toBe('authentication failed');
    expect((await events('account.password')).some((e) => e.principal === 'quentin' || e.principal === 'nobody')).toBe(false);
  });

  it('CLI: user passwd --password-stdin (through the running server), refusals exit 1', async () => {
    const old = secret('Cli-old');
    const fresh = secret('Cli-new');
    await runOperation(s.core, 'user.add', { name: 'rosa', password: old }, 'test');
    const dd = ['--data-dir', dataDir];
    expect(await getPolicies('rosa', old)).toBe('ok');
    expect(await otherSignIn('rosa', old)).toBe(true);

    const r = await runCli(['user', 'passwd', 'rosa', '--password-stdin', ...dd], { input: `${fresh}\n` });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('password of account rosa changed');
    expect(r.out + r.err).not.toContain(fresh);

    expect(await getPolicies('rosa', old)).toBe('authentication failed');
    expect(await enroll('rosa', old)).toBe('authentication failed');
    expect(await getPolicies('rosa', fresh)).toBe('ok');
    expect(await enroll('rosa', fresh)).toBe('issued');
    expect(await within(10_000, async () => !(await otherSignIn('rosa', old)))).toBe(true);
    expect(await otherSignIn('rosa', fresh)).toBe(true);

    const ev = (await events('account.password')).filter((e) => e.principal === 'rosa');
    expect(ev).toHaveLength(1);
    expect(ev[0]!.actor).toMatch(/^local:/);

    const attempt = secret('Cli-nope');
    const unknown = await runCli(['user', 'passwd', 'nobody', '--password-stdin', ...dd], { input: `${attempt}\n` });
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('no account nobody');

    // Without --password-stdin: refused at once with a clear message, never a prompt.
    const noFlag = await runCli(['user', 'passwd', 'rosa', ...dd], { input: `${attempt}\n` });
    expect(noFlag.code).toBe(1);
    expect(noFlag.err).toContain('--password-stdin is required');

    const empty = await runCli(['user', 'passwd', 'rosa', '--password-stdin', ...dd], { input: '\n' });
    expect(empty.code).toBe(1);
    expect(empty.err).toContain('no password on standard input');

    const tooLong = await runCli(['user', 'passwd', 'rosa', '--password-stdin', ...dd], { input: `${'y'.repeat(1025)}\n` });
    expect(tooLong.code).toBe(1);
    expect(tooLong.err).toMatch(/password: must be at most 1024 characters/);
    expect(tooLong.err).not.toContain('y'.repeat(100));

    expect(await getPolicies('rosa', fresh)).toBe('ok');
    expect((await events('account.password')).filter((e) => e.principal === 'rosa')).toHaveLength(1);

    const help = await runCli(['user', 'passwd', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('--password-stdin');
    expect(help.out).toMatch(/set a local account's password/);
  }, 180_000); // seven `opences` processes, each compiling the CLI with tsx: minutes on a loaded two-core machine

  it('no password appears in a log line, the audit log or its export', async () => {
    expect(secrets.length).toBeGreaterThan(5);
    expect(lines.length).toBeGreaterThan(0);
    const all = lines.join('');
    expect(all).toContain('opences is serving');
    const audit = await request(`${s.url}/api/v1/audit?limit=1000`, { dispatcher: agent, headers: { authorization: `Bearer ${tokens.auditor}` } });
    const auditText = await audit.body.text();
    expect(audit.statusCode).toBe(200);
    expect(auditText).toContain('account.password');
    const exported = ((await runOperation(s.core, 'audit.export', {}, 'test')) as { jsonl: string }).jsonl;
    for (const p of secrets) {
      expect(all, 'log').not.toContain(p);
      expect(auditText, 'audit').not.toContain(p);
      expect(exported, 'audit export').not.toContain(p);
    }
    for (const t of Object.values(tokens)) expect(all).not.toContain(t);
  });
});
