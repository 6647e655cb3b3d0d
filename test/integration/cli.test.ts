import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tmp, openssl, writeTmp, makeCsr } from '../helpers/openssl.js';
import { freshTestDb, urlWithSchema } from '../helpers/db.js';
import { createCore } from '../../src/app/core.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { insertRequest } from '../../src/store/request-repo.js';
import { runOperation } from '../../src/ops/operations.js';
import { CLI, runCli } from '../helpers/cli.js';

const cli = runCli;

describe('operator CLI against a running server (control socket)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s?.stop());
  const dd = () => ['--data-dir', s.dataDir];

  it('has a control socket only the owner can use', () => {
    expect(existsSync(join(s.dataDir, 'opences.sock'))).toBe(true);
    expect(statSync(join(s.dataDir, 'opences.sock')).mode & 0o777).toBe(0o600);
  });

  it('adds and lists users, reads the password from stdin, and refuses duplicates', async () => {
    const add = await cli(['user', 'add', 'carol', '--group', 'staff', '--group', 'ops', '--password-stdin', ...dd()], { input: 'C4rol-pass\n' });
    expect(add.code, add.err).toBe(0);
    expect(add.out).toContain('account carol created');
    const list = await cli(['user', 'list', '--json', ...dd()]);
    expect(JSON.parse(list.out)).toEqual([expect.objectContaining({ name: 'carol', groups: ['staff', 'ops'], disabled: false })]);
    expect(list.out).not.toMatch(/scrypt|C4rol/);
    const dup = await cli(['user', 'add', 'carol', ...dd()]);
    expect(dup.code).toBe(1);
    expect(dup.err).toContain('account carol already exists');
  });

  it('lists, shows, revokes certificates and publishes a CRL that openssl reads', async () => {
    const list = JSON.parse((await cli(['cert', 'list', '--json', ...dd()])).out) as { serial: string; template: string }[];
    const tls = list.find((c) => c.template === 'opences-tls')!;
    expect(tls).toBeDefined();
    const show = await cli(['cert', 'show', tls.serial, ...dd()]);
    expect(show.out).toContain('-----BEGIN CERTIFICATE-----');
    const rev = await cli(['cert', 'revoke', tls.serial, '--reason', 'superseded', ...dd()]);
    expect(rev.code, rev.err).toBe(0);
    const bad = await cli(['cert', 'revoke', tls.serial, '--reason', 'nonsense', ...dd()]);
    expect(bad.code).not.toBe(0);
    const pub = await cli(['crl', 'publish', ...dd()]);
    expect(pub.code, pub.err).toBe(0);
    const crl = await fetch(`${s.pkiUrl}/pki/${s.core.ca.info().slug}.crl`);
    const text = openssl(['crl', '-inform', 'DER', '-noout', '-text', '-in', writeTmp(tmp(), 'c.crl', Buffer.from(await crl.arrayBuffer()))]);
    expect(text.toUpperCase()).toContain(tls.serial.toUpperCase());
    expect(text).toContain('Superseded');
  });

  it('approves and denies pending requests, and verifies the audit log', async () => {
    const list = await cli(['request', 'list', '--status', 'pending', ...dd()]);
    expect(list.code).toBe(0);
    const verify = await cli(['audit', 'verify', ...dd()]);
    expect(verify.code, verify.err).toBe(0);
    expect(verify.out).toMatch(/audit log intact: \d+ events/);
    await runOperation(s.core, 'crl.publish', {}, 'test'); // at least two events, whatever ran before
    const exp = await cli(['audit', 'export', ...dd()]);
    const lines = exp.out.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; hash: string; prevHash: string });
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines[0]!.seq).toBe(1);
    expect(lines[1]!.prevHash).toBe(lines[0]!.hash);
    const missing = await cli(['request', 'approve', '999999', ...dd()]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('no request 999999');
  });

  it('exports and re-imports templates, refusing unknown keys with the line', async () => {
    const exp = await cli(['template', 'export', ...dd()]);
    expect(exp.out).toContain('name: WebServer');
    const file = writeTmp(tmp(), 't.yaml', exp.out.replace('      strict: false\n', '      strict: false\n      bogus: 1\n'));
    const imp = await cli(['template', 'import', file, ...dd()]);
    expect(imp.code).toBe(1);
    expect(imp.err).toMatch(/line \d+: templates\[\d\]\.subject\.bogus: unknown key/);
    const ok = await cli(['template', 'import', writeTmp(tmp(), 'ok.yaml', exp.out), ...dd()]);
    expect(ok.code, ok.err).toBe(0);
  });

  it('explains itself with --help', async () => {
    for (const args of [['--help'], ['user', '--help'], ['cert', 'revoke', '--help'], ['crl', 'publish', '--help']]) {
      const r = await cli(args);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/Usage: opences/);
    }
  });
});

describe('opences serve as a process', () => {
  it('starts, answers, and shuts down cleanly on SIGTERM, removing its control socket', async () => {
    const db = await freshTestDb();
    const dataDir = tmp('opences-proc-');
    const { freePort } = await import('../helpers/server.js');
    const port = await freePort();
    const p = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--data-dir', dataDir, '--port', String(port), '--pki-port', String(await freePort()), '--host', '127.0.0.1', '--hostname', 'localhost'], { env: { ...process.env, DATABASE_URL: urlWithSchema(db.schema), OPENCES_LOG_LEVEL: 'info' } });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no start: ${out}`)), 60_000);
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('opences is serving')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    expect(out).toContain('initialised a new root CA and issuing CA');
    expect(existsSync(join(dataDir, 'opences.sock'))).toBe(true);
    const exited = new Promise<string>((r) => p.on('exit', (code, signal) => r(`code ${code} signal ${signal}`)));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.kill('SIGTERM');
    expect(await exited, out.slice(-3000)).toBe('code 0 signal null');
    expect(out).toContain('shutting down');
    expect(existsSync(join(dataDir, 'opences.sock'))).toBe(false);
    await db.close();
  });
});

describe('opences serve on the embedded database', () => {
  it('makes a fresh data directory in a child process, then serves it as on a restart', async () => {
    const dataDir = tmp('opences-embedded-');
    const { freePort } = await import('../helpers/server.js');
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, OPENCES_LOG_LEVEL: 'info' };
    delete env.DATABASE_URL;
    const p = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--data-dir', dataDir, '--port', String(port), '--pki-port', String(await freePort()), '--host', '127.0.0.1', '--hostname', 'localhost'], { env });
    let out = '';
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<string>((r) => p.on('exit', (code, signal) => r(`code ${code} signal ${signal}`)));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no start: ${out}`)), 240_000);
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('opences is serving')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { pid: number; msg: string });
    const made = lines.find((l) => l.msg.includes('initialised a new root CA and issuing CA'));
    const serving = lines.find((l) => l.msg === 'opences is serving');
    // The CA was made by another process (the first-start child), the server only opened it.
    expect(made, out.slice(-3000)).toBeDefined();
    expect(serving!.pid).toBe(p.pid);
    expect(made!.pid).not.toBe(p.pid);
    expect(existsSync(join(dataDir, 'db', 'PG_VERSION'))).toBe(true);
    p.kill('SIGTERM');
    expect(await exited, out.slice(-3000)).toBe('code 0 signal null');
  }, 300_000);
});

describe('operator CLI without a server (direct database access)', () => {
  it('works on a data directory and database where no server runs', async () => {
    const db = await freshTestDb();
    const dataDir = tmp('opences-cli-');
    const env = { DATABASE_URL: urlWithSchema(db.schema) };
    const add = await cli(['user', 'add', 'dave', '--data-dir', dataDir, '--password-stdin'], { input: 'D4ve-pass\n', env });
    expect(add.code, add.err).toBe(0);
    expect((await cli(['user', 'list', '--data-dir', dataDir], { env })).out).toContain('dave');
    expect(existsSync(join(dataDir, 'certs/root_ca.crt'))).toBe(true);
    await db.close();
  });
});

describe('two processes starting at once on one database', () => {
  it('initialise one CA and one set of templates', async () => {
    const db = await freshTestDb();
    const dataDir = tmp('opences-race-');
    const config = loadConfig({ env: {}, flags: { dataDir, databaseUrl: urlWithSchema(db.schema), logLevel: 'silent' } });
    const [a, b] = await Promise.all([createCore(config, { log: createLogger('silent') }), createCore(config, { log: createLogger('silent') })]);
    expect(Buffer.from(a.ca.info().rootCertificate).equals(Buffer.from(b.ca.info().rootCertificate))).toBe(true);
    expect([a.initialised.ca, b.initialised.ca].filter(Boolean)).toHaveLength(1);
    expect((await db.query('SELECT count(*)::int AS n FROM cas')).rows[0]).toEqual({ n: 2 });
    // The five defaults: User, Machine, WebServer, WebServerApproval and the (disabled) WebServerECDSA.
    expect((await db.query('SELECT count(*)::int AS n FROM templates')).rows[0]).toEqual({ n: 5 });
    // both can issue (same key store)
    const csr = makeCsr();
    const id = await insertRequest(db, { status: 'pending', requester: 'x', authMethod: 'local', template: 'WebServer', requestFormat: 'pkcs10', rawRequest: csr.csrDer, csrDer: csr.csrDer, disposition: 5, dispositionMessage: 'p', submittedAt: new Date() });
    await b.ca.issue({ orderId: id, template: 'WebServer', csrDer: csr.csrDer, subject: [{ type: 'CN', value: 'race.example.test' }], sans: [], keyUsage: ['digitalSignature', 'keyEncipherment'], keyUsageCritical: true, ekus: ['1.3.6.1.5.5.7.3.1'], issuancePolicies: [], notBefore: new Date(), notAfter: new Date(Date.now() + 86400e3), requester: 'x' });
    await a.close();
    await b.close();
    await db.close();
  });
});
