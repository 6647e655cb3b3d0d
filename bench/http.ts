import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Pool } from 'undici';
import { bitString, bmp, explicit, implicitCons, integer, octetString, oid, seq, set } from '../src/ca/der.js';
import { extension, subjectAltName } from '../src/ca/extensions.js';
import { encodeName } from '../src/ca/name.js';
import { cepPath, cesPath } from '../src/http/endpoints.js';
import { buildGetPoliciesRequest } from '../src/protocol/xcep/index.js';
import { buildRstRequest } from '../src/protocol/wstep/index.js';
import { NS, PASSWORD_TEXT } from '../src/protocol/soap/namespaces.js';
import { closedLoop, type RateResult } from './stats.js';

const DB = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function header(user: string, pass: string): string {
  return `<wsse:Security s:mustUnderstand="1" xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}"><wsse:UsernameToken><wsse:Username>${user}</wsse:Username><wsse:Password Type="${PASSWORD_TEXT}">${pass}</wsse:Password><wsse:Nonce>${randomBytes(16).toString('base64')}</wsse:Nonce><wsu:Created>${new Date().toISOString()}</wsu:Created></wsse:UsernameToken></wsse:Security>`;
}

/** A P-256 PKCS#10 naming the WebServer template the way certmonger does. */
export function quickCsr(cn: string, key: ReturnType<typeof generateKeyPairSync>): Uint8Array {
  const spki = key.publicKey.export({ type: 'spki', format: 'der' });
  const exts = seq(extension('1.3.6.1.4.1.311.20.2', false, bmp('WebServer')), subjectAltName([{ type: 'dns', value: cn }], false));
  const info = seq(integer(0), encodeName([{ type: 'CN', value: cn }]), spki, implicitCons(0, [seq(oid('1.2.840.113549.1.9.14'), set(exts))]));
  const sig = sign('sha256', info, { key: key.privateKey, dsaEncoding: 'der' });
  return new Uint8Array(seq(info, seq(oid('1.2.840.10045.4.3.2')), bitString(sig)));
}

export interface ServerUnderTest {
  url: string;
  stop(): Promise<void>;
}

/** `opences serve` as its own process on a fresh PostgreSQL schema (the load generator must not share its event loop). */
export async function startServerProcess(opts: { keyType: string; port: number; pkiPort: number }): Promise<ServerUnderTest> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: DB });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const u = new URL(DB);
  u.searchParams.set('options', `-c search_path=${schema}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'opences-bench-'));
  const env = { ...process.env, DATABASE_URL: u.toString(), OPENCES_DATA_DIR: dataDir, OPENCES_LOG_LEVEL: 'info', OPENCES_HOSTNAME: 'localhost' };
  const cli = join(process.cwd(), 'dist/cli/main.js');
  execFileSync('node', [cli, 'user', 'add', 'bench', '--password-stdin'], { env, input: 'Bench-pass\n' });
  const child: ChildProcess = spawn('node', [cli, 'serve', '--port', String(opts.port), '--pki-port', String(opts.pkiPort), '--host', '127.0.0.1', '--ca-key-type', opts.keyType], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('server did not start'));
    }, 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('opences is serving')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  return {
    url: `https://localhost:${opts.port}`,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
      rmSync(dataDir, { recursive: true, force: true });
      void readFileSync;
    },
  };
}

function pool(url: string, ca: string): Pool {
  return new Pool(url, { connections: 64, pipelining: 1, connect: { ca, rejectUnauthorized: false } });
}

export async function benchGetPolicies(s: ServerUnderTest, seconds: number): Promise<RateResult> {
  const p = pool(s.url, '');
  const path = cepPath('UsernamePassword');
  const r = await closedLoop('CEP GetPolicies (UsernameToken, TLS, 64 conns)', 64, seconds, async () => {
    const res = await p.request({ path, method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8' }, body: buildGetPoliciesRequest({ to: `${s.url}${path}`, securityHeaderXml: header('bench', 'Bench-pass') }) });
    await res.body.text();
    return res.statusCode === 200;
  }, 3);
  await p.close();
  return r;
}

export async function benchIssue(s: ServerUnderTest, seconds: number, label: string): Promise<RateResult> {
  const keys = Array.from({ length: 64 }, () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }));
  // Pre-build more requests than the run can use so CSR signing is not measured.
  const csrs = Array.from({ length: 30_000 }, (_, i) => quickCsr(`h${i}-${randomBytes(3).toString('hex')}.bench.test`, keys[i % keys.length]!));
  const p = pool(s.url, '');
  const path = cesPath('opences Issuing CA', 'UsernamePassword');
  const r = await closedLoop(label, 64, seconds, async (i) => {
    const body = buildRstRequest({ to: `${s.url}${path}`, requestType: 'issue', token: { valueType: 'pkcs10', der: csrs[i % csrs.length]! }, securityHeaderXml: header('bench', 'Bench-pass') });
    const res = await p.request({ path, method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8' }, body });
    const text = await res.body.text();
    return res.statusCode === 200 && text.includes('RequestedSecurityToken');
  }, 3);
  await p.close();
  return r;
}

export { octetString, explicit };
