import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { Agent, request } from 'undici';
import { makeCsr, tmp, type Csr } from '../helpers/openssl.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { cliAsync, dbRoleUrls, NodeProcess, until } from '../helpers/topology.js';
import { ThrowawayPg } from '../helpers/throwaway-pg.js';
import { callControlSocket } from '../../src/ops/control-socket.js';
import { cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';

const PASSWORD = 'Pg-restart-1';

/**
 * Issue 8: PostgreSQL restarted under a CA node and a CES node mid-load. A throwaway cluster of
 * the test's own (restarting the machine's PostgreSQL would disturb other tests): stopped like a
 * crash (`pg_ctl -m immediate`), then started again. Nodes report not-ready while it is down and
 * ready again after its return; no approval or issuance is lost.
 */
describe('PostgreSQL restarted under a split deployment', () => {
  let db: ThrowawayPg;
  let ca: NodeProcess;
  let ces: NodeProcess;
  let agent: Agent;
  let rootPem: string;

  beforeAll(async () => {
    db = await new ThrowawayPg().init();
    // Each node on its least-privilege role (docs/deployment.md); the ces node also administers (ces,admin).
    await cliAsync(['db', 'migrate'], { databaseUrl: db.url });
    const roles = await dbRoleUrls(db.url);
    const strict = { databaseAllowExcessPrivileges: false };
    const certs = tmp('opences-pg-certs-');
    ca = new NodeProcess('ca', { databaseUrl: roles.urls.ca, roles: 'ca', config: { ...strict, ca: { clients: { allowedSubjects: ['CN=ces-pg'] } } } });
    await ca.start();
    rootPem = readFileSync(join(ca.dataDir, 'certs', 'root_ca.crt'), 'utf8');
    await cliAsync(['ca', 'client-cert', 'issue', '--subject', 'CN=ces-pg', '--cert-out', join(certs, 'c.crt'), '--key-out', join(certs, 'c.key'), '--data-dir', ca.dataDir], { databaseUrl: db.url });
    ces = new NodeProcess('ces', { databaseUrl: await roles.loginFor(['ces', 'admin']), roles: 'ces,admin', config: { ...strict, ca: { breakerOpenSeconds: 1 } }, args: ['--ca-url', `https://localhost:${ca.caApiPort}`, '--ca-client-cert', join(certs, 'c.crt'), '--ca-client-key', join(certs, 'c.key')] });
    await ces.start();
    await callControlSocket(ces.dataDir, 'user.add', { name: 'alice', password: PASSWORD }, 'local:admin');
    agent = new Agent({ connect: { ca: rootPem }, headersTimeout: 20_000, bodyTimeout: 20_000 });
  }, 180_000);
  afterAll(async () => {
    await agent?.close();
    await Promise.all([ces?.stop(), ca?.stop()]);
    db?.destroy();
  });

  const ready = async (node: NodeProcess): Promise<number> => {
    try {
      const r = await request(`${node.url}/readyz`, { dispatcher: agent, headersTimeout: 4_000 });
      await r.body.text();
      return r.statusCode;
    } catch {
      return 0;
    }
  };

  const rst = async (der: Uint8Array) => {
    const to = `${ces.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const r = await postSoap(to, buildRstRequest({ to, requestType: 'issue', securityHeaderXml: usernameHeader({ username: 'alice', password: PASSWORD }), token: { valueType: 'pkcs10', der } }), agent);
    if (r.status === 200 && r.env) return parseRstrResponse(r.env);
    throw new Error(`HTTP ${r.status}: ${(r.env && parseFault(r.env)?.reason) ?? r.body.slice(0, 200)}`);
  };

  /** The same request until it is issued (what certmonger does). */
  const enroll = async (csr: Csr): Promise<{ der: Buffer; attempts: number }> => {
    const end = Date.now() + 90_000;
    let last = '';
    for (let attempt = 1; Date.now() < end; attempt++) {
      const out = await rst(csr.csrDer).catch((e: unknown) => {
        last = (e as Error).message;
        return null;
      });
      if (out?.disposition === 'issued') return { der: Buffer.from(out.certificateDer), attempts: attempt };
      if (out) last = `disposition ${out.disposition}`;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`not issued before the deadline (last: ${last})\nces:\n${ces.out.slice(-3000)}\nca:\n${ca.out.slice(-3000)}`);
  };

  it('nodes go not-ready while PostgreSQL is down and ready again after its return; every retry is issued and the pending approval survives', async () => {
    const waiting = await rst(makeCsr({ subject: 'CN=approval.example.test', sans: ['DNS:approval.example.test'], templateName: 'WebServerApproval' }).csrDer);
    expect(waiting?.disposition).toBe('pending');
    const pendingId = waiting!.requestId!;

    const csrs = Array.from({ length: 12 }, (_, i) => makeCsr({ subject: `CN=pg-${i}.example.test`, sans: [`DNS:pg-${i}.example.test`], templateName: 'WebServer' }));
    const got: { csr: Csr; der: Buffer; attempts: number }[] = [];
    let notReady: number[] = [];
    let recovered = false;
    let next = 0;
    let outage: Promise<void> | null = null;
    const worker = async (): Promise<void> => {
      while (next < csrs.length) {
        const csr = csrs[next++]!;
        got.push({ csr, ...(await enroll(csr)) });
        if (!outage && got.length >= 3) {
          outage = (async () => {
            db.stop('immediate');
            // Down: both nodes say so on /readyz.
            await until(15_000, async () => (await ready(ces)) === 503 && (await ready(ca)) === 503);
            notReady = [await ready(ces), await ready(ca)];
            await new Promise((r) => setTimeout(r, 1_000));
            db.start();
            // Ready again once it is back: polled, with a generous ceiling (the nodes' own retry is ~1 s).
            recovered = await until(60_000, async () => (await ready(ces)) === 200 && (await ready(ca)) === 200);
          })();
        }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    await outage;
    // Both nodes lived through it (a pooled connection lost mid-transaction once ended a node: an unhandled 'error').
    expect([ces.proc!.exitCode, ces.proc!.signalCode, ca.proc!.exitCode, ca.proc!.signalCode]).toEqual([null, null, null, null]);
    expect(notReady).toEqual([503, 503]);
    expect(recovered).toBe(true);
    expect(got).toHaveLength(12);

    // The approval recorded before the outage is still there, and issues.
    const approved = (await callControlSocket(ces.dataDir, 'request.approve', { id: pendingId }, 'local:officer')) as { serial: string };
    expect(approved.serial).toMatch(/^[0-9a-f]+$/);

    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const rows = (await c.query<{ serial: string; der: Buffer; csr_sha256: string; status: string }>('SELECT c.serial, c.der, q.csr_sha256, q.status FROM certificates c JOIN requests q ON q.id = c.request_id')).rows;
      const bySerial = new Map(rows.map((r) => [r.serial, r]));
      for (const g of got) {
        const row = bySerial.get(new X509Certificate(g.der).serialNumber.toLowerCase());
        expect(row).toBeDefined();
        expect(Buffer.compare(row!.der, g.der)).toBe(0);
        expect(rows.filter((r) => r.csr_sha256 === createHash('sha256').update(g.csr.csrDer).digest('hex'))).toHaveLength(1);
      }
      expect(bySerial.get(approved.serial)?.status).toBe('issued');
      const orphans = await c.query(`SELECT id FROM requests q WHERE status = 'issued' AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.request_id = q.id)`);
      expect(orphans.rows).toEqual([]);
    } finally {
      await c.end();
    }
  }, 150_000);
});
