import { existsSync } from 'node:fs';
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { benchCa, opensslSpeed } from './ca.js';
import { CONCURRENCY, SOFTHSM_MODULE, benchClientCertificate, benchCsrs, benchGetPolicies, benchIssue, benchUnderAttack, issueTemplates, policiesExchange, probeHealthz, startServerProcess, startSplitProcesses, type ServerKerberos, type SlowProbe } from './http.js';
import { benchBarePolicies, benchFloor } from './floor.js';
import { benchCfssl } from './cfssl.js';
import { benchScep, BENCH_SCEP_SECRET, scepBenchYaml } from './scep.js';
import { memoryCell } from './mem.js';
import { soak } from './soak.js';
import { startKdc, type Kdc } from '../test/helpers/kdc.js';
import type { RateResult } from './stats.js';
import { freePorts } from './ports.js';

/**
 * `npm run bench`: the CA engine, GetPolicies and end-to-end CES issuance, each next to the
 * machine's raw signing limit measured by `openssl speed` in the same run. Loopback only,
 * bounded in time. Results go to stdout (Markdown) for docs/benchmarks.md.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

interface KerberosModule {
  initializeClient(service: string, o: { mechOID: unknown }): Promise<{ step(challenge: string): Promise<string> }>;
  GSS_MECH_OID_SPNEGO: unknown;
}

/** µs of CPU per request over every process class. */
const cpuTotal = (r: RateResult): number | undefined => (r.cpuUs ? Object.values(r.cpuUs).reduce((t, v) => t + v, 0) : undefined);

/** µs of CPU per request: the sum, then each process class, largest first. */
const cpuCell = (r: RateResult): string =>
  r.cpuUs ? `${cpuTotal(r)!.toFixed(0)}: ${Object.entries(r.cpuUs).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}` : '';

/** The hop in CPU, which moves far less between runs than the rates do. */
const hopCpu = (split: number | undefined, all: number | undefined): string =>
  split !== undefined && all !== undefined ? `; CPU per enrollment ${split.toFixed(0)} µs against ${all.toFixed(0)} µs in one node (+${((100 * (split - all)) / all).toFixed(0)} %)` : '';

/** The warm-up's length (its windows go to stderr): e.g. "warm-up 30 s" or "warm-up 60 s, not steady". */
const warmed = (r: RateResult): string =>
  (r.warmup ? ` (warm-up ${r.warmup.replace(/ \(.*$/, '')})` : '') + (r.runRates ? ` [median of ${r.runRates.length} runs: ${r.runRates.map((x) => x.toFixed(0)).join(', ')}/s]` : '');

const row = (r: RateResult, ref?: { name: string; rate: number }): string =>
  `| ${r.name}${warmed(r)} | ${r.rate.toFixed(0)}/s | ${r.p50ms.toFixed(2)} ms | ${r.p99ms.toFixed(2)} ms | ${r.errors} | ${cpuCell(r)} | ${memoryCell(r.memory)} | ${ref ? `${((100 * r.rate) / ref.rate).toFixed(0)} % of ${ref.name} (${ref.rate.toFixed(0)}/s)` : ''} |`;

/** A row of words only (the ratios, rows not measured). */
const note = (what: string, text: string, rate = ''): string => `| ${what} | ${rate} | | | | | | ${text} |`;
const slowProbe = (p: SlowProbe, connects: number): string =>
  `${p.ms.toFixed(0)} ms, started ${(p.at / 1000).toFixed(1)} s into the attack (${p.phase}), ${p.newConnection ? 'on a new connection' : 'on its kept-alive connection'}; the prober opened ${connects} connection(s)`;

const mark = (ok: boolean): string => (ok ? '✔' : '✘');

/** `--soak N` (seconds): the value after the flag, or undefined. */
function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** `--soak SECONDS`: one server under full load for that long, RSS per process every 30 s (bench/soak.ts). */
async function soakOnly(seconds: number): Promise<void> {
  const [port, pkiPort] = (await freePorts(2)) as [number, number];
  console.log(`# opences soak — ${new Date().toISOString()} — ${cpus().length} cores, Node ${process.version}, ${seconds} s`);
  const s = await startServerProcess({ keyType: 'RSA-2048', port, pkiPort });
  try {
    console.log((await soak(s, seconds)).join('\n'));
  } finally {
    await s.stop();
  }
}

async function main(): Promise<void> {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  const soakSeconds = flag('--soak');
  if (soakSeconds !== undefined) {
    if (!(Number(soakSeconds) > 0)) throw new Error('--soak needs a number of seconds, e.g. --soak 600');
    return soakOnly(Number(soakSeconds));
  }
  const lines: string[] = [];
  const cores = cpus().length;
  console.log(`# opences benchmark — ${new Date().toISOString()} — ${cores} cores, ${cpus()[0]?.model ?? ''}, Node ${process.version}`);
  const rsa = opensslSpeed('rsa2048');
  const p256 = opensslSpeed('ecdsap256');
  console.log(`openssl speed (one core): RSA-2048 ${rsa.toFixed(0)} sign/s, P-256 ${p256.toFixed(0)} sign/s`);
  // CPU µs per request: every process class's CPU over the measured run (bench/cpu.ts), per answer.
  // RSS MiB per process: once the row was over / its peak during the row, warm-up included (bench/mem.ts).
  lines.push('| measurement | rate | p50 | p99 | errors | CPU µs per request | RSS MiB after/peak | against the raw limit |', '|---|---|---|---|---|---|---|---|');
  lines.push(note('openssl speed rsa2048 (1 core)', '', `${rsa.toFixed(0)}/s`), note('openssl speed ecdsap256 (1 core)', '', `${p256.toFixed(0)}/s`));
  // The CA engine (bench/ca.ts): full issue path minus the database, and build + sign alone.
  // BENCH_ONLY=http skips the engine figures (for quick runs of the HTTP ones).
  // BENCH_ONLY=attack: only GetPolicies, CES Issue and the "under attack" rows (a quick look).
  const onlyAttack = process.env.BENCH_ONLY === 'attack';
  // BENCH_ONLY=policies: GetPolicies and the bare server answering the same bytes, and their ratio (a quick look).
  if (process.env.BENCH_ONLY === 'policies') {
    const [port, pkiPort, barePort] = (await freePorts(3)) as [number, number, number];
    const s = await startServerProcess({ keyType: 'RSA-2048', port, pkiPort });
    let policies: RateResult;
    let exchange: { body: string; answer: Buffer };
    try {
      exchange = await policiesExchange(s);
      policies = await benchGetPolicies(s, SECONDS);
    } finally {
      await s.stop();
    }
    const bare = await benchBarePolicies(SECONDS, barePort, exchange.body, exchange.answer, CONCURRENCY);
    lines.push(row(policies), row(bare), note('↳ GetPolicies against the bare server', `${((100 * policies.rate) / bare.rate).toFixed(0)} % of its rate ${mark(policies.rate >= 0.5 * bare.rate)} (target ≥ 50 %)`));
    console.log(lines.join('\n'));
    return;
  }
  for (const r of process.env.BENCH_ONLY === 'http' || onlyAttack ? [] : await benchCa({ seconds: SECONDS })) {
    if (r.unit !== 'certs/s') continue;
    lines.push(note(r.name, r.ratio !== undefined ? `${(100 * r.ratio).toFixed(0)} % of ${r.reference ?? 'openssl, 1 core'}` : '', `${r.value.toFixed(0)}/s`));
  }

  // A throwaway MIT realm for the Kerberos figure (the same helper the tests use); without the
  // KDC packages or the optional `kerberos` binding the row says why it is missing.
  let kdc: Kdc | undefined;
  let kerberos: ServerKerberos | undefined;
  let token: (() => Promise<string>) | undefined;
  let noKerberos = '';
  try {
    if (onlyAttack) throw new Error('not measured with BENCH_ONLY=attack');
    const krb = (await import('kerberos')) as unknown as { default?: KerberosModule } & KerberosModule;
    const m = krb.default ?? krb;
    kdc = await startKdc();
    kdc.addUser('bench', 'Bench-pass');
    kerberos = { keytab: kdc.addService('HTTP/localhost'), krb5Config: kdc.env.KRB5_CONFIG };
    process.env.KRB5_CONFIG = kdc.env.KRB5_CONFIG;
    process.env.KRB5CCNAME = `FILE:${kdc.kinit('bench', 'Bench-pass')}`;
    token = async () => (await m.initializeClient('HTTP@localhost', { mechOID: m.GSS_MECH_OID_SPNEGO })).step('');
  } catch (e) {
    noKerberos = e instanceof Error ? e.message : String(e);
  }

  const [port, pkiPort, caPort, caPkiPort, caApiPort, splitPort, splitPkiPort, floorPort, barePort, cfsslPort, hsmPort, hsmPkiPort] = (await freePorts(12)) as [number, number, number, number, number, number, number, number, number, number, number, number];
  const s = await startServerProcess({ keyType: 'RSA-2048', port, pkiPort, kerberos, scep: { secret: BENCH_SCEP_SECRET, yaml: scepBenchYaml } });
  const limit = { name: `openssl RSA-2048 × ${cores} cores`, rate: rsa * cores };
  let allRate = 0;
  let allCpu: number | undefined;
  let issue: RateResult | undefined;
  let policies: RateResult | undefined;
  let exchange: { body: string; answer: Buffer } | undefined;
  try {
    exchange = await policiesExchange(s);
    policies = await benchGetPolicies(s, SECONDS);
    lines.push(row(policies));
    const username = await benchIssue(s, SECONDS, `CES Issue end-to-end (UsernameToken, TLS, PKCS#10, RSA-2048 CA, PostgreSQL, ${CONCURRENCY} conns)`);
    issue = username;
    allRate = username.rate;
    allCpu = cpuTotal(username);
    lines.push(row(username, limit));
    // Under attack (issue #15): the same client while 8 unauthenticated senders post worst-case
    // bodies to every SOAP endpoint (bench/attack.ts); /healthz probed one request at a time.
    const calm = await probeHealthz(s, Math.min(5, SECONDS));
    const attacked = await benchUnderAttack(s, SECONDS);
    const versus = (ref: RateResult): { name: string; rate: number } => ({ name: `unattacked (p99 ${ref.p99ms.toFixed(1)} ms)`, rate: ref.rate });
    const a = attacked.attack;
    const share = (r: RateResult, ref: RateResult): string => `${((100 * r.rate) / ref.rate).toFixed(0)} % of the unattacked rate ${mark(r.rate >= 0.7 * ref.rate)} (target ≥ 70 %)`;
    lines.push(
      row(attacked.getPolicies, versus(policies)),
      note('↳ GetPolicies under attack', share(attacked.getPolicies, policies)),
      row(attacked.issue, versus(username)),
      note('↳ CES Issue under attack', share(attacked.issue, username)),
      note('↳ /healthz under attack (one request at a time)', `p50 ${attacked.healthz.p50ms.toFixed(1)} ms, p99 ${attacked.healthz.p99ms.toFixed(1)} ms ${mark(attacked.healthz.p99ms < 100)} (target < 100 ms), max ${attacked.healthz.maxMs.toFixed(1)} ms over ${attacked.healthz.count} probes; unattacked p99 ${calm.p99ms.toFixed(1)} ms`),
      ...(attacked.healthz.slowest ? [note('↳ the slowest /healthz probe', slowProbe(attacked.healthz.slowest, attacked.healthz.connects ?? 0))] : []),
      note('↳ the attack', `${a.sent} hostile bodies (~1 MiB each) sent, ${a.senderFaults} answered with a SOAP Sender fault, statuses ${JSON.stringify(a.statuses)}`, `${(a.sent / a.seconds).toFixed(0)}/s`),
    );
    if (onlyAttack) {
      console.log(lines.join('\n'));
      return;
    }
    // Certificate and Kerberos callers need a client the Node.js way (wrk sends neither a client
    // certificate nor a fresh Negotiate token): compare them with UsernameToken from the same client.
    const sameClient = username.name.endsWith('[undici]') ? username : await benchIssue(s, SECONDS, 'CES Issue end-to-end (UsernameToken)', { kind: 'username' }, 'undici');
    if (sameClient !== username) lines.push(row(sameClient, limit));
    // SCEP beside CES Issue (docs/scep.md): PKCSReq with a static challenge, RSA-2048 devices, AES-256 and SHA-256.
    const scep = await benchScep(s, SECONDS, `SCEP PKIOperation end-to-end (PKCSReq, static challenge, RSA-2048 device keys, AES-256-CBC, ${CONCURRENCY} conns)`);
    lines.push(row(scep, limit), note('↳ SCEP against CES Issue', `${((100 * scep.rate) / sameClient.rate).toFixed(0)} % of the UsernameToken CES rate, same client (SCEP adds an RSA decryption, an RSA signature and an encryption per request)`));
    const cert = await benchIssue(s, SECONDS, 'CES Issue end-to-end (TLS client certificate)', { kind: 'certificate', ...(await benchClientCertificate(s)) });
    lines.push(row(cert, limit), note('↳ certificate auth against UsernameToken', `${((100 * cert.rate) / sameClient.rate).toFixed(0)} % of the UsernameToken rate, same client`));
    if (token) {
      const krb = await benchIssue(s, SECONDS, 'CES Issue end-to-end (Kerberos, a fresh Negotiate token per request)', { kind: 'kerberos', token });
      lines.push(row(krb, limit), note('↳ Kerberos against UsernameToken', `${((100 * krb.rate) / sameClient.rate).toFixed(0)} % of the UsernameToken rate, same client (whose GSSAPI work runs on the same cores)`));
    } else {
      lines.push(note('CES Issue end-to-end (Kerberos)', noKerberos, 'not measured'));
    }
  } finally {
    await s.stop();
    await kdc?.stop();
  }

  // The same enrollments with the CA keys in SoftHSM2 (PKCS#11, src/ca/keys/pkcs11.ts), next to the file-key row.
  if (!onlyAttack) {
    if (!existsSync(SOFTHSM_MODULE)) lines.push(note('CES Issue end-to-end, CA key in SoftHSM2', 'SoftHSM2 is not installed (Debian softhsm2)', 'not measured'));
    else {
      const hsm = await startServerProcess({ keyType: 'RSA-2048', port: hsmPort, pkiPort: hsmPkiPort, softHsm: true });
      try {
        const r = await benchIssue(hsm, SECONDS, `CES Issue end-to-end, RSA-2048 CA key in SoftHSM2 (PKCS#11, 4 sessions; UsernameToken, ${CONCURRENCY} conns)`);
        lines.push(row(r, limit), note('↳ key in SoftHSM2 against the key file', `${allRate > 0 ? ((100 * r.rate) / allRate).toFixed(0) : '?'} % of the file-key rate`));
      } finally {
        await hsm.stop();
      }
    }
  }

  // The floor (bench/floor.ts): TLS + proof of possession + signature and nothing else, with the
  // opences server stopped, under the same load (one body: it reads none) — a bound on the CES row.
  const floor = await benchFloor(SECONDS, floorPort, issueTemplates(`https://127.0.0.1:${floorPort}/`, benchCsrs(1)), CONCURRENCY);
  lines.push(row(floor, limit), note('↳ CES Issue against the floor', `${((100 * allRate) / floor.rate).toFixed(0)} % of the floor's rate ${mark(allRate >= 0.5 * floor.rate)} (target ≥ 50 %)`));
  // GetPolicies' reference: the same cached answer from a bare HTTPS server on the same cores.
  if (exchange && policies) {
    const bare = await benchBarePolicies(SECONDS, barePort, exchange.body, exchange.answer, CONCURRENCY);
    lines.push(row(bare), note('↳ GetPolicies against the bare server', `${((100 * policies.rate) / bare.rate).toFixed(0)} % of its rate ${mark(policies.rate >= 0.5 * bare.rate)} (target ≥ 50 %)`));
  }
  // The open peer (bench/cfssl.ts): cfssl's sign API, same generator, connections and fresh CSRs.
  const cfssl = await benchCfssl({ port: cfsslPort, seconds: SECONDS, csrs: benchCsrs(Math.ceil(2_500 * (3 + 3 * SECONDS))), connections: CONCURRENCY, runs: Number(process.env.BENCH_ISSUE_RUNS ?? 3) });
  if (typeof cfssl === 'string') lines.push(note('cfssl serve sign API', cfssl, 'not measured'));
  else if (issue) {
    const ratio = issue.rate / cfssl.rate;
    lines.push(row(cfssl), note('↳ CES Issue against cfssl', `${ratio.toFixed(2)} × cfssl's sign rate ${mark(ratio >= 1.5)} (target ≥ 1.5 ×); CES p99 ${issue.p99ms.toFixed(1)} ms ${mark(issue.p99ms <= 50)} (target ≤ 50 ms at 32 connections), cfssl p99 ${cfssl.p99ms.toFixed(1)} ms`));
  }

  // `npm run bench -- --topology split`: the same enrollments through a ces node that forwards
  // to a separate ca node over mutual TLS, next to the single-process figure above.
  if (process.argv.includes('--topology') && process.argv[process.argv.indexOf('--topology') + 1] === 'split') {
    const split = await startSplitProcesses({ keyType: 'RSA-2048', port: splitPort, pkiPort: splitPkiPort, caPort, caPkiPort, caApiPort });
    try {
      const r = await benchIssue(split, SECONDS, 'CES Issue end-to-end, split: ces node → ca node over mutual TLS (UsernameToken, RSA-2048)');
      lines.push(row(r, limit), note('↳ split topology against --role all', `${((100 * r.rate) / allRate).toFixed(0)} % of the --role all rate (remote hop costs ${(100 - (100 * r.rate) / allRate).toFixed(0)} %; target < 15 %)${hopCpu(cpuTotal(r), allCpu)}`));
    } finally {
      await split.stop();
    }
  }
  console.log(lines.join('\n'));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
