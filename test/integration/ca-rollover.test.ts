import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { openssl, opensslStatus, pemOf, tmp } from '../helpers/openssl.js';
import { runCli } from '../helpers/cli.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath } from '../../src/http/endpoints.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { buildGetPoliciesRequest, parseGetPoliciesResponse } from '../../src/protocol/xcep/index.js';

/**
 * CA renewal and key rollover (issue #21 item 3): `opences ca renew --new-key` through the running
 * server's control socket, then a same-key renewal. Certificates of every generation verify with
 * openssl, /pki/ publishes every certificate and each key's CRL under ADCS's names, and a
 * certificate of the old generation revoked after the rollover is on the old key's CRL only.
 */
describe('CA renewal and key rollover', { timeout: 300_000 }, () => {
  const dir = tmp('opences-rollover-');
  const dataDir = join(dir, 'data');
  let s: TestServer;
  let root: string;
  const pw = join(dir, 'alice.pw');
  let agent: Agent;

  beforeAll(async () => {
    s = await startTestServer({ embedded: true, dataDir });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret' }, 'test');
    writeFileSync(pw, 'S3cret\n');
    root = join(dataDir, 'certs/root_ca.crt');
    agent = new Agent({ connect: { ca: s.rootPem } });
  });

  /** The CA certificate a GetPolicies answer names (MS-XCEP cAs). */
  const policyCa = async (lastUpdate?: Date): Promise<Buffer | null> => {
    const url = `${s.url}${cepPath('UsernamePassword')}`;
    const r = await postSoap(url, buildGetPoliciesRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'alice', password: 'S3cret' }), ...(lastUpdate ? { lastUpdate } : {}) }), agent);
    expect(r.status, r.body).toBe(200);
    const cas = parseGetPoliciesResponse(r.env!).cAs;
    return cas?.[0] ? Buffer.from(cas[0].certificate) : null;
  };
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A real enrollment (CEP, then CES) with the requester CLI; the file holds the certificate, then the chain of the CES answer. */
  const enroll = async (name: string): Promise<{ file: string; cert: X509Certificate; chain: X509Certificate[] }> => {
    const file = join(dir, `${name}.crt`);
    const r = await runCli(['req', 'enroll', '--url', `${s.url}${cepPath('UsernamePassword')}`, '--username', 'alice', '--password-file', pw, '--ca-bundle', root,
      '--template', 'WebServer', '--subject', `CN=${name}.example.test`, '--san', `dns:${name}.example.test`, '--key-out', join(dir, `${name}.key`), '--cert-out', file]);
    expect(r.code, r.err).toBe(0);
    const all = readFileSync(file, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g)!;
    return { file, cert: new X509Certificate(all[0]!), chain: all.slice(1).map((p) => new X509Certificate(p)) };
  };
  const fetchPki = async (name: string): Promise<Buffer> => {
    const r = await request(`${s.pkiUrl}/pki/${encodeURI(name)}`);
    expect(r.statusCode, name).toBe(200);
    return Buffer.from(await r.body.arrayBuffer());
  };
  /** A /pki/ certificate saved as PEM, for openssl. */
  const savedCert = async (name: string): Promise<string> => {
    const f = join(dir, `pki-${name}.pem`);
    writeFileSync(f, pemOf(await fetchPki(name)));
    return f;
  };
  const savedCrl = async (name: string): Promise<string> => {
    const der = join(dir, `pki-${name}.der`);
    writeFileSync(der, await fetchPki(name));
    const out = `${der}.pem`;
    openssl(['crl', '-inform', 'DER', '-in', der, '-out', out]);
    return out;
  };
  const verify = (leaf: string, intermediate: string, crl?: string) =>
    opensslStatus(['verify', '-CAfile', root, '-untrusted', intermediate, ...(crl ? ['-crl_check', '-CRLfile', crl] : []), leaf]);
  const crlSerials = (crlPem: string): string[] => [...openssl(['crl', '-in', crlPem, '-noout', '-text']).matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!.replace(/^0+/, ''));
  const serialOf = (c: X509Certificate) => c.serialNumber.replace(/^0+/, '');
  const ext = (c: X509Certificate, name: string): string => openssl(['x509', '-noout', '-ext', name], c.toString());

  it('renews with a new key and then with the same key; both keys sign their CRLs; old certificates stay valid and revocable', async () => {
    const gen0 = s.core.ca.info().issuingCertificate;
    const a = await enroll('a');
    expect((await policyCa())!.equals(Buffer.from(gen0))).toBe(true);
    const policyFetched = new Date();

    // --new-key through the running server's control socket (the embedded database admits one process).
    const renew = await runCli(['ca', 'renew', '--new-key', '--data-dir', dataDir, '--json']);
    expect(renew.code, renew.err).toBe(0);
    const r1 = JSON.parse(renew.out) as { generation: number; keyIndex: number; newKey: boolean; certificateUrl: string; crlUrl: string };
    expect(r1).toMatchObject({ generation: 1, keyIndex: 1, newKey: true });
    expect(r1.certificateUrl).toMatch(/\/pki\/opences_Issuing_CA\(1\)\.crt$/);
    expect(r1.crlUrl).toMatch(/\/pki\/opences_Issuing_CA\(1\)\.crl$/);
    const gen1 = s.core.ca.info().issuingCertificate;
    expect(Buffer.from(gen1).equals(Buffer.from(gen0))).toBe(false);
    expect(readFileSync(join(dataDir, 'certs/issuing_ca.crt'), 'utf8')).toBe(pemOf(gen1));

    // Issuance switched: the new certificate names generation 1's files and key, and the CES answer's chain carries generation 1.
    const b = await enroll('b');
    expect(b.chain[0]!.raw.equals(Buffer.from(gen1))).toBe(true);
    expect(ext(b.cert, 'authorityInfoAccess')).toMatch(/opences_Issuing_CA\(1\)\.crt/);
    expect(ext(b.cert, 'crlDistributionPoints')).toMatch(/opences_Issuing_CA\(1\)\.crl/);
    expect(ext(a.cert, 'crlDistributionPoints')).toMatch(/opences_Issuing_CA\.crl/);
    expect(ext(b.cert, 'authorityKeyIdentifier')).not.toBe(ext(a.cert, 'authorityKeyIdentifier'));

    // /pki/ publishes both certificates under ADCS's names; each generation's certificates verify to the root through their own.
    const pki0 = await savedCert('opences_Issuing_CA.crt');
    const pki1 = await savedCert('opences_Issuing_CA(1).crt');
    expect(readFileSync(pki0, 'utf8')).toBe(pemOf(gen0));
    expect(readFileSync(pki1, 'utf8')).toBe(pemOf(gen1));
    expect(verify(a.file, pki0).code).toBe(0);
    expect(verify(b.file, pki1).code).toBe(0);
    // …and not through the other generation's (different key).
    expect(verify(a.file, pki1).code).not.toBe(0);

    // Revoked after the rollover, a certificate of generation 0 appears on key 0's CRL (signed by the old key), not on key 1's.
    await runOperation(s.core, 'cert.revoke', { serial: a.cert.serialNumber.toLowerCase(), reason: 'keyCompromise' }, 'test');
    const published = (await runOperation(s.core, 'crl.publish', {}, 'test')) as { url: string };
    expect(published.url).toMatch(/opences_Issuing_CA\(1\)\.crl$/);
    const crl0 = await savedCrl('opences_Issuing_CA.crl');
    const crl1 = await savedCrl('opences_Issuing_CA(1).crl');
    expect(opensslStatus(['crl', '-in', crl0, '-CAfile', pki0, '-noout']).out).toMatch(/verify OK/);
    expect(opensslStatus(['crl', '-in', crl1, '-CAfile', pki1, '-noout']).out).toMatch(/verify OK/);
    expect(opensslStatus(['crl', '-in', crl0, '-CAfile', pki1, '-noout']).out).not.toMatch(/verify OK/);
    expect(crlSerials(crl0)).toContain(serialOf(a.cert));
    expect(crlSerials(crl1)).not.toContain(serialOf(a.cert));
    const revoked = verify(a.file, pki0, crl0);
    expect(revoked.code).not.toBe(0);
    expect(revoked.out).toMatch(/certificate revoked/);
    expect(verify(b.file, pki1, crl1).code, 'generation 1 certificate with its CRL').toBe(0);
    // Each key's delta CRL (on by default): named in its full CRL's Freshest CRL, signed by that key, under ADCS's name too.
    expect(openssl(['crl', '-in', crl0, '-noout', '-text'])).toMatch(/opences_Issuing_CA-delta\.crl/);
    expect(openssl(['crl', '-in', crl1, '-noout', '-text'])).toMatch(/opences_Issuing_CA\(1\)-delta\.crl/);
    for (const [name, cert] of [['opences_Issuing_CA-delta.crl', pki0], ['opences_Issuing_CA+.crl', pki0], ['opences_Issuing_CA(1)-delta.crl', pki1], ['opences_Issuing_CA(1)+.crl', pki1]] as const) {
      const delta = await savedCrl(name);
      expect(opensslStatus(['crl', '-in', delta, '-CAfile', cert, '-noout']).out, name).toMatch(/verify OK/);
      expect(openssl(['crl', '-in', delta, '-noout', '-text']), name).toMatch(/Delta CRL Indicator/);
    }

    // Same-key renewal: certificate index 2, key index stays 1 (ADCS), so the CRL stays (1).crl.
    const again = await runCli(['ca', 'renew', '--data-dir', dataDir, '--json']);
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out)).toMatchObject({ generation: 2, keyIndex: 1, newKey: false });
    const gen2 = s.core.ca.info().issuingCertificate;
    const c = await enroll('c');
    expect(c.chain[0]!.raw.equals(Buffer.from(gen2))).toBe(true);
    expect(ext(c.cert, 'authorityInfoAccess')).toMatch(/opences_Issuing_CA\(2\)\.crt/);
    expect(ext(c.cert, 'crlDistributionPoints')).toMatch(/opences_Issuing_CA\(1\)\.crl/);
    const pki2 = await savedCert('opences_Issuing_CA(2).crt');
    expect(readFileSync(pki2, 'utf8')).toBe(pemOf(gen2));
    // The key is the same: generation 1's certificates verify through generation 2's certificate too.
    expect(verify(c.file, pki2).code).toBe(0);
    expect(verify(b.file, pki2).code).toBe(0);
    await runOperation(s.core, 'cert.revoke', { serial: b.cert.serialNumber.toLowerCase(), reason: 'superseded' }, 'test');
    await runOperation(s.core, 'crl.publish', {}, 'test');
    const crl1b = await savedCrl('opences_Issuing_CA(1).crl');
    expect(opensslStatus(['crl', '-in', crl1b, '-CAfile', pki2, '-noout']).out).toMatch(/verify OK/);
    expect(crlSerials(crl1b)).toContain(serialOf(b.cert));
    expect(verify(c.file, pki2, crl1b).code).toBe(0);
    // There is no key index 2.
    expect((await request(`${s.pkiUrl}/pki/opences_Issuing_CA(2).crl`)).statusCode).toBe(404);

    // GetPolicies names the current CA certificate (not a cached answer naming the first), and a
    // client whose policy predates the renewal is not told "not changed".
    expect((await policyCa())!.equals(Buffer.from(gen2))).toBe(true);
    expect((await policyCa(policyFetched))?.equals(Buffer.from(gen2))).toBe(true);

    // Every renewal is audited.
    const events = (await s.core.db.query<{ outcome: string; details: { generation: number } }>(`SELECT outcome, details FROM audit_events WHERE type = 'ca.renew' ORDER BY seq`)).rows;
    expect(events.map((e) => [e.outcome, e.details.generation])).toEqual([['success', 1], ['success', 2]]);
  });
});

/**
 * Renewal of an issuing CA under a root held elsewhere (an openssl root here), as ADCS renews a
 * subordinate CA: `ca renew --new-key --csr-out` writes the CSR, the root signs it, `ca install
 * --cert` makes it the next generation; both generations' certificates verify to that root.
 */
describe('CA renewal under an external root', { timeout: 300_000 }, () => {
  const dir = tmp('opences-rollover-ext-');
  const dataDir = join(dir, 'data');
  let s: TestServer | undefined;
  afterAll(async () => {
    await s?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ca renew --new-key --csr-out, the openssl root signs, ca install --cert: issuance moves to the new generation', async () => {
    const rootKey = join(dir, 'root.key');
    const root = join(dir, 'root.crt');
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', rootKey, '-out', root, '-subj', '/CN=Openssl Root/O=Example', '-days', '3650',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    const ext = join(dir, 'issuing.ext');
    writeFileSync(ext, 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    const sign = (csr: string, out: string) => openssl(['x509', '-req', '-in', csr, '-CA', root, '-CAkey', rootKey, '-CAcreateserial', '-days', '1825', '-extfile', ext, '-out', out]);

    const csr0 = join(dir, 'issuing0.csr');
    expect((await runCli(['ca', 'init', '--issuing-only', '--data-dir', dataDir, '--csr-out', csr0])).code).toBe(0);
    const gen0 = join(dir, 'issuing0.crt');
    sign(csr0, gen0);
    const installed = await runCli(['ca', 'install', '--data-dir', dataDir, '--cert', gen0, '--chain', root]);
    expect(installed.code, installed.err).toBe(0);

    s = await startTestServer({ embedded: true, dataDir });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret' }, 'test');
    const pw = join(dir, 'alice.pw');
    writeFileSync(pw, 'S3cret\n');
    const enroll = async (name: string): Promise<string> => {
      const file = join(dir, `${name}.crt`);
      const r = await runCli(['req', 'enroll', '--url', `${s!.url}${cepPath('UsernamePassword')}`, '--username', 'alice', '--password-file', pw, '--ca-bundle', root,
        '--template', 'WebServer', '--subject', `CN=${name}.example.test`, '--san', `dns:${name}.example.test`, '--key-out', join(dir, `${name}.key`), '--cert-out', file]);
      expect(r.code, r.err).toBe(0);
      return file;
    };
    const a = await enroll('a');

    // Without --csr-out the command cannot finish (the root key is elsewhere) and says so; nothing is made.
    const refused = await runCli(['ca', 'renew', '--new-key', '--data-dir', dataDir]);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/--csr-out/);

    const csr1 = join(dir, 'issuing1.csr');
    const renew = await runCli(['ca', 'renew', '--new-key', '--csr-out', csr1, '--data-dir', dataDir, '--json']);
    expect(renew.code, renew.err).toBe(0);
    expect(JSON.parse(renew.out)).toMatchObject({ status: 'csr', newKey: true });
    expect(openssl(['req', '-in', csr1, '-noout', '-verify', '-subject'])).toMatch(/CN\s*=\s*opences Issuing CA/);
    // Until the certificate is installed the first generation keeps issuing.
    expect(s.core.ca.info().issuingCertificate).toEqual(new Uint8Array(new X509Certificate(readFileSync(gen0)).raw));
    const gen1 = join(dir, 'issuing1.crt');
    sign(csr1, gen1);
    // A certificate for another key (the first generation's) is refused.
    const wrong = await runCli(['ca', 'install', '--data-dir', dataDir, '--cert', gen0]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.err).toMatch(/not for the waiting key/);
    const inst = await runCli(['ca', 'install', '--data-dir', dataDir, '--cert', gen1, '--json']);
    expect(inst.code, inst.err).toBe(0);
    expect(JSON.parse(inst.out)).toMatchObject({ status: 'installed', generation: 1, keyIndex: 1, newKey: true });
    expect(Buffer.from(s.core.ca.info().issuingCertificate).equals(new X509Certificate(readFileSync(gen1)).raw)).toBe(true);

    const b = await enroll('b');
    expect(opensslStatus(['verify', '-CAfile', root, '-untrusted', gen0, a]).code).toBe(0);
    expect(opensslStatus(['verify', '-CAfile', root, '-untrusted', gen1, b]).code).toBe(0);
    expect(opensslStatus(['verify', '-CAfile', root, '-untrusted', gen0, b]).code).not.toBe(0);
    // Both keys' CRLs are published and verify with their own certificate.
    for (const [name, cert] of [['opences_Issuing_CA.crl', gen0], ['opences_Issuing_CA(1).crl', gen1]] as const) {
      const r = await request(`${s.pkiUrl}/pki/${encodeURI(name)}`);
      expect(r.statusCode, name).toBe(200);
      const f = join(dir, name.replace(/[()]/g, '_'));
      writeFileSync(f, Buffer.from(await r.body.arrayBuffer()));
      expect(opensslStatus(['crl', '-inform', 'DER', '-in', f, '-CAfile', cert, '-noout']).out).toMatch(/verify OK/);
    }
  });
});

/**
 * An issuing CA under an intermediate (policy) CA of a root held elsewhere: `ca install --chain`
 * takes root and intermediate, the chain in CES answers and /pki/ carry the intermediate, and a
 * renewal goes back to the intermediate that signed the current certificate.
 */
describe('an issuing CA under root → policy CA (openssl)', { timeout: 300_000 }, () => {
  const dir = tmp('opences-policy-ca-');
  const dataDir = join(dir, 'data');
  let s: TestServer | undefined;
  afterAll(async () => {
    await s?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ca install --chain with root and intermediate; certificates verify to the root through both; renewal signed by the intermediate', async () => {
    const rootKey = join(dir, 'root.key');
    const root = join(dir, 'root.crt');
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', rootKey, '-out', root, '-subj', '/CN=Openssl Root/O=Example', '-days', '3650',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    const policyKey = join(dir, 'policy.key');
    const policyCsr = join(dir, 'policy.csr');
    const policy = join(dir, 'policy.crt');
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', policyKey, '-out', policyCsr, '-subj', '/CN=Example Policy CA/O=Example']);
    const policyExt = join(dir, 'policy.ext');
    writeFileSync(policyExt, 'basicConstraints=critical,CA:TRUE,pathlen:1\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    openssl(['x509', '-req', '-in', policyCsr, '-CA', root, '-CAkey', rootKey, '-CAcreateserial', '-days', '3000', '-extfile', policyExt, '-out', policy]);
    const ext = join(dir, 'issuing.ext');
    writeFileSync(ext, 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    const signByPolicy = (csr: string, out: string) => openssl(['x509', '-req', '-in', csr, '-CA', policy, '-CAkey', policyKey, '-CAcreateserial', '-days', '1825', '-extfile', ext, '-out', out]);

    const csr0 = join(dir, 'issuing0.csr');
    expect((await runCli(['ca', 'init', '--issuing-only', '--data-dir', dataDir, '--csr-out', csr0])).code).toBe(0);
    const gen0 = join(dir, 'issuing0.crt');
    signByPolicy(csr0, gen0);
    // The root alone is not enough: the issuing CA was not signed by it.
    const rootOnly = await runCli(['ca', 'install', '--data-dir', dataDir, '--cert', gen0, '--chain', root]);
    expect(rootOnly.code).not.toBe(0);
    expect(rootOnly.err).toMatch(/not issued by any certificate of the chain/);
    // The intermediate without its root is not a chain either.
    const noRoot = await runCli(['ca', 'install', '--data-dir', dataDir, '--cert', gen0, '--chain', policy]);
    expect(noRoot.code).not.toBe(0);
    const bundle = join(dir, 'chain.pem');
    writeFileSync(bundle, readFileSync(root, 'utf8') + readFileSync(policy, 'utf8')); // any order
    const installed = await runCli(['ca', 'install', '--data-dir', dataDir, '--cert', gen0, '--chain', bundle, '--json']);
    expect(installed.code, installed.err).toBe(0);
    expect(JSON.parse(installed.out)).toMatchObject({ root: 'Openssl Root', intermediates: ['Example Policy CA'] });
    expect(readFileSync(join(dataDir, 'certs/root_ca.crt'), 'utf8')).toBe(readFileSync(root, 'utf8'));

    s = await startTestServer({ embedded: true, dataDir });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret' }, 'test');
    const pw = join(dir, 'alice.pw');
    writeFileSync(pw, 'S3cret\n');
    const enroll = async (name: string): Promise<{ file: string; chain: X509Certificate[] }> => {
      const file = join(dir, `${name}.crt`);
      const r = await runCli(['req', 'enroll', '--url', `${s!.url}${cepPath('UsernamePassword')}`, '--username', 'alice', '--password-file', pw, '--ca-bundle', root,
        '--template', 'WebServer', '--subject', `CN=${name}.example.test`, '--san', `dns:${name}.example.test`, '--key-out', join(dir, `${name}.key`), '--cert-out', file]);
      expect(r.code, r.err).toBe(0);
      const all = readFileSync(file, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g)!;
      return { file, chain: all.slice(1).map((p) => new X509Certificate(p)) };
    };
    // The server's TLS certificate chains to the root through the intermediate (the client trusts the root only).
    const a = await enroll('a');
    // The CES answer carries issuing CA, policy CA and root.
    expect(a.chain.map((c) => c.subject.split('\n').find((l) => l.startsWith('CN='))).slice(0, 2)).toEqual(['CN=opences Issuing CA', 'CN=Example Policy CA']);
    const untrusted = join(dir, 'untrusted.pem');
    writeFileSync(untrusted, readFileSync(gen0, 'utf8') + readFileSync(policy, 'utf8'));
    expect(opensslStatus(['verify', '-CAfile', root, '-untrusted', untrusted, a.file]).code).toBe(0);
    // /pki/ serves the intermediate's certificate too.
    const p = await request(`${s.pkiUrl}/pki/Example_Policy_CA.crt`);
    expect(p.statusCode).toBe(200);
    expect(Buffer.from(await p.body.arrayBuffer()).equals(new X509Certificate(readFileSync(policy)).raw)).toBe(true);

    // Renewal: the CSR goes to the policy CA, which signed the current certificate.
    const csr1 = join(dir, 'issuing1.csr');
    const renew = await runCli(['ca', 'renew', '--new-key', '--csr-out', csr1, '--data-dir', dataDir]);
    expect(renew.code, renew.err).toBe(0);
    const gen1 = join(dir, 'issuing1.crt');
    signByPolicy(csr1, gen1);
    const inst = await runCli(['ca', 'install', '--data-dir', dataDir, '--cert', gen1, '--chain', bundle, '--json']);
    expect(inst.code, inst.err).toBe(0);
    expect(JSON.parse(inst.out)).toMatchObject({ generation: 1, keyIndex: 1 });
    const b = await enroll('b');
    expect(b.chain[0]!.raw.equals(new X509Certificate(readFileSync(gen1)).raw)).toBe(true);
    writeFileSync(untrusted, readFileSync(gen1, 'utf8') + readFileSync(policy, 'utf8'));
    expect(opensslStatus(['verify', '-CAfile', root, '-untrusted', untrusted, b.file]).code).toBe(0);
  });
});
