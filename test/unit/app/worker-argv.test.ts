import { describe, expect, it } from 'vitest';
import { workerEnv, workerExecArgv } from '../../../src/app/cluster.js';
import type { Config } from '../../../src/config.js';

const config = (workerSemiSpaceMb: number, workerHeapGrowingPercent = 0) => ({ workerSemiSpaceMb, workerHeapGrowingPercent }) as Config;

describe('workerExecArgv', () => {
  it("adds the nursery size to the primary's flags", () => {
    expect(workerExecArgv(config(64), ['--enable-source-maps'], '')).toEqual(['--enable-source-maps', '--max-semi-space-size=64']);
  });
  it('leaves V8 alone at 0, and never overrides a size the operator set (flags or NODE_OPTIONS, either spelling)', () => {
    expect(workerExecArgv(config(0), [], '')).toEqual([]);
    expect(workerExecArgv(config(64), ['--max-semi-space-size=16'], '')).toEqual(['--max-semi-space-size=16']);
    expect(workerExecArgv(config(64), [], '--max_semi_space_size=8 --trace-warnings')).toEqual([]);
  });
  it("adds the old generation's growing factor the same way: never over the operator's, nothing at 0", () => {
    expect(workerExecArgv(config(16, 50), [], '')).toEqual(['--max-semi-space-size=16', '--heap-growing-percent=50']);
    expect(workerExecArgv(config(0, 50), ['--heap_growing_percent=20'], '')).toEqual(['--heap_growing_percent=20']);
    expect(workerExecArgv(config(16, 50), [], '--heap-growing-percent=80')).toEqual(['--max-semi-space-size=16']);
    expect(workerExecArgv(config(16, 0), [], '')).toEqual(['--max-semi-space-size=16']);
  });
  it('gives workers two malloc arenas unless the operator set MALLOC_ARENA_MAX', () => {
    expect(workerEnv({})).toEqual({ MALLOC_ARENA_MAX: '2' });
    expect(workerEnv({ MALLOC_ARENA_MAX: '8' })).toEqual({});
  });
});
