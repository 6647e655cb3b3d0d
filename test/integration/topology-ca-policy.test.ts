import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { freshTestDb, urlWithSchema, type TestDb } from '../helpers/db.js';
import { makeCsr, openssl, tmp, type Csr } from '../helpers/openssl.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { cliAsync, dbRoleUrls, NodeProcess, until } from '../helpers/topology.js';
import { callControlSocket } from '../../src/ops/control-socket.js';
import { cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { encodeOrder } from '../../src/ca/backends/wire.js';
import type { IssuanceOrder } from '../../src/ca/types.js';
import { insertRequest } from '../../src/store/request-repo.js';
import { openDb } from '../../src/store/open.js';
import type { Db } from '../../src/store/db.js';

const PASSWORD = 'Sec0nd-line';
const CES_NODE = 'CN=ces-node, O=opences test';
const DAY = 86400_000;

/**
 * Issue 17, item 1: the CA node enforces policy itself. A split deployment on PostgreSQL (ca, ces
 * and admin nodes as separate processes, each on its node role's database user); the test plays a
 * compromised enrollment node: it holds the ces node's CA client key and its database user, and
 * orders what the ces node never would.
 * Every forged order is refused by the CA node and audited there with the calling node's name; a
 * certificate manager's approval (on the admin node) then lets the honest order through.
 */
describe('the CA node re-checks every order against policy it reads itself', () => {
  let db: TestDb;
  let dbUrl: string;
  let ca: NodeProcess;
  let ces: NodeProcess;
  let admin: NodeProcess;
  let rootPem: string;
  let roles: Awaited<ReturnType<typeof dbRoleUrls>>;
  /** The ces node's database user, in the attacker's hands. */
  let cesDb: Db;
  let soap: Agent;
  /** The ces node's CA client certificate and key, in the attacker's hands. */
  let stolen: Agent;

  beforeAll(async () => {
    db = await freshTestDb();
    // dbUrl: the owner (operator commands, checks); each node: its role's user (docs/deployment.md).
    dbUrl = urlWithSchema(db.schema);
    await cliAsync(['db', 'migrate'], { databaseUrl: dbUrl });
    roles = await dbRoleUrls(dbUrl);
    const strict = { databaseAllowExcessPrivileges: false };
    const certs = tmp('opences-policy-certs-');
    ca = new NodeProcess('ca', {
      databaseUrl: roles.urls.ca,
      roles: 'ca',
      config: { ...strict, ca: { clients: { allowedSubjects: ['CN=ces-node,O=opences test', 'CN=admin-node,O=opences test'] }, nameConstraints: { permittedDnsSuffixes: ['example.test'] } } },
    });
    await ca.start();
    rootPem = readFileSync(join(ca.dataDir, 'certs', 'root_ca.crt'), 'utf8');
    const files = (n: string) => ({ cert: join(certs, `${n}.crt`), key: join(certs, `${n}.key`) });
    await Promise.all(['ces-node', 'admin-node'].map((n) => cliAsync(['ca', 'client-cert', 'issue', '--subject', `CN=${n},O=opences test`, '--cert-out', files(n).cert, '--key-out', files(n).key, '--data-dir', ca.dataDir], { databaseUrl: dbUrl })));
    const remote = (n: string) => ['--ca-url', `https://localhost:${ca.caApiPort}`, '--ca-client-cert', files(n).cert, '--ca-client-key', files(n).key];
    ces = new NodeProcess('ces', { databaseUrl: roles.urls.ces, roles: 'ces', config: strict, args: remote('ces-node') });
    admin = new NodeProcess('admin', { databaseUrl: roles.urls.admin, roles: 'admin', config: strict, args: remote('admin-node') });
    await Promise.all([ces.start(), admin.start()]);
    await callControlSocket(admin.dataDir, 'user.add', { name: 'alice', password: PASSWORD }, 'local:admin');
    cesDb = await openDb({ url: roles.urls.ces, migrate: false });
    soap = new Agent({ connect: { ca: rootPem }, headersTimeout: 30_000, bodyTimeout: 30_000 });
    stolen = new Agent({ connect: { ca: rootPem, cert: readFileSync(files('ces-node').cert, 'utf8'), key: readFileSync(files('ces-node').key, 'utf8') } });
  }, 180_000);
  afterAll(async () => {
    await soap?.close();
    await stolen?.close();
    await cesDb?.close();
    await Promise.all([ces?.stop(), admin?.stop(), ca?.stop()]);
    await db?.close();
    await roles?.drop();
  });

  const enroll = async (csr: Csr) => {
    const to = `${ces.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const r = await postSoap(to, buildRstRequest({ to, requestType: 'issue', securityHeaderXml: usernameHeader({ username: 'alice', password: PASSWORD }), token: { valueType: 'pkcs10', der: csr.csrDer } }), soap);
    expect(r.status).toBe(200);
    return parseRstrResponse(r.env!);
  };

  /** POST an order straight to the CA node's signing API with the stolen client key (single, or as a batch of one). */
  const order = async (o: IssuanceOrder, batch = false): Promise<{ status: number; body: Record<string, unknown> }> => {
    const path = batch ? '/ca/v1/orders/batch' : '/ca/v1/orders';
    const r = await request(`https://localhost:${ca.caApiPort}${path}`, { method: 'POST', dispatcher: stolen, headers: { 'content-type': 'application/json' }, body: JSON.stringify(batch ? { orders: [encodeOrder(o)] } : encodeOrder(o)) });
    const body = (await r.body.json()) as Record<string, unknown>;
    if (!batch) return { status: r.statusCode, body };
    const result = (body.results as Record<string, Record<string, unknown>>[])[0]!;
    return result.problem ? { status: Number(result.problem.status), body: result.problem } : { status: 200, body: result.issued! };
  };

  /** The CA node's audit of refused orders for a request, once the audit queue has moved them into the chain. */
  const refusals = async (requestId: string, count: number) => {
    const read = () => db.query<{ event: Record<string, unknown> }>(`SELECT jsonb_build_object('actor', actor, 'outcome', outcome, 'template', template, 'reason', reason, 'details', details) AS event FROM audit_events WHERE type = 'ca.order.refuse' AND request_id = $1 ORDER BY seq`, [requestId]);
    await until(15_000, async () => (await read()).rowCount! >= count);
    return (await read()).rows.map((r) => r.event);
  };

  it('refuses the forged order of issue 17 and each of its parts, audits every refusal with the calling node, and signs the approved order', async () => {
    const csr = makeCsr({ subject: 'CN=www.example.test', sans: ['DNS:www.example.test'], templateName: 'WebServerApproval' });
    const pending = await enroll(csr);
    expect(pending.disposition).toBe('pending');
    const id = pending.requestId!;
    const now = Date.now();
    // What the ces node recorded and would order after approval.
    const honest: IssuanceOrder = {
      orderId: id,
      template: 'WebServerApproval',
      csrDer: csr.csrDer,
      subject: [{ type: 'CN', value: 'www.example.test' }],
      sans: [{ type: 'dns', value: 'www.example.test' }],
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      keyUsageCritical: true,
      ekus: ['1.3.6.1.5.5.7.3.1'],
      issuancePolicies: [],
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 2 * 365 * DAY),
      requester: 'alice',
    };
    // The order of issue 17: the pending request ordered as User, with names, EKUs, key usage and validity beyond any template.
    const forged: IssuanceOrder = {
      ...honest,
      template: 'User',
      subject: [{ type: 'CN', value: 'Evil Corp Root' }, { type: 'O', value: 'Google LLC' }],
      sans: [{ type: 'dns', value: '*.google.com' }, { type: 'upn', value: 'administrator@example.com' }],
      ekus: ['2.5.29.37.0', '1.3.6.1.5.5.7.3.3', '1.3.6.1.4.1.311.20.2.2'],
      keyUsage: ['digitalSignature', 'keyCertSign'],
      notAfter: new Date(now + 10 * 365 * DAY),
    };
    const attempts: [string, IssuanceOrder, number, RegExp][] = [
      ['the whole forged order', forged, 422, /keyCertSign: this CA issues end-entity certificates only/],
      ['any-purpose, code-signing and smart-card-logon EKUs', { ...honest, ekus: forged.ekus }, 422, /extended key usages/],
      ['keyCertSign', { ...honest, keyUsage: ['digitalSignature', 'keyEncipherment', 'keyCertSign'] }, 422, /keyCertSign/],
      ['10 years of validity', { ...honest, notAfter: forged.notAfter }, 422, /days of validity; the template WebServerApproval allows 730/],
      ['a UPN the template does not allow', { ...honest, sans: [...honest.sans, { type: 'upn', value: 'administrator@example.com' }] }, 422, /does not allow upn names/],
      ['a name outside the name constraints', { ...honest, sans: [{ type: 'dns', value: '*.google.com' }] }, 422, /\*\.google\.com is outside the deployment's name constraints/],
      ['the pending request reordered as another template', { ...honest, template: 'WebServer', templateInfo: undefined }, 409, /names the template WebServer; request \d+ was recorded for WebServerApproval/],
      ['the pending request as User with names of User', { ...honest, template: 'User', subject: [{ type: 'CN', value: 'alice' }], sans: [{ type: 'upn', value: 'alice' }], ekus: ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.4', '1.3.6.1.4.1.311.10.3.4'], notAfter: new Date(now + 365 * DAY) }, 409, /recorded for WebServerApproval/],
      ['the honest order before any approval', honest, 403, /waits for a certificate manager's approval/],
    ];
    for (const [i, [what, o, status, reason]] of attempts.entries()) {
      const r = await order(o, i % 2 === 1);
      expect({ what, status: r.status, detail: r.body.detail }).toMatchObject({ what, status, detail: expect.stringMatching(reason) });
    }
    // An unknown request.
    const unknown = await order({ ...honest, orderId: '900000000001' });
    expect(unknown).toMatchObject({ status: 404 });

    // Nor can it approve the request itself: approvals are the admin role's to write.
    await expect(cesDb.query(`INSERT INTO request_approvals (request_id, order_digest, approved_by, approved_at) VALUES ($1, 'x', 'mallory', now())`, [id])).rejects.toThrow(/permission denied for table request_approvals/);

    // Nothing was issued; the request still waits.
    expect((await db.query('SELECT 1 FROM certificates WHERE request_id = $1', [id])).rowCount).toBe(0);
    expect((await db.query<{ status: string }>('SELECT status FROM requests WHERE id = $1', [id])).rows[0]!.status).toBe('pending');

    // Audited on the CA node, naming the enrollment node that ordered.
    const audited = await refusals(id, attempts.length);
    expect(audited).toHaveLength(attempts.length);
    for (const e of audited) expect(e).toMatchObject({ actor: CES_NODE, outcome: 'denied', details: { caller: CES_NODE } });
    expect(audited[0]).toMatchObject({ template: 'User', reason: expect.stringMatching(/keyCertSign/) });
    const other = await refusals('900000000001', 1);
    expect(other[0]).toMatchObject({ actor: CES_NODE, details: { kind: 'notFound' } });

    // A certificate manager approves on the admin node: its RA records the approval and the CA node signs.
    const approved = (await callControlSocket(admin.dataDir, 'request.approve', { id }, 'local:officer')) as { serial: string };
    expect(approved.serial).toMatch(/^[0-9a-f]+$/);
    const der = (await db.query<{ der: Buffer }>('SELECT der FROM certificates WHERE serial = $1', [approved.serial])).rows[0]!.der;
    const text = openssl(['x509', '-inform', 'DER', '-noout', '-text'], der);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment\n/);
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication\n/);
    expect(text).toMatch(/Subject Alternative Name: \n\s+DNS:www.example.test\n/);
    const cert = new X509Certificate(der);
    expect(new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime()).toBeLessThanOrEqual(2 * 365 * DAY + 120_000);
    expect((await db.query<{ approved_by: string }>('SELECT approved_by FROM request_approvals WHERE request_id = $1', [id])).rows[0]!.approved_by).toBe('local:officer');
  });

  it('an identity-built template signs only names of the recorded requester: a row the attacker records itself gets no one else’s names', async () => {
    // A compromised enrollment node can write request rows (it records requests): one for User as alice.
    const csr = makeCsr({ subject: 'CN=whatever' });
    const id = await insertRequest(cesDb, { status: 'pending', requester: 'alice', authMethod: 'username', template: 'User', requestFormat: 'pkcs10', rawRequest: csr.csrDer, csrDer: csr.csrDer, disposition: 5, dispositionMessage: 'Taken Under Submission', submittedAt: new Date() });
    const now = Date.now();
    const user: IssuanceOrder = {
      orderId: id,
      template: 'User',
      csrDer: csr.csrDer,
      subject: [{ type: 'CN', value: 'alice' }],
      sans: [{ type: 'upn', value: 'alice' }],
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      keyUsageCritical: true,
      ekus: ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.4', '1.3.6.1.4.1.311.10.3.4'],
      issuancePolicies: [],
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 365 * DAY),
      requester: 'alice',
    };
    expect(await order({ ...user, sans: [{ type: 'upn', value: 'administrator@example.com' }] })).toMatchObject({ status: 422, body: { detail: expect.stringMatching(/administrator@example.com is not the requester alice's/) } });
    expect(await order({ ...user, subject: [{ type: 'CN', value: 'Evil Corp Root' }, { type: 'O', value: 'Google LLC' }] })).toMatchObject({ status: 422, body: { detail: expect.stringMatching(/no O attribute/) } });
    expect(await order({ ...user, requester: 'administrator', subject: [{ type: 'CN', value: 'administrator' }], sans: [{ type: 'upn', value: 'administrator' }] })).toMatchObject({ status: 409, body: { detail: expect.stringMatching(/requester administrator; request \d+ was recorded for another/) } });
    // What it can obtain: the template's certificate with the recorded requester's names (docs/deployment.md).
    expect(await order(user)).toMatchObject({ status: 200, body: { serial: expect.stringMatching(/^[0-9a-f]+$/) } });
    expect(await refusals(id, 3)).toHaveLength(3);
  });
});
