import { createServer } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/app/serve.js';
import { createLogger } from '../../src/log.js';
import type { Clock } from '../../src/clock.js';
import { freshTestDb, urlWithSchema, type TestDb } from './db.js';
import { tmp } from './openssl.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

export interface TestServer extends RunningServer {
  config: Config;
  dataDir: string;
  db?: TestDb;
  rootPem: string;
  /** Stops the server and removes its data directory and schema. */
  stop(): Promise<void>;
}

/**
 * A real `opences serve` in-process on free ports with a temp data dir, on a fresh schema of the
 * real PostgreSQL (or embedded PGlite when `embedded` is set).
 */
export async function startTestServer(o: { embedded?: boolean; clock?: Clock; config?: Record<string, unknown>; dataDir?: string } = {}): Promise<TestServer> {
  const dataDir = o.dataDir ?? tmp('opences-srv-');
  const db = o.embedded ? undefined : await freshTestDb();
  const port = await freePort();
  const pkiPort = await freePort();
  const config = loadConfig({
    env: {},
    flags: {
      dataDir,
      port,
      pkiPort,
      host: '127.0.0.1',
      hostname: 'localhost',
      logLevel: 'silent',
      // Tests connect as the superuser; test/integration/db-roles.test.ts checks the refusal.
      databaseAllowExcessPrivileges: true,
      ...(db ? { databaseUrl: urlWithSchema(db.schema) } : {}),
      ...(o.config ?? {}),
    },
  });
  const s = await startServer(config, { clock: o.clock, log: createLogger(process.env.OPENCES_TEST_LOG ?? 'silent') });
  const { readFileSync } = await import('node:fs');
  return Object.assign(s, {
    config,
    dataDir,
    db,
    rootPem: readFileSync(join(dataDir, 'certs', 'root_ca.crt'), 'utf8'),
    async stop() {
      await s.close();
      await db?.close();
      if (!o.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  });
}
