import { withCpu, type CpuClasses } from './cpu.js';
import { MemorySampler, type ProcessMemory } from './mem.js';

export interface RateResult {
  name: string;
  count: number;
  seconds: number;
  rate: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  /** µs of CPU per successful request during the measured run, per process class (bench/cpu.ts). */
  cpuUs?: Record<string, number>;
  /** How the server was warmed up before the measured run, when it was warmed until steady (bench/wrk.ts). */
  warmup?: string;
  /** Every measured run's rate, when the result is the median of several (bench/wrk.ts). */
  runRates?: number[];
  /** RSS of each server process: its peak over the row (warm-up included) and once the row was over (bench/mem.ts). */
  memory?: ProcessMemory[];
}

/** Per-request µs from CPU seconds over a run of `count` successful requests. */
export function perRequest(cpuSeconds: Record<string, number>, count: number): Record<string, number> {
  return Object.fromEntries(Object.entries(cpuSeconds).map(([k, v]) => [k, count > 0 ? (v * 1e6) / count : NaN]));
}

export function summarize(name: string, latencies: number[], seconds: number, errors: number): RateResult {
  const s = [...latencies].sort((a, b) => a - b);
  const q = (p: number): number => s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN;
  return { name, count: s.length, seconds, rate: s.length / seconds, p50ms: q(0.5), p99ms: q(0.99), errors };
}

/** Runs `task` with `concurrency` workers for `seconds`, collecting per-call latency. */
export async function closedLoop(name: string, concurrency: number, seconds: number, task: (i: number) => Promise<boolean>, warmupSeconds = 0, classes?: CpuClasses): Promise<RateResult> {
  const memory = classes ? new MemorySampler(classes).start() : undefined;
  try {
    const r = await closedLoopRun(name, concurrency, seconds, task, warmupSeconds, classes);
    return memory ? { ...r, memory: memory.stop() } : r;
  } finally {
    memory?.stop();
  }
}

async function closedLoopRun(name: string, concurrency: number, seconds: number, task: (i: number) => Promise<boolean>, warmupSeconds: number, classes?: CpuClasses): Promise<RateResult> {
  if (warmupSeconds > 0) {
    // Unmeasured: TLS handshakes, the first credential verification, JIT.
    let w = 1_000_000;
    const until = performance.now() + warmupSeconds * 1000;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) await task(w++).catch(() => false);
    }));
  }
  const lat: number[] = [];
  let errors = 0;
  let i = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  const { cpuSeconds } = await withCpu(classes ?? {}, () =>
    Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          const n = i++;
          const t = performance.now();
          const ok = await task(n).catch(() => false);
          if (ok) lat.push(performance.now() - t);
          else errors++;
        }
      }),
    ),
  );
  const r = summarize(name, lat, (performance.now() - t0) / 1000, errors);
  return classes ? { ...r, cpuUs: perRequest(cpuSeconds, r.count) } : r;
}
