import { readFileSync } from 'node:fs';
import type { CpuClasses } from './cpu.js';

/**
 * Resident memory per process over a bench row, from /proc (Linux; elsewhere nothing is
 * reported): each process of the server under test sampled every SAMPLE_MS, its peak over the
 * row and its RSS once the row is over. PostgreSQL's backends are one line (their count, the
 * largest and the sum: their RSS counts shared buffers in every backend that touched them).
 */

const SAMPLE_MS = 500;

/** VmRSS of a process in MiB, or undefined when it is gone (or this is not Linux). */
export function rssMb(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface ProcessMemory {
  /** "opences primary", "opences worker 2", "postgres (12 backends)". */
  name: string;
  peakMb: number;
  afterMb: number;
}

/** A process's command name (/proc/<pid>/comm), or '?' when it is gone. */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** One class's processes by name: the first PID a class lists is its root (the cluster primary). */
function label(cls: string, index: number, count: number): string {
  if (count === 1) return cls;
  return index === 0 ? `${cls} primary` : `${cls} worker ${index}`;
}

/** Classes sampled as one aggregate line rather than per process. */
const AGGREGATE = new Set(['postgres']);

export class MemorySampler {
  private readonly peak = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly classes: CpuClasses) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    this.timer.unref();
    return this;
  }

  private sample(): void {
    for (const pids of Object.values(this.classes)) {
      for (const p of pids()) {
        const r = rssMb(p);
        if (r !== undefined && r > (this.peak.get(p) ?? 0)) this.peak.set(p, r);
      }
    }
  }

  /** Stops sampling; every process of the server under test with its peak and its RSS now. */
  stop(): ProcessMemory[] {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    return this.now();
  }

  /** The current reading (the sampler keeps running). */
  now(): ProcessMemory[] {
    const out: ProcessMemory[] = [];
    for (const [cls, pids] of Object.entries(this.classes)) {
      const live = pids().map((p) => ({ p, rss: rssMb(p) })).filter((x): x is { p: number; rss: number } => x.rss !== undefined);
      if (AGGREGATE.has(cls)) {
        if (!live.length) continue;
        const sum = live.reduce((t, x) => t + x.rss, 0);
        const peak = live.reduce((t, x) => t + (this.peak.get(x.p) ?? x.rss), 0);
        out.push({ name: `${cls} (${live.length} processes, sum)`, peakMb: peak, afterMb: sum });
        continue;
      }
      // Helpers in the tree (tsx's esbuild service) go by their command name, not as workers.
      const nodes = live.filter((x) => commandOf(x.p) === 'node');
      for (const x of live) {
        const i = nodes.indexOf(x);
        out.push({ name: i >= 0 ? label(cls, i, nodes.length) : `${cls} ${commandOf(x.p)}`, peakMb: Math.max(this.peak.get(x.p) ?? 0, x.rss), afterMb: x.rss });
      }
    }
    return out;
  }
}

/** Runs `run` with the classes' memory sampled; answers its result and the readings. */
export async function withMemory<T>(classes: CpuClasses, run: () => Promise<T>): Promise<{ result: T; memory: ProcessMemory[] }> {
  const s = new MemorySampler(classes).start();
  try {
    const result = await run();
    return { result, memory: s.stop() };
  } finally {
    s.stop();
  }
}

/** "opences primary 98/104, opences worker 1 180/231" — MiB after the row / peak during it. */
export const memoryCell = (m: ProcessMemory[] | undefined): string => (m ?? []).map((x) => `${x.name} ${x.afterMb.toFixed(0)}/${x.peakMb.toFixed(0)}`).join(', ');
