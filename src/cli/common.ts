import type { Command } from 'commander';
import { loadConfig, type Config } from '../config.js';

/** Options every server-side command shares; same defaults as `serve` (conventions.md). */
export interface CommonOptions {
  config?: string;
  dataDir?: string;
  databaseUrl?: string;
  json?: boolean;
}

export function addCommonOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'configuration file (YAML); env OPENCES_CONFIG')
    .option('--data-dir <dir>', 'data directory (default ./data); env OPENCES_DATA_DIR')
    .option('--database-url <url>', 'PostgreSQL URL instead of the embedded database; env DATABASE_URL');
}

export function configFrom(opts: CommonOptions & Record<string, unknown>, extra: Record<string, unknown> = {}): Config {
  return loadConfig({
    file: opts.config,
    flags: { dataDir: opts.dataDir, databaseUrl: opts.databaseUrl, ...extra },
  });
}

export function print(json: boolean | undefined, value: unknown, human: () => string): void {
  process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : human() + '\n');
}
