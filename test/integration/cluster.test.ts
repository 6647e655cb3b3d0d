import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import { freshTestDb, urlWithSchema, type TestDb } from '../helpers/db.js';
import { freePort } from '../helpers/server.js';
import { until } from '../helpers/wait.js';
import { tmp, makeCsr } from '../helpers/openssl.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { buildGetPoliciesRequest } from '../../src/protocol/xcep/index.js';
import { buildRstRequest, parseRstrResponse } from '../../src/protocol/wstep/index.js';

const CLI = join(__dirname, '../../src/cli/main.ts');
/** The primary's node children (tsx adds an esbuild helper process, which is not a worker). */
const children = (pid: number): number[] => {
  try {
    return execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((x) => x.trim().split(/\s+/))
      .filter(([, comm]) => comm === 'node')
      .map(([pid]) => Number(pid));
  } catch {
    return []; // ps exits 1 when there are none
  }
};

/** `opences serve --workers 2` on PostgreSQL: HTTP workers on both cores behind one port. */
describe('serve with HTTP workers (node:cluster)', () => {
  let db: TestDb;
  let dataDir: string;
  let p: ChildProcess;
  let out = '';
  let url = '';
  let rootPem = '';
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, DATABASE_URL: urlWithSchema(db.schema), OPENCES_LOG_LEVEL: 'info' });
  const cli = (args: string[], input = ''): string => execFileSync(process.execPath, ['--import', 'tsx', CLI, ...args, '--data-dir', dataDir], { env: { ...env(), OPENCES_LOG_LEVEL: 'silent' }, input, encoding: 'utf8' });

  beforeAll(async () => {
    db = await freshTestDb();
    dataDir = tmp('opences-cluster-');
    const port = await freePort();
    p = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--workers', '2', '--data-dir', dataDir, '--port', String(port), '--pki-port', String(await freePort()), '--host', '127.0.0.1', '--hostname', 'localhost'], { env: env() });
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    expect(await until(90_000, () => out.includes('opences is serving')), out).toBe(true);
    url = `https://localhost:${port}`;
    rootPem = readFileSync(join(dataDir, 'certs', 'root_ca.crt'), 'utf8');
    cli(['user', 'add', 'alice', '--password-stdin'], 'Al1ce-pass\n');
  }, 120_000);
  afterAll(async () => {
    if (p && p.exitCode === null) p.kill('SIGKILL');
    await db?.close();
  });

  // A fresh connection per call: the primary spreads connections over the workers.
  const getPolicies = async (password = 'Al1ce-pass'): Promise<number> => {
    const agent = new Agent({ connect: { ca: rootPem } });
    const to = `${url}${cepPath('UsernamePassword')}`;
    const r = await postSoap(to, buildGetPoliciesRequest({ to, securityHeaderXml: usernameHeader({ username: 'alice', password }) }), agent);
    await agent.close();
    return r.status;
  };

  it('runs two workers under the primary, which announces them once', () => {
    // Each worker runs with the configured nursery (workerSemiSpaceMb, default 16 MiB), old
    // generation growing factor (workerHeapGrowingPercent, default 50) and two
    // malloc arenas (src/app/cluster.ts workerEnv), which bound its RSS.
    for (const pid of children(p.pid!)) {
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('--max-semi-space-size=16');
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('--heap-growing-percent=50');
      if (!process.env.MALLOC_ARENA_MAX) expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain('MALLOC_ARENA_MAX=2');
    }
    const line = out.split('\n').find((l) => l.includes('opences is serving'))!;
    expect(JSON.parse(line)).toMatchObject({ workers: 2, database: 'postgres' });
    expect(children(p.pid!)).toHaveLength(2);
    expect(existsSync(join(dataDir, 'opences.sock'))).toBe(true);
  });

  it('answers policy and issues certificates on every worker', async () => {
    const statuses = await Promise.all(Array.from({ length: 12 }, () => getPolicies()));
    expect(statuses.every((s) => s === 200)).toBe(true);
    const agent = new Agent({ connect: { ca: rootPem } });
    const to = `${url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const issued = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const csr = makeCsr({ subject: `CN=w${i}.example.test`, sans: [`DNS:w${i}.example.test`], templateName: 'WebServer' });
        const r = await postSoap(to, buildRstRequest({ to, requestType: 'issue', securityHeaderXml: usernameHeader({ username: 'alice', password: 'Al1ce-pass' }), token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
        return parseRstrResponse(r.env!).disposition;
      }),
    );
    await agent.close();
    expect(issued).toEqual(Array(6).fill('issued'));
  });

  it('accepts a GetPolicies message once whichever worker it reaches: its copies on other connections are refused', async () => {
    const to = `${url}${cepPath('UsernamePassword')}`;
    const message = buildGetPoliciesRequest({ to, securityHeaderXml: usernameHeader({ username: 'alice', password: 'Al1ce-pass' }) });
    // A fresh connection per copy: the primary spreads them over both workers.
    const statuses = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const agent = new Agent({ connect: { ca: rootPem } });
        const r = await postSoap(to, message, agent);
        await agent.close();
        return r.status;
      }),
    );
    expect(statuses.filter((x) => x === 200)).toHaveLength(1);
    expect(statuses.filter((x) => x === 500)).toHaveLength(7);
  });

  it('an operator change made through the control socket reaches every worker at once', async () => {
    expect(await getPolicies()).toBe(200); // cached sign-ins on the workers
    cli(['user', 'disable', 'alice']);
    const statuses = await Promise.all(Array.from({ length: 8 }, () => getPolicies()));
    expect(statuses.every((s) => s === 500)).toBe(true); // SOAP fault: authentication failed
  });

  it('replaces a worker that dies, and keeps serving meanwhile', async () => {
    cli(['user', 'enable', 'alice']);
    const [victim] = children(p.pid!);
    process.kill(victim!, 'SIGKILL');
    // Once the primary knows (it logs the exit), connections go to the survivor only. Before
    // that, Node's round-robin may hand one to the dead worker, where it is lost (documented).
    expect(await until(20_000, () => out.includes('an HTTP worker exited; starting another'))).toBe(true);
    expect(await getPolicies()).toBe(200); // a live worker answers
    expect(await until(20_000, () => children(p.pid!).length === 2 && !children(p.pid!).includes(victim!))).toBe(true);
    expect(await until(20_000, async () => (await getPolicies().catch(() => 0)) !== 0)).toBe(true);
  });

  it('a second serve on a port in use fails at once with the reason, instead of restarting workers', async () => {
    const taken = Number(new URL(url).port);
    // Its own data dir and database, so that only the port is in the way.
    const otherDb = await freshTestDb();
    let log = '';
    const q = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--workers', '2', '--data-dir', tmp('opences-cluster-busy-'), '--port', String(taken), '--pki-port', String(await freePort()), '--host', '127.0.0.1', '--hostname', 'localhost'], { env: { ...env(), DATABASE_URL: urlWithSchema(otherDb.schema) } });
    q.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    q.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const code = await new Promise<number | null>((r) => q.on('exit', (c) => r(c)));
    await otherDb.close();
    expect(code, log).not.toBe(0);
    expect(log).toContain('EADDRINUSE');
    expect(log).toContain('an HTTP worker exited while starting');
    expect(log).not.toContain('starting another');
    expect(log).not.toContain('opences is serving');
  }, 180_000);

  it('stops the workers and itself on SIGTERM, exit 0, control socket removed', async () => {
    const kids = children(p.pid!);
    const exited = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
    p.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const k of kids) expect(() => process.kill(k, 0)).toThrow();
    expect(existsSync(join(dataDir, 'opences.sock'))).toBe(false);
  });
});
