import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** The CLI from source, as the tests run it (tsx): `node --import tsx src/cli/main.ts …`. */
export const CLI = join(__dirname, '../../src/cli/main.ts');

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/**
 * Runs `opences …` as its own process (never spawnSync: an in-process server in the same test must
 * keep answering while the command talks to it). Logs silenced unless `env` says otherwise.
 */
export function runCli(args: string[], o: { input?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, OPENCES_LOG_LEVEL: 'silent', ...(o.env ?? {}) } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => resolve({ code: code ?? 1, out, err }));
    p.stdin.end(o.input ?? '');
  });
}
