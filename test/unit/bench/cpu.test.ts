import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { BENCH_PROCESS, byCommand, processTree, withCpu } from '../../../bench/cpu.js';

/** bench/cpu.ts: the CPU column of `npm run bench` reads /proc, and must count the right processes. */
describe('bench CPU accounting', () => {
  it('counts a busy process tree, its children included, and not an idle one', async () => {
    // A parent that forks a busy child: the tree's CPU is the child's.
    const spin = 'const end = Date.now() + 3000; while (Date.now() < end);';
    const busy = spawn(process.execPath, ['-e', `require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(spin)}], { stdio: 'inherit' }); setTimeout(() => {}, 3000);`], { stdio: 'ignore' });
    const idle = spawn('sleep', ['5'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(processTree(busy.pid!).length).toBeGreaterThanOrEqual(2);
      expect(processTree(idle.pid!)).toEqual([idle.pid]);
      const { cpuSeconds } = await withCpu({ busy: () => processTree(busy.pid!), idle: () => processTree(idle.pid!) }, async () => {
        await new Promise((r) => setTimeout(r, 800));
      });
      expect(cpuSeconds.busy).toBeGreaterThan(0.2);
      expect(cpuSeconds.idle).toBe(0);
      expect(cpuSeconds[BENCH_PROCESS]).toBeGreaterThanOrEqual(0);
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
