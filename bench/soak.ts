import { benchCsrs, CONCURRENCY, issueTemplates, policiesExchange, wrkUrl, type ServerUnderTest } from './http.js';
import { MemorySampler, type ProcessMemory } from './mem.js';
import { wrkAvailable, wrkLoop } from './wrk.js';
import { cesPath, cepPath } from '../src/http/endpoints.js';

/**
 * `npm run bench -- --soak SECONDS`: full load on one server for that long — CES Issue over
 * CONCURRENCY connections, each request a CSR never sent before, and GetPolicies over a quarter
 * as many at the same time — printing every WINDOW seconds each window's rates and every server
 * process's RSS, then each process's RSS slope once warm (the first two windows left out):
 * growth that does not stop is a leak or an unbounded cache.
 */
const WINDOW = Number(process.env.BENCH_SOAK_WINDOW ?? 30);

export interface SoakWindow {
  at: number;
  issueRate: number;
  policiesRate: number;
  memory: ProcessMemory[];
}

/** Least-squares slope of y over x (MiB per minute when x is in minutes). */
export function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((t, p) => t + p.x, 0) / n;
  const my = points.reduce((t, p) => t + p.y, 0) / n;
  const num = points.reduce((t, p) => t + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((t, p) => t + (p.x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

export async function soak(s: ServerUnderTest, seconds: number, log: (line: string) => void = console.log): Promise<string[]> {
  if (!wrkAvailable()) return ['soak: needs wrk (Debian package wrk)'];
  const issuePath = cesPath('opences Issuing CA', 'UsernamePassword');
  const { body: policiesBody } = await policiesExchange(s);
  const sampler = new MemorySampler(s.cpu).start();
  const windows: SoakWindow[] = [];
  const t0 = Date.now();
  let next = issueTemplates(`${s.url}${issuePath}`, benchCsrs(5_000));
  try {
    log(`soak: ${seconds} s of CES Issue (${CONCURRENCY} conns) and GetPolicies (${Math.max(1, CONCURRENCY / 4)} conns), ${WINDOW} s windows; RSS MiB per process`);
    while ((Date.now() - t0) / 1000 + 1 < seconds) {
      const len = Math.min(WINDOW, Math.ceil(seconds - (Date.now() - t0) / 1000));
      const bodies = next;
      const issue = wrkLoop('soak CES Issue', { url: wrkUrl(s.url), path: issuePath, bodies, connections: CONCURRENCY, seconds: len, expect: 'RequestedSecurityToken' });
      const policies = wrkLoop('soak GetPolicies', { url: wrkUrl(s.url), path: cepPath('UsernamePassword'), bodies: [policiesBody], connections: Math.max(1, CONCURRENCY / 4), seconds: len, expect: 'GetPoliciesResponse' });
      // The next window's CSRs while this one runs (wrk is its own process): enough for this
      // window's rate and a quarter more, so no CSR is sent twice.
      const last = windows.at(-1)?.issueRate ?? 300;
      next = issueTemplates(`${s.url}${issuePath}`, benchCsrs(Math.max(5_000, Math.ceil(last * WINDOW * 1.3))));
      const [i, p] = await Promise.all([issue, policies]);
      const w: SoakWindow = { at: Math.round((Date.now() - t0) / 1000), issueRate: i.rate, policiesRate: p.rate, memory: sampler.now() };
      windows.push(w);
      log(`${String(w.at).padStart(5)} s  Issue ${w.issueRate.toFixed(0)}/s${i.name.includes('REUSED') ? ' (CSRs reused)' : ''}, GetPolicies ${w.policiesRate.toFixed(0)}/s | ${w.memory.map((m) => `${m.name} ${m.afterMb.toFixed(0)}`).join(', ')}`);
    }
  } finally {
    sampler.stop();
  }
  return soakTable(windows);
}

/** The soak as Markdown: one row per window, then each process's RSS slope once warm. */
export function soakTable(windows: SoakWindow[]): string[] {
  if (!windows.length) return ['soak: no window completed'];
  const names = windows[0]!.memory.map((m) => m.name);
  const lines = [`| t (s) | CES Issue | GetPolicies | ${names.map((n) => `${n} RSS MiB`).join(' | ')} |`, `|---|---|---|${names.map(() => '---|').join('')}`];
  for (const w of windows) lines.push(`| ${w.at} | ${w.issueRate.toFixed(0)}/s | ${w.policiesRate.toFixed(0)}/s | ${names.map((n) => w.memory.find((m) => m.name === n)?.afterMb.toFixed(0) ?? '').join(' | ')} |`);
  const warm = windows.slice(2);
  const trend = names.map((n) => {
    const pts = warm.flatMap((w) => {
      const m = w.memory.find((x) => x.name === n);
      return m ? [{ x: w.at / 60, y: m.afterMb }] : [];
    });
    const peak = Math.max(...windows.map((w) => w.memory.find((m) => m.name === n)?.peakMb ?? 0));
    return `${n}: ${pts.length >= 2 ? `${slope(pts) >= 0 ? '+' : ''}${slope(pts).toFixed(1)} MiB/min once warm` : 'too short to tell'}, peak ${peak.toFixed(0)} MiB`;
  });
  lines.push('', `RSS trend after the first two windows: ${trend.join('; ')}`);
  return lines;
}
