/**
 * `npm run fuzz -- [--target NAME|all] [--runs N] [--seed S] [--scale short|full] [--hang-ms 100] [--json FILE]`
 * `npm run fuzz -- --target NAME --seed S --replay RUN[,RUN…] [--times 10] [--warmup 2000]`
 *
 * Runs the fuzz campaign (docs/testing.md, "Fuzzing"): each target gets N inputs (default 10,000)
 * drawn by fast-check from seed S (default: the time). Prints one summary line per target and the
 * first crashes and hangs with their inputs, and the run numbers of the slowest inputs; exits 1 when
 * any target crashed or hung. `--replay` draws the given runs of a seed again and times each of them
 * `--times` times after `--warmup` of the campaign's first inputs (re-timing, on a quiet core, what
 * a loaded machine reported).
 */
import { writeFileSync } from 'node:fs';
import { fuzzTarget, replayRun, type FuzzReport } from './engine.js';
import { FULL, SHORT } from './mutators.js';
import { TARGETS, TARGET_NAMES } from './targets.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const name = arg('target') ?? 'all';
const runs = Number(arg('runs') ?? 10_000);
const seed = Number(arg('seed') ?? Date.now() % 2 ** 31);
// `full` reaches the hostile shapes of issue #15 (100,000-deep XML…), which take seconds each until
// the XML parser's streaming limits land; `short` is the default, as in the benchmark.
const scale = arg('scale') === 'full' ? FULL : SHORT;
const jsonOut = arg('json');
const hangMs = Number(arg('hang-ms') ?? 100);

if (name !== 'all' && !TARGET_NAMES.includes(name)) {
  console.error(`unknown target ${name}; targets: ${TARGET_NAMES.join(', ')}, all`);
  process.exit(2);
}
if (!Number.isInteger(runs) || runs < 1) {
  console.error('--runs must be a positive integer');
  process.exit(2);
}

const replay = arg('replay');
if (replay !== undefined) {
  const target = TARGETS.find((t) => t.name === name);
  const times = Number(arg('times') ?? 10);
  const seedGiven = arg('seed');
  const wanted = replay.split(',').map(Number);
  if (!target || seedGiven === undefined || wanted.some((r) => !Number.isInteger(r) || r < 0) || !Number.isInteger(times) || times < 1) {
    console.error('--replay needs one --target, its --seed, run numbers (0 or more) and --times ≥ 1');
    process.exit(2);
  }
  for (const run of wanted) {
    const r = await replayRun(target, { seed, scale, run, times, warmup: Number(arg('warmup') ?? 2000) });
    console.log(`${r.target} run ${r.run}: best ${r.bestMs} ms CPU, median ${r.medianMs} ms over ${times} (${r.ms.join(', ')}); ${r.outcome}`);
  }
  process.exit(0);
}

const chosen = name === 'all' ? TARGETS : TARGETS.filter((t) => t.name === name);
const reports: FuzzReport[] = [];
console.log(`fuzz: ${chosen.length} target(s), ${runs} inputs each, seed ${seed}, scale ${scale === FULL ? 'full' : 'short'}, hang ≥ ${hangMs} ms`);
for (const t of chosen) {
  const r = await fuzzTarget(t, {
    runs,
    seed,
    scale,
    hangMs,
    progressEvery: Math.max(1000, Math.floor(runs / 20)),
    progress: (done, p) => process.stderr.write(`  ${t.name}: ${done}/${runs} (${Math.round(p.inputsPerSecond)}/s, ${p.crashCount} crashes, ${p.hangCount} hangs)\n`),
  });
  reports.push(r);
  const refused = Object.entries(r.refused).map(([k, n]) => `${k} ${n}`).join(', ');
  console.log(`${t.name}: ${r.runs} inputs in ${r.seconds.toFixed(1)} s (${Math.round(r.inputsPerSecond)}/s); answered ${r.accepted}; refused ${refused || 'none'}; crashes ${r.crashCount}; hangs ${r.hangCount}; slowest ${r.slowestMs} ms CPU (${r.slowestWallMs} ms wall)`);
  console.log(`  slowest runs (replay with --seed ${seed} --replay RUN): ${r.slowestRuns.map((s) => `${s.run} (${s.ms} ms)`).join(', ')}`);
  for (const c of r.crashes) console.log(`  CRASH run ${c.run}: ${c.error}\n    input: ${c.input}`);
  for (const h of r.hangs) console.log(`  HANG run ${h.run}: ${h.ms} ms CPU, ${h.wallMs} ms wall (${h.error})\n    input: ${h.input.slice(0, 300)}`);
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ seed, runs, reports }, null, 2));
process.exit(reports.some((r) => r.crashCount > 0 || r.hangCount > 0) ? 1 : 0);
