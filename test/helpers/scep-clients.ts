import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const SCEPCLIENT = '/usr/bin/scepclient';
export const SCEP_SUBMIT = '/usr/lib/certmonger/scep-submit';

/** Why the SCEP clients cannot run here (Debian packages `scep` and `certmonger`), or null. */
export function scepClientsMissing(): string | null {
  const missing = [SCEPCLIENT, SCEP_SUBMIT, '/usr/sbin/certmonger', '/usr/bin/getcert'].filter((f) => !existsSync(f));
  return missing.length ? `missing ${missing.join(', ')} (apt-get install scep certmonger)` : null;
}

export interface ProcResult {
  code: number;
  out: string;
}

/** Runs a program to its end (async: the in-process server must keep answering meanwhile). */
export function runProgram(file: string, args: string[], o: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ProcResult> {
  return new Promise((resolve) => {
    const p = spawn(file, args, { env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 120_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, out });
    });
  });
}

/** micromdm's scepclient: makes a key (or uses `dir`/key.pem), enrolls, writes `dir`/client.pem. */
export function scepclient(o: { url: string; dir: string; challenge?: string; cn: string }): Promise<ProcResult> {
  mkdirSync(o.dir, { recursive: true });
  return runProgram(SCEPCLIENT, ['-server-url', o.url, '-private-key', join(o.dir, 'key.pem'), '-cn', o.cn, ...(o.challenge !== undefined ? ['-challenge', o.challenge] : [])]);
}

/**
 * A private certmonger daemon (its own state directories and listening socket, no D-Bus), driven
 * by getcert: certmonger makes the key, the CSR and the SCEP messages, scep-submit carries them.
 */
export class Certmonger {
  readonly env: NodeJS.ProcessEnv;
  private pid?: number;

  constructor(readonly dir: string) {
    for (const d of ['config', 'requests', 'cas', 'local', 'tmp']) mkdirSync(join(dir, d), { recursive: true });
    this.env = {
      ...process.env,
      CERTMONGER_CONFIG_DIR: join(dir, 'config'),
      CERTMONGER_REQUESTS_DIR: join(dir, 'requests'),
      CERTMONGER_CAS_DIR: join(dir, 'cas'),
      CERTMONGER_LOCAL_CA_DIR: join(dir, 'local'),
      CERTMONGER_TMPDIR: join(dir, 'tmp'),
      CERTMONGER_SYSTEM_LOCK_FILE: join(dir, 'lock'),
      CERTMONGER_PVT_ADDRESS: `unix:path=${join(dir, 'sock')}`,
    };
  }

  async start(): Promise<void> {
    const p = spawn('/usr/sbin/certmonger', ['-n', '-L', '-P', join(this.dir, 'sock'), '-d', '1'], { env: this.env, stdio: 'ignore' });
    this.pid = p.pid;
    const end = Date.now() + 20_000;
    while (!existsSync(join(this.dir, 'sock'))) {
      if (Date.now() > end) throw new Error('certmonger did not open its socket');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  getcert(args: string[], timeoutMs = 120_000): Promise<ProcResult> {
    return runProgram('/usr/bin/getcert', args, { env: this.env, timeoutMs });
  }

  stop(): void {
    if (this.pid !== undefined) {
      try {
        process.kill(this.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }

  certificate(file: string): string {
    return readFileSync(file, 'utf8');
  }
}
