import 'reflect-metadata';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { Pool } from 'undici';
import { ThrowawayPg } from '../test/helpers/throwaway-pg.js';
import { freePorts } from './ports.js';
import { cpuSeconds, processTree } from './cpu.js';

/**
 * `node --import tsx bench/pg-work.ts [issue|policies] [N]`: what PostgreSQL does for N CES Issue
 * enrollments (UsernameToken, PKCS#10, issued) or N GetPolicies — every statement with its calls,
 * rows and time per request (pg_stat_statements), and the CPU of the cluster's processes per
 * request (/proc/<pid>/stat of the postmaster and its children, which the machine's other clusters
 * do not pollute). A throwaway cluster of its own (fsync and synchronous_commit on, as deployed),
 * `opences serve` as its own process with its default workers, BENCH_CONCURRENCY clients (default
 * 32) through undici. Counts, not rates: it is meant for a loaded machine (docs/benchmarks.md).
 */
const mode = process.argv[2] === 'policies' ? 'policies' : 'issue';
const N = Number(process.argv[3] ?? 2000);
const WARMUP = Number(process.env.BENCH_PG_WARMUP ?? Math.min(N, 1000));

/** Each process's CPU seconds by what it is: client backends as one, the background processes by name. */
function cpuByKind(pids: number[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of pids) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      const kind = /\d+\.\d+\.\d+\.\d+\(\d+\)|\[local\]/.test(cmd) ? 'client backends' : cmd.replace(/^postgres: /, '').replace(/^\/\S+\/postgres.*/, 'postmaster');
      out.set(kind, (out.get(kind) ?? 0) + cpuSeconds([p]));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}


async function main(): Promise<void> {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  // BENCH_PG_SETTINGS="name=value ...": more server settings for an A/B (e.g. synchronous_commit=off).
  const cluster = await new ThrowawayPg(['fsync=on', 'shared_preload_libraries=pg_stat_statements', 'pg_stat_statements.track=top', 'pg_stat_statements.track_planning=on', ...(process.env.BENCH_PG_SETTINGS ?? '').split(' ').filter(Boolean)]).init();
  const postmaster = Number(readFileSync(join(cluster.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  // bench/http.ts reads DATABASE_URL when it loads.
  process.env.DATABASE_URL = cluster.url;
  const http = await import('./http.js');
  const { cepPath, cesPath } = await import('../src/http/endpoints.js');
  const { buildGetPoliciesRequest } = await import('../src/protocol/xcep/index.js');
  const { buildRstRequest } = await import('../src/protocol/wstep/index.js');
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query('CREATE EXTENSION pg_stat_statements');
  const [port, pkiPort] = (await freePorts(2)) as [number, number];
  const s = await http.startServerProcess({ keyType: 'RSA-2048', port, pkiPort });
  const conns = http.CONCURRENCY;
  const pool = new Pool(s.url, { connections: conns, pipelining: 1, connect: { rejectUnauthorized: false } });
  const path = mode === 'issue' ? cesPath('opences Issuing CA', 'UsernamePassword') : cepPath('UsernamePassword');
  const csrs = mode === 'issue' ? http.benchCsrs(WARMUP + N) : [];
  const header = (): string =>
    `<wsse:Security s:mustUnderstand="1" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"><wsse:UsernameToken><wsse:Username>bench</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">Bench-pass</wsse:Password><wsse:Nonce>${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64')}</wsse:Nonce><wsu:Created>${new Date().toISOString()}</wsu:Created></wsse:UsernameToken></wsse:Security>`;
  const body = (i: number): string =>
    mode === 'issue'
      ? buildRstRequest({ to: `${s.url}${path}`, requestType: 'issue', token: { valueType: 'pkcs10', der: csrs[i]! }, securityHeaderXml: header() })
      : buildGetPoliciesRequest({ to: `${s.url}${path}`, securityHeaderXml: header() });
  const expect = mode === 'issue' ? 'RequestedSecurityToken' : 'GetPoliciesResponse';
  let next = 0;
  let failed = 0;
  const run = async (end: number): Promise<void> => {
    await Promise.all(
      Array.from({ length: conns }, async () => {
        for (let i = next++; i < end; i = next++) {
          const r = await pool.request({ path, method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8' }, body: body(i) });
          const text = await r.body.text();
          if (r.statusCode !== 200 || !text.includes(expect)) failed++;
        }
      }),
    );
    next = end;
  };
  try {
    await run(WARMUP);
    // Let the audit sequencer chain the warm-up's events before counting.
    await new Promise((r) => setTimeout(r, 2_000));
    await admin.query('SELECT pg_stat_statements_reset()');
    await admin.query("SELECT pg_stat_reset_shared('wal')");
    await admin.query('SELECT pg_stat_reset()');
    const pids = (): number[] => processTree(postmaster);
    const before = cpuSeconds(pids());
    const kindsBefore = cpuByKind(pids());
    // PG_WORK_PERF=FILE: Linux perf samples the cluster's processes over the measured run (perf report -i FILE).
    const perf = process.env.PG_WORK_PERF ? spawn('perf', ['record', '-F', '999', '-e', 'cpu-clock', '-g', '-o', process.env.PG_WORK_PERF, '-p', pids().join(',')], { stdio: 'ignore' }) : undefined;
    const t0 = performance.now();
    await run(WARMUP + N);
    if (perf) {
      perf.kill('SIGINT');
      await new Promise((r) => perf.once('exit', r));
    }
    const seconds = (performance.now() - t0) / 1000;
    // What the run parked is chained within a second or two: count it with the run.
    await new Promise((r) => setTimeout(r, 2_000));
    const cpu = cpuSeconds(pids()) - before;
    const kinds = [...cpuByKind(pids())].map(([k, v]) => [k, v - (kindsBefore.get(k) ?? 0)] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
    const wal = (await admin.query<{ wal_records: string; wal_fpi: string; wal_bytes: string; wal_write: string; wal_sync: string }>('SELECT wal_records::text, wal_fpi::text, wal_bytes::text, wal_write::text, wal_sync::text FROM pg_stat_wal')).rows[0]!;
    const st = await admin.query<{ calls: string; rows: string; exec: number; plan: number; query: string }>(
      `SELECT calls::text, rows::text, total_exec_time AS exec, total_plan_time AS plan, regexp_replace(query, '\\s+', ' ', 'g') AS query
       FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%' ORDER BY calls DESC`,
    );
    // Per table over the run: sequential scans (a plan that reads a whole table per statement shows here), index scans, rows written.
    const tables = await admin.query<{ relname: string; seq_scan: string; seq_tup_read: string; idx_scan: string; n_tup_ins: string; n_tup_upd: string; n_tup_hot_upd: string; n_tup_del: string }>(
      `SELECT relname, seq_scan::text, seq_tup_read::text, coalesce(idx_scan, 0)::text AS idx_scan, n_tup_ins::text, n_tup_upd::text, n_tup_hot_upd::text, n_tup_del::text
       FROM pg_stat_user_tables WHERE seq_scan + coalesce(idx_scan, 0) + n_tup_ins + n_tup_upd + n_tup_del > 0 ORDER BY relname`,
    );
    const totalCalls = st.rows.reduce((t, r) => t + Number(r.calls), 0);
    const execMs = st.rows.reduce((t, r) => t + r.exec + r.plan, 0);
    console.log(`# PostgreSQL work per ${mode === 'issue' ? 'CES Issue enrollment' : 'GetPolicies'} — ${new Date().toISOString()}, ${N} requests, ${conns} connections, ${failed} failed, ${(N / seconds).toFixed(0)}/s on this machine`);
    console.log(`statements per request: ${(totalCalls / N).toFixed(3)}; PostgreSQL CPU per request: ${((1e6 * cpu) / N).toFixed(0)} µs (its processes, /proc); statement time (plan + execute) per request: ${((1000 * execMs) / N).toFixed(0)} µs`);
    console.log(`PostgreSQL CPU per request by process: ${kinds.map(([k, v]) => `${k} ${((1e6 * v) / N).toFixed(0)} µs`).join(', ')}`);
    console.log(`WAL per request: ${(Number(wal.wal_records) / N).toFixed(1)} records, ${(Number(wal.wal_bytes) / N).toFixed(0)} bytes, ${(Number(wal.wal_fpi) / N).toFixed(2)} full-page images; WAL writes ${(Number(wal.wal_write) / N).toFixed(2)} and syncs ${(Number(wal.wal_sync) / N).toFixed(2)} per request`);
    console.log('| table | seq scans | rows read by seq scans | index scans | inserted | updated (HOT) | deleted | (per request) |\n|---|---|---|---|---|---|---|---|');
    const q = (v: string): string => (Number(v) / N).toFixed(2);
    for (const t of tables.rows) console.log(`| ${t.relname} | ${q(t.seq_scan)} | ${q(t.seq_tup_read)} | ${q(t.idx_scan)} | ${q(t.n_tup_ins)} | ${q(t.n_tup_upd)} (${q(t.n_tup_hot_upd)}) | ${q(t.n_tup_del)} | |`);
    console.log('| calls per request | rows per call | µs per request (plan + exec) | statement |\n|---|---|---|---|');
    for (const r of st.rows) {
      const calls = Number(r.calls);
      console.log(`| ${(calls / N).toFixed(3)} | ${(Number(r.rows) / Math.max(1, calls)).toFixed(1)} | ${((1000 * (r.exec + r.plan)) / N).toFixed(1)} | \`${r.query.slice(0, 110)}\` |`);
    }
  } finally {
    await pool.close();
    await s.stop();
    await admin.end();
    if (process.env.PG_WORK_KEEP) console.log(`cluster kept: ${cluster.url} (${cluster.dir})`);
    else cluster.destroy();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
