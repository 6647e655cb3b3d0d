import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { freshTestDb, urlWithSchema, type TestDb } from '../helpers/db.js';
import { makeCsr, opensslStatus, tmp, writeTmp } from '../helpers/openssl.js';
import { cli, cliAsync, NodeProcess } from '../helpers/topology.js';
import { runCepces, cepcesSource, CERTMONGER } from './cepces.js';

/**
 * cepces against the split topology (docs/deployment.md): a `cep` node and a `ces` node that hold
 * no CA key, forwarding orders to a `ca` node over mutual TLS, all on one PostgreSQL.
 */
describe('cepces against a split deployment (cep and ces nodes, a separate ca node)', () => {
  let db: TestDb;
  let ca: NodeProcess;
  let ces: NodeProcess;
  let cep: NodeProcess;
  let caBundle: string;
  const creds = { username: 'alice', password: 'Spl1t-cepces' };

  beforeAll(async () => {
    cepcesSource(); // fail loudly when the checkout is missing
    db = await freshTestDb();
    const dbUrl = urlWithSchema(db.schema);
    const certs = tmp('opences-split-certs-');
    ca = new NodeProcess('ca', { databaseUrl: dbUrl, roles: 'ca', config: { ca: { clients: { allowedSubjects: ['CN=ces-node,O=opences interop', 'CN=cep-node,O=opences interop'] } } } });
    await ca.start();
    caBundle = join(ca.dataDir, 'certs', 'root_ca.crt');
    const issue = async (name: string) => {
      const cert = join(certs, `${name}.crt`);
      const key = join(certs, `${name}.key`);
      await cliAsync(['ca', 'client-cert', 'issue', '--subject', `CN=${name},O=opences interop`, '--cert-out', cert, '--key-out', key, '--data-dir', ca.dataDir], { databaseUrl: dbUrl });
      return ['--ca-url', `https://localhost:${ca.caApiPort}`, '--ca-client-cert', cert, '--ca-client-key', key];
    };
    ces = await new NodeProcess('ces', { databaseUrl: dbUrl, roles: 'ces', args: await issue('ces-node') }).allocate();
    cep = new NodeProcess('cep', { databaseUrl: dbUrl, roles: 'cep', args: [...(await issue('cep-node')), '--public-url', ces.url] });
    await Promise.all([ces.start(), cep.start()]);
    cli(['user', 'add', creds.username, '--password-stdin', '--data-dir', ces.dataDir], { databaseUrl: dbUrl, input: `${creds.password}\n` });
  }, 180_000);
  afterAll(async () => {
    await Promise.all([cep?.stop(), ces?.stop(), ca?.stop()]);
    await db?.close();
  });

  it('lists templates from the cep node and enrolls through the ces node; openssl verifies; no CA key outside the ca node', async () => {
    const base = { server: cep.url, auth: 'UsernamePassword' as const, caBundle, ...creds };
    const list = await runCepces({ ...base, operation: 'GET-SUPPORTED-TEMPLATES' });
    expect(list.exitCode, list.stdout + list.stderr).toBe(CERTMONGER.ISSUED);
    expect(list.stdout).toContain('WebServer');
    const csr = makeCsr({ key: 'rsa:2048', subject: 'CN=split.example.test', sans: ['DNS:split.example.test'], templateName: 'WebServer' });
    const r = await runCepces({ ...base, operation: 'SUBMIT', csrPem: csr.csrPem });
    expect(r.exitCode, r.stdout + r.stderr).toBe(CERTMONGER.ISSUED);
    const leaf = writeTmp(tmp(), 'leaf.pem', r.stdout);
    const v = opensslStatus(['verify', '-CAfile', caBundle, '-untrusted', join(ca.dataDir, 'certs', 'issuing_ca.crt'), leaf]);
    expect(v.code, v.out).toBe(0);
    // The enrollment nodes' data directories hold their TLS key only, never a CA key.
    for (const n of [ces, cep]) {
      const keys = existsSync(join(n.dataDir, 'secrets')) ? readdirSync(join(n.dataDir, 'secrets')) : [];
      expect(keys.filter((f) => !f.startsWith('tls'))).toEqual([]);
    }
    expect(readFileSync(leaf, 'utf8')).toContain('BEGIN CERTIFICATE');
  });
});
