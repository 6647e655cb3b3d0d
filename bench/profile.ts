import 'reflect-metadata';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cepPath, cesPath } from '../src/http/endpoints.js';
import { buildGetPoliciesRequest } from '../src/protocol/xcep/index.js';
import { freePorts } from './ports.js';

/**
 * `node --import tsx bench/profile.ts issue|policies SECONDS DIR`: `opences serve` (its default
 * workers) under wrk load — CES Issue with fresh CSRs, or GetPolicies — for SECONDS after a 15 s
 * warm-up, every process started with `--cpu-prof --cpu-prof-dir=DIR`; then prints, per worker
 * profile and over all of them, the functions with the most self time and the same grouped by
 * source file (node_modules by package). Each process writes its profile when it exits (after the
 * server is stopped). `node --import tsx bench/profile.ts summarise DIR [SECONDS]` prints the summary again
 * (of each profile's last SECONDS only).
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** A source file as a short label: a package for node_modules, the repository path otherwise. */
function fileLabel(url: string): string {
  if (!url) return '(native/vm)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return `pkg:${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (url.startsWith('node:')) return url;
  const d = url.indexOf('/dist/');
  return d >= 0 ? url.slice(d + 1) : url;
}

/** `windowSeconds`: only each profile's last seconds (the measured run, not the start-up's module loading). */
function summarise(dir: string, top = 45, windowSeconds = Infinity): void {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (const f of files) {
    const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Profile;
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    let own = 0;
    let at = p.startTime;
    const from = p.endTime - windowSeconds * 1e6;
    p.samples.forEach((id, i) => {
      const n = nodes.get(id)!;
      const us = p.timeDeltas[i] ?? 0;
      at += us;
      if (at < from) return;
      const name = n.callFrame.functionName || '(anonymous)';
      if (name === '(idle)') return;
      own += us;
      const key = `${name} ${fileLabel(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
      byFn.set(key, (byFn.get(key) ?? 0) + us);
      const fk = ['(garbage collector)', '(program)'].includes(name) ? name : fileLabel(n.callFrame.url);
      byFile.set(fk, (byFile.get(fk) ?? 0) + us);
    });
    total += own;
    console.log(`${f}: ${(own / 1e6).toFixed(1)} s busy of ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s`);
  }
  const print = (title: string, m: Map<string, number>): void => {
    console.log(`\n## ${title} (share of busy samples over ${files.length} profiles)`);
    for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((100 * v) / total).toFixed(2).padStart(6)} %  ${k}`);
  };
  print('by file or package', byFile);
  print('by function', byFn);
}

/** Per thread of the server's processes: user and system CPU seconds, minor faults, context switches. */
interface ThreadStat {
  name: string;
  user: number;
  system: number;
  minflt: number;
  voluntary: number;
  involuntary: number;
}

function threadStats(pids: number[]): Map<string, ThreadStat> {
  const out = new Map<string, ThreadStat>();
  for (const pid of pids) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const close = st.lastIndexOf(')');
        const f = st.slice(close + 2).split(' ');
        const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
        const num = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
        const comm = st.slice(st.indexOf('(') + 1, close);
        out.set(`${pid}/${tid}`, { name: `${pid} ${tid === String(pid) ? 'main thread' : comm}`, user: Number(f[11]) / 100, system: Number(f[12]) / 100, minflt: Number(f[7]), voluntary: num('voluntary_ctxt_switches'), involuntary: num('nonvoluntary_ctxt_switches') });
      } catch {
        // exited meanwhile
      }
    }
  }
  return out;
}

function printThreadStats(before: Map<string, ThreadStat>, after: Map<string, ThreadStat>, requests: number): void {
  const per = (x: number): string => ((1e6 * x) / Math.max(1, requests)).toFixed(0);
  const byName = new Map<string, ThreadStat>();
  for (const [k, a] of after) {
    const b = before.get(k);
    // Threads of one kind over every process: main threads, libuv's pool, V8's helpers...
    const name = a.name.replace(/^\d+ /, '');
    const d = byName.get(name) ?? { name, user: 0, system: 0, minflt: 0, voluntary: 0, involuntary: 0 };
    d.user += a.user - (b?.user ?? 0);
    d.system += a.system - (b?.system ?? 0);
    d.minflt += a.minflt - (b?.minflt ?? 0);
    d.voluntary += a.voluntary - (b?.voluntary ?? 0);
    d.involuntary += a.involuntary - (b?.involuntary ?? 0);
    byName.set(name, d);
  }
  console.log('| threads (all server processes) | user µs per request | system µs per request | minor faults per request | voluntary / involuntary switches per request |\n|---|---|---|---|---|');
  for (const d of [...byName.values()].sort((x, y) => y.user + y.system - x.user - x.system)) {
    if (d.user + d.system === 0 && d.minflt === 0) continue;
    console.log(`| ${d.name} | ${per(d.user)} | ${per(d.system)} | ${(d.minflt / Math.max(1, requests)).toFixed(2)} | ${(d.voluntary / Math.max(1, requests)).toFixed(2)} / ${(d.involuntary / Math.max(1, requests)).toFixed(2)} |`);
  }
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  if (mode === 'summarise') return summarise(resolve(process.argv[3]!), 45, Number(process.argv[4] ?? Infinity));
  if (mode !== 'issue' && mode !== 'policies') throw new Error('usage: bench/profile.ts issue|policies SECONDS DIR | summarise DIR');
  const seconds = Number(process.argv[3] ?? 30);
  const dir = resolve(process.argv[4] ?? '/tmp/opences-prof');
  mkdirSync(dir, { recursive: true });
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  // PROFILE_WITH=perf: Linux perf over the whole machine (true CPU samples, PostgreSQL included), with
  // V8's symbol maps; otherwise V8's own sampler, which counts wall time of busy stretches and so
  // charges a preempted main thread's wait to whatever it was running (on two shared cores: much).
  const withPerf = process.env.PROFILE_WITH === 'perf';
  process.env.BENCH_SERVER_NODE_ARGS = withPerf ? '--perf-basic-prof' : `--cpu-prof --cpu-prof-dir=${dir}`;
  const http = await import('./http.js');
  const { wrkLoop, wrkAvailable } = await import('./wrk.js');
  if (!wrkAvailable()) throw new Error('bench/profile.ts needs wrk (Debian package wrk)');
  const [port, pkiPort] = (await freePorts(2)) as [number, number];
  const s = await http.startServerProcess({ keyType: 'RSA-2048', port, pkiPort });
  try {
    const url = http.wrkUrl(s.url);
    const issuePath = cesPath('opences Issuing CA', 'UsernamePassword');
    const run = (secs: number, bodies: string[], classes = s.cpu): ReturnType<typeof wrkLoop> =>
      mode === 'issue'
        ? wrkLoop('profile CES Issue', { url, path: issuePath, bodies, connections: http.CONCURRENCY, seconds: secs, expect: 'RequestedSecurityToken', classes })
        : wrkLoop('profile GetPolicies', { url, path: cepPath('UsernamePassword'), bodies, connections: http.CONCURRENCY, seconds: secs, expect: 'GetPoliciesResponse', classes });
    const bodies = (n: number): string[] =>
      mode === 'issue'
        ? http.issueTemplates(`${s.url}${issuePath}`, http.benchCsrs(n))
        : [buildGetPoliciesRequest({ to: `${s.url}${cepPath('UsernamePassword')}`, messageId: 'urn:uuid:@@ID@@', securityHeaderXml: http.benchHeaderTemplate() })];
    await run(mode === 'issue' ? 20 : 5, bodies(30_000));
    const measured = bodies(Math.ceil(seconds * 1500));
    const perf = withPerf ? spawn('perf', ['record', '-a', '-F', '999', '-e', 'cpu-clock', ...(process.env.PROFILE_CALLGRAPH ? ['-g'] : []), '-o', join(dir, 'perf.data'), '--', 'sleep', String(seconds)], { stdio: 'ignore' }) : undefined;
    const server = s.cpu.opences?.() ?? [];
    const before = threadStats(server);
    const r = await run(seconds, measured);
    printThreadStats(before, threadStats(server), r.count);
    if (perf) await new Promise((res) => (perf.exitCode !== null ? res(null) : perf.once('exit', res)));
    console.log(`${r.name}: ${r.rate.toFixed(0)}/s, p99 ${r.p99ms.toFixed(1)} ms, CPU µs per request ${JSON.stringify(Object.fromEntries(Object.entries(r.cpuUs ?? {}).map(([k, v]) => [k, Math.round(v)])))}`);
  } finally {
    await s.stop();
  }
  if (withPerf) {
    console.log(`perf data in ${join(dir, 'perf.data')}: perf report -i ${join(dir, 'perf.data')} --sort comm,dso,sym`);
    return;
  }
  // Profiles are written as the processes exit.
  await new Promise((r) => setTimeout(r, 1_000));
  // The measured run and the server's stop (a second or two).
  summarise(dir, 45, seconds + 3);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
