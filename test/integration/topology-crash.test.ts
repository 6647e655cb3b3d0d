import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import { freshTestDb, urlWithSchema, type TestDb } from '../helpers/db.js';
import { makeCsr, opensslStatus, pemOf, tmp, writeTmp, type Csr } from '../helpers/openssl.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { CLI, cliAsync, dbRoleUrls, NodeProcess } from '../helpers/topology.js';
import { callControlSocket } from '../../src/ops/control-socket.js';
import { cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';

const PASSWORD = 'L0ad-and-crash';

interface Outcome {
  csr: Csr;
  der: Buffer;
  attempts: number;
  /** Fault reasons and connection errors seen before success. */
  errors: string[];
}

/**
 * Issue 8: two CES nodes and one CA node (separate processes, one PostgreSQL) under bounded
 * concurrent load, then the same load while a CES node and, separately, the CA node are killed
 * with SIGKILL and restarted. Clients retry the same request until it is issued. Afterwards: every
 * certificate a client got is the database's, no request and no CSR has two certificates, and every
 * request marked issued has its certificate.
 */
describe('two CES nodes and a CA under load, with kill -9', () => {
  let db: TestDb;
  let dbUrl: string;
  let roles: Awaited<ReturnType<typeof dbRoleUrls>>;
  let ca: NodeProcess;
  const ces: NodeProcess[] = [];
  let rootPem: string;
  const agents = new Map<string, Agent>();
  const got: Outcome[] = [];

  beforeAll(async () => {
    db = await freshTestDb();
    dbUrl = urlWithSchema(db.schema);
    // Each node on its least-privilege role (docs/deployment.md); the ces nodes also administer (ces,admin).
    await cliAsync(['db', 'migrate'], { databaseUrl: dbUrl });
    roles = await dbRoleUrls(dbUrl);
    const strict = { databaseAllowExcessPrivileges: false };
    const cesUrl = await roles.loginFor(['ces', 'admin']);
    const certs = tmp('opences-crash-certs-');
    ca = new NodeProcess('ca', { databaseUrl: roles.urls.ca, roles: 'ca', config: { ...strict, ca: { clients: { allowedSubjects: ['CN=ces-a', 'CN=ces-b'] } } } });
    await ca.start();
    rootPem = readFileSync(join(ca.dataDir, 'certs', 'root_ca.crt'), 'utf8');
    await Promise.all(['ces-a', 'ces-b'].map((n) => cliAsync(['ca', 'client-cert', 'issue', '--subject', `CN=${n}`, '--cert-out', join(certs, `${n}.crt`), '--key-out', join(certs, `${n}.key`), '--data-dir', ca.dataDir], { databaseUrl: dbUrl })));
    for (const n of ['ces-a', 'ces-b']) {
      // Short breaker so that a restarted CA is tried again soon.
      ces.push(new NodeProcess(n, { databaseUrl: cesUrl, roles: 'ces,admin', config: { ...strict, ca: { timeoutMs: 5_000, breakerOpenSeconds: 1 } }, args: ['--ca-url', `https://localhost:${ca.caApiPort}`, '--ca-client-cert', join(certs, `${n}.crt`), '--ca-client-key', join(certs, `${n}.key`)] }));
    }
    await Promise.all(ces.map((n) => n.start()));
    // Operator commands reach a node through its control socket (what `opences user add` does when a server runs).
    await callControlSocket(ces[0]!.dataDir, 'user.add', { name: 'alice', password: PASSWORD }, 'local:admin');
    for (const n of ces) agents.set(n.name, new Agent({ connect: { ca: rootPem }, headersTimeout: 30_000, bodyTimeout: 30_000 }));
  }, 180_000);
  afterAll(async () => {
    for (const a of agents.values()) await a.close().catch(() => undefined);
    await Promise.all([...ces.map((n) => n.stop()), ca?.stop()]);
    await db?.close();
    await roles?.drop();
  });

  /** One client: the same request (same CSR) until issued, alternating nodes on failure. */
  const enroll = async (csr: Csr, first: number, deadlineMs = 90_000): Promise<Outcome> => {
    const errors: string[] = [];
    const end = Date.now() + deadlineMs;
    for (let attempt = 0; Date.now() < end; attempt++) {
      const node = ces[(first + attempt) % ces.length]!;
      const to = `${node.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
      try {
        const r = await postSoap(to, buildRstRequest({ to, requestType: 'issue', securityHeaderXml: usernameHeader({ username: 'alice', password: PASSWORD }), token: { valueType: 'pkcs10', der: csr.csrDer } }), agents.get(node.name)!);
        if (r.status === 200 && r.env) {
          const out = parseRstrResponse(r.env);
          if (out.disposition === 'issued') return { csr, der: Buffer.from(out.certificateDer), attempts: attempt + 1, errors };
          errors.push(`disposition ${out.disposition}`);
        } else {
          errors.push(`${node.name}: ${(r.env && parseFault(r.env)?.reason) ?? `HTTP ${r.status}`}`);
        }
      } catch (e) {
        errors.push(`${node.name}: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`not issued before the deadline; errors: ${errors.slice(-5).join(' | ')}`);
  };

  /** `n` enrollments, `concurrency` at a time; `during` runs once `trigger` have completed. */
  const load = async (tag: string, n: number, concurrency: number, o: { trigger?: number; during?: () => Promise<void> } = {}): Promise<Outcome[]> => {
    const csrs = Array.from({ length: n }, (_, i) => makeCsr({ subject: `CN=${tag}-${i}.example.test`, sans: [`DNS:${tag}-${i}.example.test`], templateName: 'WebServer' }));
    const results: Outcome[] = [];
    let next = 0;
    let fired: Promise<void> | null = null;
    const worker = async (w: number): Promise<void> => {
      while (next < csrs.length) {
        const i = next++;
        results.push(await enroll(csrs[i]!, (i + w) % ces.length));
        if (o.during && !fired && results.length >= (o.trigger ?? 0)) fired = o.during();
      }
    };
    await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
    await fired;
    got.push(...results);
    return results;
  };

  const serialOf = (der: Buffer): string => new X509Certificate(der).serialNumber.toLowerCase();

  it('answers every client under concurrent load on both CES nodes, first time', async () => {
    const r = await load('steady', 16, 4);
    expect(r).toHaveLength(16);
    expect(r.every((x) => x.attempts === 1)).toBe(true);
    expect(new Set(r.map((x) => serialOf(x.der))).size).toBe(16);
    // Both nodes took orders to the CA (its log names the client certificate of each order).
    const signedFor = ca.out.split('\n').filter((l) => l.includes('CA API: order batch answered')).map((l) => (JSON.parse(l) as { client: string }).client);
    expect(new Set(signedFor)).toEqual(new Set(['CN=ces-a', 'CN=ces-b']));
  }, 180_000);

  it('kill -9 of a CES node mid-load: the clients retry (the other node, or it after its restart) and all get their certificate', async () => {
    const victim = ces[0]!;
    const r = await load('cescrash', 16, 4, {
      trigger: 3,
      during: async () => {
        await victim.kill9();
        await new Promise((res) => setTimeout(res, 1_000));
        await victim.start();
      },
    });
    expect(r).toHaveLength(16);
    expect(r.some((x) => x.attempts > 1)).toBe(true); // the kill did hit clients
    expect(victim.proc?.exitCode).toBeNull(); // restarted and running
  }, 180_000);

  it('kill -9 of the CA node mid-load: the CES nodes fault with "the CA is unreachable", and after its restart every retry is issued', async () => {
    let during: string[] = [];
    let reqWhileDown = { code: -1, err: '' };
    const r = await load('cacrash', 16, 4, {
      trigger: 3,
      during: async () => {
        await ca.kill9();
        // While the CA is down, an enrollment gets a clear fault, not a hang (circuit breaker or a refused connection; the test's timeout bounds it).
        const csr = makeCsr({ subject: 'CN=while-down.example.test', sans: ['DNS:while-down.example.test'], templateName: 'WebServer' });
        const to = `${ces[1]!.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
        const f = await postSoap(to, buildRstRequest({ to, requestType: 'issue', securityHeaderXml: usernameHeader({ username: 'alice', password: PASSWORD }), token: { valueType: 'pkcs10', der: csr.csrDer } }), agents.get('ces-b')!);
        during = [`${f.status}`, (f.env && parseFault(f.env)?.reason) ?? f.body];
        // certreq's semantics: the CA being down is an error (exit 1), not a denial (exit 2).
        const dir = tmp('opences-crash-req-');
        writeFileSync(join(dir, 'pw'), `${PASSWORD}\n`);
        writeFileSync(join(dir, 'root.crt'), rootPem);
        writeFileSync(join(dir, 'req.csr'), csr.csrPem);
        reqWhileDown = await new Promise((resolve) => {
          execFile(process.execPath, ['--import', 'tsx', CLI, 'req', 'submit', '--url', to, '--username', 'alice', '--password-file', join(dir, 'pw'), '--ca-bundle', join(dir, 'root.crt'), join(dir, 'req.csr')], { encoding: 'utf8', env: { ...process.env, OPENCES_LOG_LEVEL: 'silent' } }, (err, _out, stderr) => {
            resolve({ code: err ? Number(err.code) : 0, err: stderr });
          });
        });
        await ca.start();
        // The client that got the fault retries the same request: now issued.
        got.push(await enroll(csr, 1));
      },
    });
    expect(r).toHaveLength(16);
    expect(during[0]).toBe('500');
    expect(during[1]).toContain('the CA is unreachable');
    expect(reqWhileDown.code, reqWhileDown.err).toBe(1);
    expect(reqWhileDown.err).toMatch(/could not process the request: the CA is unreachable/);
    expect(r.some((x) => x.errors.some((e) => e.includes('the CA is unreachable')))).toBe(true);
    // While it stayed down the circuit was open: faults without another attempt, saying when to retry.
    expect(r.some((x) => x.errors.some((e) => /the CA is unreachable \(.*\); retry in \d+ s/.test(e)))).toBe(true);
  }, 150_000);

  it('one deployment across nodes: a request pended on one CES node is approved on the other and collected on the first; a template change on one reaches the other at once', async () => {
    const rst = (node: NodeProcess, o: { requestType: 'issue' | 'queryTokenStatus'; der?: Uint8Array; requestId?: string }) => {
      const to = `${node.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
      return postSoap(to, buildRstRequest({ to, requestType: o.requestType, securityHeaderXml: usernameHeader({ username: 'alice', password: PASSWORD }), ...(o.der ? { token: { valueType: 'pkcs10' as const, der: o.der } } : {}), ...(o.requestId ? { requestId: o.requestId } : {}) }), agents.get(node.name)!);
    };
    const [a, b] = [ces[0]!, ces[1]!];
    const csr = makeCsr({ subject: 'CN=approve.example.test', sans: ['DNS:approve.example.test'], templateName: 'WebServerApproval' });
    const pending = parseRstrResponse((await rst(a, { requestType: 'issue', der: csr.csrDer })).env!);
    expect(pending.disposition).toBe('pending');
    const id = pending.requestId!;
    // A certificate manager on node b (its control socket, as `opences request approve`): node b's RA has the CA sign.
    expect(await callControlSocket(b.dataDir, 'request.approve', { id }, 'local:officer')).toMatchObject({ serial: expect.stringMatching(/^[0-9a-f]+$/) });
    const done = parseRstrResponse((await rst(a, { requestType: 'queryTokenStatus', requestId: id })).env!);
    expect(done.disposition).toBe('issued');
    if (done.disposition !== 'issued') return;
    got.push({ csr, der: Buffer.from(done.certificateDer), attempts: 1, errors: [] });
    // Request ids come from one sequence: a request on b right after gets a larger id than a's.
    const next = parseRstrResponse((await rst(b, { requestType: 'issue', der: makeCsr({ subject: 'CN=after.example.test', sans: ['DNS:after.example.test'], templateName: 'WebServerApproval' }).csrDer })).env!);
    expect(Number(next.requestId)).toBeGreaterThan(Number(id));
    // Disabled through node a's control socket: node b refuses at once (cache bus), and serves it again once enabled.
    await callControlSocket(a.dataDir, 'template.disable', { name: 'WebServerApproval' }, 'local:admin');
    const refused = await rst(b, { requestType: 'issue', der: makeCsr({ subject: 'CN=off.example.test', sans: ['DNS:off.example.test'], templateName: 'WebServerApproval' }).csrDer });
    expect(refused.status).toBe(500);
    expect(parseFault(refused.env!)?.reason).toMatch(/WebServerApproval/);
    await callControlSocket(a.dataDir, 'template.enable', { name: 'WebServerApproval' }, 'local:admin');
    const back = parseRstrResponse((await rst(b, { requestType: 'issue', der: makeCsr({ subject: 'CN=on.example.test', sans: ['DNS:on.example.test'], templateName: 'WebServerApproval' }).csrDer })).env!);
    expect(back.disposition).toBe('pending');
  }, 180_000);

  it('afterwards: every certificate a client got is recorded, no request or CSR was issued twice, every issued request has its certificate', async () => {
    expect(got.length).toBe(16 * 3 + 2);
    const rows = await db.query<{ serial: string; der: Buffer; request_id: string; csr_sha256: string | null; status: string }>(
      'SELECT c.serial, c.der, c.request_id, q.csr_sha256, q.status FROM certificates c JOIN requests q ON q.id = c.request_id',
    );
    const bySerial = new Map(rows.rows.map((x) => [x.serial, x]));
    for (const g of got) {
      const row = bySerial.get(serialOf(g.der));
      expect(row, `certificate ${serialOf(g.der)} has no database record`).toBeDefined();
      expect(Buffer.compare(row!.der, g.der)).toBe(0);
      expect(row!.status).toBe('issued');
    }
    // Each client's request issued once: one certificate per CSR, whatever the retries.
    const perCsr = new Map<string, number>();
    for (const x of rows.rows) if (x.csr_sha256) perCsr.set(x.csr_sha256, (perCsr.get(x.csr_sha256) ?? 0) + 1);
    expect([...perCsr.values()].filter((n) => n > 1)).toEqual([]);
    for (const g of got) expect(perCsr.get(createHash('sha256').update(g.csr.csrDer).digest('hex'))).toBe(1);
    expect(new Set(rows.rows.map((x) => x.serial)).size).toBe(rows.rows.length);
    const orphans = await db.query(`SELECT id FROM requests q WHERE status = 'issued' AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.request_id = q.id)`);
    expect(orphans.rows).toEqual([]);
    // A sample verifies against the root.
    const d = tmp();
    const v = opensslStatus(['verify', '-CAfile', join(ca.dataDir, 'certs/root_ca.crt'), '-untrusted', join(ca.dataDir, 'certs/issuing_ca.crt'), writeTmp(d, 'last.pem', pemOf(got[got.length - 1]!.der))]);
    expect(v.code, v.out).toBe(0);
  });
});
