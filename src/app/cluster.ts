import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Config } from '../config.js';
import { OpencesError } from '../errors.js';
import type { Logger } from '../log.js';
import { startNode, type RunningNode } from './serve.js';

/**
 * `serve` on every core: node:cluster HTTP workers share the HTTPS and /pki/ ports (the primary
 * hands out connections), each with its own database pool and caches, kept coherent through
 * src/app/cache-bus.ts. The primary keeps what must exist once per data dir: the control socket
 * and the CRL schedule. Signing already runs off the main thread (libuv's pool); the workers put
 * TLS, XML, authentication and policy on all cores too.
 */

/** `auto`: one per core on PostgreSQL; the embedded database belongs to one process. */
export function workerCount(config: Config): number {
  if (config.workers === 'auto') return config.databaseUrl ? Math.max(1, availableParallelism()) : 1;
  if (config.workers > 1 && !config.databaseUrl) {
    throw new OpencesError('malformed', `workers: ${config.workers} needs PostgreSQL (--database-url or DATABASE_URL): the embedded database belongs to one process`);
  }
  return config.workers;
}

export const isClusterWorker = (): boolean => cluster.isWorker;

interface ListeningMessage {
  type: 'opences:listening';
  https: string;
  pki: string;
}

function isListening(m: unknown): m is ListeningMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'opences:listening';
}

/** One HTTP worker: the services, without the control socket or schedules (the primary has them). */
export async function runWorker(config: Config, log: Logger): Promise<RunningNode> {
  const node = await startNode(config, { log }, { http: true, control: false, schedules: false });
  const msg: ListeningMessage = { type: 'opences:listening', https: node.url ?? '', pki: node.pkiUrl ?? '' };
  process.send?.(msg);
  return node;
}

export interface Primary {
  close(): Promise<void>;
}

/**
 * The primary: initialises the data dir and database first (CA, templates, TLS certificate), so
 * workers find them made, then starts `workers` HTTP workers and replaces any that dies.
 */
/**
 * The workers' command-line flags: the primary's, plus the nursery size and the old generation's
 * growing factor (workerSemiSpaceMb, workerHeapGrowingPercent), each unless it is set already.
 */
export function workerExecArgv(config: Pick<Config, 'workerSemiSpaceMb' | 'workerHeapGrowingPercent'>, execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)];
  const isSet = (flag: RegExp): boolean => given.some((a) => flag.test(a));
  const out = [...execArgv];
  if (config.workerSemiSpaceMb > 0 && !isSet(/^--max[-_]semi[-_]space[-_]size(=|$)/)) out.push(`--max-semi-space-size=${config.workerSemiSpaceMb}`);
  if (config.workerHeapGrowingPercent > 0 && !isSet(/^--heap[-_]growing[-_]percent(=|$)/)) out.push(`--heap-growing-percent=${config.workerHeapGrowingPercent}`);
  return out;
}

/**
 * The workers' extra environment: glibc's malloc limited to two arenas (MALLOC_ARENA_MAX=2) unless
 * the operator chose. With the default (eight per core), the TLS and crypto buffers that libuv's
 * threads and the event loop allocate and free spread over many arenas that are rarely given back,
 * and a worker's RSS kept growing long after its V8 heap had stopped (docs/benchmarks.md).
 */
export function workerEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return env.MALLOC_ARENA_MAX ? {} : { MALLOC_ARENA_MAX: '2' };
}

export async function runPrimary(config: Config, workers: number, log: Logger, o: { startTimeoutMs?: number } = {}): Promise<Primary> {
  const node = await startNode(config, { log }, { http: false, control: true, schedules: true });
  cluster.setupPrimary({ execArgv: workerExecArgv(config) });
  let stopping = false;
  const ready = new Map<number, ListeningMessage>();
  let onReady: (() => void) | null = null;
  // While starting, a worker that exits has failed to start (a port in use, a bad key file):
  // every replacement would fail the same way, so the start fails at once with the reason.
  let onStartFailure: ((e: Error) => void) | null = null;

  const fork = (): Worker => {
    const w = cluster.fork(workerEnv());
    w.on('message', (m: unknown) => {
      if (!isListening(m)) return;
      ready.set(w.id, m);
      onReady?.();
    });
    return w;
  };
  cluster.on('exit', (w, code, signal) => {
    ready.delete(w.id);
    if (stopping) return;
    if (onStartFailure) {
      onStartFailure(new OpencesError('unavailable', `an HTTP worker exited while starting (${signal ? `signal ${signal}` : `code ${code}`}); see its log lines above`));
      return;
    }
    log.error({ pid: w.process.pid, code, signal }, 'an HTTP worker exited; starting another');
    setTimeout(() => {
      if (!stopping) fork();
    }, 1_000).unref();
  });

  const close = async (): Promise<void> => {
    stopping = true;
    const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !w.isDead());
    await Promise.all(
      alive.map(
        (w) =>
          new Promise<void>((resolve) => {
            const kill = setTimeout(() => w.process.kill('SIGKILL'), 10_000);
            w.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            w.process.kill('SIGTERM');
          }),
      ),
    );
    await node.close();
  };

  for (let i = 0; i < workers; i++) fork();
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new OpencesError('unavailable', `only ${ready.size} of ${workers} HTTP workers started within ${(o.startTimeoutMs ?? 120_000) / 1000} s; see their log lines above`)), o.startTimeoutMs ?? 120_000);
      onReady = () => {
        if (ready.size >= workers) {
          clearTimeout(t);
          resolve();
        }
      };
      onStartFailure = (e) => {
        clearTimeout(t);
        reject(e);
      };
      onReady();
    });
  } catch (e) {
    onStartFailure = null;
    await close();
    throw e;
  }
  onReady = null;
  onStartFailure = null;
  const first = [...ready.values()][0]!;
  log.info({ https: first.https, pki: first.pki, workers, roles: config.roles, database: node.core.db.engine, rootCertificate: `${config.dataDir}/certs/root_ca.crt` }, 'opences is serving');
  return { close };
}
