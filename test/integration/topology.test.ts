import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { freshTestDb, urlWithSchema, type TestDb } from '../helpers/db.js';
import { makeCsr, openssl, opensslStatus, pemOf, tmp, writeTmp } from '../helpers/openssl.js';
import { cli, cliAsync, dbRoleUrls, NodeProcess, until } from '../helpers/topology.js';
import { callControlSocket } from '../../src/ops/control-socket.js';
import { EnrollmentClient, SoapTransport } from '../../src/client/index.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { parsePkiResponse } from '../../src/protocol/cmc/index.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';

const PASSWORD = 'Spl1t-topology';

/** Every file under `dir`. */
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? files(p) : e.isFile() ? [p] : [];
  });
}

/** SPKI (DER, base64) of every private key found in files under `dir`, by file. */
function privateKeysIn(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of files(dir)) {
    if (statSync(f).size > 1_000_000) continue;
    const text = readFileSync(f).toString('latin1');
    for (const m of text.match(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g) ?? []) {
      const spki = createPublicKey(createPrivateKey({ key: m, passphrase: '' })).export({ type: 'spki', format: 'der' }).toString('base64');
      out.set(`${f}#${out.size}`, spki);
    }
  }
  return out;
}

const spkiOf = (pem: string): string => new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

/**
 * Issue 8: a `ca` node, a `ces` node, two `cep` nodes and an `admin` node as separate processes
 * with separate data directories on one PostgreSQL; enrollment nodes reach the CA only through its
 * signing API over mutual TLS, and hold no CA key. Issue 16: each node connects with the
 * least-privilege database role of its node role (`opences db roles`) and would refuse more.
 */
describe('split deployment: ca, ces, cep and admin nodes as separate processes, each on its own database role', () => {
  let db: TestDb;
  let dbUrl: string;
  let roles: Awaited<ReturnType<typeof dbRoleUrls>>;
  let ca: NodeProcess;
  let ces: NodeProcess;
  let cep: NodeProcess;
  let cep2: NodeProcess;
  let admin: NodeProcess;
  let certs: string;
  let rootPem: string;

  const issueClientCert = async (name: string): Promise<{ cert: string; key: string }> => {
    const cert = join(certs, `${name}.crt`);
    const key = join(certs, `${name}.key`);
    await cliAsync(['ca', 'client-cert', 'issue', '--subject', `CN=${name},O=opences test`, '--cert-out', cert, '--key-out', key, '--data-dir', ca.dataDir], { databaseUrl: dbUrl });
    return { cert, key };
  };

  beforeAll(async () => {
    db = await freshTestDb();
    // dbUrl: the owner (operator commands, checks); each node: its role's user (docs/deployment.md).
    dbUrl = urlWithSchema(db.schema);
    await cliAsync(['db', 'migrate'], { databaseUrl: dbUrl });
    roles = await dbRoleUrls(dbUrl);
    const strict = { databaseAllowExcessPrivileges: false };
    certs = tmp('opences-topo-certs-');
    ca = new NodeProcess('ca', { databaseUrl: roles.urls.ca, roles: 'ca', config: { ...strict, ca: { clients: { allowedSubjects: ['CN=ces-node,O=opences test', 'O=opences test,CN=cep-node', { subject: 'CN=admin-node,O=opences test', operations: ['sign', 'revoke', 'crl'] }, 'CN=impostor'] } } } });
    await ca.start();
    rootPem = readFileSync(join(ca.dataDir, 'certs', 'root_ca.crt'), 'utf8');
    const [cesCert, cepCert, adminCert] = await Promise.all([issueClientCert('ces-node'), issueClientCert('cep-node'), issueClientCert('admin-node')]);
    const remote = (c: { cert: string; key: string }) => ['--ca-url', `https://localhost:${ca.caApiPort}`, '--ca-client-cert', c.cert, '--ca-client-key', c.key];
    ces = await new NodeProcess('ces', { databaseUrl: roles.urls.ces, roles: 'ces', config: strict, args: remote(cesCert) }).allocate();
    // The policy node advertises the enrollment node (behind a load balancer: its URL).
    cep = new NodeProcess('cep', { databaseUrl: roles.urls.cep, roles: 'cep', config: strict, args: [...remote(cepCert), '--public-url', ces.url] });
    // A second policy node (behind the same balancer in production), with the same client certificate subject.
    cep2 = new NodeProcess('cep2', { databaseUrl: roles.urls.cep, roles: 'cep', config: strict, args: [...remote(cepCert), '--public-url', ces.url] });
    // Accounts and templates are the admin node's to change (the front nodes' roles may not).
    admin = new NodeProcess('admin', { databaseUrl: roles.urls.admin, roles: 'admin', config: strict, args: remote(adminCert) });
    await Promise.all([ces.start(), cep.start(), cep2.start(), admin.start()]);
    cli(['user', 'add', 'alice', '--password-stdin', '--data-dir', admin.dataDir], { databaseUrl: dbUrl, input: `${PASSWORD}\n` });
    await callControlSocket(admin.dataDir, 'user.add', { name: 'impostor', password: PASSWORD }, 'local:admin');
  }, 180_000);
  afterAll(async () => {
    await Promise.all([cep?.stop(), cep2?.stop(), ces?.stop(), admin?.stop(), ca?.stop()]);
    await db?.close();
    await roles?.drop();
  });

  it('a front node cannot do an administrator\'s work: its database role refuses', async () => {
    await expect(callControlSocket(ces.dataDir, 'user.add', { name: 'mallory', password: PASSWORD }, 'local:admin')).rejects.toThrow(/the database refused: permission denied for table accounts/);
    await expect(callControlSocket(cep.dataDir, 'template.disable', { name: 'User' }, 'local:admin')).rejects.toThrow(/the database refused: permission denied for table templates/);
    expect((await db.query(`SELECT enabled FROM templates WHERE name = 'User'`)).rows[0]).toEqual({ enabled: true });
  });

  const client = (user = 'alice') => new EnrollmentClient(new SoapTransport({ auth: { kind: 'username', username: user, password: PASSWORD }, caBundlePem: rootPem }));

  it('enrolls through CEP → CES → CA with the typed client; the certificate verifies and is recorded', async () => {
    const c = client();
    const policy = await c.getPolicies(`${cep.url}${cepPath('UsernamePassword')}`);
    const web = policy.templates.find((t) => t.name === 'WebServer')!;
    const cesUrl = web.enrollmentUrls.find((u) => u.clientAuthentication === 4)!.uri;
    expect(cesUrl.startsWith(`${ces.url}/`)).toBe(true);
    const csr = makeCsr({ subject: 'CN=split.example.test', sans: ['DNS:split.example.test'], templateName: 'WebServer' });
    const r = await c.issue(cesUrl, { format: 'pkcs10', der: csr.csrDer });
    expect(r.status).toBe('issued');
    if (r.status !== 'issued') return;
    const d = tmp();
    const v = opensslStatus(['verify', '-CAfile', join(ca.dataDir, 'certs/root_ca.crt'), '-untrusted', join(ca.dataDir, 'certs/issuing_ca.crt'), writeTmp(d, 'leaf.pem', pemOf(r.certificate))]);
    expect(v.out).toContain('OK');
    expect(v.code).toBe(0);
    expect(openssl(['x509', '-inform', 'DER', '-noout', '-ext', 'subjectAltName'], Buffer.from(r.certificate))).toContain('DNS:split.example.test');
    const serial = new X509Certificate(Buffer.from(r.certificate)).serialNumber.toLowerCase();
    const row = await db.query<{ der: Buffer; status: string }>('SELECT c.der, q.status FROM certificates c JOIN requests q ON q.id = c.request_id WHERE c.serial = $1', [serial]);
    expect(row.rows).toHaveLength(1);
    expect(Buffer.compare(row.rows[0]!.der, Buffer.from(r.certificate))).toBe(0);
    expect(row.rows[0]!.status).toBe('issued');
    // The CA node signed it (its log, which reaches us over a pipe that may lag the answer), not the enrollment node.
    await until(5_000, () => ca.out.includes(`"serial":"${serial.replace(/^(00)+/, '')}"`));
    expect(ca.out).toContain('CA API: order batch answered');
    expect(ca.out).toContain(`"serial":"${serial.replace(/^(00)+/, '')}"`);
    // The issuance is in the audit log once (the CA node parked it with the certificate, at the
    // enrollment node's request; then chained moments later), with the caller's sign-in method.
    const issuedEvent = async () =>
      (await db.query<{ serial: string; principal: string; method: string }>(`SELECT serial, principal, method FROM audit_events WHERE type = 'certificate.issue' AND request_id = $1`, [r.requestId])).rows;
    await until(5_000, async () => (await issuedEvent()).length > 0);
    expect(await issuedEvent()).toEqual([{ serial, principal: 'alice', method: 'username' }]);
  });

  it('the CA node signs the CMC full responses: with the certificate in the order round trip, and for a pending request on demand', async () => {
    const agent = new Agent({ connect: { ca: rootPem } });
    try {
      const url = `${ces.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
      const rst = async (template: string, name: string) => {
        const csr = makeCsr({ subject: `CN=${name}`, sans: [`DNS:${name}`], templateName: template });
        const xml = buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'alice', password: PASSWORD }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } });
        const r = await postSoap(url, xml, agent);
        expect(r.status, r.body).toBe(200);
        return parseRstrResponse(r.env!);
      };
      const issuing = readFileSync(join(ca.dataDir, 'certs/issuing_ca.crt'), 'utf8');
      const signedByCa = (der: Uint8Array) => {
        const cmc = parsePkiResponse(der);
        expect(cmc.signers.map((x) => x.signatureValid)).toEqual([true]);
        expect(new X509Certificate(Buffer.from(cmc.signers[0]!.certificateDer!)).raw.equals(new X509Certificate(issuing).raw)).toBe(true);
        return cmc;
      };
      const issued = await rst('WebServer', 'cmc.split.example.test');
      expect(signedByCa(issued.fullResponseDer!)).toMatchObject({ status: 'success', statusString: 'Issued' });
      const pending = await rst('WebServerApproval', 'wait.split.example.test');
      expect(signedByCa(pending.fullResponseDer!)).toMatchObject({ status: 'pending' });
    } finally {
      await agent.close();
    }
  });

  it('two policy nodes on one database answer alike, and a template disabled through one is gone from both within a second', async () => {
    const names = async (node: NodeProcess): Promise<string[]> => (await client().getPolicies(`${node.url}${cepPath('UsernamePassword')}`)).templates.map((t) => t.name).sort();
    const before = await names(cep);
    expect(before).toContain('User');
    expect(await names(cep2)).toEqual(before);
    await callControlSocket(admin.dataDir, 'template.disable', { name: 'User' }, 'local:admin');
    // The other node hears of the change by NOTIFY, which reaches it a moment after the command
    // returns (in one CI run, after the next request): within a second, well inside the template
    // cache's 5 s lifetime, so only the push can explain it.
    const without = before.filter((n) => n !== 'User');
    try {
      await until(1_000, async () => (await names(cep2)).length === without.length, 20);
      expect(await names(cep2)).toEqual(without);
      expect(await names(cep)).toEqual(without);
    } finally {
      await callControlSocket(admin.dataDir, 'template.enable', { name: 'User' }, 'local:admin');
    }
    await until(1_000, async () => (await names(cep2)).length === before.length, 20);
    expect(await names(cep2)).toEqual(before);
  });

  it('the ces and cep data directories hold no CA private key; the ca node does', () => {
    const caKeys = [spkiOf(readFileSync(join(ca.dataDir, 'certs/root_ca.crt'), 'utf8')), spkiOf(readFileSync(join(ca.dataDir, 'certs/issuing_ca.crt'), 'utf8'))];
    const onCa = [...privateKeysIn(ca.dataDir).values()];
    expect(caKeys.every((k) => onCa.includes(k))).toBe(true); // the check can see a CA key where there is one
    for (const node of [ces, cep, cep2]) {
      const keys = privateKeysIn(node.dataDir);
      expect([...keys.values()].filter((k) => caKeys.includes(k)), node.name).toEqual([]);
      // Only its own TLS key; no key store at all.
      expect([...keys.keys()].map((k) => k.replace(`${node.dataDir}/`, '').replace(/#\d+$/, ''))).toEqual(['secrets/tls.key']);
      expect(files(node.dataDir).filter((f) => /ca-[0-9a-f]+/.test(f))).toEqual([]);
    }
  });

  const callCa = async (auth: { cert?: string; key?: string }): Promise<{ status: number; body: string }> => {
    const agent = new Agent({ connect: { ca: rootPem, ...(auth.cert ? { cert: readFileSync(auth.cert, 'utf8'), key: readFileSync(auth.key!, 'utf8') } : {}) } });
    try {
      const r = await request(`https://localhost:${ca.caApiPort}/ca/v1/info`, { dispatcher: agent });
      return { status: r.statusCode, body: await r.body.text() };
    } finally {
      await agent.close();
    }
  };

  it('revocation and CRL publication: an enrollment node may not (ca.clients grants it sign only), the admin node goes to the CA node', async () => {
    const row = await db.query<{ serial: string }>(`SELECT serial FROM certificates WHERE template = 'WebServer' ORDER BY issued_at LIMIT 1`);
    const serial = row.rows[0]!.serial;
    const revocation = async () => (await db.query<{ revocation_reason: number | null }>('SELECT revocation_reason FROM certificates WHERE serial = $1', [serial])).rows[0]!.revocation_reason;
    // A taken-over internet-facing node cannot revoke anyone's certificate: the CA node refuses it.
    await expect(callControlSocket(ces.dataDir, 'cert.revoke', { serial, reason: 'superseded' }, 'local:admin')).rejects.toThrow(/CN=ces-node, O=opences test may not revoke through the CA API/);
    await expect(callControlSocket(ces.dataDir, 'crl.publish', {}, 'local:admin')).rejects.toThrow(/may not crl through the CA API/);
    expect(await revocation()).toBeNull();
    const denied = await db.query<{ reason: string }>(`SELECT reason FROM audit_events WHERE type = 'authz.denied' AND reason LIKE 'CA API:%' ORDER BY seq`);
    expect(denied.rows.map((x) => x.reason)).toEqual(['CA API: CN=ces-node, O=opences test may not revoke (granted: sign)', 'CA API: CN=ces-node, O=opences test may not crl (granted: sign)']);
    // `opences cert revoke` / `crl publish` on the admin node (its control socket): RemoteCa → /ca/v1.
    await callControlSocket(admin.dataDir, 'cert.revoke', { serial, reason: 'superseded' }, 'local:admin');
    expect(await revocation()).toBe(4);
    await expect(callControlSocket(admin.dataDir, 'cert.revoke', { serial, reason: 'superseded' }, 'local:admin')).rejects.toThrow(/already revoked/);
    await callControlSocket(admin.dataDir, 'crl.publish', {}, 'local:admin');
    const crl = await db.query<{ der: Buffer }>(`SELECT l.der FROM crls l JOIN cas c ON c.id = l.ca_id WHERE c.kind = 'issuing' AND NOT l.delta ORDER BY l.number DESC LIMIT 1`);
    const text = openssl(['crl', '-inform', 'DER', '-noout', '-text', '-CAfile', join(ca.dataDir, 'certs/issuing_ca.crt')], crl.rows[0]!.der);
    expect(text.toUpperCase()).toContain(serial.toUpperCase());
  });

  it('the CA API answers the configured client certificate', async () => {
    const r = await callCa({ cert: join(certs, 'ces-node.crt'), key: join(certs, 'ces-node.key') });
    expect(r.status).toBe(200);
    const info = JSON.parse(r.body) as { name: string; chain: string[] };
    expect(info.name).toBe('opences Issuing CA');
    expect(info.chain).toHaveLength(2);
  });

  it('refuses a client certificate from a CA it does not trust, and a caller without one (TLS handshake)', async () => {
    const d = tmp();
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(d, 'rogue-ca.key'), '-out', join(d, 'rogue-ca.crt'), '-subj', '/CN=Rogue CA', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(d, 'rogue.key'), '-out', join(d, 'rogue.csr'), '-subj', '/CN=ces-node/O=opences test']);
    writeFileSync(join(d, 'ext.cnf'), 'extendedKeyUsage=clientAuth\n');
    openssl(['x509', '-req', '-in', join(d, 'rogue.csr'), '-CA', join(d, 'rogue-ca.crt'), '-CAkey', join(d, 'rogue-ca.key'), '-CAcreateserial', '-days', '1', '-extfile', join(d, 'ext.cnf'), '-out', join(d, 'rogue.crt')]);
    await expect(callCa({ cert: join(d, 'rogue.crt'), key: join(d, 'rogue.key') })).rejects.toThrow();
    await expect(callCa({})).rejects.toThrow();
    // The enrollment node's typed path: a RemoteCa with that certificate gets no signature.
    const { RemoteCa } = await import('../../src/ca/backends/remote.js');
    const rogue = new RemoteCa({ url: `https://localhost:${ca.caApiPort}`, certPem: readFileSync(join(d, 'rogue.crt'), 'utf8'), keyPem: readFileSync(join(d, 'rogue.key'), 'utf8'), caBundlePem: rootPem, info: { name: '', slug: '', issuingCertificate: new Uint8Array(), rootCertificate: new Uint8Array(), chain: [] }, retries: 0, timeoutMs: 3_000 });
    await expect(rogue.fetchInfo()).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringContaining('the CA is unreachable') });
    await rogue.close();
  });

  it('refuses a certificate of this CA with an allowed subject that was not issued as a CA client certificate', async () => {
    // An enrollee ("impostor") gets an ordinary User certificate CN=impostor with client auth.
    const c = client('impostor');
    const policy = await c.getPolicies(`${cep.url}${cepPath('UsernamePassword')}`);
    const machine = policy.templates.find((t) => t.name === 'User')!;
    const csr = makeCsr({ subject: 'CN=impostor', templateName: 'User' });
    const r = await c.issue(machine.enrollmentUrls.find((u) => u.clientAuthentication === 4)!.uri, { format: 'pkcs10', der: csr.csrDer });
    expect(r.status).toBe('issued');
    if (r.status !== 'issued') return;
    const leaf = new X509Certificate(Buffer.from(r.certificate));
    expect(leaf.subject).toBe('CN=impostor');
    expect(leaf.keyUsage).toContain('1.3.6.1.5.5.7.3.2');
    const d = tmp();
    const cert = writeTmp(d, 'impostor.crt', pemOf(r.certificate) + pemOf(r.chain[0]!));
    const res = await callCa({ cert, key: csr.keyFile });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'forbidden' });
    const audit = await db.query<{ reason: string }>(`SELECT reason FROM audit_events WHERE type = 'auth.failure' AND reason LIKE 'CA API:%'`);
    expect(audit.rows.map((x) => x.reason).join('\n')).toContain('was not issued as a CA client certificate');
  });

  it('a revoked CA client certificate is refused: on a new connection at once, on an open one within AUTHORIZED_FOR_MS', async () => {
    const { RemoteCa } = await import('../../src/ca/backends/remote.js');
    const { AUTHORIZED_FOR_MS } = await import('../../src/http/ca-api.js');
    // A second certificate for the ces-node subject (its own files: the node keeps using its first).
    const c = { cert: join(certs, 'ces-node-2.crt'), key: join(certs, 'ces-node-2.key') };
    await cliAsync(['ca', 'client-cert', 'issue', '--subject', 'CN=ces-node,O=opences test', '--cert-out', c.cert, '--key-out', c.key, '--data-dir', ca.dataDir], { databaseUrl: dbUrl });
    const serial = new X509Certificate(readFileSync(c.cert)).serialNumber.toLowerCase();
    const info = { name: '', slug: '', issuingCertificate: new Uint8Array(), rootCertificate: new Uint8Array(), chain: [] };
    const open = new RemoteCa({ url: `https://localhost:${ca.caApiPort}`, certPem: readFileSync(c.cert, 'utf8'), keyPem: readFileSync(c.key, 'utf8'), caBundlePem: rootPem, info, retries: 0 });
    expect((await open.fetchInfo()).name).toBe('opences Issuing CA');
    cli(['cert', 'revoke', serial, '--reason', 'keyCompromise', '--data-dir', ca.dataDir], { databaseUrl: dbUrl });
    const fresh = new RemoteCa({ url: `https://localhost:${ca.caApiPort}`, certPem: readFileSync(c.cert, 'utf8'), keyPem: readFileSync(c.key, 'utf8'), caBundlePem: rootPem, info, retries: 0 });
    await expect(fresh.fetchInfo()).rejects.toMatchObject({ kind: 'forbidden' });
    await new Promise((r) => setTimeout(r, AUTHORIZED_FOR_MS + 200));
    await expect(open.fetchInfo()).rejects.toMatchObject({ kind: 'forbidden' });
    const reasons = (await db.query<{ reason: string }>(`SELECT reason FROM audit_events WHERE type = 'auth.failure' AND reason LIKE 'CA API:%'`)).rows.map((x) => x.reason);
    const revoked = reasons.map((r) => /\(serial ([0-9a-f]+)\) is revoked$/.exec(r)?.[1]).filter((x) => x !== undefined);
    expect(revoked.map((x) => BigInt(`0x${x}`)), `serial ${serial}; audit: ${reasons.join(' | ')}`).toContain(BigInt(`0x${serial}`));
    await Promise.all([open.close(), fresh.close()]);
  });

  /** The enrollment node's client of the CA API, with its client certificate. */
  const cesClient = async () => {
    const { RemoteCa } = await import('../../src/ca/backends/remote.js');
    const info = { name: '', slug: '', issuingCertificate: new Uint8Array(), rootCertificate: new Uint8Array(), chain: [] };
    return new RemoteCa({ url: `https://localhost:${ca.caApiPort}`, certPem: readFileSync(join(certs, 'ces-node.crt'), 'utf8'), keyPem: readFileSync(join(certs, 'ces-node.key'), 'utf8'), caBundlePem: rootPem, info });
  };

  it('orders issued together travel in one batch, and each is answered on its own', async () => {
    const { insertRequest } = await import('../../src/store/request-repo.js');
    const rc = await cesClient();
    const now = new Date();
    const orderFor = async (name: string, tamper = false) => {
      const csr = makeCsr({ subject: `CN=${name}` });
      const der = Buffer.from(csr.csrDer);
      if (tamper) der[der.length - 1] ^= 0x01;
      const id = await insertRequest(db, { status: 'pending', requester: 'alice', authMethod: 'username', template: 'WebServer', requestFormat: 'pkcs10', rawRequest: der, csrDer: der, disposition: 5, dispositionMessage: 'Taken Under Submission', submittedAt: now });
      return { orderId: id, template: 'WebServer', csrDer: der, subject: [{ type: 'CN', value: name }], sans: [{ type: 'dns' as const, value: name }], keyUsage: ['digitalSignature' as const, 'keyEncipherment' as const], keyUsageCritical: true, ekus: ['1.3.6.1.5.5.7.3.1'], issuancePolicies: [], notBefore: now, notAfter: new Date(now.getTime() + 86400_000), requester: 'alice' };
    };
    const orders = [...(await Promise.all(['b1', 'b2', 'b3', 'b4'].map((n) => orderFor(`${n}.batch.example.test`)))), await orderFor('bad.batch.example.test', true)];
    const unknown = { ...orders[0]!, orderId: '987654321' };
    // Issued in one event-loop turn: one call to /ca/v1/orders/batch.
    const settled = await Promise.allSettled([...orders, unknown].map((o) => rc.issue(o)));
    const issued = settled.slice(0, 4).map((r) => (r.status === 'fulfilled' ? r.value : null));
    const root = new X509Certificate(rootPem);
    for (const [i, c] of issued.entries()) {
      expect(c).not.toBeNull();
      const cert = new X509Certificate(Buffer.from(c!.der));
      expect(cert.subject).toBe(`CN=b${i + 1}.batch.example.test`);
      // The chain travelled once for the batch (chainOnce) and came back with every certificate.
      expect(c!.chain).toHaveLength(2);
      expect(cert.checkIssued(new X509Certificate(Buffer.from(c!.chain[0]!)))).toBe(true);
      expect(new X509Certificate(Buffer.from(c!.chain[1]!)).raw.equals(root.raw)).toBe(true);
      expect((await db.query<{ status: string; serial: string }>('SELECT status, serial FROM requests WHERE id = $1', [orders[i]!.orderId])).rows[0]).toEqual({ status: 'issued', serial: c!.serial });
    }
    expect(settled[4]).toMatchObject({ status: 'rejected', reason: { kind: 'badSignature' } });
    expect(settled[5]).toMatchObject({ status: 'rejected', reason: { kind: 'notFound' } });
    // One log line for the batch, naming each order's outcome. It reaches us over the CA node's
    // stdout pipe, which may lag the HTTPS answers.
    const batchLines = () => ca.out.split('\n').filter((l) => l.includes('CA API: order batch answered') && l.includes(`"orderId":"${orders[0]!.orderId}"`));
    await until(5_000, () => batchLines().length >= 1);
    expect(batchLines()).toHaveLength(1);
    expect(JSON.parse(batchLines()[0]!)).toMatchObject({
      batch: 6,
      orders: [
        ...issued.map((c, i) => ({ orderId: orders[i]!.orderId, template: 'WebServer', serial: c!.serial, replayed: false })),
        { refused: 'badSignature' },
        { refused: 'notFound' },
      ],
    });
    await rc.close();
  });

  it('an enrollment node that does not ask for the chain once (an older version) gets it with every certificate', async () => {
    const { insertRequest } = await import('../../src/store/request-repo.js');
    const { encodeOrder } = await import('../../src/ca/backends/wire.js');
    const now = new Date();
    const csr = Buffer.from(makeCsr({ subject: 'CN=old-client.example.test' }).csrDer);
    const id = await insertRequest(db, { status: 'pending', requester: 'alice', authMethod: 'username', template: 'WebServer', requestFormat: 'pkcs10', rawRequest: csr, csrDer: csr, disposition: 5, dispositionMessage: 'Taken Under Submission', submittedAt: now });
    const order = encodeOrder({ orderId: id, template: 'WebServer', csrDer: csr, subject: [{ type: 'CN', value: 'old-client.example.test' }], sans: [], keyUsage: ['digitalSignature', 'keyEncipherment'], keyUsageCritical: true, ekus: ['1.3.6.1.5.5.7.3.1'], issuancePolicies: [], notBefore: now, notAfter: new Date(now.getTime() + 86400_000), requester: 'alice' });
    const agent = new Agent({ connect: { ca: rootPem, cert: readFileSync(join(certs, 'ces-node.crt'), 'utf8'), key: readFileSync(join(certs, 'ces-node.key'), 'utf8') } });
    try {
      const r = await request(`https://localhost:${ca.caApiPort}/ca/v1/orders/batch`, { method: 'POST', body: JSON.stringify({ orders: [order] }), headers: { 'content-type': 'application/json' }, dispatcher: agent });
      const body = (await r.body.json()) as { results: { issued: { chain: string[] } }[]; chain?: unknown };
      expect(r.statusCode).toBe(200);
      expect(body.chain).toBeUndefined();
      expect(body.results[0]!.issued.chain).toHaveLength(2);
      expect(new X509Certificate(Buffer.from(body.results[0]!.issued.chain[1]!, 'base64')).raw.equals(new X509Certificate(rootPem).raw)).toBe(true);
    } finally {
      await agent.close();
    }
  });

  it('the batch endpoint answers bad bodies with a problem, alike on its fast path and through express', async () => {
    const agent = new Agent({ connect: { ca: rootPem, cert: readFileSync(join(certs, 'ces-node.crt'), 'utf8'), key: readFileSync(join(certs, 'ces-node.key'), 'utf8') } });
    // The exact path with a JSON body takes the fast path; a query string sends it through express.
    const post = async (path: string, body: string | Buffer, type = 'application/json') => {
      const r = await request(`https://localhost:${ca.caApiPort}${path}`, { method: 'POST', body, headers: { 'content-type': type }, dispatcher: agent });
      return { status: r.statusCode, type: String(r.headers['content-type']), body: (await r.body.json()) as { kind?: string; detail?: string; results?: unknown[] } };
    };
    try {
      for (const path of ['/ca/v1/orders/batch', '/ca/v1/orders/batch?via=express']) {
        const notJson = await post(path, '{"orders": [');
        expect(notJson, path).toMatchObject({ status: 400, body: { kind: 'malformed', detail: 'the body is not JSON' } });
        expect(notJson.type).toContain('application/problem+json');
        expect(await post(path, '{"orders": []}'), path).toMatchObject({ status: 400, body: { kind: 'malformed' } });
        expect(await post(path, '[1, 2]'), path).toMatchObject({ status: 400, body: { kind: 'malformed' } });
        const huge = await post(path, JSON.stringify({ orders: ['x'.repeat(1 << 20)] }));
        expect(huge, path).toMatchObject({ status: 413, body: { kind: 'tooLarge' } });
        // Nested far deeper than any order (issue #15): refused before JSON.parse, never a 500.
        const deep = await post(path, `{"orders": ${'['.repeat(50_000)}${']'.repeat(50_000)}}`);
        expect(deep, path).toMatchObject({ status: 400, body: { kind: 'malformed', detail: 'the JSON body nests deeper than 32 levels' } });
        // One order that is not an order: answered in its place, the batch itself is fine.
        const one = await post(path, JSON.stringify({ orders: [{ orderId: 'x' }] }));
        expect(one.status, path).toBe(200);
        expect(one.body.results, path).toEqual([{ problem: expect.objectContaining({ kind: 'malformed', status: 400 }) }]);
      }
      // Not JSON at all: express's parser leaves the body alone and the batch is refused as malformed.
      expect(await post('/ca/v1/orders/batch', 'orders=1', 'application/x-www-form-urlencoded')).toMatchObject({ status: 400, body: { kind: 'malformed' } });
    } finally {
      await agent.close();
    }
    // The CA node is still serving.
    expect((await callCa({ cert: join(certs, 'ces-node.crt'), key: join(certs, 'ces-node.key') })).status).toBe(200);
  });

  it('the CA node records the issuance audit event with the certificate when asked, built from the order', async () => {
    const { insertRequest } = await import('../../src/store/request-repo.js');
    const rc = await cesClient();
    const now = new Date();
    const csr = Buffer.from(makeCsr({ subject: 'CN=audited.example.test' }).csrDer);
    const id = await insertRequest(db, { status: 'pending', requester: 'alice', authMethod: 'username', template: 'WebServer', requestFormat: 'pkcs10', rawRequest: csr, csrDer: csr, disposition: 5, dispositionMessage: 'Taken Under Submission', submittedAt: now });
    const order = { orderId: id, template: 'WebServer', csrDer: csr, subject: [{ type: 'CN', value: 'audited.example.test' }], sans: [], keyUsage: ['digitalSignature' as const, 'keyEncipherment' as const], keyUsageCritical: true, ekus: ['1.3.6.1.5.5.7.3.1'], issuancePolicies: [], notBefore: now, notAfter: new Date(now.getTime() + 86400_000), requester: 'alice' };
    // What the enrollment node's event says beyond the order (actor, method) travels; the rest —
    // here a principal and template that contradict the order — is not taken from it.
    const audit = { at: now, event: JSON.stringify({ type: 'certificate.issue', outcome: 'success', actor: 'officer1', method: 'username', principal: 'mallory', template: 'Other', requestId: id }) };
    const c = await rc.issue(order, { audit });
    expect(c.audited).toBe(true);
    const event = async () => (await db.query<Record<string, string>>(`SELECT serial, principal, actor, method, template FROM audit_events WHERE type = 'certificate.issue' AND request_id = $1`, [id])).rows;
    await until(5_000, async () => (await event()).length > 0);
    expect(await event()).toEqual([{ serial: c.serial, principal: 'alice', actor: 'officer1', method: 'username', template: 'WebServer' }]);
    await rc.close();
  });

  it('a ces node cannot order a CA client certificate through the API', async () => {
    const { RemoteCa } = await import('../../src/ca/backends/remote.js');
    const rc = new RemoteCa({ url: `https://localhost:${ca.caApiPort}`, certPem: readFileSync(join(certs, 'ces-node.crt'), 'utf8'), keyPem: readFileSync(join(certs, 'ces-node.key'), 'utf8'), caBundlePem: rootPem, info: { name: '', slug: '', issuingCertificate: new Uint8Array(), rootCertificate: new Uint8Array(), chain: [] } });
    const csr = makeCsr({ subject: 'CN=x' });
    const now = new Date();
    await expect(
      rc.issue({ orderId: '1', template: 'opences-ca-client', csrDer: csr.csrDer, subject: [{ type: 'CN', value: 'ces-node' }, { type: 'O', value: 'opences test' }], sans: [], keyUsage: ['digitalSignature'], keyUsageCritical: true, ekus: ['1.3.6.1.5.5.7.3.2'], issuancePolicies: [], notBefore: now, notAfter: new Date(now.getTime() + 86400_000), requester: 'x' }),
    ).rejects.toMatchObject({ kind: 'forbidden' });
    // A disabled template is re-checked by the CA itself.
    await expect(
      rc.issue({ orderId: '1', template: 'NoSuchTemplate', csrDer: csr.csrDer, subject: [{ type: 'CN', value: 'x' }], sans: [], keyUsage: ['digitalSignature'], keyUsageCritical: true, ekus: [], issuancePolicies: [], notBefore: now, notAfter: new Date(now.getTime() + 86400_000), requester: 'x' }),
    ).rejects.toMatchObject({ kind: 'templateNotFound' });
    // So is proof of possession: a request whose signature was tampered with is not signed.
    const broken = Buffer.from(csr.csrDer);
    broken[broken.length - 1] ^= 0x01;
    await expect(
      rc.issue({ orderId: '1', template: 'WebServer', csrDer: broken, subject: [{ type: 'CN', value: 'x' }], sans: [], keyUsage: ['digitalSignature', 'keyEncipherment'], keyUsageCritical: true, ekus: ['1.3.6.1.5.5.7.3.1'], issuancePolicies: [], notBefore: now, notAfter: new Date(now.getTime() + 86400_000), requester: 'x' }),
    ).rejects.toMatchObject({ kind: 'badSignature' });
    // And the order must carry the recorded request's CSR: not another key under a pending request's id.
    const pend = await client().issue(`${ces.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`, { format: 'pkcs10', der: makeCsr({ subject: 'CN=wait.example.test', sans: ['DNS:wait.example.test'], templateName: 'WebServerApproval' }).csrDer });
    expect(pend.status).toBe('pending');
    await expect(
      rc.issue({ orderId: pend.requestId, template: 'WebServer', csrDer: csr.csrDer, subject: [{ type: 'CN', value: 'wait.example.test' }], sans: [{ type: 'dns', value: 'wait.example.test' }], keyUsage: ['digitalSignature', 'keyEncipherment'], keyUsageCritical: true, ekus: ['1.3.6.1.5.5.7.3.1'], issuancePolicies: [], notBefore: now, notAfter: new Date(now.getTime() + 86400_000), requester: 'alice' }),
    ).rejects.toMatchObject({ kind: 'conflict', message: expect.stringContaining('not the one recorded') });
    expect((await db.query(`SELECT 1 FROM certificates WHERE request_id = $1`, [pend.requestId])).rows).toEqual([]);
    await rc.close();
  });
});
