import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../../src/audit/log.js';
import { CA_CLIENT_AUTH_METHOD, CA_CLIENT_PROFILE } from '../../../src/ca/backends/client-cert.js';
import { encodeOrder } from '../../../src/ca/backends/wire.js';
import { pem } from '../../../src/ca/init.js';
import { newKeyAndCsr, recordLocalRequest } from '../../../src/ca/local-request.js';
import { systemClock } from '../../../src/clock.js';
import { createLogger } from '../../../src/log.js';
import { startCaApi, type CaApiServer } from '../../../src/http/ca-api.js';
import { findBySerial } from '../../../src/store/certificate-repo.js';
import { makeCsr } from '../../helpers/openssl.js';
import { newRequestId, order, setupCa, type CaFixture } from '../ca/ca-fixture.js';
import { callApi, caClientCert, serverIdentity, type Answer, type Credential } from './ca-api-fixture.js';

/**
 * What the CA API answers an allowed enrollment node, and what it records on the CA node: orders
 * alone and in batches (chain once, issuance audit, CMC full response), refused orders audited
 * with the caller, revocations with their time, and certificates of this CA whose provenance
 * makes them no credential.
 */
describe('CA API: orders and their records', () => {
  let f: CaFixture;
  let audit: AuditLog;
  let api: CaApiServer;
  let serverCa = '';
  const creds: Record<string, Credential> = {};
  const call = (who: string, method: 'GET' | 'POST', path: string, body?: unknown, contentType?: string): Promise<Answer> =>
    callApi(api.port, serverCa, creds[who]!, method, path, body === undefined ? undefined : JSON.stringify(body), contentType);

  /** A fresh order for a recorded request, as the enrollment node sends it. */
  const newOrder = async (over: Parameters<typeof order>[2] = {}) => {
    const csr = makeCsr();
    const id = await newRequestId(f.db, csr.csrDer);
    return { id, json: encodeOrder(order(id, csr.csrDer, over)) };
  };
  const nothingFor = async (id: string) => (await f.db.query('SELECT 1 FROM certificates WHERE request_id = $1', [id])).rowCount;
  /** Newest first. */
  const events = async (type: string) => audit.list({ type });

  /** A certificate of this CA with a listed subject and client authentication, recorded as `template` from a request made by `authMethod`. */
  const madeAs = async (cn: string, template: string, authMethod: string): Promise<Credential> => {
    const { privateKey, csrDer } = await newKeyAndCsr(cn);
    const { requestId, at } = await recordLocalRequest({ db: f.db, clock: systemClock }, { csrDer, requester: cn, authMethod, template: CA_CLIENT_PROFILE });
    const issued = await f.ca.issueInternal({ orderId: requestId, template: CA_CLIENT_PROFILE, csrDer, subject: [{ type: 'CN', value: cn }], sans: [], keyUsage: ['digitalSignature'], keyUsageCritical: true, ekus: ['1.3.6.1.5.5.7.3.2'], issuancePolicies: [], notBefore: at, notAfter: new Date(at.getTime() + 86400_000), requester: cn });
    // The certificate row as another template would have left it (the request's auth method stays as recorded).
    if (template !== CA_CLIENT_PROFILE) await f.db.query('UPDATE certificates SET template = $2 WHERE serial = $1', [issued.serial, template]);
    return { cert: [issued.der, ...issued.chain.slice(0, -1)].map((c) => pem(c)).join(''), key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  };

  beforeAll(async () => {
    f = await setupCa('P-256');
    audit = new AuditLog(f.db, systemClock);
    const tls = serverIdentity();
    serverCa = tls.cert;
    creds.ces = await caClientCert(f, audit, [{ type: 'CN', value: 'ces-1' }]);
    creds.admin = await caClientCert(f, audit, [{ type: 'CN', value: 'admin-1' }]);
    creds.byEnrollee = await madeAs('ces-2', CA_CLIENT_PROFILE, 'username');
    creds.otherProfile = await madeAs('ces-3', 'WebServer', CA_CLIENT_AUTH_METHOD);
    api = await startCaApi({
      ca: f.ca,
      db: f.db,
      audit,
      log: createLogger('silent'),
      tls,
      clientRoots: [f.rootPem],
      allowedSubjects: ['CN=ces-1', 'CN=ces-2', 'CN=ces-3', { subject: 'CN=admin-1', operations: ['revoke'] }],
      host: '127.0.0.1',
      port: 0,
    });
  }, 60_000);
  afterAll(async () => {
    await api?.close();
    await f?.db.close();
  });

  it('answers a signed order as JSON, with its chain and no issuance audit unless asked', async () => {
    const o = await newOrder();
    const r = await call('ces', 'POST', '/ca/v1/orders', o.json);
    expect(r.status, r.body).toBe(200);
    expect(r.type).toMatch(/^application\/json/);
    expect(r.json.replayed).toBe(false);
    expect(r.json.chain).toEqual([f.issuingPem, f.rootPem].map((p) => p.replace(/-----[^-]+-----|\s/g, '')));
    expect(r.json).not.toHaveProperty('audited');
    expect(r.json).not.toHaveProperty('fullResponse');
    const again = await call('ces', 'POST', '/ca/v1/orders', o.json);
    expect(again.json).toMatchObject({ serial: r.json.serial, replayed: true });
  });

  it("records the issuance audit event from the order, not from the caller's words, when asked", async () => {
    const o = await newOrder();
    const r = await call('ces', 'POST', '/ca/v1/orders', { ...o.json, issuanceAudit: { actor: 'ces-frontend', method: 'kerberos' }, fullResponse: true });
    expect(r.status, r.body).toBe(200);
    expect(r.json.audited).toBe(true);
    expect(typeof r.json.fullResponse).toBe('string');
    const e = (await events('certificate.issue')).find((x) => x.requestId === o.id);
    expect(e).toMatchObject({ outcome: 'success', actor: 'ces-frontend', principal: 'alice', method: 'kerberos', template: 'WebServer' });
  });

  it('a batch: each order answered on its own; with chainOnce the chain comes once, the certificates without it', async () => {
    const [a, b] = [await newOrder(), await newOrder()];
    const plain = await call('ces', 'POST', '/ca/v1/orders/batch', { orders: [a.json, { ...b.json, template: CA_CLIENT_PROFILE }] });
    expect(plain.status, plain.body).toBe(200);
    expect(plain.type).toBe('application/json; charset=utf-8');
    expect(plain.json).not.toHaveProperty('chain');
    const [issued, refused] = plain.json.results as { issued?: Record<string, unknown>; problem?: Record<string, unknown> }[];
    expect(issued!.issued).toHaveProperty('chain');
    expect(refused!.problem).toMatchObject({ kind: 'forbidden', status: 403, detail: `${CA_CLIENT_PROFILE} certificates are issued on the CA node only` });
    expect(await nothingFor(b.id)).toBe(0);

    const c = await newOrder();
    const once = await call('ces', 'POST', '/ca/v1/orders/batch', { orders: [c.json], chainOnce: true });
    expect(once.status, once.body).toBe(200);
    expect(once.json.chain).toEqual(issued!.issued!.chain);
    expect((once.json.results as { issued: Record<string, unknown> }[])[0]!.issued).not.toHaveProperty('chain');
  });

  it('a refused order is audited on the CA node with the caller, the template, requester and request id', async () => {
    const o = await newOrder();
    const r = await call('ces', 'POST', '/ca/v1/orders', { ...o.json, template: CA_CLIENT_PROFILE });
    expect(r.status, r.body).toBe(403);
    expect(r.type).toMatch(/^application\/problem\+json/);
    const e = (await events('ca.order.refuse'))[0]!;
    expect(e).toMatchObject({ outcome: 'denied', actor: 'CN=ces-1', principal: 'alice', template: CA_CLIENT_PROFILE, requestId: o.id, reason: `${CA_CLIENT_PROFILE} certificates are issued on the CA node only`, details: { kind: 'forbidden', caller: 'CN=ces-1' } });
    expect(await nothingFor(o.id)).toBe(0);
  });

  it('an order that does not decode is audited too, with no request id unless it is one and its words cut at 256 characters', async () => {
    const r = await call('ces', 'POST', '/ca/v1/orders', { orderId: 'x1', template: 'T'.repeat(300), requester: 7 });
    expect(r.status, r.body).toBe(400);
    const e = (await events('ca.order.refuse'))[0]!;
    expect(e.template).toBe('T'.repeat(256));
    expect(e.requestId ?? null).toBeNull();
    expect(e.principal ?? null).toBeNull();
    expect(e.details).toMatchObject({ kind: 'malformed', caller: 'CN=ces-1' });
  });

  it('answers the CMC response of a recorded request', async () => {
    const o = await newOrder();
    await call('ces', 'POST', '/ca/v1/orders', o.json);
    const r = await call('ces', 'POST', '/ca/v1/responses', { requestId: o.id });
    expect(r.status, r.body).toBe(200);
    expect(Buffer.from(String(r.json.response), 'base64')[0]).toBe(0x30);
    expect((await call('ces', 'POST', '/ca/v1/responses', { request: o.id })).status).toBe(400);
  });

  it('revokes at the time given, answering 204 with no body', async () => {
    const o = await newOrder();
    const serial = String((await call('ces', 'POST', '/ca/v1/orders', o.json)).json.serial);
    const at = new Date(Date.now() - 3_600_000);
    const r = await call('admin', 'POST', `/ca/v1/certificates/${serial}/revoke`, { reason: 'keyCompromise', at: at.toISOString() });
    expect(r.status, r.body).toBe(204);
    expect(r.body).toBe('');
    expect((await findBySerial(f.db, serial))?.revokedAt?.getTime()).toBe(at.getTime());
    expect((await call('admin', 'POST', `/ca/v1/certificates/${serial}/revoke`, { reason: 'nonsense' })).status).toBe(400);
  });

  it('the batch path is express for every other method or spelling: GET is no resource', async () => {
    const r = await call('ces', 'GET', '/ca/v1/orders/batch');
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({ kind: 'notFound', detail: 'no such CA API resource' });
    const text = await callApi(api.port, serverCa, creds.ces!, 'POST', '/ca/v1/orders/batch', '{"orders": []}', 'text/plain');
    expect(text.status, text.body).toBe(400);
  });

  describe('certificates of this CA that were not issued as CA client certificates', () => {
    const refused = async (who: string, cn: string) => {
      const r = await call(who, 'GET', '/ca/v1/info');
      expect(r.status, r.body).toBe(403);
      const reasons = (await events('auth.failure')).map((e) => e.reason ?? '');
      expect(reasons.some((x) => new RegExp(`^CA API: CN=${cn} \\(serial [0-9a-f]+\\) was not issued as a CA client certificate$`).test(x)), reasons.join(' | ')).toBe(true);
    };
    it('under the CA client profile, but from a request an enrollee made', async () => {
      await refused('byEnrollee', 'ces-2');
    });
    it('from a CA operator request, but recorded under another template', async () => {
      await refused('otherProfile', 'ces-3');
    });
  });
});
