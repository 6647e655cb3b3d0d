import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './ports.js';
import { processTree } from './cpu.js';
import { rssMb } from './mem.js';

/**
 * `node --import tsx bench/embedded-idle.ts [SECONDS]`: the embedded-database server's resident
 * memory once idle (issue #19: ≤ 200 MB), as `npm start` runs it — a first start on a fresh data
 * directory (initdb, migrations, CA keys, templates), then a restart on the same directory. Each
 * start's processes' RSS (VmRSS, summed over the process tree) after SECONDS idle (default 30).
 * Environment passes through (e.g. MALLOC_ARENA_MAX, OPENCES_PGLITE_TIER_UP) for comparisons.
 */
const IDLE_SECONDS = Number(process.argv[2] ?? 30);
const CLI = join(process.cwd(), 'dist/cli/main.js');

async function start(dataDir: string): Promise<{ child: ChildProcess; startedMs: number; output: () => string }> {
  const [port, pkiPort] = (await freePorts(2)) as [number, number];
  const t0 = performance.now();
  const child = spawn('node', [CLI, 'serve', '--data-dir', dataDir, '--port', String(port), '--pki-port', String(pkiPort), '--host', '127.0.0.1'], {
    env: { ...process.env, DATABASE_URL: '', OPENCES_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      if (out.includes('opences is serving')) {
        clearInterval(poll);
        resolve();
      }
    }, 100);
    child.once('exit', (c) => {
      clearInterval(poll);
      reject(new Error(`opences serve exited ${c}: ${out.slice(-2000)}`));
    });
  });
  return { child, startedMs: performance.now() - t0, output: () => out };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function measure(label: string, dataDir: string): Promise<string> {
  const { child, startedMs, output } = await start(dataDir);
  try {
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const pids = processTree(child.pid!);
    const each = pids.map((p) => rssMb(p) ?? 0);
    const total = each.reduce((t, v) => t + v, 0);
    // A line the process itself may print (e.g. a NODE_OPTIONS=--import hook logging process.memoryUsage()).
    const memlog = /MEMLOG.*/.exec(output())?.[0] ?? '';
    const smaps = `${readFileSync(`/proc/${child.pid}/status`, 'utf8').match(/^(RssAnon|RssFile):\s+\d+ kB/gm)?.join(', ') ?? ''} ${memlog}`;
    return `| ${label} | ${(startedMs / 1000).toFixed(1)} s | ${total.toFixed(0)} MB (${pids.length} process${pids.length > 1 ? 'es' : ''}: ${each.map((v) => v.toFixed(0)).join(' + ')}) | ${smaps} |`;
  } finally {
    await stop(child);
  }
}

async function main(): Promise<void> {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  const dataDir = mkdtempSync(join(tmpdir(), 'opences-idle-'));
  try {
    console.log(`# embedded server idle RSS — ${new Date().toISOString()}, ${IDLE_SECONDS} s after start`);
    console.log('| start | time to serving | RSS | main process |\n|---|---|---|---|');
    console.log(await measure('first start (fresh data dir)', dataDir));
    console.log(await measure('restart (same data dir)', dataDir));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
