import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { openssl, opensslStatus, tmp, writeTmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { runCli } from '../helpers/cli.js';


const cli = (args: string[]) => runCli(args);

/** What openssl finds in a PKCS#12: the key's public half, the certificates' subjects, and whether the key belongs to the first certificate. */
function readBack(file: string, passin: string[]): { keyMatches: boolean; subjects: string[]; info: string } {
  const dump = openssl(['pkcs12', '-in', file, ...passin, '-nodes']);
  const info = opensslStatus(['pkcs12', '-in', file, ...passin, '-info', '-noout']).out;
  const dir = tmp('opences-p12-');
  const certs = dump.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g) ?? [];
  const keyPem = dump.match(/-----BEGIN PRIVATE KEY-----[\s\S]*?-----END PRIVATE KEY-----\n/)?.[0] ?? '';
  writeFileSync(join(dir, 'key.pem'), keyPem);
  writeFileSync(join(dir, 'leaf.pem'), certs[0] ?? '');
  const fromKey = openssl(['pkey', '-in', join(dir, 'key.pem'), '-pubout']);
  const fromCert = openssl(['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-pubkey']);
  const subjects = certs.map((c) => openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], c).trim().replace(/^subject=/, ''));
  return { keyMatches: fromKey === fromCert && fromKey.includes('PUBLIC KEY'), subjects, info };
}

// Each test runs the CLI several times as separate processes: give a loaded machine room.
describe('PKCS#12 output of req enroll and req accept (--pfx-out), read back by openssl', { timeout: 180_000 }, () => {
  let s: TestServer;
  const dir = tmp('opences-req-p12-');
  const pw = join(dir, 'alice.pw');
  const pfxPass = join(dir, 'pfx.pass');

  beforeAll(async () => {
    s = await startTestServer();
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret' }, 'test');
    writeFileSync(pw, 'S3cret\n');
    writeFileSync(pfxPass, 'Tr0ub4dor&3 pfx\n');
  });
  afterAll(async () => s?.stop());

  const auth = () => ['--username', 'alice', '--password-file', pw, '--ca-bundle', join(s.dataDir, 'certs/root_ca.crt')];
  const cep = () => `${s.url}${cepPath('UsernamePassword')}`;

  it('enroll --pfx-out writes a 0600 PKCS#12 (AES-256-CBC, PBKDF2/HMAC-SHA256, SHA-256 MAC) with key, certificate and chain', async () => {
    const pfx = join(dir, 'web.p12');
    const r = await cli(['req', 'enroll', '--url', cep(), ...auth(), '--template', 'WebServer', '--subject', 'CN=p12.example.test', '--san', 'dns:p12.example.test', '--key-type', 'RSA-2048', '--key-out', join(dir, 'web.key'), '--cert-out', join(dir, 'web.crt'), '--pfx-out', pfx, '--pfx-password-file', pfxPass]);
    expect(r.code, r.err).toBe(0);
    expect(statSync(pfx).mode & 0o777).toBe(0o600);
    const back = readBack(pfx, ['-passin', `file:${pfxPass}`]);
    expect(back.keyMatches).toBe(true);
    expect(back.subjects[0]).toBe('CN=p12.example.test');
    expect(back.subjects).toContain(openssl(['x509', '-in', join(s.dataDir, 'certs/issuing_ca.crt'), '-noout', '-subject', '-nameopt', 'RFC2253']).trim().replace(/^subject=/, ''));
    expect(back.info).toMatch(/MAC: sha256, Iteration 2048/);
    expect(back.info).toMatch(/PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/);
    expect(back.info).toMatch(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/);
    // the wrong password opens nothing
    const wrong = opensslStatus(['pkcs12', '-in', pfx, '-passin', 'pass:not-the-password', '-nodes']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.out).not.toContain('PRIVATE KEY');
  });

  it('refuses --pfx-out without a password (before making a key), unless --pfx-no-password', async () => {
    const key = join(dir, 'nopw.key');
    const r = await cli(['req', 'enroll', '--url', cep(), ...auth(), '--template', 'WebServer', '--subject', 'CN=nopw.example.test', '--san', 'dns:nopw.example.test', '--key-out', key, '--cert-out', join(dir, 'nopw.crt'), '--pfx-out', join(dir, 'nopw.p12')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('needs a password: give --pfx-password-file FILE (or --pfx-no-password');
    expect(existsSync(key)).toBe(false);
    expect(existsSync(join(dir, 'nopw.p12'))).toBe(false);

    const open = join(dir, 'open.p12');
    const ok = await cli(['req', 'enroll', '--url', cep(), ...auth(), '--template', 'WebServer', '--subject', 'CN=open.example.test', '--san', 'dns:open.example.test', '--key-out', key, '--cert-out', join(dir, 'open.crt'), '--pfx-out', open, '--pfx-no-password']);
    expect(ok.code, ok.err).toBe(0);
    expect(statSync(open).mode & 0o777).toBe(0o600);
    const back = readBack(open, ['-passin', 'pass:']);
    expect(back.keyMatches).toBe(true);
    expect(back.subjects[0]).toBe('CN=open.example.test');
    expect(back.info).toMatch(/MAC is absent/);
  });

  it('accept --pfx-out after a pending request was approved (P-384 key, encrypted key file)', async () => {
    const key = join(dir, 'p.key');
    const csr = join(dir, 'p.csr');
    const keyPass = writeTmp(dir, 'key.pass', 'correct horse battery\n');
    expect((await cli(['req', 'new', '--template', 'WebServerApproval', '--subject', 'CN=later.example.test', '--san', 'dns:later.example.test', '--key-type', 'P-384', '--key-passphrase-file', keyPass, '--key-out', key, '--csr-out', csr])).code).toBe(0);
    const ces = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const sub = await cli(['req', 'submit', '--url', ces, ...auth(), csr, '--json']);
    expect(sub.code, sub.err).toBe(3);
    const { requestId } = JSON.parse(sub.out) as { requestId: string };
    await runOperation(s.core, 'request.approve', { id: requestId }, 'local:manager');
    const cert = join(dir, 'p.crt');
    expect((await cli(['req', 'retrieve', '--url', ces, ...auth(), requestId, '--cert-out', cert])).code).toBe(0);
    const pfx = join(dir, 'p.p12');
    const acc = await cli(['req', 'accept', cert, '--key', key, '--key-passphrase-file', keyPass, '--pfx-out', pfx, '--pfx-password-file', pfxPass]);
    expect(acc.code, acc.err).toBe(0);
    expect(statSync(pfx).mode & 0o777).toBe(0o600);
    const back = readBack(pfx, ['-passin', `file:${pfxPass}`]);
    expect(back.keyMatches).toBe(true);
    expect(back.subjects[0]).toBe('CN=later.example.test');
    expect(back.subjects.length).toBeGreaterThanOrEqual(2);
    // a key that is not the certificate's is refused, and no PKCS#12 is written
    const other = join(dir, 'other.key');
    await cli(['req', 'new', '--key-out', other, '--csr-out', join(dir, 'other.csr')]);
    const wrong = await cli(['req', 'accept', cert, '--key', other, '--pfx-out', join(dir, 'wrong.p12'), '--pfx-password-file', pfxPass]);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain('is for another key');
    expect(existsSync(join(dir, 'wrong.p12'))).toBe(false);
  });
});
