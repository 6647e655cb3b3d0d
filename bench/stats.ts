export interface RateResult {
  name: string;
  count: number;
  seconds: number;
  rate: number;
  p50ms: number;
  p99ms: number;
  errors: number;
}

export function summarize(name: string, latencies: number[], seconds: number, errors: number): RateResult {
  const s = [...latencies].sort((a, b) => a - b);
  const q = (p: number): number => s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN;
  return { name, count: s.length, seconds, rate: s.length / seconds, p50ms: q(0.5), p99ms: q(0.99), errors };
}

/** Runs `task` with `concurrency` workers for `seconds`, collecting per-call latency. */
export async function closedLoop(name: string, concurrency: number, seconds: number, task: (i: number) => Promise<boolean>, warmupSeconds = 0): Promise<RateResult> {
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
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const n = i++;
        const t = performance.now();
        const ok = await task(n).catch(() => false);
        if (ok) lat.push(performance.now() - t);
        else errors++;
      }
    }),
  );
  return summarize(name, lat, (performance.now() - t0) / 1000, errors);
}
