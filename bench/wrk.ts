import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import { BENCH_PROCESS, WRK, withCpu, type CpuClasses } from './cpu.js';
import { perRequest, type RateResult } from './stats.js';
import { MemorySampler } from './mem.js';

/**
 * wrk (Debian's `wrk` package) as the load generator. On a two-core machine the generator shares
 * the cores with the server; wrk, in C, needs a fraction of the CPU a Node.js client does per
 * request, so more of the machine measures the server. bench/http.ts falls back to an undici
 * client when wrk is missing, and every row names its generator.
 */
export function wrkAvailable(): boolean {
  if (process.env.BENCH_CLIENT === 'undici') return false;
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    // `wrk --version` prints its version and exits 1.
    return (e as { status?: number }).status === 1;
  }
}

/**
 * Request bodies are templates, cycled through; per request the Lua side puts a fresh value in
 * place of @@NONCE@@ (WS-Security Nonce), @@ID@@ (the MessageID's UUID) and @@CREATED@@ (now), so
 * the server's replay guard sees every message once, as from real clients. The values are unique
 * rather than random (a per-run random prefix and a counter): the generator's own CPU comes out of
 * the server's two cores, so it does as little as it can: it does not read response bodies (a
 * Lua response hook makes wrk hand every body to Lua). A response counts when its status is 2xx:
 * these endpoints answer every fault with 500, so a 200 is a GetPoliciesResponse or an RSTR; before
 * measuring, one request through undici checks that the answer is the expected one.
 */
const SCRIPT = `
local bodies, n, i = {}, 0, 0
local path = nil
-- Globals: done() reads them from each thread with thread:get.
wrapped = 0
ready = 0
local threads = {}
local run, count, second, created = "", 0, -1, ""
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
-- A body as its literal pieces with the placeholders' names between them.
local function pieces(line)
  local out, at = {}, 1
  while true do
    local s, e, name = line:find("@@(%u+)@@", at)
    if not s then out[#out + 1] = line:sub(at); return out end
    out[#out + 1] = line:sub(at, s - 1)
    out[#out + 1] = name
    at = e + 1
  end
end
function init(args)
  path = args[1]
  math.randomseed(os.time() * 1000 + tid * 7919 + math.floor(os.clock() * 1e6))
  run = string.format("%08x%04x", math.random(0, 0x7fffffff), tid)
  for line in io.lines(args[2]) do n = n + 1; bodies[n] = pieces(line) end
  -- Threads start at different places in the list, so no two send the same body at once.
  i = math.floor(n * tid / #args[3])
  -- The process's CPU time once this thread has loaded its bodies: done() counts from here, so
  -- the figure is the requests' cost, not the loading of thousands of bodies.
  ready = os.clock()
end
function request()
  if i == n then wrapped = 1 end
  i = i % n + 1
  count = count + 1
  local now = os.time()
  if now ~= second then second = now; created = os.date("!%Y-%m-%dT%H:%M:%SZ", now) end
  local value = {
    NONCE = run .. string.format("%012x", count),
    ID = string.format("%s-%04x-4%03x-8%03x-%012x", run:sub(1, 8), tid, 0, 0, count),
    CREATED = created,
  }
  local p, out = bodies[i], {}
  for k = 1, #p do out[k] = (k % 2 == 0) and value[p[k]] or p[k] end
  return wrk.format("POST", path, { ["Content-Type"] = "application/soap+xml; charset=utf-8" }, table.concat(out))
end
function done(summary, latency, requests)
  local wraps, ready = 0, 0
  for _, t in ipairs(threads) do
    wraps = wraps + t:get("wrapped")
    ready = math.max(ready, t:get("ready"))
  end
  local e = summary.errors
  io.write(string.format('WRK {"requests":%d,"bad":%d,"wrapped":%d,"socketErrors":%d,"us":%d,"p50":%d,"p99":%d,"cpu":%.3f}\\n',
    summary.requests, e.status, wraps, e.connect + e.read + e.write + e.timeout, summary.duration, latency:percentile(50), latency:percentile(99), os.clock() - ready))
end
`;

export interface WrkRun {
  url: string;
  path: string;
  /** Body templates (one line each, no newlines inside). */
  bodies: string[];
  connections: number;
  threads?: number;
  seconds: number;
  /** A fixed unmeasured warm-up (the bodies are cycled, as in the measured run). */
  warmupSeconds?: number;
  /**
   * Instead: warm up until the server is steady (warmUntilSteady below); the first two thirds of
   * the bodies are kept for it, a fresh slice per window, so no warm-up request is a retry.
   */
  warmUntilSteady?: { minSeconds: number; maxSeconds: number };
  /**
   * Measured runs of `seconds` each, one after the other on the warm server, each with bodies of
   * its own; the result is the run with the median rate (a checkpoint or a vacuum on the shared
   * cores can pull one 10 s run down by 15 %).
   */
  runs?: number;
  expect?: string;
  /** The server's processes, for CPU per request over the measured run (bench/cpu.ts). */
  classes?: CpuClasses;
}

interface WrkOut {
  requests: number;
  bad: number;
  wrapped: number;
  socketErrors: number;
  us: number;
  p50: number;
  p99: number;
  /** wrk's CPU seconds from the end of loading its bodies to the end of the run (os.clock). */
  cpu: number;
}

async function once(dir: string, o: WrkRun, bodies: string, seconds: number): Promise<WrkOut> {
  const threads = o.threads ?? 1;
  // The 3rd argument's length tells each thread how many threads there are (wrk has no API for it).
  const args = ['-t', String(threads), '-c', String(o.connections), '-d', `${seconds}s`, '--timeout', '10s', '-s', join(dir, 'bench.lua'), o.url, '--', o.path, join(dir, bodies), 'x'.repeat(threads)];
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  const line = out.split('\n').find((l) => l.startsWith('WRK '));
  if (code !== 0 || !line) throw new Error(`wrk failed (${code}): ${out.slice(0, 500)}`);
  return JSON.parse(line.slice(4)) as WrkOut;
}

/** One request through undici (the last body, which the measured run reaches last): the answer must be the expected one. */
async function checkAnswer(o: WrkRun): Promise<void> {
  const body = o.bodies[o.bodies.length - 1]!
    .replace('@@NONCE@@', randomBytes(16).toString('base64'))
    .replace('@@ID@@', randomUUID())
    .replace('@@CREATED@@', new Date().toISOString().replace(/\.\d+Z$/, 'Z'));
  const r = await request(`${o.url}${o.path}`, { method: 'POST', body, headers: { 'content-type': 'application/soap+xml; charset=utf-8' }, dispatcher: new Agent({ connect: { rejectUnauthorized: false } }) });
  const text = await r.body.text();
  if (r.statusCode !== 200 || !text.includes(o.expect!)) throw new Error(`the server did not answer as expected before the run (${r.statusCode}): ${text.slice(0, 400)}`);
}

const WINDOW_SECONDS = 5;
/**
 * Steady: the server's mean CPU per request over the last two windows is within 3 % of the mean
 * over the two before (pairs, because single windows move by a few per cent either way).
 */
const STEADY = 0.03;
const steady = (w: { cpu: number }[]): boolean => {
  if (w.length < 4) return false;
  const [a, b, c, d] = w.slice(-4).map((x) => x.cpu) as [number, number, number, number];
  return Math.abs((c + d) / 2 - (a + b) / 2) / ((a + b) / 2) < STEADY;
};

/**
 * Unmeasured 5 s windows, each with bodies of its own, until the server's CPU per request (every
 * process of the server under test, not the load generator) has stopped falling (`steady`), after
 * at least `minSeconds` and at most `maxSeconds`. A fixed warm-up did not fit
 * every server: V8 optimises a process's enrollment path only after it has run it many times, and
 * the split topology spreads the same load over three processes, so each warms up slower — its
 * first 10 s run after a 10 s warm-up cost 4,259 µs of CPU per enrollment, the next 3,277.
 * Answers what the windows saw, for the row's note.
 */
async function warmUntilSteady(dir: string, o: WrkRun, pool: string[], file: (f: string, b: string[]) => string): Promise<string> {
  const { minSeconds, maxSeconds } = o.warmUntilSteady!;
  const seen: { rate: number; cpu: number }[] = [];
  let at = 0;
  let size = 5_000;
  for (let k = 0; (k + 1) * WINDOW_SECONDS <= maxSeconds; k++) {
    const slice = pool.slice(at, at + size);
    if (slice.length < size) return `${seen.length * WINDOW_SECONDS} s, not steady: warm-up bodies ran out`;
    at += size;
    const bodies = file(`warmup-${k}.txt`, slice);
    const { result: r, cpuSeconds } = await withCpu(o.classes ?? {}, () => once(dir, o, bodies, WINDOW_SECONDS));
    const ok = Math.max(1, r.requests - r.bad);
    const server = Object.entries(cpuSeconds).filter(([c]) => c !== BENCH_PROCESS).reduce((t, [, v]) => t + v, 0);
    seen.push({ rate: ok / (r.us / 1e6), cpu: (server * 1e6) / ok });
    if (process.env.BENCH_DEBUG_WARMUP) console.error(JSON.stringify(Object.fromEntries(Object.entries(cpuSeconds).map(([c, v]) => [c, Math.round((v * 1e6) / ok)]))));
    // The next window needs more bodies than this one's rate sends in a window.
    size = Math.ceil(seen.at(-1)!.rate * WINDOW_SECONDS * 1.25);
    if ((k + 1) * WINDOW_SECONDS >= minSeconds && steady(seen)) break;
  }
  const trail = seen.map((w) => `${w.rate.toFixed(0)}/s ${w.cpu.toFixed(0)} µs`).join(', ');
  return `${seen.length * WINDOW_SECONDS} s${steady(seen) ? '' : ', not steady'} (${WINDOW_SECONDS} s windows: ${trail})`;
}

/** A closed loop of `connections` keep-alive TLS connections for `seconds`, after an unmeasured warm-up. */
export async function wrkLoop(name: string, o: WrkRun): Promise<RateResult> {
  const memory = o.classes ? new MemorySampler(o.classes).start() : undefined;
  try {
    const r = await wrkRow(name, o);
    return memory ? { ...r, memory: memory.stop() } : r;
  } finally {
    memory?.stop();
  }
}

async function wrkRow(name: string, o: WrkRun): Promise<RateResult> {
  const dir = mkdtempSync(join(tmpdir(), 'opences-wrk-'));
  try {
    writeFileSync(join(dir, 'bench.lua'), SCRIPT);
    const file = (f: string, bodies: string[]): string => (writeFileSync(join(dir, f), bodies.map((b) => b.replace(/\n/g, ' ')).join('\n') + '\n'), f);
    // The warm-up sends other bodies than the measured run: a body sent twice (one CSR) would be
    // answered as a retry, from the database, without signing.
    const warming = (o.warmupSeconds || o.warmUntilSteady) && o.bodies.length > 1;
    const split = warming ? Math.floor(o.bodies.length / (o.warmUntilSteady ? 1.5 : 4)) : 0;
    if (o.expect) await checkAnswer(o);
    let warmup = '';
    if (o.warmUntilSteady) {
      warmup = await warmUntilSteady(dir, o, o.bodies.slice(0, split), file);
      console.error(`${name}: warm-up ${warmup}`);
    } else if (o.warmupSeconds) {
      await once(dir, o, file('warmup.txt', split ? o.bodies.slice(0, split) : o.bodies), o.warmupSeconds);
    }
    // Measured runs, each with bodies of its own; the row is the run with the median rate.
    const runs = Math.max(1, o.runs ?? 1);
    const rest = o.bodies.slice(split);
    const per = o.bodies.length > 1 ? Math.floor(rest.length / runs) : rest.length;
    const results: RateResult[] = [];
    for (let k = 0; k < runs; k++) {
      const measured = file(`bodies-${k}.txt`, o.bodies.length > 1 ? rest.slice(k * per, (k + 1) * per) : rest);
      const { result: r, cpuSeconds } = await withCpu(o.classes ?? {}, () => once(dir, o, measured, o.seconds));
      // wrk reports its own CPU for the requests (not for loading the bodies, which the reaped
      // child's total would include).
      cpuSeconds[WRK] = r.cpu;
      if (r.bad > 0) console.error(`${name}: ${r.bad} responses were not 2xx`);
      // Distinct bodies ran out and were sent again: the figure would count retries. Say so.
      const reused = o.bodies.length > 1 && r.wrapped > 0 ? ' — BODIES REUSED, includes retries' : '';
      const seconds = r.us / 1e6;
      const ok = r.requests - r.bad;
      results.push({ name: `${name} [wrk]${reused}`, ...(warmup ? { warmup } : {}), count: ok, seconds, rate: ok / seconds, p50ms: r.p50 / 1000, p99ms: r.p99 / 1000, errors: r.bad + r.socketErrors, ...(o.classes ? { cpuUs: perRequest(cpuSeconds, ok) } : {}) });
    }
    if (runs === 1) return results[0]!;
    const byRate = [...results].sort((a, b) => a.rate - b.rate);
    console.error(`${name}: ${runs} measured runs: ${results.map((r) => `${r.rate.toFixed(0)}/s`).join(', ')}`);
    return { ...byRate[Math.floor(runs / 2)]!, runRates: results.map((r) => r.rate) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
