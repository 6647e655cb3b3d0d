import { execFileSync } from 'node:child_process';
import { withCpu } from './cpu.js';
import { startChild, startServerProcess } from './http.js';
import { freePorts } from './ports.js';

/**
 * What the attack of the "under attack" row costs the server by itself, with and without the
 * tarpit: bench/attack.ts's 8 senders against an otherwise idle `opences serve` (both workers),
 * for SECONDS each with `tarpit.delayMs` 0 and 1000 (and the idle server alone for as long), and
 * the server's CPU (all its processes) per second of attack and per hostile body. CPU time moves far less with the machine's other load than
 * rates do, so this isolates the attack's price from the legitimate client's.
 *   node --import tsx bench/attack-cost.ts [SECONDS]
 */
const seconds = Number(process.argv[2] ?? 20);
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
console.log('| tarpit.delayMs | hostile bodies/s | server CPU ms per second of attack | server CPU ms per body | statuses |');
console.log('|---|---|---|---|---|');
for (const delayMs of [0, 1000]) {
  const [port, pkiPort] = (await freePorts(2)) as [number, number];
  const s = await startServerProcess({ keyType: 'RSA-2048', port, pkiPort, yaml: `tarpit:\n  delayMs: ${delayMs}\n` });
  try {
    if (delayMs === 0) {
      // The same server with nothing to do: its timers, caches and GC, the floor of both rows.
      const t = performance.now();
      const { cpuSeconds } = await withCpu(s.cpu, () => new Promise((r) => setTimeout(r, seconds * 1000)));
      console.log(`| (no attack) | 0 | ${((1000 * (cpuSeconds.opences ?? 0)) / ((performance.now() - t) / 1000)).toFixed(0)} | | |`);
    }
    const attacker = await startChild('bench/attack.ts', [s.url, '8'], 'attacking');
    const t = performance.now();
    const { result, cpuSeconds } = await withCpu(s.cpu, async () => {
      await new Promise((r) => setTimeout(r, seconds * 1000));
      return JSON.parse(await attacker.stop()) as { sent: number; statuses: Record<string, number> };
    });
    const wall = (performance.now() - t) / 1000;
    const cpu = cpuSeconds.opences ?? 0;
    console.log(`| ${delayMs} | ${(result.sent / wall).toFixed(1)} | ${((1000 * cpu) / wall).toFixed(0)} | ${((1000 * cpu) / Math.max(1, result.sent)).toFixed(1)} | ${JSON.stringify(result.statuses)} |`);
  } finally {
    await s.stop();
  }
}
