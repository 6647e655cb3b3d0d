/**
 * CA engine issuance rate without the database: LocalCa.signOrder (CSR parse, key policy, proof
 * of possession, validity, extensions, lint, TBSCertificate from pre-encoded pieces, signature),
 * 64 orders in flight in one process — next to `openssl speed`'s one-core signing rate measured
 * in the same run. Also the synchronous signer and the bare build+sign, to show what each costs.
 *
 *   node --import tsx bench/ca.ts        (BENCH_SECONDS=5 by default)
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildCertificate } from '../src/ca/certificate-builder.js';
import { LocalCa } from '../src/ca/engine.js';
import { basicConstraints, keyUsage, subjectKeyIdentifier } from '../src/ca/extensions.js';
import { FileKeyStore, KeyObjectSigner } from '../src/ca/keys/file.js';
import { Pkcs11KeyStore } from '../src/ca/keys/pkcs11.js';
import { encodeName } from '../src/ca/name.js';
import { defaultTemplates } from '../src/policy/defaults.js';
import { newSerial, pooledRandom } from '../src/ca/serial.js';
import type { CaKeyType, CaSigner, IssuanceOrder } from '../src/ca/types.js';
import { systemClock } from '../src/clock.js';
import type { Db } from '../src/store/db.js';
import { buildTestCsr } from '../test/unit/pkcs10/csr-builder.js';

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  /** value / reference, when there is a reference (openssl's one-core rate). */
  ratio?: number;
  reference?: string;
}

const CONCURRENCY = 64;

/** `openssl speed -seconds N rsa2048|ecdsap256` → sign/s on one core. */
export function opensslSpeed(alg: 'rsa2048' | 'ecdsap256', seconds = 3): number {
  const out = execFileSync('openssl', ['speed', '-seconds', String(seconds), alg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  // "rsa 2048 bits 0.000274s 0.000008s   3652.1 124994.4" / " 256 bits ecdsa (nistp256)   0.0000s   0.0001s  49512.1  16000.2"
  const re = alg === 'rsa2048' ? /^rsa\s+2048 bits/ : /^256 bits ecdsa \(nistp256\)/;
  const line = out.split('\n').map((l) => l.trim()).find((l) => re.test(l));
  if (!line) throw new Error(`cannot read the output of openssl speed ${alg}`);
  const nums = line.split(/\s+/).filter((t) => /^\d+(\.\d+)?$/.test(t)).map(Number);
  return nums[nums.length - 2]!; // sign/s, verify/s are the last two
}

const noDb: Db = {
  engine: 'postgres',
  query: () => Promise.reject(new Error('the benchmark does not use a database')),
  exec: () => Promise.reject(new Error('the benchmark does not use a database')),
  transaction: () => Promise.reject(new Error('the benchmark does not use a database')),
  ping: () => Promise.resolve(),
  close: () => Promise.resolve(),
};

/** The default templates, as the orders below name them (the engine checks every order against its template). */
const BENCH_TEMPLATES = defaultTemplates('1.3.6.1.4.1.311.21.8.1.2');

async function engineFor(signer: CaSigner): Promise<LocalCa> {
  const name = encodeName([{ type: 'CN', value: 'Bench Issuing CA' }, { type: 'O', value: 'opences' }]);
  const now = Date.now();
  const caCert = await buildCertificate(signer, {
    serial: newSerial((n) => randomBytes(n)).bytes,
    issuerName: name,
    subjectName: name,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 10 * 365 * 86400_000),
    spki: signer.spki,
    extensions: [basicConstraints(true, 0), keyUsage(['keyCertSign', 'cRLSign'], true), subjectKeyIdentifier(signer.spki)],
  });
  const info = { name: 'Bench Issuing CA', slug: 'Bench_Issuing_CA', issuingCertificate: new Uint8Array(caCert), rootCertificate: new Uint8Array(caCert), chain: [new Uint8Array(caCert)] };
  return new LocalCa({ db: noDb, clock: systemClock, signer, info, issuingCaId: 1, pkiBaseUrl: 'http://pki.example.test', templates: async (n) => BENCH_TEMPLATES.find((t) => t.name === n) ?? null });
}

/** Client requests, one per in-flight slot: RSA-2048 keys (the Windows template default) or P-256. */
function orders(n: number, clientKey: 'RSA-2048' | 'P-256'): IssuanceOrder[] {
  return Array.from({ length: n }, (_, i) => {
    const host = `host${i}.example.test`;
    const key = clientKey === 'P-256' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    return {
      orderId: String(i + 1),
      template: 'WebServer',
      templateInfo: { oid: '1.3.6.1.4.1.311.21.8.1.2.3', majorRevision: 100, minorRevision: 0 },
      csrDer: buildTestCsr({ key, subject: [{ type: 'CN', value: host }] }),
      subject: [{ type: 'CN', value: host }],
      sans: [{ type: 'dns', value: host }],
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      keyUsageCritical: true,
      ekus: ['1.3.6.1.5.5.7.3.1'],
      issuancePolicies: [],
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 365 * 86400_000),
      requester: 'bench',
    };
  });
}

async function rate(seconds: number, task: (i: number) => Promise<unknown>): Promise<number> {
  let done = 0;
  let i = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        await task(i++);
        done++;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}

export async function benchCa(opts: { seconds?: number; opensslSeconds?: number } = {}): Promise<BenchResult[]> {
  const seconds = opts.seconds ?? Number(process.env.BENCH_SECONDS ?? 5);
  const results: BenchResult[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'opences-bench-ca-'));
  try {
    const work = orders(CONCURRENCY, 'RSA-2048');
    const ecWork = orders(CONCURRENCY, 'P-256');
    for (const [keyType, alg] of [['RSA-2048', 'rsa2048'], ['P-256', 'ecdsap256']] as [CaKeyType, 'rsa2048' | 'ecdsap256'][]) {
      const openssl = opensslSpeed(alg, opts.opensslSeconds ?? 3);
      const ref = `openssl speed ${alg}, one core (${openssl.toFixed(0)} sign/s)`;
      results.push({ name: `openssl speed ${alg} (one core)`, value: openssl, unit: 'sign/s' });
      const store = new FileKeyStore(dir);
      await store.create(`bench-${alg}`, keyType);
      const asyncSigner = await store.open(`bench-${alg}`);
      const key = keyType === 'P-256' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      const syncSigner = new KeyObjectSigner(keyType, key, 'sync');

      const asyncCa = await engineFor(asyncSigner);
      const full = await rate(seconds, (i) => asyncCa.signOrder(work[i % work.length]!));
      results.push({ name: `engine ${keyType} CA: signOrder (RSA-2048 CSRs), async sign, ${CONCURRENCY} in flight`, value: full, unit: 'certs/s', ratio: full / openssl, reference: ref });

      const syncCa = await engineFor(syncSigner);
      const fullSync = await rate(seconds, (i) => syncCa.signOrder(work[i % work.length]!));
      results.push({ name: `engine ${keyType} CA: signOrder (RSA-2048 CSRs), sync sign`, value: fullSync, unit: 'certs/s', ratio: fullSync / openssl, reference: ref });

      const ecFull = await rate(seconds, (i) => asyncCa.signOrder(ecWork[i % ecWork.length]!));
      results.push({ name: `engine ${keyType} CA: signOrder (P-256 CSRs), async sign`, value: ecFull, unit: 'certs/s', ratio: ecFull / openssl, reference: ref });

      const prepared = await Promise.all(work.map((o) => asyncCa.prepare(o)));
      // Serials from the same pooled CSPRNG LocalCa uses (one randomFillSync per 256 serials), as in issue().
      const random = pooledRandom();
      const bare = await rate(seconds, (i) => asyncCa.sign(prepared[i % prepared.length]!, newSerial(random).bytes));
      results.push({ name: `engine ${keyType}: TBS build + async sign only (order pre-checked)`, value: bare, unit: 'certs/s', ratio: bare / openssl, reference: ref });
    }
    results.push(...(await benchPkcs11(seconds, work)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

const SOFTHSM = '/usr/lib/softhsm/libsofthsm2.so';

/**
 * The same engine with its key in SoftHSM2 through PKCS#11 (src/ca/keys/pkcs11.ts), and the event
 * loop's delay meanwhile (C_Sign runs in libuv's threadpool; only C_SignInit and the hash are on
 * the loop). Skipped when SoftHSM2 is not installed.
 */
async function benchPkcs11(seconds: number, work: IssuanceOrder[]): Promise<BenchResult[]> {
  if (!existsSync(SOFTHSM)) return [];
  const dir = mkdtempSync(join(tmpdir(), 'opences-bench-hsm-'));
  const results: BenchResult[] = [];
  try {
    mkdirSync(join(dir, 'tokens'));
    writeFileSync(join(dir, 'softhsm2.conf'), `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--so-pin', '1111', '--pin', '2222'], { stdio: 'pipe' });
    const store = Pkcs11KeyStore.open({ module: SOFTHSM, tokenLabel: 'bench', pin: '2222', pinSource: 'bench', sessions: 4 });
    try {
      for (const keyType of ['RSA-2048', 'P-256'] as CaKeyType[]) {
        const signer = await store.create(`bench-${keyType}`, keyType);
        const ca = await engineFor(signer);
        const h = monitorEventLoopDelay({ resolution: 5 });
        h.enable();
        const r = await rate(seconds, (i) => ca.signOrder(work[i % work.length]!));
        h.disable();
        results.push({ name: `engine ${keyType} CA, key in SoftHSM2 (PKCS#11, 4 sessions): signOrder (RSA-2048 CSRs)`, value: r, unit: 'certs/s' });
        results.push({ name: `engine ${keyType} CA, key in SoftHSM2: event-loop delay p99 meanwhile`, value: h.percentile(99) / 1e6, unit: 'ms' });
      }
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  benchCa()
    .then((rs) => {
      for (const r of rs) console.log(`${r.name.padEnd(78)} ${r.value.toFixed(0).padStart(7)} ${r.unit}${r.ratio !== undefined ? `   ${(100 * r.ratio).toFixed(0)} % of ${r.reference}` : ''}`);
    })
    .catch((e: unknown) => {
      console.error(e);
      process.exit(1);
    });
}
