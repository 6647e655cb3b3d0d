import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'undici';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { openssl, opensslStatus, tmp } from '../helpers/openssl.js';
import { runCli } from '../helpers/cli.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath } from '../../src/http/endpoints.js';

/**
 * Issuing CA only (issue #21, mode b): opences makes the key and a CSR, an openssl-made root signs
 * it, `ca install` records it, and the server then issues certificates that verify to that root.
 */
describe('an issuing CA under a root made with openssl', { timeout: 300_000 }, () => {
  const dir = tmp('opences-extroot-');
  const dataDir = join(dir, 'data');
  let s: TestServer | undefined;
  afterAll(async () => {
    await s?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ca init --issuing-only writes a CSR, the server refuses to start until ca install, then issues under the openssl root', async () => {
    const csr = join(dir, 'issuing.csr');
    const init = await runCli(['ca', 'init', '--issuing-only', '--data-dir', dataDir, '--csr-out', csr]);
    expect(init.code, init.err).toBe(0);
    expect(openssl(['req', '-in', csr, '-noout', '-verify', '-subject'])).toMatch(/CN\s*=\s*opences Issuing CA/);

    // The root: an openssl CA that never sees opences.
    const rootKey = join(dir, 'root.key');
    const root = join(dir, 'root.crt');
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', rootKey, '-out', root, '-subj', '/CN=Openssl Offline Root/O=Example', '-days', '3650',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    const ext = join(dir, 'issuing.ext');
    writeFileSync(ext, 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    const issuing = join(dir, 'issuing.crt');
    openssl(['x509', '-req', '-in', csr, '-CA', root, '-CAkey', rootKey, '-CAcreateserial', '-days', '1825', '-extfile', ext, '-out', issuing]);

    // Before the certificate is installed the server does not make a hierarchy of its own.
    await expect(startTestServer({ embedded: true, dataDir })).rejects.toThrow(/awaits its certificate: opences ca install/);

    // A certificate for some other key, or from some other root, is refused.
    const wrongChain = await runCli(['ca', 'install', '--data-dir', dataDir, '--cert', issuing, '--chain', issuing]);
    expect(wrongChain.code).not.toBe(0);
    const install = await runCli(['ca', 'install', '--data-dir', dataDir, '--cert', issuing, '--chain', root]);
    expect(install.code, install.err).toBe(0);
    expect(readFileSync(join(dataDir, 'certs/root_ca.crt'), 'utf8')).toBe(readFileSync(root, 'utf8'));

    const tlsKey = join(dir, 'tls.key');
    const tlsCert = join(dir, 'tls.crt');
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', tlsKey, '-out', tlsCert, '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-days', '2']);
    s = await startTestServer({ embedded: true, dataDir, config: { 'tls.certFile': tlsCert, 'tls.keyFile': tlsKey } });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret' }, 'test');
    const pw = join(dir, 'alice.pw');
    writeFileSync(pw, 'S3cret\n');
    const cert = join(dir, 'www.crt');
    const r = await runCli(['req', 'enroll', '--url', `${s.url}${cepPath('UsernamePassword')}`, '--username', 'alice', '--password-file', pw, '--ca-bundle', tlsCert,
      '--template', 'WebServer', '--subject', 'CN=www.example.test', '--san', 'dns:www.example.test', '--key-out', join(dir, 'www.key'), '--cert-out', cert]);
    expect(r.code, r.err).toBe(0);
    // Verified against the openssl root alone (the issuing CA as an untrusted intermediate).
    const v = opensslStatus(['verify', '-CAfile', root, '-untrusted', issuing, cert]);
    expect(v.code, v.out).toBe(0);
    expect(openssl(['x509', '-in', cert, '-noout', '-issuer'])).toMatch(/CN\s*=\s*opences Issuing CA/);
  });

  it('an offline opences root (ca root init/sign/crl) signs the issuing CA and its CRL, which the server publishes under /pki/', async () => {
    const rootDir = join(dir, 'offline-root');
    const data2 = join(dir, 'data2');
    expect((await runCli(['ca', 'root', 'init', '--dir', rootDir, '--name', 'Example Offline Root', '--key-type', 'P-384'])).code).toBe(0);
    const csr = join(dir, 'issuing2.csr');
    const init = await runCli(['ca', 'init', '--issuing-only', '--data-dir', data2, '--csr-out', csr]);
    expect(init.code, init.err).toBe(0);
    const issuing = join(dir, 'issuing2.crt');
    const signed = await runCli(['ca', 'root', 'sign', csr, '--dir', rootDir, '--out', issuing, '--crl-url', 'http://pki.example.test/pki/Example_Offline_Root.crl']);
    expect(signed.code, signed.err).toBe(0);
    const root = join(rootDir, 'root.crt');
    expect(opensslStatus(['verify', '-CAfile', root, issuing]).code).toBe(0);
    expect((await runCli(['ca', 'install', '--data-dir', data2, '--cert', issuing, '--chain', root])).code).toBe(0);
    const crl = join(dir, 'root.crl');
    const crlRun = await runCli(['ca', 'root', 'crl', '--dir', rootDir, '--out', crl]);
    expect(crlRun.code, crlRun.err).toBe(0);
    expect(opensslStatus(['crl', '-inform', 'DER', '-in', crl, '-CAfile', root, '-noout']).out).toMatch(/verify OK/);
    const imported = await runCli(['ca', 'import-crl', crl, '--data-dir', data2]);
    expect(imported.code, imported.err).toBe(0);
    // The same CRL again is not newer than the published one: refused.
    const again = await runCli(['ca', 'import-crl', crl, '--data-dir', data2]);
    expect(again.code).not.toBe(0);
    expect(again.err).toMatch(/not newer/);
    // The root key never came near the server's data directory.
    expect(readdirSync(data2, { recursive: true }).map(String).filter((f) => f.includes('offline-root'))).toEqual([]);

    const t = await startTestServer({ embedded: true, dataDir: data2 });
    try {
      const r = await request(`${t.pkiUrl}/pki/Example_Offline_Root.crl`);
      expect(r.statusCode).toBe(200);
      expect(Buffer.from(await r.body.arrayBuffer()).equals(readFileSync(crl))).toBe(true);
      const issuingCrl = await request(`${t.pkiUrl}/pki/opences_Issuing_CA.crl`);
      expect(issuingCrl.statusCode).toBe(200);
      // The issuing CA certificate checked against the imported root CRL.
      const leaf = join(dir, 'issuing-from-server.pem');
      writeFileSync(leaf, t.core.ca.info().chain.map((c) => '-----BEGIN CERTIFICATE-----\n' + Buffer.from(c).toString('base64').replace(/(.{64})/g, '$1\n') + '\n-----END CERTIFICATE-----\n')[0]!);
      const pemCrl = (f: string) => {
        const out = join(dir, `${f.split('/').pop()}.pem`);
        openssl(['crl', '-inform', 'DER', '-in', f, '-out', out]);
        return out;
      };
      const v = opensslStatus(['verify', '-crl_check', '-CAfile', root, '-CRLfile', pemCrl(crl), leaf]);
      expect(v.code, v.out).toBe(0);
    } finally {
      await t.stop();
    }
  });
});
