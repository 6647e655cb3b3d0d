import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time per process class over a measured run, from /proc (Linux; elsewhere nothing is
 * reported). On a machine whose cores the load generator, PostgreSQL and every opences process
 * share, CPU per request says where the cost lies, and moves far less from run to run than the
 * rate does (docs/benchmarks.md).
 */

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const HZ = 100;

interface Stat {
  ppid: number;
  comm: string;
  /** utime + stime, in seconds. */
  own: number;
}

function stat(pid: number | 'self'): Stat | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    const f = s.slice(close + 2).split(' ');
    // Fields after "(comm) ": state ppid ... utime(14) stime(15), 1-based.
    return { ppid: Number(f[1]), comm: s.slice(s.indexOf('(') + 1, close), own: (Number(f[11]) + Number(f[12])) / HZ };
  } catch {
    return null;
  }
}

function allPids(): number[] {
  try {
    return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  } catch {
    return [];
  }
}

/** A process and all its descendants (node:cluster workers, the thread pool is in-process). */
export function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const p of allPids()) {
    const s = stat(p);
    if (s) parent.set(p, s.ppid);
  }
  const out = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [p, pp] of parent) if (!out.has(p) && out.has(pp)) (out.add(p), (grew = true));
  }
  return [...out];
}

/** Every process with this command name (e.g. PostgreSQL's backends). */
export const byCommand = (name: string): number[] => allPids().filter((p) => stat(p)?.comm === name);

/** Process classes by name; each resolves its PIDs when sampled (before and after the run). */
export type CpuClasses = Record<string, () => number[]>;

/** The load generator's side: this process (the undici client, or idle while wrk runs). */
export const BENCH_PROCESS = 'bench process';
/** wrk, which reports its own CPU for the requests it sent (bench/wrk.ts). */
export const WRK = 'wrk';

function sample(classes: CpuClasses): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  for (const [name, pids] of Object.entries(classes)) {
    const m = new Map<number, number>();
    for (const p of pids()) {
      const s = stat(p);
      if (s) m.set(p, s.own);
    }
    out.set(name, m);
  }
  const self = stat('self');
  if (self) out.set(BENCH_PROCESS, new Map([[0, self.own]]));
  return out;
}

/** Runs `run` and answers its result with the CPU seconds each class (and the load generator) used meanwhile. */
export async function withCpu<T>(classes: CpuClasses, run: () => Promise<T>): Promise<{ result: T; cpuSeconds: Record<string, number> }> {
  const before = sample(classes);
  const result = await run();
  const after = sample(classes);
  const cpuSeconds: Record<string, number> = {};
  for (const [name, m] of after) {
    const b = before.get(name) ?? new Map<number, number>();
    // A process that is new since `before` counts from zero; one that is gone is not counted.
    let total = 0;
    for (const [p, t] of m) total += t - (b.get(p) ?? 0);
    cpuSeconds[name] = Math.max(0, total);
  }
  return { result, cpuSeconds };
}

/** User + system CPU seconds of these processes so far, from /proc (a process gone meanwhile counts 0). */
export function cpuSeconds(pids: number[]): number {
  let t = 0;
  for (const p of pids) {
    try {
      const s = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      t += (Number(f[11]) + Number(f[12])) / HZ;
    } catch {
      // exited meanwhile
    }
  }
  return t;
}
