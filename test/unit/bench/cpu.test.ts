import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { BENCH_PROCESS, byCommand, processTree, withCpu } from '../../../bench/cpu.js';
import { until } from '../../helpers/wait.js';

/** bench/cpu.ts: the CPU column of `npm run bench` reads /proc, and must count the right processes. */
describe('bench CPU accounting', () => {
  it('counts a busy process tree, its children included, and not an idle one', async () => {
    // A parent that forks a busy child: the tree's CPU is the child's.
    // The child spins until it is killed below; the windows are measured until it has been seen
    // to burn CPU (a loaded machine may give it little in any one window), with a ceiling.
    const spin = 'for (;;);';
    const busy = spawn(process.execPath, ['-e', `require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(spin)}], { stdio: 'inherit' }); setInterval(() => {}, 1000);`], { stdio: 'ignore' });
    const idle = spawn('sleep', ['600'], { stdio: 'ignore' });
    try {
      expect(await until(10_000, () => processTree(busy.pid!).length >= 2, 20)).toBe(true);
      expect(processTree(idle.pid!)).toEqual([idle.pid]);
      let busySeconds = 0;
      for (let window = 0; window < 20 && busySeconds <= 0.2; window++) {
        const { cpuSeconds } = await withCpu({ busy: () => processTree(busy.pid!), idle: () => processTree(idle.pid!) }, async () => {
          await new Promise((r) => setTimeout(r, 500));
        });
        busySeconds += cpuSeconds.busy ?? 0;
        expect(cpuSeconds.idle).toBe(0);
        expect(cpuSeconds[BENCH_PROCESS]).toBeGreaterThanOrEqual(0);
      }
      // Only the child spins (the parent sleeps in its interval): the tree's CPU is the child's.
      expect(busySeconds).toBeGreaterThan(0.2);
    } finally {
      for (const p of processTree(busy.pid!).reverse()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      idle.kill('SIGKILL');
    }
  });

  it('finds processes by command name', () => {
    expect(byCommand('vitest-no-such-command')).toEqual([]);
  });
});
