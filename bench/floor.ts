import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RateResult } from './stats.js';
import { wrkAvailable, wrkLoop } from './wrk.js';
import { processTree } from './cpu.js';

/**
 * CES Issue's floor on this machine: bench/floor-server.ts (TLS, one P-256 verification, one
 * RSA-2048 signature per request, on every core, nothing else) under the same wrk load and request
 * bodies as the CES row. Whatever opences does beyond that (SOAP, authentication, policy, the
 * database, the audit log) can only lower the rate, so this row bounds what any server written in
 * Node.js could reach here. wrk only: it is the cheapest client, so the bound is the most generous.
 */
export async function benchFloor(seconds: number, port: number, bodies: string[], connections: number): Promise<RateResult | string> {
  if (!wrkAvailable()) return 'needs wrk';
  const dir = mkdtempSync(join(tmpdir(), 'opences-floor-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=localhost', '-days', '1'], { stdio: 'ignore' });
    const child = spawn('node', ['--import', 'tsx', join(process.cwd(), 'bench/floor-server.ts'), String(port), join(dir, 'key.pem'), join(dir, 'cert.pem')], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => d.toString().includes('floor server listening') && resolve());
        child.once('exit', (c) => reject(new Error(`the floor server exited ${c}`)));
      });
      return await wrkLoop('floor: bare Node.js HTTPS on every core, P-256 verify + RSA-2048 sign per request, no SOAP/auth/DB', { url: `https://127.0.0.1:${port}`, path: '/', bodies, connections, seconds, warmupSeconds: 3, expect: 'RequestedSecurityToken', classes: { 'floor server': () => processTree(child.pid!) } });
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
