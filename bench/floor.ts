import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { closedLoop, type RateResult } from './stats.js';
import { wrkAvailable, wrkLoop } from './wrk.js';
import { processTree, type CpuClasses } from './cpu.js';

/**
 * A reference server for a row, on this machine, with the opences server stopped: a bare Node.js
 * HTTPS server on every core under the same load (wrk when installed, an undici client otherwise)
 * and request bodies as the opences row it bounds. Whatever opences does beyond it can only lower
 * the rate.
 */
async function referenceRow(o: { name: string; script: string; args: string[]; port: number; seconds: number; bodies: string[]; connections: number; expect: string; warmupSeconds?: number; dir: string }): Promise<RateResult> {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(o.dir, 'key.pem'), '-out', join(o.dir, 'cert.pem'), '-subj', '/CN=localhost', '-days', '1'], { stdio: 'ignore' });
  const child = spawn('node', ['--import', 'tsx', join(process.cwd(), 'bench', o.script), String(o.port), join(o.dir, 'key.pem'), join(o.dir, 'cert.pem'), ...o.args], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => d.toString().includes('floor server listening') && resolve());
      child.once('exit', (c) => reject(new Error(`${o.script} exited ${c}`)));
    });
    const classes: CpuClasses = { 'reference server': () => processTree(child.pid!) };
    const url = `https://127.0.0.1:${o.port}`;
    const warmupSeconds = o.warmupSeconds ?? 3;
    if (wrkAvailable()) return await wrkLoop(o.name, { url, path: '/', bodies: o.bodies, connections: o.connections, seconds: o.seconds, warmupSeconds, expect: o.expect, classes });
    const pool = new Pool(url, { connections: o.connections, pipelining: 1, connect: { rejectUnauthorized: false } });
    try {
      return await closedLoop(`${o.name} [undici]`, o.connections, o.seconds, async (i) => {
        const res = await pool.request({ path: '/', method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8' }, body: o.bodies[i % o.bodies.length]! });
        const text = await res.body.text();
        return res.statusCode === 200 && text.includes(o.expect);
      }, warmupSeconds, classes);
    } finally {
      await pool.close();
    }
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
  }
}

/**
 * CES Issue's floor: bench/floor-server.ts (TLS, one P-256 verification, one RSA-2048 signature per
 * request, on every core, nothing else) under the same load and request bodies as the CES row.
 * Whatever opences does beyond that (SOAP, authentication, policy, the database, the audit log)
 * can only lower the rate, so this row bounds what any server written in Node.js could reach here.
 */
export async function benchFloor(seconds: number, port: number, bodies: string[], connections: number, warmupSeconds?: number): Promise<RateResult> {
  const dir = mkdtempSync(join(tmpdir(), 'opences-floor-'));
  try {
    return await referenceRow({ name: 'floor: bare Node.js HTTPS on every core, P-256 verify + RSA-2048 sign per request, no SOAP/auth/DB', script: 'floor-server.ts', args: [], port, seconds, bodies, connections, expect: 'RequestedSecurityToken', ...(warmupSeconds !== undefined ? { warmupSeconds } : {}), dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * GetPolicies' reference: bench/bare-server.ts answering `answer` (the bytes opences answered a
 * GetPolicies with) to the same requests, on every core, with the opences server stopped.
 */
export async function benchBarePolicies(seconds: number, port: number, body: string, answer: Buffer, connections: number, warmupSeconds?: number): Promise<RateResult> {
  const dir = mkdtempSync(join(tmpdir(), 'opences-bare-'));
  try {
    writeFileSync(join(dir, 'answer.xml'), answer);
    return await referenceRow({ name: 'bare Node.js HTTPS on every core answering the cached GetPolicies bytes, no SOAP/auth', script: 'bare-server.ts', args: [join(dir, 'answer.xml')], port, seconds, bodies: [body], connections, expect: 'GetPoliciesResponse', ...(warmupSeconds !== undefined ? { warmupSeconds } : {}), dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
