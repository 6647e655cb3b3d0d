import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Pool } from 'undici';
import { bitString, bmp, explicit, implicitCons, integer, octetString, oid, seq, set } from '../src/ca/der.js';
import { extension, subjectAltName } from '../src/ca/extensions.js';
import { encodeName } from '../src/ca/name.js';
import { cepPath, cesPath } from '../src/http/endpoints.js';
import { buildGetPoliciesRequest } from '../src/protocol/xcep/index.js';
import { buildRstRequest, parseRstrResponse } from '../src/protocol/wstep/index.js';
import { parseEnvelope } from '../src/protocol/soap/envelope.js';
import { NS, PASSWORD_TEXT } from '../src/protocol/soap/namespaces.js';
import { closedLoop, type RateResult } from './stats.js';
import type { ProbeReport } from './probe.js';
import { wrkAvailable, wrkLoop } from './wrk.js';
import { byCommand, processTree, type CpuClasses } from './cpu.js';

/** Clients in flight: issue #19's targets (and its cfssl comparison) are stated for 32. */
export const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
/**
 * CES runs through wrk warm up until the server is steady (bench/wrk.ts), for at least 20 s and at
 * most BENCH_ISSUE_WARMUP seconds (default 60). V8 needs far longer to optimise the enrollment path
 * than GetPolicies': on a fresh server a run after 3 s of warm-up cost 3,000 µs of CPU per
 * enrollment, the next one 1,750 (docs/benchmarks.md). Runs through the undici client (certificate
 * and Kerberos callers, on a server the wrk run warmed already) warm up for a fixed 10 s.
 */
const ISSUE_WARMUP = { minSeconds: 20, maxSeconds: Number(process.env.BENCH_ISSUE_WARMUP ?? 60) };
const UNDICI_WARMUP_SECONDS = 10;
/** Measured runs per CES row through wrk (BENCH_ISSUE_RUNS, default 3); the row is the median one. */
const ISSUE_RUNS = Number(process.env.BENCH_ISSUE_RUNS ?? 3);
const DB = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function header(user: string, pass: string, nonce = randomBytes(16).toString('base64'), created = new Date().toISOString()): string {
  return `<wsse:Security s:mustUnderstand="1" xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}"><wsse:UsernameToken><wsse:Username>${user}</wsse:Username><wsse:Password Type="${PASSWORD_TEXT}">${pass}</wsse:Password><wsse:Nonce>${nonce}</wsse:Nonce><wsu:Created>${created}</wsu:Created></wsse:UsernameToken></wsse:Security>`;
}

/** The bench account's UsernameToken with wrk's per-request placeholders (bench/wrk.ts). */
const templateHeader = (): string => header('bench', 'Bench-pass', '@@NONCE@@', '@@CREATED@@');
export const benchHeaderTemplate = templateHeader;
const TEMPLATE_ID = 'urn:uuid:@@ID@@';
/** Where the server runs, as wrk dials it (it does not resolve `localhost` to 127.0.0.1 first). */
export const wrkUrl = (url: string): string => url.replace('//localhost:', '//127.0.0.1:');

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
  /** Its processes (and PostgreSQL's), for CPU per request (bench/cpu.ts). */
  cpu: CpuClasses;
  stop(): Promise<void>;
}

/** Kerberos for the server under test: its keytab and the throwaway realm's krb5.conf. */
export interface ServerKerberos {
  keytab: string;
  krb5Config: string;
}

const CLI = join(process.cwd(), 'dist/cli/main.js');

/**
 * Starts `opences serve ARGS` and resolves once it says it is serving. Its log lines go straight to a
 * file (BENCH_SERVER_LOG, or a temporary one removed when it exits), never through this process: read
 * here, the CA node's batch lines cost the bench ~90 µs of CPU per enrollment on the cores it shares.
 */
async function spawnServe(args: string[], env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const file = process.env.BENCH_SERVER_LOG ?? join(tmpdir(), `opences-bench-serve-${process.pid}-${randomBytes(4).toString('hex')}.log`);
  const fd = openSync(file, 'a');
  const from = fstatSync(fd).size;
  const child: ChildProcess = spawn('node', [...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean), CLI, 'serve', ...args], { env, stdio: ['ignore', fd, 'inherit'] });
  closeSync(fd);
  await new Promise<void>((resolve, reject) => {
    const started = Date.now();
    const output = (): string => readFileSync(file).subarray(from).toString();
    const exited = (c: number | null): void => {
      clearInterval(poll);
      reject(new Error(`opences serve exited ${c}: ${output().slice(-2000)}`));
    };
    const poll = setInterval(() => {
      if (output().includes('opences is serving')) {
        clearInterval(poll);
        child.off('exit', exited);
        resolve();
      } else if (Date.now() - started > 60_000) {
        clearInterval(poll);
        child.kill('SIGKILL');
        reject(new Error(`opences serve ${args.join(' ')} did not start: ${output().slice(-2000)}`));
      }
    }, 100);
    child.once('exit', exited);
  });
  if (!process.env.BENCH_SERVER_LOG) child.once('exit', () => rmSync(file, { force: true }));
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

/**
 * The servers' environment: the bench schema belongs to the superuser that made it, so the nodes
 * are told to start with more rights than they need (a deployment uses `opences db roles`).
 */
const benchEnv = (url: string): NodeJS.ProcessEnv => ({ DATABASE_URL: url, OPENCES_LOG_LEVEL: 'info', OPENCES_HOSTNAME: 'localhost', OPENCES_DATABASE_ALLOW_EXCESS_PRIVILEGES: 'true' });

/** A fresh schema on the bench PostgreSQL, and its URL. */
async function freshSchema(): Promise<{ url: string; drop(): Promise<void> }> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: DB });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const u = new URL(DB);
  u.searchParams.set('options', `-c search_path=${schema}${process.env.BENCH_PG_OPTIONS ? ' ' + process.env.BENCH_PG_OPTIONS : ''}`);
  return {
    url: u.toString(),
    async drop() {
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    },
  };
}

/**
 * The split topology (docs/deployment.md): a `ca` node holding the key and a `ces` node that
 * forwards orders to it over mutual TLS (`--ca-url`), as separate processes on one PostgreSQL.
 */
export async function startSplitProcesses(opts: { keyType: string; port: number; pkiPort: number; caPort: number; caPkiPort: number; caApiPort: number }): Promise<ServerUnderTest> {
  const db = await freshSchema();
  const caDir = mkdtempSync(join(tmpdir(), 'opences-bench-ca-'));
  const cesDir = mkdtempSync(join(tmpdir(), 'opences-bench-ces-'));
  const env: NodeJS.ProcessEnv = { ...process.env, ...benchEnv(db.url) };
  const caConfig = join(caDir, '..', `${caDir.split('/').pop()}.yaml`);
  writeFileSync(caConfig, `ca:\n  apiPort: ${opts.caApiPort}\n  clients:\n    allowedSubjects: ['CN=bench-ces,O=opences bench']\n`);
  const ca = await spawnServe(['--role', 'ca', '--workers', '1', '--config', caConfig, '--data-dir', caDir, '--port', String(opts.caPort), '--pki-port', String(opts.caPkiPort), '--host', '127.0.0.1', '--ca-key-type', opts.keyType], env);
  const cert = join(caDir, '..', `${caDir.split('/').pop()}-ces.crt`);
  const key = join(caDir, '..', `${caDir.split('/').pop()}-ces.key`);
  execFileSync('node', [CLI, 'ca', 'client-cert', 'issue', '--subject', 'CN=bench-ces,O=opences bench', '--cert-out', cert, '--key-out', key, '--data-dir', caDir], { env });
  execFileSync('node', [CLI, 'user', 'add', 'bench', '--password-stdin', '--data-dir', caDir], { env, input: 'Bench-pass\n' });
  const ces = await spawnServe(['--role', 'ces', '--data-dir', cesDir, '--ca-url', `https://localhost:${opts.caApiPort}`, '--ca-client-cert', cert, '--ca-client-key', key, '--port', String(opts.port), '--pki-port', String(opts.pkiPort), '--host', '127.0.0.1'], env);
  return {
    url: `https://localhost:${opts.port}`,
    cpu: { 'ces node': () => processTree(ces.pid!), 'ca node': () => processTree(ca.pid!), postgres: () => byCommand('postgres') },
    async stop() {
      await stopChild(ces);
      await stopChild(ca);
      await db.drop();
      for (const d of [caDir, cesDir]) rmSync(d, { recursive: true, force: true });
      for (const f of [caConfig, cert, key]) rmSync(f, { force: true });
    },
  };
}

/** `opences serve` as its own process on a fresh PostgreSQL schema (the load generator must not share its event loop). */
/** Where SoftHSM2's PKCS#11 module is on Debian (package softhsm2). */
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export async function startServerProcess(opts: { keyType: string; port: number; pkiPort: number; kerberos?: ServerKerberos; softHsm?: boolean; scep?: { secret: string; yaml: (secretFile: string) => string }; yaml?: string }): Promise<ServerUnderTest> {
  const db = await freshSchema();
  const dataDir = mkdtempSync(join(tmpdir(), 'opences-bench-'));
  const env: NodeJS.ProcessEnv = { ...process.env, ...benchEnv(db.url), OPENCES_DATA_DIR: dataDir };
  const configArgs: string[] = [];
  let yaml = '';
  if (opts.kerberos) {
    // The bench user's Kerberos twin (bench@REALM) gets the same rights through the group mapping.
    yaml += `auth:\n  kerberos:\n    keytab: ${opts.kerberos.keytab}\n    servicePrincipal: HTTP@localhost\n`;
    env.KRB5_CONFIG = opts.kerberos.krb5Config;
  }
  // The CA keys (root, issuing, audit signing) in a throwaway SoftHSM2 token (docs/hsm.md), beside the data directory.
  const tokenDir = opts.softHsm ? mkdtempSync(join(tmpdir(), 'opences-bench-token-')) : undefined;
  if (tokenDir) {
    writeFileSync(join(tokenDir, 'softhsm2.conf'), `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    env.SOFTHSM2_CONF = join(tokenDir, 'softhsm2.conf');
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench-ca', '--so-pin', '1111', '--pin', '2222'], { env, stdio: 'pipe' });
    env.OPENCES_PKCS11_PIN = '2222';
    yaml += `ca:\n  keyStore: pkcs11\n  pkcs11:\n    module: ${SOFTHSM_MODULE}\n    tokenLabel: bench-ca\n    sessions: 4\n`;
  }
  if (opts.scep) {
    // A SCEP profile with a static challenge (bench/scep.ts): every PKIOperation is a new enrollment.
    writeFileSync(join(dataDir, 'scep.secret'), `${opts.scep.secret}\n`, { mode: 0o600 });
    yaml += opts.scep.yaml(join(dataDir, 'scep.secret'));
  }
  if (opts.yaml) yaml += opts.yaml;
  if (yaml) {
    const file = join(dataDir, 'opences.yaml');
    writeFileSync(file, yaml);
    configArgs.push('--config', file);
  }
  execFileSync('node', [CLI, 'user', 'add', 'bench', '--password-stdin', ...configArgs], { env, input: 'Bench-pass\n' });
  const child = await spawnServe([...configArgs, '--port', String(opts.port), '--pki-port', String(opts.pkiPort), '--host', '127.0.0.1', '--ca-key-type', opts.keyType], env);
  return {
    url: `https://localhost:${opts.port}`,
    cpu: { opences: () => processTree(child.pid!), postgres: () => byCommand('postgres') },
    async stop() {
      await stopChild(child);
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
      if (tokenDir) rmSync(tokenDir, { recursive: true, force: true });
    },
  };
}

function pool(url: string, ca: string, clientCert?: { cert: string; key: string }): Pool {
  return new Pool(url, { connections: CONCURRENCY, pipelining: 1, connect: { ca, rejectUnauthorized: false, ...(clientCert ?? {}) } });
}

const pemBlock = (label: string, der: Uint8Array): string => `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END ${label}-----\n`;

/** How the benchmark's caller authenticates to CES. */
export type BenchAuth = { kind: 'username' } | { kind: 'certificate'; cert: string; key: string } | { kind: 'kerberos'; token: () => Promise<string> };

/**
 * A TLS client certificate for the bench account, enrolled the way a partner or a renewing host
 * would get one: a User certificate over UsernameToken.
 */
export async function benchClientCertificate(s: ServerUnderTest): Promise<{ cert: string; key: string }> {
  const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = key.publicKey.export({ type: 'spki', format: 'der' });
  const exts = seq(extension('1.3.6.1.4.1.311.20.2', false, bmp('User')));
  const info = seq(integer(0), encodeName([{ type: 'CN', value: 'bench' }]), spki, implicitCons(0, [seq(oid('1.2.840.113549.1.9.14'), set(exts))]));
  const csr = new Uint8Array(seq(info, seq(oid('1.2.840.10045.4.3.2')), bitString(sign('sha256', info, { key: key.privateKey, dsaEncoding: 'der' }))));
  const path = cesPath('opences Issuing CA', 'UsernamePassword');
  const p = pool(s.url, '');
  const res = await p.request({ path, method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8' }, body: buildRstRequest({ to: `${s.url}${path}`, requestType: 'issue', token: { valueType: 'pkcs10', der: csr }, securityHeaderXml: header('bench', 'Bench-pass') }) });
  const text = await res.body.text();
  await p.close();
  const out = parseRstrResponse(parseEnvelope(text, { maxBytes: 1 << 22 }));
  if (out.disposition !== 'issued' || !out.certificateDer) throw new Error(`could not enroll the bench client certificate: ${text.slice(0, 500)}`);
  return { cert: pemBlock('CERTIFICATE', out.certificateDer), key: key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** The GetPolicies request the bench sends (wrk's placeholders in it), and one answer to it as bytes, for the bare reference row. */
export async function policiesExchange(s: ServerUnderTest): Promise<{ body: string; answer: Buffer }> {
  const path = cepPath('UsernamePassword');
  const body = buildGetPoliciesRequest({ to: `${s.url}${path}`, messageId: TEMPLATE_ID, securityHeaderXml: templateHeader() });
  const p = pool(s.url, '');
  try {
    const res = await p.request({ path, method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8' }, body: buildGetPoliciesRequest({ to: `${s.url}${path}`, securityHeaderXml: header('bench', 'Bench-pass') }) });
    const answer = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode !== 200) throw new Error(`GetPolicies answered ${res.statusCode}: ${answer.toString().slice(0, 400)}`);
    return { body, answer };
  } finally {
    await p.close();
  }
}

export async function benchGetPolicies(s: ServerUnderTest, seconds: number): Promise<RateResult> {
  const path = cepPath('UsernamePassword');
  if (wrkAvailable()) {
    const body = buildGetPoliciesRequest({ to: `${s.url}${path}`, messageId: TEMPLATE_ID, securityHeaderXml: templateHeader() });
    return wrkLoop(`CEP GetPolicies (UsernameToken, TLS, ${CONCURRENCY} conns)`, { url: wrkUrl(s.url), path, bodies: [body], connections: CONCURRENCY, seconds, warmupSeconds: 3, expect: 'GetPoliciesResponse', classes: s.cpu });
  }
  const p = pool(s.url, '');
  const r = await closedLoop(`CEP GetPolicies (UsernameToken, TLS, ${CONCURRENCY} conns) [undici]`, CONCURRENCY, seconds, async () => {
    const res = await p.request({ path, method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8' }, body: buildGetPoliciesRequest({ to: `${s.url}${path}`, securityHeaderXml: header('bench', 'Bench-pass') }) });
    await res.body.text();
    return res.statusCode === 200;
  }, 3, s.cpu);
  await p.close();
  return r;
}

/** RST Issue bodies for wrk, one per CSR, with its per-request placeholders (bench/wrk.ts). */
export function issueTemplates(to: string, csrs: Uint8Array[]): string[] {
  return csrs.map((der) => buildRstRequest({ to, requestType: 'issue', messageId: TEMPLATE_ID, token: { valueType: 'pkcs10', der }, securityHeaderXml: templateHeader() }));
}

/** P-256 PKCS#10s naming WebServer, as benchIssue sends them. */
export function benchCsrs(count: number): Uint8Array[] {
  const keys = Array.from({ length: CONCURRENCY }, () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }));
  return Array.from({ length: count }, (_, i) => quickCsr(`h${i}-${randomBytes(3).toString('hex')}.bench.test`, keys[i % keys.length]!));
}

export async function benchIssue(s: ServerUnderTest, seconds: number, label: string, auth: BenchAuth = { kind: 'username' }, client: 'wrk' | 'undici' = 'wrk'): Promise<RateResult> {
  // Pre-build more requests than the run can use so CSR signing is not measured.
  // The first two thirds for the warm-up windows, the rest split between the measured runs.
  const csrs = benchCsrs(75_000);
  const kind = auth.kind === 'username' ? 'UsernamePassword' : auth.kind === 'certificate' ? 'Certificate' : 'Kerberos';
  const path = cesPath('opences Issuing CA', kind);
  // wrk sends neither client certificates nor fresh Negotiate tokens: UsernameToken only.
  if (auth.kind === 'username' && client === 'wrk' && wrkAvailable()) {
    const bodies = issueTemplates(`${s.url}${path}`, csrs);
    return wrkLoop(label, { url: wrkUrl(s.url), path, bodies, connections: CONCURRENCY, seconds, warmUntilSteady: ISSUE_WARMUP, runs: ISSUE_RUNS, expect: 'RequestedSecurityToken', classes: s.cpu });
  }
  const p = pool(s.url, '', auth.kind === 'certificate' ? auth : undefined);
  const r = await closedLoop(`${label} [undici]`, CONCURRENCY, seconds, async (i) => {
    const body = buildRstRequest({ to: `${s.url}${path}`, requestType: 'issue', token: { valueType: 'pkcs10', der: csrs[i % csrs.length]! }, ...(auth.kind === 'username' ? { securityHeaderXml: header('bench', 'Bench-pass') } : {}) });
    // A fresh Negotiate token per request, as real clients send (GSSAPI refuses replays).
    const headers: Record<string, string> = { 'content-type': 'application/soap+xml; charset=utf-8', ...(auth.kind === 'kerberos' ? { authorization: `Negotiate ${await auth.token()}` } : {}) };
    const res = await p.request({ path, method: 'POST', headers, body });
    const text = await res.body.text();
    return res.statusCode === 200 && text.includes('RequestedSecurityToken');
  }, UNDICI_WARMUP_SECONDS, s.cpu);
  await p.close();
  return r;
}

export { octetString, explicit };
/** What the attackers of the "under attack" row did (bench/attack.ts). */
export interface AttackSummary {
  sent: number;
  /** How long the attack ran. */
  seconds: number;
  statuses: Record<string, number>;
  senderFaults: number;
}

/** /healthz latency while something else runs: one request at a time, back to back. */
export interface ProbeResult {
  count: number;
  p50ms: number;
  p99ms: number;
  maxMs: number;
  /** Under attack: the slowest probe, and how many connections the prober opened. */
  slowest?: SlowProbe;
  connects?: number;
}

/** The slowest probe under attack: when (ms after the attack began, in which phase) and on what connection. */
export interface SlowProbe {
  ms: number;
  at: number;
  phase: string;
  newConnection: boolean;
  port: number;
  /** `ss` on both ends of the probe's connection, one second into the probe (probes over 1 s). */
  ss?: string;
}

/**
 * A bench helper in a process of its own (bench/attack.ts, bench/probe.ts), so that neither its
 * work nor this process's shares an event loop: started, it resolves once the child writes `ready`
 * to stderr; `stop()` sends SIGTERM and resolves with the last line it printed.
 */
export async function startChild(script: string, args: string[], ready: string): Promise<{ stop(): Promise<string>; kill(): void }> {
  const child = spawn('node', ['--import', 'tsx', join(process.cwd(), script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => (c.toString().includes(ready) ? resolve() : process.stderr.write(c)));
    child.once('exit', (code) => reject(new Error(`${script} exited ${code}`)));
  });
  return {
    async stop() {
      // 'close', not 'exit': the child's last lines (a report of ~200 KB) may still be in the pipe
      // when it exits.
      const closed = new Promise((r) => child.once('close', r));
      child.kill('SIGTERM');
      await closed;
      return out.trim().split('\n').pop() ?? '{}';
    },
    kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * The "under attack" row (issue #15): bench/attack.ts's unauthenticated senders post worst-case
 * bodies to every SOAP endpoint while the usual client measures GetPolicies and CES Issue
 * (through wrk, on the already warm server, after a short warm-up under the same attack), and
 * bench/probe.ts probes /healthz one request at a time.
 */
export async function benchUnderAttack(s: ServerUnderTest, seconds: number, senders = 8): Promise<{ getPolicies: RateResult; issue: RateResult; healthz: ProbeResult; attack: AttackSummary }> {
  const path = cesPath('opences Issuing CA', 'UsernamePassword');
  const issueBodies = wrkAvailable() ? issueTemplates(`${s.url}${path}`, benchCsrs(Math.max(4000, seconds * 2000))) : [];
  const attacker = await startChild('bench/attack.ts', [s.url, String(senders)], 'attacking');
  const began = performance.now();
  // When each phase began (epoch ms), to say in which the slowest probe started.
  const phases: { at: number; name: string }[] = [{ at: Date.now(), name: 'attack only' }];
  const phase = (name: string): void => void phases.push({ at: Date.now(), name });
  let prober: Awaited<ReturnType<typeof startChild>> | undefined;
  try {
    prober = await startChild('bench/probe.ts', [s.url], 'probing');
    phase('GetPolicies (warm-up, then measured)');
    const getPolicies = await (async () => {
      const gp = cepPath('UsernamePassword');
      if (!wrkAvailable()) return benchGetPolicies(s, seconds);
      const body = buildGetPoliciesRequest({ to: `${s.url}${gp}`, messageId: TEMPLATE_ID, securityHeaderXml: templateHeader() });
      return wrkLoop(`CEP GetPolicies under attack (${senders} hostile senders)`, { url: wrkUrl(s.url), path: gp, bodies: [body], connections: CONCURRENCY, seconds, warmupSeconds: 3, expect: 'GetPoliciesResponse', classes: s.cpu });
    })();
    phase('CES Issue (warm-up, then measured)');
    const issue = wrkAvailable()
      ? await wrkLoop(`CES Issue under attack (${senders} hostile senders, UsernameToken)`, { url: wrkUrl(s.url), path, bodies: issueBodies, connections: CONCURRENCY, seconds, warmupSeconds: 3, expect: 'RequestedSecurityToken', classes: s.cpu })
      : await benchIssue(s, seconds, `CES Issue under attack (${senders} hostile senders)`, { kind: 'username' }, 'undici');
    const report = JSON.parse(await prober.stop()) as ProbeReport;
    const slow = report.slowest;
    if (slow?.ss) console.error(`slowest /healthz probe (${slow.ms.toFixed(0)} ms, local port ${slow.port}), its connection 1 s in:\n${slow.ss}`);
    const healthz: ProbeResult = {
      ...probeSummary(report.latencies),
      connects: report.connects,
      ...(slow ? { slowest: { ms: slow.ms, at: slow.startedAt - phases[0]!.at, phase: phases.filter((p) => p.at <= slow.startedAt).pop()!.name, newConnection: slow.newConnection, port: slow.port, ...(slow.ss ? { ss: slow.ss } : {}) } } : {}),
    };
    const attack = { ...(JSON.parse(await attacker.stop()) as Omit<AttackSummary, 'seconds'>), seconds: (performance.now() - began) / 1000 };
    return { getPolicies, issue, healthz, attack };
  } finally {
    prober?.kill();
    attacker.kill();
  }
}

function probeSummary(lat: number[]): ProbeResult {
  const s = [...lat].sort((a, b) => a - b);
  const q = (p: number): number => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN);
  return { count: s.length, p50ms: q(0.5), p99ms: q(0.99), maxMs: s[s.length - 1] ?? NaN };
}

/** /healthz latency with nothing else running, for the row beside it (the same prober process). */
export async function probeHealthz(s: ServerUnderTest, seconds: number): Promise<ProbeResult> {
  const prober = await startChild('bench/probe.ts', [s.url], 'probing');
  try {
    await new Promise((r) => setTimeout(r, seconds * 1000));
    return probeSummary((JSON.parse(await prober.stop()) as ProbeReport).latencies);
  } finally {
    prober.kill();
  }
}
