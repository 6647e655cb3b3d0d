import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { readdirSync, readFileSync, rmSync, mkdtempSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { writeHeapSnapshot } from 'node:v8';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import { startServer } from '../src/app/serve.js';
import { createLogger } from '../src/log.js';
import { addUser } from '../src/auth/accounts.js';
import { cepPath, cesPath } from '../src/http/endpoints.js';
import { buildGetPoliciesRequest } from '../src/protocol/xcep/index.js';
import { buildRstRequest } from '../src/protocol/wstep/index.js';
import { NS, PASSWORD_TEXT } from '../src/protocol/soap/namespaces.js';
import { freshTestDb, urlWithSchema } from '../test/helpers/db.js';
import { benchCsrs } from './http.js';
import { combinedWrites } from '../src/store/combined-writes.js';

/**
 * `node --import tsx bench/handler.ts policies|issue [N] [IN_FLIGHT]`: opences' own CPU per SOAP
 * request with TLS and HTTP left out — the server in this process on a fresh schema of the local
 * PostgreSQL, each request handed to its HTTPS server's request listener as a stream and a response
 * object of our own (the same code path as a real request from the listener on: the direct SOAP
 * handler, parsing, authentication, replay check, RA and CA, database, response). Prints this
 * process's CPU per request, main thread and the rest (libuv's pool signs), so a change to
 * opences' own code can be measured apart from TLS, the load generator and the machine's load:
 * run with `node --cpu-prof` for a profile whose wall time is this process's own work.
 */
const mode = process.argv[2] === 'issue' ? 'issue' : 'policies';
const N = Number(process.argv[3] ?? (mode === 'issue' ? 3000 : 20000));
const IN_FLIGHT = Number(process.argv[4] ?? 32);

/** CPU seconds of this process's main thread and of all its other threads (libuv's pool, V8's helpers). */
function threadCpu(): { main: number; others: number } {
  let main = 0;
  let others = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const st = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const t = (Number(f[11]) + Number(f[12])) / 100;
      if (Number(tid) === process.pid) main += t;
      else others += t;
    } catch {
      // exited meanwhile
    }
  }
  return { main, others };
}

interface FakeResponse {
  headersSent: boolean;
  statusCode: number;
  body?: Buffer;
  setHeader(): void;
  getHeader(): undefined;
  writeHead(status: number): FakeResponse;
  end(body?: Buffer): void;
}

function header(): string {
  return `<wsse:Security s:mustUnderstand="1" xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}"><wsse:UsernameToken><wsse:Username>bench</wsse:Username><wsse:Password Type="${PASSWORD_TEXT}">Bench-pass</wsse:Password><wsse:Nonce>${randomBytes(16).toString('base64')}</wsse:Nonce><wsu:Created>${new Date().toISOString()}</wsu:Created></wsse:UsernameToken></wsse:Security>`;
}

async function main(): Promise<void> {
  const db = await freshTestDb();
  const dataDir = mkdtempSync(join(tmpdir(), 'opences-bench-handler-'));
  const config = loadConfig({ env: {}, flags: { dataDir, port: 0, pkiPort: 0, host: '127.0.0.1', hostname: 'localhost', logLevel: 'silent', databaseAllowExcessPrivileges: true, databaseUrl: urlWithSchema(db.schema) } });
  const s = await startServer(config, { log: createLogger('silent') });
  try {
    await addUser(s.core.db, { name: 'bench', password: 'Bench-pass' });
    const path = mode === 'issue' ? cesPath(s.core.ca.info().name, 'UsernamePassword') : cepPath('UsernamePassword');
    const to = `https://localhost${path}`;
    const csrs = mode === 'issue' ? benchCsrs(N + 1000) : [];
    const body = (i: number): Buffer =>
      Buffer.from(
        mode === 'issue'
          ? buildRstRequest({ to, requestType: 'issue', messageId: `urn:uuid:${randomUUID()}`, token: { valueType: 'pkcs10', der: csrs[i]! }, securityHeaderXml: header() })
          : buildGetPoliciesRequest({ to, messageId: `urn:uuid:${randomUUID()}`, securityHeaderXml: header() }),
      );
    const expect = mode === 'issue' ? 'RequestedSecurityToken' : 'GetPoliciesResponse';
    // Bodies built before the clock starts: the client's work is not measured.
    const bodies = Array.from({ length: N }, (_, i) => body(i));
    const one = (i: number): Promise<void> => {
      const payload = bodies[i]!;
      const req = Object.assign(new PassThrough(), { method: 'POST', url: path, headers: { 'content-type': 'application/soap+xml; charset=utf-8', 'content-length': String(payload.length) }, socket: { remoteAddress: '127.0.0.1' }, complete: true });
      return new Promise<void>((resolve, reject) => {
        const res: FakeResponse = {
          headersSent: false,
          statusCode: 0,
          setHeader() {},
          getHeader: () => undefined,
          writeHead(status) {
            this.statusCode = status;
            this.headersSent = true;
            return this;
          },
          end(b) {
            if (this.statusCode !== 200 || !b?.includes(expect)) reject(new Error(`answer ${this.statusCode}: ${b?.toString().slice(0, 300)}`));
            else resolve();
          },
        };
        s.http.httpsServer.emit('request', req, res);
        req.end(payload);
      });
    };
    const run = async (from: number, count: number): Promise<void> => {
      let next = from;
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          for (let i = next++; i < from + count; i = next++) await one(i);
        }),
      );
    };
    const warm = Math.min(1000, N);
    await run(0, warm);
    // BENCH_HEAP_SNAPSHOTS=DIR: a heap snapshot after the warm-up and one right after the measured run.
    if (process.env.BENCH_HEAP_SNAPSHOTS) writeHeapSnapshot(join(process.env.BENCH_HEAP_SNAPSHOTS, 'before.heapsnapshot'));
    // BENCH_HEAP_SAMPLES=FILE: V8's sampling heap profiler over the measured run, collected objects
    // included — where the bytes the collector has to deal with are allocated (a .heapprofile).
    const session = process.env.BENCH_HEAP_SAMPLES ? new Session() : undefined;
    const post = (method: string, params?: object): Promise<unknown> => new Promise((res, rej) => session!.post(method, params, (e, r) => (e ? rej(e) : res(r))));
    if (session) {
      session.connect();
      await post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: process.env.BENCH_HEAP_MINOR !== '0' });
    }
    const writes = combinedWrites(s.core.db);
    const w0 = { ...writes.stats };
    let peakRss = 0;
    const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100);
    const c0 = process.cpuUsage();
    const th0 = threadCpu();
    const t0 = performance.now();
    // BENCH_HEAP_SNAPSHOTS: and one in the middle of the run, with requests in flight.
    const mid = process.env.BENCH_HEAP_SNAPSHOTS ? setTimeout(() => writeHeapSnapshot(join(process.env.BENCH_HEAP_SNAPSHOTS!, 'during.heapsnapshot')), 8_000) : undefined;
    await run(warm, N - warm);
    clearTimeout(mid);
    const c = process.cpuUsage(c0);
    const th1 = threadCpu();
    clearInterval(rssTimer);
    if (process.env.BENCH_HEAP_SNAPSHOTS) writeHeapSnapshot(join(process.env.BENCH_HEAP_SNAPSHOTS, 'after.heapsnapshot'));
    if (session) {
      const { profile } = (await post('HeapProfiler.stopSampling')) as { profile: unknown };
      writeFileSync(process.env.BENCH_HEAP_SAMPLES!, JSON.stringify(profile));
      session.disconnect();
    }
    const n = N - warm;
    const seconds = (performance.now() - t0) / 1000;
    const statements = writes.stats.statements - w0.statements;
    console.log(
      `# bench/handler.ts ${mode}: ${n} requests, ${IN_FLIGHT} in flight, ${(n / seconds).toFixed(0)}/s; this process's CPU per request: ${((c.user + c.system) / n).toFixed(0)} µs (user ${(c.user / n).toFixed(0)}, system ${(c.system / n).toFixed(0)}; main thread ${((1e6 * (th1.main - th0.main)) / n).toFixed(0)}, other threads ${((1e6 * (th1.others - th0.others)) / n).toFixed(0)}); ` +
        `combined statements per request ${(statements / n).toFixed(3)}, ${((writes.stats.items - w0.items) / Math.max(1, statements)).toFixed(1)} items each; ` +
        `RSS peak ${(peakRss / 2 ** 20).toFixed(0)} MiB, at the end ${(process.memoryUsage.rss() / 2 ** 20).toFixed(0)} MiB`,
    );
  } finally {
    await s.close();
    await db.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
