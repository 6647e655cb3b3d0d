/**
 * Runs one fuzz target: fast-check draws `runs` inputs from the target's arbitrary (seeded, so a
 * run reproduces), each input goes through the target's parser, and every outcome is classified:
 * a value (the parser answered) or a typed OpencesError other than `internal` is fine; anything
 * else — a TypeError, a RangeError, a stack overflow, an `internal` error — is a crash. Each input
 * is timed in CPU time of this process (process.cpuUsage: the work the input costs, which the wall
 * clock of a machine shared by many processes inflates up to tenfold); one at or over `hangMs` is
 * timed twice more and counted by its best time (a pause of the collector or the JIT is not the
 * input's cost), and reported as a hang if still over. The wall time is reported beside it.
 */
import fc from 'fast-check';
import { OpencesError } from '../../src/errors.js';
import type { Scale } from './mutators.js';

export interface FuzzTarget<T = unknown> {
  name: string;
  /** What untrusted bytes reach this parser, and which entry point is called. */
  description: string;
  /** Built once per run (seeds are read and generated here). */
  arbitrary(scale: Scale): Promise<fc.Arbitrary<T>> | fc.Arbitrary<T>;
  run(input: T): unknown;
  /** A printable rendering of an input for a report (base64 or a text prefix). */
  show(input: T): string;
}

export interface Finding {
  run: number;
  error: string;
  input: string;
  /** CPU milliseconds (best of three). */
  ms?: number;
  wallMs?: number;
}

export interface FuzzReport {
  target: string;
  runs: number;
  seed: number;
  seconds: number;
  inputsPerSecond: number;
  /** Inputs the parser answered with a value. */
  accepted: number;
  /** Typed refusals by error kind. */
  refused: Record<string, number>;
  crashes: Finding[];
  crashCount: number;
  hangs: Finding[];
  hangCount: number;
  /** The most CPU time one input took (best of three for slow ones), and the most wall time. */
  slowestMs: number;
  slowestWallMs: number;
  /**
   * The slowest inputs by CPU time, slowest first: their run numbers replay them (`--replay RUN`
   * with the same seed and scale) so a figure taken on a loaded machine can be re-timed on a quiet one.
   */
  slowestRuns: { run: number; ms: number }[];
}

export interface FuzzOptions {
  runs: number;
  seed: number;
  scale: Scale;
  hangMs?: number;
  /** Findings kept per kind (all are counted). */
  keep?: number;
  /** How many of the slowest inputs are remembered (default 5). */
  keepSlowest?: number;
  /** Called every `progressEvery` inputs (the CLI prints a line). */
  progress?: (done: number, report: FuzzReport) => void;
  progressEvery?: number;
}

function describeError(e: unknown): string {
  if (e instanceof OpencesError) return `OpencesError(${e.kind}): ${e.message.slice(0, 200)}`;
  if (e instanceof Error) return `${e.name}: ${e.message.slice(0, 200)}\n${(e.stack ?? '').split('\n').slice(1, 6).join('\n')}`;
  return String(e).slice(0, 200);
}

/** Whether an outcome is acceptable, and under which name it is counted. */
function classify(e: unknown): { ok: true; kind: string } | { ok: false } {
  if (e instanceof OpencesError && e.kind !== 'internal') return { ok: true, kind: e.kind };
  return { ok: false };
}

async function once<T>(t: FuzzTarget<T>, input: T): Promise<{ error?: unknown; threw: boolean; ms: number; wallMs: number }> {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  const done = (threw: boolean, error?: unknown) => {
    const used = process.cpuUsage(cpu);
    return { threw, error, ms: (used.user + used.system) / 1000, wallMs: performance.now() - wall };
  };
  try {
    const r = t.run(input);
    if (r instanceof Promise) await r;
    return done(false);
  } catch (error) {
    return done(true, error);
  }
}

export async function fuzzTarget<T>(t: FuzzTarget<T>, o: FuzzOptions): Promise<FuzzReport> {
  const hangMs = o.hangMs ?? 100;
  const keep = o.keep ?? 10;
  const arb = await t.arbitrary(o.scale);
  const report: FuzzReport = { target: t.name, runs: 0, seed: o.seed, seconds: 0, inputsPerSecond: 0, accepted: 0, refused: {}, crashes: [], crashCount: 0, hangs: [], hangCount: 0, slowestMs: 0, slowestWallMs: 0, slowestRuns: [] };
  const keepSlowest = o.keepSlowest ?? 5;
  const started = performance.now();
  const every = o.progressEvery ?? 0;
  await fc.assert(
    fc.asyncProperty(arb, async (input) => {
      const run = report.runs++;
      let r = await once(t, input);
      // Re-timed only when near the bound: an input ten times over it is slow every time.
      for (let again = 0; r.ms >= hangMs && r.ms < 10 * hangMs && again < 2; again++) {
        const second = await once(t, input);
        r = { ...r, ms: Math.min(r.ms, second.ms), wallMs: Math.min(r.wallMs, second.wallMs) };
      }
      report.slowestMs = Math.max(report.slowestMs, r.ms);
      report.slowestWallMs = Math.max(report.slowestWallMs, r.wallMs);
      rememberSlow(report.slowestRuns, { run, ms: r.ms }, keepSlowest);
      if (r.ms >= hangMs) {
        report.hangCount++;
        if (report.hangs.length < keep) report.hangs.push({ run, ms: Math.round(r.ms), wallMs: Math.round(r.wallMs), error: r.threw ? describeError(r.error) : 'answered', input: t.show(input) });
      }
      if (!r.threw) report.accepted++;
      else {
        const c = classify(r.error);
        if (c.ok) report.refused[c.kind] = (report.refused[c.kind] ?? 0) + 1;
        else {
          report.crashCount++;
          if (report.crashes.length < keep) report.crashes.push({ run, error: describeError(r.error), input: t.show(input) });
        }
      }
      if (every && report.runs % every === 0) {
        report.seconds = (performance.now() - started) / 1000;
        report.inputsPerSecond = report.runs / report.seconds;
        o.progress?.(report.runs, report);
      }
      return true; // every input is recorded; none stops the campaign
    }),
    { numRuns: o.runs, seed: o.seed, endOnFailure: true },
  );
  report.seconds = (performance.now() - started) / 1000;
  report.inputsPerSecond = report.runs / report.seconds;
  report.slowestMs = Math.round(report.slowestMs * 10) / 10;
  report.slowestWallMs = Math.round(report.slowestWallMs * 10) / 10;
  report.slowestRuns = report.slowestRuns.map((s) => ({ run: s.run, ms: Math.round(s.ms * 10) / 10 }));
  return report;
}

/** Keeps `list` as the `keep` slowest entries, slowest first (a handful: insertion is enough). */
function rememberSlow(list: { run: number; ms: number }[], entry: { run: number; ms: number }, keep: number): void {
  if (keep <= 0 || (list.length >= keep && entry.ms <= list[list.length - 1].ms)) return;
  const at = list.findIndex((s) => s.ms < entry.ms);
  list.splice(at < 0 ? list.length : at, 0, entry);
  if (list.length > keep) list.pop();
}

export interface ReplayReport {
  target: string;
  run: number;
  /** CPU milliseconds of each timing, in order. */
  ms: number[];
  bestMs: number;
  medianMs: number;
  outcome: string;
}

/**
 * Draws run number `run` of a campaign again (fast-check's `path` replays one generated value of a
 * seed without shrinking) and times it `times` times: the way to re-time, on a quiet core, an input
 * a loaded machine reported near the bound.
 */
export async function replayRun<T>(t: FuzzTarget<T>, o: { seed: number; scale: Scale; run: number; times: number; warmup?: number }): Promise<ReplayReport> {
  const arb = await t.arbitrary(o.scale);
  // A campaign times its inputs in a warm process (the JIT has compiled the parsers); a lone
  // replay would time the compiler. Warm up on the campaign's first inputs, as the server is warm.
  if (o.warmup) {
    await fc.assert(fc.asyncProperty(arb, async (input) => { await once(t, input); return true; }), { seed: o.seed, numRuns: o.warmup, endOnFailure: true });
  }
  let report: ReplayReport | undefined;
  await fc.assert(
    fc.asyncProperty(arb, async (input) => {
      const ms: number[] = [];
      let outcome = 'answered';
      for (let i = 0; i < o.times; i++) {
        const r = await once(t, input);
        ms.push(Math.round(r.ms * 10) / 10);
        if (r.threw) outcome = describeError(r.error).split('\n')[0];
      }
      const sorted = [...ms].sort((a, b) => a - b);
      report = { target: t.name, run: o.run, ms, bestMs: sorted[0], medianMs: sorted[Math.floor(sorted.length / 2)], outcome };
      return true;
    }),
    { seed: o.seed, path: String(o.run), numRuns: 1, endOnFailure: true },
  );
  if (!report) throw new Error(`run ${o.run} of seed ${o.seed} was not drawn`);
  return report;
}

/** An input for a report: text as text (first 300 characters), bytes as base64 (first 400 characters), with its size. */
export function showBytes(b: Uint8Array): string {
  const s = Buffer.from(b).toString('base64');
  return `${b.length} bytes, base64 ${s.length > 400 ? `${s.slice(0, 400)}…` : s}`;
}

export function showText(s: string): string {
  return `${s.length} characters: ${JSON.stringify(s.length > 300 ? `${s.slice(0, 300)}…` : s)}`;
}
