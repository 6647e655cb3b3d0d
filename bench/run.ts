import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { createServer } from 'node:net';
import { benchCa, opensslSpeed } from './ca.js';
import { benchGetPolicies, benchIssue, startServerProcess } from './http.js';
import type { RateResult } from './stats.js';

/**
 * `npm run bench`: the CA engine, GetPolicies and end-to-end CES issuance, each next to the
 * machine's raw signing limit measured by `openssl speed` in the same run. Loopback only,
 * bounded in time. Results go to stdout (Markdown) for docs/benchmarks.md.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

const row = (r: RateResult, ref?: { name: string; rate: number }): string =>
  `| ${r.name} | ${r.rate.toFixed(0)}/s | ${r.p50ms.toFixed(2)} ms | ${r.p99ms.toFixed(2)} ms | ${r.errors} | ${ref ? `${((100 * r.rate) / ref.rate).toFixed(0)} % of ${ref.name} (${ref.rate.toFixed(0)}/s)` : ''} |`;

async function main(): Promise<void> {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  const lines: string[] = [];
  const cores = cpus().length;
  console.log(`# opences benchmark — ${new Date().toISOString()} — ${cores} cores, ${cpus()[0]?.model ?? ''}, Node ${process.version}`);
  const rsa = opensslSpeed('rsa2048');
  const p256 = opensslSpeed('ecdsap256');
  console.log(`openssl speed (one core): RSA-2048 ${rsa.toFixed(0)} sign/s, P-256 ${p256.toFixed(0)} sign/s`);
  lines.push('| measurement | rate | p50 | p99 | errors | against the raw limit |', '|---|---|---|---|---|---|');
  lines.push(`| openssl speed rsa2048 (1 core) | ${rsa.toFixed(0)}/s | | | | |`, `| openssl speed ecdsap256 (1 core) | ${p256.toFixed(0)}/s | | | | |`);
  // The CA engine (bench/ca.ts): full issue path minus the database, and build + sign alone.
  for (const r of await benchCa({ seconds: SECONDS })) {
    if (r.unit !== 'certs/s') continue;
    lines.push(`| ${r.name} | ${r.value.toFixed(0)}/s | | | | ${r.ratio !== undefined ? `${(100 * r.ratio).toFixed(0)} % of ${r.reference ?? 'openssl, 1 core'}` : ''} |`);
  }

  const s = await startServerProcess({ keyType: 'RSA-2048', port: await freePort(), pkiPort: await freePort() });
  try {
    lines.push(row(await benchGetPolicies(s, SECONDS)));
    lines.push(row(await benchIssue(s, SECONDS, 'CES Issue end-to-end (UsernameToken, TLS, PKCS#10, RSA-2048 CA, PostgreSQL, 64 clients)'), { name: `openssl RSA-2048 × ${cores} cores`, rate: rsa * cores }));
  } finally {
    await s.stop();
  }
  console.log(lines.join('\n'));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
