import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { OpencesError } from '../errors.js';

/**
 * The embedded database's first start, run in a short-lived child process: initdb, the migrations,
 * the CA's keys and certificates and the default templates are made there, and the server then
 * opens the result as a restart would. Done in the server's own process, that work left ~65 MB of
 * glibc heap behind (PGlite's initdb and the first writes, freed but fragmented, so never given
 * back): an idle server held 252–278 MB after a first start against 197 MB after a restart
 * (docs/benchmarks.md, bench/embedded-idle.ts). The child is this very command with
 * OPENCES_FIRST_START_ONLY=1 (see `firstStartOnly`).
 */
export const FIRST_START_ONLY = 'OPENCES_FIRST_START_ONLY';

/** Whether `serve` should make the embedded database in a child process first. */
export function needsFirstStart(config: Pick<Config, 'databaseUrl' | 'dataDir'>): boolean {
  return !config.databaseUrl && !existsSync(join(config.dataDir, 'db', 'PG_VERSION'));
}

/** Whether this process is that child: it creates the core, closes it and exits. */
export const firstStartOnly = (): boolean => process.env[FIRST_START_ONLY] === '1';

/** Runs this command again with OPENCES_FIRST_START_ONLY=1 and waits for it to succeed. */
export async function runFirstStart(): Promise<void> {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
    env: { ...process.env, [FIRST_START_ONLY]: '1' },
    stdio: 'inherit',
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c, signal) => resolve(signal ? -1 : c));
  });
  if (code !== 0) throw new OpencesError('internal', `the first start (creating the embedded database and the CA) failed: exit ${code}`);
}
