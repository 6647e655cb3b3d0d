import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RateResult } from './stats.js';

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
 * place of @@NONCE@@ (WS-Security Nonce, base64 of 16 bytes), @@ID@@ (the MessageID's UUID) and
 * @@CREATED@@ (now), so the server's replay guard sees every message once, as from real clients.
 * A response counts when its status is 200 and, with `expect`, its body contains that text.
 */
const SCRIPT = `
local bodies, n, i = {}, 0, 0
local path, expect = nil, nil
-- Globals: done() reads them from each thread with thread:get.
ok, bad, first, wrapped = 0, 0, nil, 0
local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local hex = "0123456789abcdef"
local threads = {}
local function rnd(alphabet, len)
  local t = {}
  for k = 1, len do local r = math.random(1, #alphabet); t[k] = alphabet:sub(r, r) end
  return table.concat(t)
end
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  path, expect = args[1], args[3] ~= "" and args[3] or nil
  math.randomseed(os.time() * 1000 + tid * 7919 + math.floor(os.clock() * 1e6))
  for line in io.lines(args[2]) do n = n + 1; bodies[n] = line end
  -- Threads start at different places in the list, so no two send the same body at once.
  i = math.floor(n * tid / #args[4])
end
function request()
  if i == n then wrapped = 1 end
  i = i % n + 1
  local b = bodies[i]
    :gsub("@@NONCE@@", rnd(chars, 22) .. "==", 1)
    :gsub("@@ID@@", rnd(hex, 8) .. "-" .. rnd(hex, 4) .. "-4" .. rnd(hex, 3) .. "-8" .. rnd(hex, 3) .. "-" .. rnd(hex, 12), 1)
    :gsub("@@CREATED@@", os.date("!%Y-%m-%dT%H:%M:%SZ"), 1)
  return wrk.format("POST", path, { ["Content-Type"] = "application/soap+xml; charset=utf-8" }, b)
end
function response(status, headers, body)
  if status == 200 and (expect == nil or body:find(expect, 1, true)) then ok = ok + 1
  else bad = bad + 1; if first == nil then first = status .. " " .. body:sub(1, 300) end end
end
function done(summary, latency, requests)
  local good, wrong, sample, wraps = 0, 0, "", 0
  for _, t in ipairs(threads) do
    good = good + t:get("ok"); wrong = wrong + t:get("bad"); wraps = wraps + t:get("wrapped")
    if t:get("first") then sample = t:get("first") end
  end
  io.write(string.format('WRK {"ok":%d,"bad":%d,"wrapped":%d,"socketErrors":%d,"us":%d,"p50":%d,"p99":%d,"sample":%q}\\n',
    good, wrong, wraps, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99), sample))
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
  warmupSeconds?: number;
  expect?: string;
}

interface WrkOut {
  ok: number;
  bad: number;
  wrapped: number;
  socketErrors: number;
  us: number;
  p50: number;
  p99: number;
  sample: string;
}

async function once(dir: string, o: WrkRun, bodies: string, seconds: number): Promise<WrkOut> {
  const threads = o.threads ?? 1;
  // The 4th argument's length tells each thread how many threads there are (wrk has no API for it).
  const args = ['-t', String(threads), '-c', String(o.connections), '-d', `${seconds}s`, '--timeout', '10s', '-s', join(dir, 'bench.lua'), o.url, '--', o.path, join(dir, bodies), o.expect ?? '', 'x'.repeat(threads)];
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  const line = out.split('\n').find((l) => l.startsWith('WRK '));
  if (code !== 0 || !line) throw new Error(`wrk failed (${code}): ${out.slice(0, 500)}`);
  return JSON.parse(line.slice(4)) as WrkOut;
}

/** A closed loop of `connections` keep-alive TLS connections for `seconds`, after an unmeasured warm-up. */
export async function wrkLoop(name: string, o: WrkRun): Promise<RateResult> {
  const dir = mkdtempSync(join(tmpdir(), 'opences-wrk-'));
  try {
    writeFileSync(join(dir, 'bench.lua'), SCRIPT);
    const file = (f: string, bodies: string[]): string => (writeFileSync(join(dir, f), bodies.map((b) => b.replace(/\n/g, ' ')).join('\n') + '\n'), f);
    // The warm-up sends other bodies than the measured run: a body sent twice (one CSR) would be
    // answered as a retry, from the database, without signing.
    const split = o.warmupSeconds && o.bodies.length > 1 ? Math.floor(o.bodies.length / 4) : 0;
    if (o.warmupSeconds) await once(dir, o, file('warmup.txt', split ? o.bodies.slice(0, split) : o.bodies), o.warmupSeconds);
    const r = await once(dir, o, file('bodies.txt', o.bodies.slice(split)), o.seconds);
    if (r.bad > 0) console.error(`${name}: ${r.bad} responses refused or wrong, e.g. ${r.sample}`);
    // Distinct bodies ran out and were sent again: the figure would count retries. Say so.
    const reused = o.bodies.length > 1 && r.wrapped > 0 ? ' — BODIES REUSED, includes retries' : '';
    const seconds = r.us / 1e6;
    return { name: `${name} [wrk]${reused}`, count: r.ok, seconds, rate: r.ok / seconds, p50ms: r.p50 / 1000, p99ms: r.p99 / 1000, errors: r.bad + r.socketErrors };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
