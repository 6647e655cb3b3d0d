import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { benchCfssl, cfsslAvailable } from '../../bench/cfssl.js';
import { benchBarePolicies, benchFloor } from '../../bench/floor.js';
import { benchCsrs, issueTemplates } from '../../bench/http.js';
import { freePorts } from '../../bench/ports.js';
import { slope, soakTable } from '../../bench/soak.js';
import type { RateResult } from '../../bench/stats.js';

/**
 * `npm run bench`'s reference rows in a one-second smoke mode, so the harness keeps working:
 * the floor and the bare GetPolicies server always (wrk when installed, an undici client
 * otherwise), cfssl where it is installed. Rates are not asserted (the machine is shared), only
 * that requests were answered as expected and each row reports CPU and memory per process.
 */
const answered = (r: RateResult, server: string): void => {
  expect(r.count).toBeGreaterThan(0);
  expect(r.errors).toBe(0);
  expect(Object.keys(r.cpuUs ?? {})).toContain(server);
  expect(r.memory?.length).toBeGreaterThan(0);
  for (const m of r.memory!) expect(m.peakMb).toBeGreaterThanOrEqual(m.afterMb > 0 ? 1 : 0);
};

describe('bench reference rows (smoke)', () => {
  it('floor: bare HTTPS + P-256 verify + RSA-2048 sign answers the CES bodies', async () => {
    const [port] = (await freePorts(1)) as [number];
    const r = await benchFloor(1, port, issueTemplates(`https://127.0.0.1:${port}/`, benchCsrs(1)), 4, 0);
    answered(r, 'reference server');
    // The reference server is a cluster: its primary and one worker per core each have a line.
    expect(r.memory!.map((m) => m.name)).toContain('reference server primary');
    // tsx's esbuild helper in the same tree is named as such, not counted as a worker.
    expect(r.memory!.filter((m) => /worker/.test(m.name))).toHaveLength(availableParallelism());
  });

  it('bare GetPolicies server answers the cached bytes', async () => {
    const [port] = (await freePorts(1)) as [number];
    const answer = Buffer.from('<s:Envelope><s:Body><GetPoliciesResponse/></s:Body></s:Envelope>');
    answered(await benchBarePolicies(1, port, '<s:Envelope/>', answer, 4, 0), 'reference server');
  });

  const cfssl = cfsslAvailable();
  (cfssl ? it : it.skip)(cfssl ? 'cfssl serve signs distinct CSRs through its sign API' : 'cfssl row — SKIPPED: cfssl is not installed (Debian: apt-get install golang-cfssl)', async () => {
    const [port] = (await freePorts(1)) as [number];
    const r = await benchCfssl({ port, seconds: 1, csrs: benchCsrs(3_000), connections: 4, warmupSeconds: 0, runs: 1 });
    if (typeof r === 'string') throw new Error(r);
    answered(r, 'cfssl');
    expect(r.name).not.toContain('REUSED');
  });
});

describe('soak report', () => {
  it('gives each process its RSS per window and its slope once warm', () => {
    expect(slope([{ x: 0, y: 100 }, { x: 1, y: 110 }, { x: 2, y: 120 }])).toBeCloseTo(10);
    const w = (at: number, mb: number) => ({ at, issueRate: 500, policiesRate: 2000, memory: [{ name: 'opences worker 1', afterMb: mb, peakMb: mb + 5 }] });
    const lines = soakTable([w(30, 150), w(60, 180), w(90, 200), w(120, 200), w(150, 200)]);
    expect(lines[0]).toContain('opences worker 1 RSS MiB');
    expect(lines).toContain('| 90 | 500/s | 2000/s | 200 |');
    // The first two windows (warm-up) are left out: flat after them.
    expect(lines.at(-1)).toContain('opences worker 1: +0.0 MiB/min once warm, peak 205 MiB');
  });
});
