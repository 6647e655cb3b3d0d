import 'reflect-metadata';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ThrowawayPg } from '../test/helpers/throwaway-pg.js';
import { openDb } from '../src/store/open.js';
import { AuditLog } from '../src/audit/log.js';
import { combinedWrites } from '../src/store/combined-writes.js';
import { REPLAY_WRITES } from '../src/auth/replay.js';
import { REQUEST_WRITES, type RequestOnce } from '../src/store/request-repo.js';
import { ISSUED_WRITES, type IssuedRecord } from '../src/store/certificate-repo.js';
import { systemClock } from '../src/clock.js';
import { cpuSeconds, processTree } from './cpu.js';
import { benchCsrs } from './http.js';

/**
 * `node --import tsx bench/pg-rows.ts [ENROLLMENTS] [BATCH] [PER_AUDIT_RUN]`: PostgreSQL's CPU and
 * WAL for the hot path's writes alone, in a fixed shape — the A/B tool for a schema or statement
 * change. bench/pg-work.ts measures the whole server, but how many items a statement carries there
 * follows the rate the machine allows at that moment, so two runs on a shared machine differ more
 * than most changes do. Here one client sends, in turn, statements each carrying BATCH enrollments'
 * replay keys (a MessageID and a Nonce each) and request rows, and the certificates of the
 * previous BATCH (the real statements of src/store/combined-writes.ts), and every PER_AUDIT_RUN
 * enrollments the audit sequencer chains what was parked (src/audit/log.ts). A throwaway cluster of
 * its own (fsync and synchronous commit on); prints the cluster's CPU and WAL per enrollment.
 * Run it twice in a row for an A/B; the rows are fabricated (real CSRs, random certificate bytes).
 * It also prints each table's counters per enrollment (scans, rows written, HOT updates), from
 * pg_stat_user_tables reset when the measured run starts.
 */
const N = Number(process.argv[2] ?? 6000);
const BATCH = Number(process.argv[3] ?? 8);
const PER_AUDIT_RUN = Number(process.argv[4] ?? 50);


interface TableCounts {
  relname: string;
  seq_scan: string;
  seq_tup_read: string;
  idx_scan: string;
  n_tup_ins: string;
  n_tup_upd: string;
  n_tup_hot_upd: string;
  n_tup_del: string;
  autovacuum_count: string;
}

const TABLE_COUNTS = `SELECT relname, seq_scan::text, seq_tup_read::text, coalesce(idx_scan, 0)::text AS idx_scan, n_tup_ins::text, n_tup_upd::text,
    n_tup_hot_upd::text, n_tup_del::text, autovacuum_count::text
  FROM pg_stat_user_tables WHERE seq_scan + coalesce(idx_scan, 0) + n_tup_ins + n_tup_upd + n_tup_del > 0 ORDER BY relname`;

async function main(): Promise<void> {
  const cluster = await new ThrowawayPg(['fsync=on']).init();
  const postmaster = Number(readFileSync(join(cluster.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const db = await openDb({ url: cluster.url, poolSize: 2 });
  let closed = false;
  try {
    // PG_ROWS_DDL="…": SQL run after the migrations, to see what a schema change would save before making it.
    if (process.env.PG_ROWS_DDL) await db.query(process.env.PG_ROWS_DDL);
    const audit = new AuditLog(db, systemClock);
    const ca = await db.query<{ id: number }>("INSERT INTO cas (name, slug, kind, certificate, key_ref, key_type) VALUES ('bench', 'bench', 'issuing', '\\x00', 'k', 'RSA-2048') RETURNING id");
    const caId = ca.rows[0]!.id;
    const csrs = benchCsrs(Math.min(N + 2 * BATCH, 4096));
    const writes = combinedWrites(db);
    let issuedPending: IssuedRecord[] = [];
    let done = 0;

    const one = async (i: number): Promise<IssuedRecord> => {
      const csr = csrs[i % csrs.length]!;
      // Distinct bytes per enrollment (the retry lookup keys on the CSR's hash).
      const csrDer = new Uint8Array([...csr, ...randomBytes(4)]);
      const now = new Date();
      const created = now.toISOString();
      const expires = new Date(now.getTime() + 600_000);
      const hex = (): string => randomBytes(16).toString('hex');
      const replay = writes.submit(REPLAY_WRITES, { keys: [{ hex: hex(), bound: null, what: 'MessageID' }, { hex: hex(), bound: created, what: 'Nonce' }], expires });
      const order = { subject: [{ type: 'CN', value: `h${i}.bench.test` }], sans: [{ type: 'dns', value: `h${i}.bench.test` }], template: 'WebServer', templateOid: '1.3.6.1.4.1.311.21.8.1.2.3.4.5.6', requester: 'bench', notBefore: created, notAfter: new Date(now.getTime() + 365 * 86_400_000).toISOString(), keyUsage: ['digitalSignature', 'keyEncipherment'], eku: ['1.3.6.1.5.5.7.3.1'] };
      const item: RequestOnce = {
        request: { status: 'pending', requester: 'bench', requesterKind: 'account', requesterKey: 'account:bench', authMethod: 'username', clientAddress: '127.0.0.1', template: 'WebServer', requestFormat: 'pkcs10', rawRequest: csrDer, csrDer, csrSha256: createHash('sha256').update(csrDer).digest('hex'), issuanceOrder: order, disposition: 5, dispositionMessage: 'Taken Under Submission', attributes: {}, submittedAt: now },
        retrySince: new Date(now.getTime() - 600_000),
        audit: audit.forQueue({ type: 'enroll.issue', outcome: 'info', principal: 'bench', method: 'username', address: '127.0.0.1', template: 'WebServer', reason: 'accepted; sent to the CA', details: { dropped: [], subject: order.subject, sans: order.sans } }),
      };
      const [refused, recorded] = await Promise.all([replay, writes.submit(REQUEST_WRITES, item)]);
      if (!('admitted' in refused)) throw new Error('a fresh message was refused');
      return {
        certificate: { serial: randomBytes(16).toString('hex'), caId, requestId: recorded.id, subject: `CN=h${i}.bench.test`, sans: [`dns:h${i}.bench.test`], template: 'WebServer', requester: 'bench', notBefore: now, notAfter: new Date(order.notAfter), der: randomBytes(1000), issuedAt: now },
        csrDer,
        approval: { needed: false, digest: null },
        // PG_ROWS_NO_ISSUE_EVENT=1, a what-if only: the certificate without its audit event, to price one event's whole way (queue, guard, chain).
        ...(process.env.PG_ROWS_NO_ISSUE_EVENT ? {} : { audit: audit.forQueue({ type: 'certificate.issue', outcome: 'success', principal: 'bench', method: 'username', template: 'WebServer', requestId: recorded.id }) }),
      };
    };

    const batch = async (from: number): Promise<void> => {
      const issuing = issuedPending.map((r) => writes.submit(ISSUED_WRITES, r));
      const next = Promise.all(Array.from({ length: BATCH }, (_, k) => one(from + k)));
      const outcomes = await Promise.all(issuing);
      if (outcomes.some((o) => o !== 'issued')) throw new Error(`not issued: ${outcomes.join(', ')}`);
      issuedPending = await next;
      done += issuedPending.length;
      if (Math.floor(done / PER_AUDIT_RUN) !== Math.floor((done - BATCH) / PER_AUDIT_RUN)) await audit.flush();
    };

    // Warm-up: plans, caches, the tables' first pages.
    for (let i = 0; i < Math.min(1000, N); i += BATCH) await batch(i);
    await audit.flush();
    // An idle backend reports its counts within 10 s: the warm-up's must land before the reset below.
    await new Promise((r) => setTimeout(r, 11_000));
    const pids = processTree(postmaster);
    const admin = await openDb({ url: cluster.url, poolSize: 1, migrate: false });
    await admin.query("SELECT pg_stat_reset_shared('wal')");
    await admin.query('SELECT pg_stat_reset()');
    const before = cpuSeconds(pids);
    const statements0 = writes.stats.statements;
    const t0 = performance.now();
    done = 0;
    for (let i = 0; i < N; i += BATCH) await batch(1_000_000 + i);
    await Promise.all(issuedPending.map((r) => writes.submit(ISSUED_WRITES, r)));
    await audit.flush();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(processTree(postmaster)) - before;
    const wal = (await admin.query<{ wal_records: string; wal_bytes: string; wal_fpi: string }>('SELECT wal_records::text, wal_bytes::text, wal_fpi::text FROM pg_stat_wal')).rows[0]!;
    // Per-table counters: an idle backend may hold its counts for up to 10 s, one that exits reports them.
    await db.close();
    closed = true;
    await new Promise((r) => setTimeout(r, 300));
    const tables = (await admin.query<TableCounts>(TABLE_COUNTS)).rows;
    await admin.close();
    console.log(
      `# bench/pg-rows.ts ${new Date().toISOString()}: ${N} enrollments in batches of ${BATCH}, an audit run per ${PER_AUDIT_RUN}; ${(N / seconds).toFixed(0)}/s; ` +
        `${((writes.stats.statements - statements0) / N).toFixed(3)} combined statements per enrollment\n` +
        `PostgreSQL CPU per enrollment: ${((1e6 * cpu) / N).toFixed(0)} µs; WAL per enrollment: ${(Number(wal.wal_records) / N).toFixed(1)} records, ${(Number(wal.wal_bytes) / N).toFixed(0)} bytes, ${(Number(wal.wal_fpi) / N).toFixed(2)} full-page images`,
    );
    const per = (x: string): string => (Number(x) / N).toFixed(2);
    for (const t of tables) console.log(`  ${t.relname}: seq scans ${per(t.seq_scan)}, rows read by them ${per(t.seq_tup_read)}, index scans ${per(t.idx_scan)}, inserts ${per(t.n_tup_ins)}, updates ${per(t.n_tup_upd)} (HOT ${per(t.n_tup_hot_upd)}), deletes ${per(t.n_tup_del)}; autovacuum runs ${t.autovacuum_count}`);
  } finally {
    if (!closed) await db.close();
    cluster.destroy();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
