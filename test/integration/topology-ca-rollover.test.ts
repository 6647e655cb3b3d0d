import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { freshTestDb, urlWithSchema, type TestDb } from '../helpers/db.js';
import { makeCsr, openssl, opensslStatus, pemOf, tmp, writeTmp } from '../helpers/openssl.js';
import { cliAsync, dbRoleUrls, NodeProcess, until } from '../helpers/topology.js';
import { SOFTHSM_MODULE, softHsm, softhsmAvailable, type SoftHsm } from '../helpers/softhsm.js';
import { callControlSocket } from '../../src/ops/control-socket.js';
import { EnrollmentClient, SoapTransport } from '../../src/client/index.js';
import { cepPath } from '../../src/http/endpoints.js';
import { openDb } from '../../src/store/open.js';
import { addUser } from '../../src/auth/accounts.js';
import type { Db } from '../../src/store/db.js';

const PASSWORD = 'R0ll-over-split';

/** Every file under `dir`. */
const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []));

/**
 * Issue 21: the split topology with the ca node's keys in a PKCS#11 token (SoftHSM2). `opences ca
 * renew --new-key` on the ca node makes the new key in the same token; the enrollment node (cep and
 * ces roles, signing through the CA API) hears of the new generation through the database and its
 * GetPolicies and CES answers carry the new CA; the old key signs the CRL of what it issued.
 */
describe('SoftHSM2 for the split rollover test', () => {
  it('is installed: required under CI (.ci/run installs Debian softhsm2); elsewhere the test reports a skip', (ctx) => {
    const required = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
    if (required) expect(softhsmAvailable, 'the Debian package softhsm2 is required under CI').toBe(true);
    if (!softhsmAvailable) ctx.skip('softhsm2 is not installed (Debian package softhsm2)');
  });
});

describe.skipIf(!softhsmAvailable)('split deployment, CA key in SoftHSM2: renewal with a new key in the token', { timeout: 300_000 }, () => {
  let hsm: SoftHsm;
  let db: TestDb;
  let dbUrl: string;
  let owner: Db;
  let roles: Awaited<ReturnType<typeof dbRoleUrls>>;
  let ca: NodeProcess;
  let front: NodeProcess;
  let rootPem: string;
  const work = tmp('opences-split-rollover-');

  beforeAll(async () => {
    hsm = softHsm('opences-split-ca');
    db = await freshTestDb();
    dbUrl = urlWithSchema(db.schema);
    await cliAsync(['db', 'migrate'], { databaseUrl: dbUrl });
    roles = await dbRoleUrls(dbUrl);
    const strict = { databaseAllowExcessPrivileges: false };
    ca = new NodeProcess('ca', {
      databaseUrl: roles.urls.ca,
      roles: 'ca',
      config: { ...strict, ca: { keyStore: 'pkcs11', keyType: 'P-256', pkcs11: { module: SOFTHSM_MODULE, tokenLabel: hsm.label, pinFile: hsm.pinFile }, clients: { allowedSubjects: ['CN=front-node,O=opences test'] } } },
    });
    await ca.start({ waitMs: 120_000 });
    rootPem = readFileSync(join(ca.dataDir, 'certs', 'root_ca.crt'), 'utf8');
    const cert = join(work, 'front.crt');
    const key = join(work, 'front.key');
    await cliAsync(['ca', 'client-cert', 'issue', '--subject', 'CN=front-node,O=opences test', '--cert-out', cert, '--key-out', key, '--data-dir', ca.dataDir], { databaseUrl: dbUrl });
    front = new NodeProcess('front', { databaseUrl: await roles.loginFor(['cep', 'ces']), roles: 'cep,ces', config: strict, args: ['--ca-url', `https://localhost:${ca.caApiPort}`, '--ca-client-cert', cert, '--ca-client-key', key] });
    await front.start({ waitMs: 120_000 });
    owner = await openDb({ url: dbUrl, migrate: false });
    await addUser(owner, { name: 'alice', password: PASSWORD });
  }, 300_000);
  afterAll(async () => {
    await Promise.all([front?.stop(), ca?.stop()]);
    await owner?.close();
    await db?.close();
    await roles?.drop();
    hsm?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  const client = () => new EnrollmentClient(new SoapTransport({ auth: { kind: 'username', username: 'alice', password: PASSWORD }, caBundlePem: rootPem }));
  const policyCa = async (): Promise<Buffer> => {
    const p = await client().getPolicies(`${front.url}${cepPath('UsernamePassword')}`);
    return Buffer.from(p.raw.cAs![0]!.certificate);
  };
  /** CEP, then CES on the enrollment node; the CA node signs. */
  const enroll = async (name: string): Promise<{ cert: Uint8Array; chain: Uint8Array[] }> => {
    const c = client();
    const policy = await c.getPolicies(`${front.url}${cepPath('UsernamePassword')}`);
    const url = policy.templates.find((t) => t.name === 'WebServer')!.enrollmentUrls.find((u) => u.clientAuthentication === 4)!.uri;
    const r = await c.issue(url, { format: 'pkcs10', der: makeCsr({ subject: `CN=${name}`, sans: [`DNS:${name}`], templateName: 'WebServer' }).csrDer });
    expect(r.status).toBe('issued');
    if (r.status !== 'issued') throw new Error('not issued');
    return { cert: r.certificate, chain: r.chain };
  };
  const pki = async (name: string): Promise<Buffer> => {
    const r = await request(`http://localhost:${ca.pkiPort}/pki/${encodeURI(name)}`);
    expect(r.statusCode, name).toBe(200);
    return Buffer.from(await r.body.arrayBuffer());
  };

  it('ca renew --new-key makes the key in the token; the enrollment node switches; the old key signs its CRL', async () => {
    const gen0 = new X509Certificate(readFileSync(join(ca.dataDir, 'certs/issuing_ca.crt')));
    expect((await policyCa()).equals(gen0.raw)).toBe(true);
    const a = await enroll('a.split.example.test');
    expect(Buffer.from(a.chain[0]!).equals(gen0.raw)).toBe(true);

    // Through the ca node's control socket, under the ca node's least-privilege database user.
    const out = JSON.parse(await cliAsync(['ca', 'renew', '--new-key', '--json', '--data-dir', ca.dataDir], { databaseUrl: dbUrl })) as { generation: number; keyIndex: number };
    expect(out).toMatchObject({ generation: 1, keyIndex: 1 });
    const gen1 = new X509Certificate(readFileSync(join(ca.dataDir, 'certs/issuing_ca.crt')));
    expect(gen1.raw.equals(gen0.raw)).toBe(false);
    expect(gen1.publicKey.export({ type: 'spki', format: 'der' }).equals(gen0.publicKey.export({ type: 'spki', format: 'der' }))).toBe(false);
    // The new key is in the token: nothing key-related was written to the ca node's data directory.
    expect(files(ca.dataDir).filter((f) => statSync(f).size < 1_000_000 && readFileSync(f).toString('latin1').includes('PRIVATE KEY')).map((f) => f.replace(ca.dataDir, ''))).toEqual(['/secrets/tls.key']);

    // The enrollment node hears of it through the database: its GetPolicies and CES chains carry generation 1.
    expect(await until(15_000, async () => (await policyCa()).equals(gen1.raw), 200)).toBe(true);
    const b = await enroll('b.split.example.test');
    expect(Buffer.from(b.chain[0]!).equals(gen1.raw)).toBe(true);
    const root = writeTmp(work, 'root.pem', rootPem);
    const pki0 = writeTmp(work, 'gen0.pem', pemOf(await pki('opences_Issuing_CA.crt')));
    const pki1 = writeTmp(work, 'gen1.pem', pemOf(await pki('opences_Issuing_CA(1).crt')));
    expect(opensslStatus(['verify', '-CAfile', root, '-untrusted', pki0, writeTmp(work, 'a.pem', pemOf(a.cert))]).code).toBe(0);
    expect(opensslStatus(['verify', '-CAfile', root, '-untrusted', pki1, writeTmp(work, 'b.pem', pemOf(b.cert))]).code).toBe(0);

    // Revoked after the rollover, A is on key 0's CRL, which the old key in the token signs.
    const serialA = new X509Certificate(Buffer.from(a.cert)).serialNumber.toLowerCase();
    await callControlSocket(ca.dataDir, 'cert.revoke', { serial: serialA, reason: 'keyCompromise' }, 'local:test');
    await callControlSocket(ca.dataDir, 'crl.publish', {}, 'local:test');
    const crl0 = writeTmp(work, 'crl0.der', await pki('opences_Issuing_CA.crl'));
    const crl1 = writeTmp(work, 'crl1.der', await pki('opences_Issuing_CA(1).crl'));
    expect(opensslStatus(['crl', '-inform', 'DER', '-in', crl0, '-CAfile', pki0, '-noout']).out).toMatch(/verify OK/);
    expect(opensslStatus(['crl', '-inform', 'DER', '-in', crl1, '-CAfile', pki1, '-noout']).out).toMatch(/verify OK/);
    const listed = (f: string) => openssl(['crl', '-inform', 'DER', '-in', f, '-noout', '-text']).toLowerCase();
    expect(listed(crl0)).toContain(serialA.replace(/^0+/, ''));
    expect(listed(crl1)).not.toContain(serialA.replace(/^0+/, ''));
  });
});
