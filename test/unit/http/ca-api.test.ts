import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../../src/audit/log.js';
import { CA_CLIENT_AUTH_METHOD, CA_CLIENT_PROFILE } from '../../../src/ca/backends/client-cert.js';
import { encodeOrder } from '../../../src/ca/backends/wire.js';
import { pem } from '../../../src/ca/init.js';
import { newKeyAndCsr, recordLocalRequest } from '../../../src/ca/local-request.js';
import { systemClock } from '../../../src/clock.js';
import { createLogger } from '../../../src/log.js';
import { startCaApi, type CaApiServer } from '../../../src/http/ca-api.js';
import type { CaClientEntry } from '../../../src/http/ca-api-access.js';
import { findBySerial } from '../../../src/store/certificate-repo.js';
import { makeCsr } from '../../helpers/openssl.js';
import { opensslRootCa, type OpensslCa } from '../../helpers/openssl-ca.js';
import { fixtureTemplates, newRequestId, order, setupCa, type CaFixture } from '../ca/ca-fixture.js';
import { callApi, caClientCert, serverIdentity, type Answer, type Credential } from './ca-api-fixture.js';

/**
 * The CA node's signing API (src/http/ca-api.ts) as the enrollment and admin nodes meet it: the
 * real express handler over real mutual TLS, with client certificates from the real CA engine
 * (`opences ca client-cert issue`'s code) and from a partner CA run with `openssl ca`.
 */
describe('CA API: who may call, and which operation', () => {
  let f: CaFixture;
  let audit: AuditLog;
  let api: CaApiServer;
  let partner: OpensslCa;
  let serverCa = '';
  const creds: Record<string, Credential> = {};

  const clientCert = (subject: { type: string; value: string }[]): Promise<Credential> => caClientCert(f, audit, subject);

  /** A certificate of our CA under the CA client profile, with other key purposes. */
  const otherCert = async (cn: string, o: { template: string; authMethod: string; ekus: string[] }): Promise<Credential> => {
    const { privateKey, csrDer } = await newKeyAndCsr(cn);
    const { requestId, at } = await recordLocalRequest({ db: f.db, clock: systemClock }, { csrDer, requester: cn, authMethod: o.authMethod, template: o.template });
    const issued = await f.ca.issueInternal({
      orderId: requestId,
      template: o.template,
      csrDer,
      subject: [{ type: 'CN', value: cn }],
      sans: [],
      keyUsage: ['digitalSignature'],
      keyUsageCritical: true,
      ekus: o.ekus,
      issuancePolicies: [],
      notBefore: at,
      notAfter: new Date(at.getTime() + 86400_000),
      requester: cn,
    });
    return { cert: [issued.der, ...issued.chain.slice(0, -1)].map((c) => pem(c)).join(''), key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  };

  /** An enrollee's certificate from a web server template that also allows client authentication (as many do). */
  const enrolleeCert = async (cn: string): Promise<Credential> => {
    const engine = await f.engine({ templates: fixtureTemplates((t) => t.extensions.ekus.push('1.3.6.1.5.5.7.3.2')) });
    const csr = makeCsr({ subject: `CN=${cn}` });
    const id = await newRequestId(f.db, csr.csrDer);
    const issued = await engine.issue(order(id, csr.csrDer, { subject: [{ type: 'CN', value: cn }], sans: [{ type: 'dns', value: `${cn}.example.test` }], ekus: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'] }));
    return { cert: [issued.der, ...issued.chain.slice(0, -1)].map((c) => pem(c)).join(''), key: csr.keyPem };
  };

  /** A certificate this CA issued to an enrollee, to revoke (or not). */
  const victim = async (): Promise<string> => {
    const csr = makeCsr();
    const id = await newRequestId(f.db, csr.csrDer);
    return (await f.ca.issue(order(id, csr.csrDer))).serial;
  };

  const call = (who: string, method: 'GET' | 'POST', path: string, body?: string | Buffer, contentType?: string): Promise<Answer> => callApi(api.port, serverCa, creds[who]!, method, path, body, contentType);

  /** Newest first. */
  const events = async (type: string) => (await audit.list({ type })).map((e) => ({ reason: e.reason ?? '', actor: e.actor, details: e.details }));
  const revokedAt = async (serial: string) => (await findBySerial(f.db, serial))?.revokedAt ?? null;
  const crlCount = async () => Number((await f.db.query<{ n: string }>('SELECT count(*) AS n FROM crls')).rows[0]!.n);

  beforeAll(async () => {
    f = await setupCa('P-256');
    audit = new AuditLog(f.db, systemClock);
    partner = opensslRootCa('Partner Root');
    const tls = serverIdentity();
    serverCa = tls.cert;
    const stranger = opensslRootCa('Stranger Root');

    creds.ces = await clientCert([{ type: 'CN', value: 'ces-1' }, { type: 'O', value: 'Example' }]);
    creds.admin = await clientCert([{ type: 'CN', value: 'admin-1' }, { type: 'O', value: 'Example' }]);
    creds.auditor = await clientCert([{ type: 'CN', value: 'auditor-1' }, { type: 'O', value: 'Example' }]);
    creds.unlisted = await clientCert([{ type: 'CN', value: 'ces-9' }, { type: 'O', value: 'Example' }]);
    // An enrollee whose certificate carries a listed subject and client authentication, but was not issued as a CA client certificate.
    creds.enrollee = await enrolleeCert('ces-2');
    // A server certificate (no client authentication) with a listed subject.
    creds.webServer = await otherCert('ces-3', { template: CA_CLIENT_PROFILE, authMethod: CA_CLIENT_AUTH_METHOD, ekus: ['1.3.6.1.5.5.7.3.1'] });
    const p = partner.issue('partner-ces', { key: 'ec' });
    creds.partner = { cert: p.certPem, key: p.keyPem };
    const s = stranger.issue('ces-1', { key: 'ec' });
    creds.stranger = { cert: s.certPem, key: s.keyPem };

    const clients: CaClientEntry[] = [
      'CN=ces-1,O=Example', // an enrollment node: the default
      { subject: 'O=Example,CN=admin-1', operations: ['sign', 'revoke', 'crl'] },
      { subject: 'CN=auditor-1,O=Example', operations: ['crl'] },
      'CN=ces-2',
      'CN=ces-3',
      'CN=partner-ces',
    ];
    api = await startCaApi({
      ca: f.ca,
      db: f.db,
      audit,
      log: createLogger('silent'),
      tls,
      clientRoots: [f.rootPem, partner.certPem],
      allowedSubjects: clients,
      host: '127.0.0.1',
      port: 0,
    });
  }, 60_000);
  afterAll(async () => {
    await api?.close();
    await f?.db.close();
  });

  describe('an enrollment node (listed without operations: sign)', () => {
    it('reads the CA info and features', async () => {
      const info = await call('ces', 'GET', '/ca/v1/info');
      expect(info.status, info.body).toBe(200);
      expect(info.json.name).toBe('Test Issuing CA');
      const features = await call('ces', 'GET', '/ca/v1/features');
      expect(features.status).toBe(200);
      expect(features.json.features).toEqual(expect.arrayContaining(['chainOnce', 'pkiResponses']));
    });

    it('has an order signed, alone and in a batch, and reads its CMC response', async () => {
      const csr = makeCsr();
      const id = await newRequestId(f.db, csr.csrDer);
      const one = await call('ces', 'POST', '/ca/v1/orders', JSON.stringify(encodeOrder(order(id, csr.csrDer))));
      expect(one.status, one.body).toBe(200);
      expect((await findBySerial(f.db, String(one.json.serial)))?.requestId).toBe(id);

      const csr2 = makeCsr();
      const id2 = await newRequestId(f.db, csr2.csrDer);
      const batch = await call('ces', 'POST', '/ca/v1/orders/batch', JSON.stringify({ orders: [encodeOrder(order(id2, csr2.csrDer))] }));
      expect(batch.status, batch.body).toBe(200);
      const results = batch.json.results as { issued?: { serial: string } }[];
      expect(results).toHaveLength(1);
      expect((await findBySerial(f.db, results[0]!.issued!.serial))?.requestId).toBe(id2);

      const response = await call('ces', 'POST', '/ca/v1/responses', JSON.stringify({ requestId: id }));
      expect(response.status, response.body).toBe(200);
      expect(typeof response.json.response).toBe('string');
    });

    it.each([
      ['revoke', '/ca/v1/certificates/SERIAL/revoke', JSON.stringify({ reason: 'keyCompromise' }), false],
      // A certificate on hold stays on hold.
      ['revoke', '/ca/v1/certificates/SERIAL/unrevoke', '{}', true],
      ['crl', '/ca/v1/crls', JSON.stringify({ delta: false }), false],
    ])('may not %s (%s): 403 problem+json naming it, audited, nothing done', async (operation, path, body, onHold) => {
      const serial = await victim();
      if (onHold) await f.ca.revoke(serial, 'certificateHold');
      const heldSince = await revokedAt(serial);
      const crls = await crlCount();
      const before = (await events('authz.denied')).length;
      const r = await call('ces', 'POST', path.replace('SERIAL', serial), body);
      expect(r.status, r.body).toBe(403);
      expect(r.type).toMatch(/^application\/problem\+json/);
      expect(r.json).toMatchObject({ status: 403, kind: 'forbidden', title: 'forbidden', operation });
      expect(r.json.detail).toBe(`CN=ces-1, O=Example may not ${operation} through the CA API (ca.clients.allowedSubjects grants it: sign)`);
      const denied = await events('authz.denied');
      expect(denied).toHaveLength(before + 1);
      expect(denied[0]).toMatchObject({ actor: 'CN=ces-1, O=Example', reason: `CA API: CN=ces-1, O=Example may not ${operation} (granted: sign)`, details: { operation, caller: 'CN=ces-1, O=Example' } });
      if (operation === 'revoke') expect(denied[0]!.details).toMatchObject({ serial });
      else expect(denied[0]!.details).not.toHaveProperty('serial');
      expect(await revokedAt(serial)).toEqual(heldSince);
      if (!onHold) expect(heldSince).toBeNull();
      expect(await crlCount()).toBe(crls);
    });

    it('is refused before its body is read: a malformed revocation is still a 403, not a 400', async () => {
      const r = await call('ces', 'POST', '/ca/v1/certificates/01/revoke', '{"reason":');
      expect(r.status, r.body).toBe(403);
      expect(r.json.operation).toBe('revoke');
    });
  });

  describe('an admin node (sign, revoke, crl)', () => {
    it('revokes, puts on hold and releases, and publishes a CRL', async () => {
      const serial = await victim();
      const r = await call('admin', 'POST', `/ca/v1/certificates/${serial}/revoke`, JSON.stringify({ reason: 'certificateHold' }));
      expect(r.status, r.body).toBe(204);
      expect(await revokedAt(serial)).toBeInstanceOf(Date);
      const u = await call('admin', 'POST', `/ca/v1/certificates/${serial}/unrevoke`, '{}');
      expect(u.status, u.body).toBe(204);
      expect(await revokedAt(serial)).toBeNull();
      const crls = await crlCount();
      const c = await call('admin', 'POST', '/ca/v1/crls', JSON.stringify({ delta: false }));
      expect(c.status, c.body).toBe(200);
      expect(Buffer.from(String(c.json.crl), 'base64')[0]).toBe(0x30);
      expect(await crlCount()).toBe(crls + 1);
    });

    it('answers a refusal of the engine itself as problem+json (a revocation of an unknown serial: 404)', async () => {
      const r = await call('admin', 'POST', '/ca/v1/certificates/0badc0de/revoke', JSON.stringify({ reason: 'superseded' }));
      expect(r.status, r.body).toBe(404);
      expect(r.type).toMatch(/^application\/problem\+json/);
      expect(r.json.kind).toBe('notFound');
    });
  });

  describe('a node granted crl only', () => {
    it('publishes a CRL but may not sign, alone or in a batch (the direct batch path checks too)', async () => {
      expect((await call('auditor', 'POST', '/ca/v1/crls', '{}')).status).toBe(200);
      const csr = makeCsr();
      const id = await newRequestId(f.db, csr.csrDer);
      const body = JSON.stringify(encodeOrder(order(id, csr.csrDer)));
      const one = await call('auditor', 'POST', '/ca/v1/orders', body);
      expect(one.status, one.body).toBe(403);
      expect(one.json).toMatchObject({ operation: 'sign', detail: 'CN=auditor-1, O=Example may not sign through the CA API (ca.clients.allowedSubjects grants it: crl)' });
      const batch = await call('auditor', 'POST', '/ca/v1/orders/batch', JSON.stringify({ orders: [JSON.parse(body) as unknown] }));
      expect(batch.status, batch.body).toBe(403);
      expect(batch.type).toMatch(/^application\/problem\+json/);
      expect(batch.json).toMatchObject({ operation: 'sign', kind: 'forbidden' });
      const response = await call('auditor', 'POST', '/ca/v1/responses', JSON.stringify({ requestId: id }));
      expect(response.status).toBe(403);
      expect((await f.db.query('SELECT 1 FROM certificates WHERE request_id = $1', [id])).rowCount).toBe(0);
      // Reading the CA's public info needs no grant.
      expect((await call('auditor', 'GET', '/ca/v1/info')).status).toBe(200);
    });
  });

  describe('certificates that are no credential', () => {
    const refusedAsClient = async (who: string, reason: RegExp): Promise<void> => {
      const r = await call(who, 'GET', '/ca/v1/features');
      expect(r.status, r.body).toBe(403);
      expect(r.type).toMatch(/^application\/problem\+json/);
      expect(r.json).toMatchObject({ kind: 'forbidden', detail: 'this client certificate may not use the CA signing API' });
      expect((await events('auth.failure')).map((e) => e.reason)).toEqual(expect.arrayContaining([expect.stringMatching(reason)]));
    };

    it('a recorded CA client certificate whose subject is not listed', async () => {
      await refusedAsClient('unlisted', /^CA API: CN=ces-9, O=Example is not in ca\.clients\.allowedSubjects$/);
    });

    it("an enrollee's certificate of this CA with a listed subject and client authentication", async () => {
      await refusedAsClient('enrollee', /^CA API: CN=ces-2 \(serial [0-9a-f]+\) was not issued as a CA client certificate$/);
    });

    it('a certificate without the client-authentication key purpose (a WebServer certificate) never gets past the TLS handshake', async () => {
      // OpenSSL checks the SSL-client purpose itself; the handler's own EKU check is a second line for that.
      await expect(call('webServer', 'GET', '/ca/v1/features')).rejects.toThrow(/other side closed|certificate|ECONNRESET/);
    });

    it('a revoked CA client certificate', async () => {
      const c = await clientCert([{ type: 'CN', value: 'ces-1' }, { type: 'O', value: 'Example' }]);
      const serial = (await f.db.query<{ serial: string }>(`SELECT serial FROM certificates WHERE template = $1 ORDER BY issued_at DESC LIMIT 1`, [CA_CLIENT_PROFILE])).rows[0]!.serial;
      await f.ca.revoke(serial, 'superseded');
      creds.revoked = c;
      await refusedAsClient('revoked', new RegExp(`^CA API: CN=ces-1, O=Example \\(serial ${serial}\\) is revoked$`));
    });

    it('a certificate from a CA that is not trusted, with a listed subject, never gets past the TLS handshake', async () => {
      await expect(call('stranger', 'GET', '/ca/v1/features')).rejects.toThrow(/other side closed|certificate|ECONNRESET/);
    });

    it('a certificate from a trusted partner CA (ca.clients.trustRoots) with a listed subject is a credential, with the default grant', async () => {
      expect((await call('partner', 'GET', '/ca/v1/features')).status).toBe(200);
      const r = await call('partner', 'POST', '/ca/v1/crls', '{}');
      expect(r.status).toBe(403);
      expect(r.json.operation).toBe('crl');
    });
  });

  describe('bodies', () => {
    const big = Buffer.alloc((1 << 20) + 16, 0x20);

    it.each([
      ['/ca/v1/orders', 'application/json'],
      // Every other spelling of the content type goes through express instead of the direct batch path.
      ['/ca/v1/orders/batch', 'application/json'],
      ['/ca/v1/orders/batch', 'application/json; charset=utf-8'],
    ])('%s (%s): malformed JSON is a 400, a body over 1 MiB a 413, deep nesting a 400, all problem+json', async (path, type) => {
      const bad = await call('ces', 'POST', path, '{"orders": [', type);
      expect(bad.status, bad.body).toBe(400);
      expect(bad.type).toMatch(/^application\/problem\+json/);
      expect(bad.json).toMatchObject({ kind: 'malformed', status: 400 });
      const large = await call('ces', 'POST', path, big, type);
      expect(large.status, large.body).toBe(413);
      expect(large.type).toMatch(/^application\/problem\+json/);
      expect(large.json).toMatchObject({ kind: 'tooLarge', status: 413 });
      const deep = await call('ces', 'POST', path, `${'['.repeat(200)}${']'.repeat(200)}`, type);
      expect(deep.status, deep.body).toBe(400);
      expect(deep.json).toMatchObject({ kind: 'malformed' });
    });

    it('a batch that is not a batch is a 400 problem naming it', async () => {
      const r = await call('ces', 'POST', '/ca/v1/orders/batch', JSON.stringify({ orders: 'none' }));
      expect(r.status, r.body).toBe(400);
      expect(r.json.kind).toBe('malformed');
    });

    it('an unknown resource is a 404 problem', async () => {
      const r = await call('ces', 'GET', '/ca/v1/nothing');
      expect(r.status).toBe(404);
      expect(r.type).toMatch(/^application\/problem\+json/);
    });
  });
});
