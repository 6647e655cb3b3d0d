import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processTree } from './cpu.js';
import { closedLoop, type RateResult } from './stats.js';
import { wrkAvailable, wrkLoop } from './wrk.js';
import { Pool } from 'undici';

/**
 * The open peer to beat (issue #19): CloudFlare's cfssl (Debian `golang-cfssl`, cfssl 1.2), its
 * `cfssl serve` sign API (`POST /api/v1/cfssl/sign`) with an RSA-2048 CA made by openssl, driven
 * by the same load generator, connections and distinct CSRs as the CES row, in the same run. As
 * the issue measured it: plain HTTP, no authentication, no database — cfssl keeps no record of
 * what it signs unless given a database, and its API has no caller identity to check.
 */

/** Whether `cfssl` is on the PATH. */
export function cfsslAvailable(): boolean {
  try {
    execFileSync('cfssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const pem = (label: string, der: Uint8Array): string => `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END ${label}-----\n`;

/** cfssl sign API bodies, one per CSR (JSON: the PEM's newlines are escaped, one line each). */
export function cfsslBodies(csrs: Uint8Array[]): string[] {
  return csrs.map((der) => JSON.stringify({ certificate_request: pem('CERTIFICATE REQUEST', der) }));
}

export interface CfsslServer {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function listening(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`cfssl serve exited ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error('cfssl serve did not start listening');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `cfssl serve` on 127.0.0.1:port with a fresh RSA-2048 CA (openssl) and a one-year server profile. */
export async function startCfssl(port: number): Promise<CfsslServer> {
  const dir = mkdtempSync(join(tmpdir(), 'opences-cfssl-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'ca-key.pem'), '-out', join(dir, 'ca.pem'), '-subj', '/CN=Bench cfssl CA/O=opences bench', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'ignore' });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ signing: { default: { expiry: '8760h', usages: ['digital signature', 'key encipherment', 'server auth'] } } }));
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  // -loglevel 2 (warnings): at the default level cfssl logs a line per signature.
  const child = spawn('cfssl', ['serve', '-address', '127.0.0.1', '-port', String(port), '-ca', join(dir, 'ca.pem'), '-ca-key', join(dir, 'ca-key.pem'), '-config', join(dir, 'config.json'), '-loglevel', '2'], { stdio: ['ignore', 'ignore', 'ignore'] });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await listening(port, child, 20_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url: `http://127.0.0.1:${port}`, child, stop };
}

export const CFSSL_SIGN_PATH = '/api/v1/cfssl/sign';

/**
 * The cfssl row: `cfssl serve` signing one distinct CSR per request over `connections` keep-alive
 * connections, through wrk when installed (an undici client otherwise), warm-up and measured runs
 * on CSRs of their own. Answers a reason instead when cfssl is not installed.
 */
export async function benchCfssl(o: { port: number; seconds: number; csrs: Uint8Array[]; connections: number; runs?: number; warmupSeconds?: number }): Promise<RateResult | string> {
  if (!cfsslAvailable()) return 'cfssl is not installed (Debian: apt-get install golang-cfssl)';
  const server = await startCfssl(o.port);
  try {
    const classes = { cfssl: () => processTree(server.child.pid!) };
    const name = `cfssl 1.2 serve sign API (plain HTTP, no auth, no database, RSA-2048 CA, ${o.connections} conns)`;
    const bodies = cfsslBodies(o.csrs);
    if (wrkAvailable()) {
      return await wrkLoop(name, { url: server.url, path: CFSSL_SIGN_PATH, bodies, connections: o.connections, seconds: o.seconds, warmupSeconds: o.warmupSeconds ?? 3, runs: o.runs ?? 1, expect: '"success":true', classes });
    }
    const pool = new Pool(server.url, { connections: o.connections, pipelining: 1 });
    try {
      return await closedLoop(`${name} [undici]`, o.connections, o.seconds, async (i) => {
        const res = await pool.request({ path: CFSSL_SIGN_PATH, method: 'POST', headers: { 'content-type': 'application/json' }, body: bodies[i % bodies.length]! });
        const text = await res.body.text();
        return res.statusCode === 200 && text.includes('"success":true');
      }, o.warmupSeconds ?? 3, classes);
    } finally {
      await pool.close();
    }
  } finally {
    await server.stop();
  }
}
