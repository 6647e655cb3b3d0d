import { execFileSync } from 'node:child_process';
import type { Socket } from 'node:net';
import { Pool, buildConnector } from 'undici';

/**
 * The /healthz prober of the "under attack" row (bench/http.ts), in a process of its own: probing
 * from the bench process measured that process's event loop too — building the CES bodies and
 * writing wrk's body files held it for seconds while a probe's answer sat in its socket (the
 * "/healthz stall" of issue #15).
 *   node --import tsx bench/probe.ts BASE_URL
 * Probes one request at a time, back to back, on one kept-alive connection, until SIGTERM; then
 * prints one JSON line: every latency (ms), how many connections it opened, and the slowest probe
 * (its start as epoch ms, whether it needed a new connection, and `ss` of both ends of its
 * connection one second in, when it took that long).
 */
const base = process.argv[2];
if (!base) throw new Error('usage: bench/probe.ts BASE_URL');

export interface ProbeReport {
  latencies: number[];
  connects: number;
  slowest?: { ms: number; startedAt: number; newConnection: boolean; port: number; ss?: string };
}

/** Both ends of the loopback connection from `port`, as `ss -tnpoie` shows them. */
function socketsOf(port: number): string {
  if (!port) return '(no connection yet)';
  try {
    return execFileSync('ss', ['-tnpoieH', `( sport = :${port} or dport = :${port} )`], { encoding: 'utf8', timeout: 2000 }).trim() || '(no socket)';
  } catch (e) {
    return `(ss failed: ${e instanceof Error ? e.message : String(e)})`;
  }
}

const connector = buildConnector({ rejectUnauthorized: false });
const report: ProbeReport = { latencies: [], connects: 0 };
let port = 0;
const pool = new Pool(base, {
  connections: 1,
  connect: (opts, cb) =>
    connector(opts, (err, socket) => {
      if (socket) {
        report.connects++;
        port = (socket as Socket).localPort ?? 0;
      }
      (cb as (e: Error | null, s: typeof socket | null) => void)(err, socket);
    }),
});

let stop = false;
let announced = false;
async function run(): Promise<void> {
  while (!stop) {
    const startedAt = Date.now();
    const t = performance.now();
    const connects = report.connects;
    let ss: string | undefined;
    // execFileSync blocks this process only, and only once a probe is already over a second.
    const watch = setTimeout(() => (ss = socketsOf(port)), 1000);
    const r = await pool.request({ path: '/healthz', method: 'GET' });
    await r.body.text();
    clearTimeout(watch);
    const ms = performance.now() - t;
    if (r.statusCode === 200) report.latencies.push(ms);
    if (!report.slowest || ms > report.slowest.ms) report.slowest = { ms, startedAt, newConnection: report.connects > connects, port, ...(ss ? { ss } : {}) };
    if (!announced) {
      announced = true;
      process.stderr.write('probing\n');
    }
  }
}

const running = run();
process.once('SIGTERM', () => {
  stop = true;
  void running.then(async () => {
    await pool.close();
    // Exit once the report is flushed: a pipe's write may complete after write() returns.
    process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
  });
});
