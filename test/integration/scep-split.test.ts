import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freshTestDb, urlWithSchema, type TestDb } from '../helpers/db.js';
import { opensslStatus, tmp } from '../helpers/openssl.js';
import { cliAsync, dbRoleUrls, NodeProcess } from '../helpers/topology.js';
import { freePort } from '../helpers/server.js';
import { Certmonger, scepClientsMissing } from '../helpers/scep-clients.js';

const missing = scepClientsMissing();
if (missing && !process.env.CI) console.warn(`scep-split.test.ts skipped: ${missing}`);
const suite = missing && !process.env.CI ? describe.skip : describe;

/** SPKIs (base64 DER) of every PEM private key in files under `dir`. */
function privateKeySpkis(dir: string): Set<string> {
  const out = new Set<string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && statSync(p).size < 1_000_000) {
        for (const m of readFileSync(p).toString('latin1').match(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g) ?? []) {
          out.add(createPublicKey(createPrivateKey({ key: m, passphrase: '' })).export({ type: 'spki', format: 'der' }).toString('base64'));
        }
      }
    }
  };
  walk(dir);
  return out;
}

/**
 * SCEP in the split topology (docs/deployment.md, docs/scep.md): the `ces` node serves SCEP and
 * holds the RA keys, its RA certificates and every enrollment are signed by the `ca` node over the
 * CA API, challenges are made on the `admin` node; each node on its least-privilege database role.
 */
suite('SCEP on a ces node of a split deployment: RA certificates and enrollments signed by the remote ca node', () => {
  let db: TestDb;
  let dbUrl: string;
  let roles: Awaited<ReturnType<typeof dbRoleUrls>>;
  let ca: NodeProcess;
  let ces: NodeProcess;
  let admin: NodeProcess;
  let scepPort: number;
  const scep = (httpPort?: number) => ({ ...(httpPort ? { httpPort } : {}), defaultProfile: 'devices', profiles: { devices: { template: 'WebServer' } } });

  beforeAll(async () => {
    db = await freshTestDb();
    dbUrl = urlWithSchema(db.schema);
    await cliAsync(['db', 'migrate'], { databaseUrl: dbUrl });
    roles = await dbRoleUrls(dbUrl);
    const strict = { databaseAllowExcessPrivileges: false };
    const certs = tmp('scep-split-certs-');
    ca = new NodeProcess('ca', { databaseUrl: roles.urls.ca, roles: 'ca', config: { ...strict, ca: { clients: { allowedSubjects: ['CN=ces-node,O=opences test', 'CN=admin-node,O=opences test'] } } } });
    await ca.start();
    const clientCert = async (name: string) => {
      const cert = join(certs, `${name}.crt`);
      const key = join(certs, `${name}.key`);
      await cliAsync(['ca', 'client-cert', 'issue', '--subject', `CN=${name},O=opences test`, '--cert-out', cert, '--key-out', key, '--data-dir', ca.dataDir], { databaseUrl: dbUrl });
      return ['--ca-url', `https://localhost:${ca.caApiPort}`, '--ca-client-cert', cert, '--ca-client-key', key];
    };
    scepPort = await freePort();
    ces = new NodeProcess('ces', { databaseUrl: roles.urls.ces, roles: 'ces', config: { ...strict, scep: scep(scepPort) }, args: await clientCert('ces-node') });
    admin = new NodeProcess('admin', { databaseUrl: roles.urls.admin, roles: 'admin', config: { ...strict, scep: scep() }, args: await clientCert('admin-node') });
    await Promise.all([ces.start(), admin.start()]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([ces?.stop(), admin?.stop(), ca?.stop()]);
    await db?.close();
    await roles?.drop();
  }, 60_000);

  it('certmonger enrolls on the ces node with a challenge made on the admin node; no CA key on the ces node', async () => {
    const raSign = new X509Certificate(readFileSync(join(ces.dataDir, 'certs', 'scep-ra-sign.crt')));
    const issuing = new X509Certificate(readFileSync(join(ca.dataDir, 'certs', 'issuing_ca.crt')));
    expect(raSign.checkIssued(issuing)).toBe(true);

    const out = await cliAsync(['scep', 'challenge', '--profile', 'devices', '--for', 'edge1.example.com', '--json', '--data-dir', admin.dataDir], { databaseUrl: roles.urls.admin });
    const challenge = (JSON.parse(out) as { challenge: string }).challenge;
    const dir = tmp('scep-split-cm-');
    const cm = new Certmonger(join(dir, 'cm'));
    await cm.start();
    try {
      expect((await cm.getcert(['add-scep-ca', '-c', 'opences', '-u', `http://localhost:${scepPort}/certsrv/mscep/mscep.dll`])).code).toBe(0);
      const certFile = join(dir, 'edge1.crt');
      const r = await cm.getcert(['request', '-c', 'opences', '-f', certFile, '-k', join(dir, 'edge1.key'), '-L', challenge, '-N', 'CN=edge1.example.com', '-w', '-v']);
      expect(r.out, `${r.out}\n${(await cm.getcert(['list'])).out}\n${ces.out.slice(-3000)}`).toMatch(/MONITORING/);
      const chain = join(dir, 'chain.pem');
      writeFileSync(chain, readFileSync(join(ca.dataDir, 'certs', 'issuing_ca.crt')));
      expect(opensslStatus(['verify', '-CAfile', join(ca.dataDir, 'certs', 'root_ca.crt'), '-untrusted', chain, certFile]).code).toBe(0);
    } finally {
      cm.stop();
    }
    // The ces node holds the RA keys and its TLS key, never a CA key.
    const caKeys = [issuing, new X509Certificate(readFileSync(join(ca.dataDir, 'certs', 'root_ca.crt')))].map((c) => c.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'));
    const held = privateKeySpkis(ces.dataDir);
    expect(held.has(raSign.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'))).toBe(true);
    for (const k of caKeys) expect(held.has(k)).toBe(false);
  }, 120_000);
});
