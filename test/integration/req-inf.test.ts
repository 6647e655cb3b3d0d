import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { openssl, opensslStatus, tmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath } from '../../src/http/endpoints.js';
import { parseCsr } from '../../src/protocol/pkcs10/csr.js';
import { decodeBase64Token } from '../../src/protocol/pkcs10/base64.js';
import { runCli } from '../helpers/cli.js';


const cli = (args: string[]) => runCli(args);

const WEB_INF = `[Version]
Signature="$Windows NT$"

[NewRequest]
Subject = "CN=inf.example.test, O=Example"
KeyAlgorithm = RSA
KeyLength = 3072
Exportable = TRUE
MachineKeySet = TRUE
ProviderName = "Microsoft RSA SChannel Cryptographic Provider"
RequestType = PKCS10
FriendlyName = "INF test"

[Extensions]
2.5.29.17 = "{text}"
_continue_ = "dns=inf.example.test&"
_continue_ = "dns=www.inf.example.test&ipaddress=192.0.2.10&"

[RequestAttributes]
CertificateTemplate = WebServer
`;

// Each test runs the CLI several times as separate processes: give a loaded machine room.
describe('opences req new/enroll --inf (certreq INF files)', { timeout: 180_000 }, () => {
  let s: TestServer;
  const dir = tmp('opences-req-inf-');
  const pw = join(dir, 'alice.pw');
  const inf = join(dir, 'web.inf');

  beforeAll(async () => {
    s = await startTestServer();
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret' }, 'test');
    writeFileSync(pw, 'S3cret\n');
    writeFileSync(inf, WEB_INF.replace(/\n/g, '\r\n')); // as Windows saves it
  });
  afterAll(async () => s?.stop());

  const csrOf = (file: string) => parseCsr(decodeBase64Token(readFileSync(file, 'latin1'), 'certificate request'));

  it('req new --inf writes a request openssl verifies, with the subject, SANs, key and template of the file; ignored keys are noted', async () => {
    const csr = join(dir, 'web.csr');
    const r = await cli(['req', 'new', '--inf', inf, '--key-out', join(dir, 'web.key'), '--csr-out', csr]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`opences: note: ${inf} line 12: FriendlyName ignored`);
    expect(r.err).toContain(`${inf} line 9: MachineKeySet ignored`);
    const v = opensslStatus(['req', '-in', csr, '-noout', '-verify']);
    expect(v.code, v.out).toBe(0);
    expect(v.out).toMatch(/verify OK/);
    const text = openssl(['req', '-in', csr, '-noout', '-text', '-nameopt', 'RFC2253']);
    expect(text).toMatch(/Subject: O=Example,CN=inf\.example\.test/);
    expect(text).toMatch(/Public-Key: \(3072 bit\)/);
    expect(text).toMatch(/DNS:inf\.example\.test, DNS:www\.inf\.example\.test, IP Address:192\.0\.2\.10/);
    const parsed = csrOf(csr);
    expect(parsed.templateName).toBe('WebServer');
    expect(parsed.sans).toEqual([
      { type: 'dns', value: 'inf.example.test' },
      { type: 'dns', value: 'www.inf.example.test' },
      { type: 'ip', value: '192.0.2.10' },
    ]);
  });

  it('flags override the file', async () => {
    const csr = join(dir, 'over.csr');
    const r = await cli(['req', 'new', '--inf', inf, '--template', 'WebServerApproval', '--subject', 'CN=other.example.test', '--san', 'dns:other.example.test', '--key-type', 'P-256', '--format', 'cmc', '--key-out', join(dir, 'over.key'), '--csr-out', csr]);
    expect(r.code, r.err).toBe(0);
    expect(readFileSync(csr, 'utf8')).toContain('BEGIN CMC');
    const key = openssl(['pkey', '-in', join(dir, 'over.key'), '-noout', '-text']);
    expect(key).toMatch(/prime256v1|P-256/);
  });

  it('an unknown key or section: exit 1 naming the file and line, nothing written', async () => {
    const bad = join(dir, 'bad.inf');
    writeFileSync(bad, '[NewRequest]\nSubject = "CN=x.example.test"\nKeyColour = blue\n');
    const r = await cli(['req', 'new', '--inf', bad, '--key-out', join(dir, 'bad.key'), '--csr-out', join(dir, 'bad.csr')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${bad} line 3: unknown key "KeyColour" in [NewRequest]`);
    expect(existsSync(join(dir, 'bad.key'))).toBe(false);
    writeFileSync(bad, '[NewRequest]\nSubject = "CN=x.example.test"\n\n[PolicyStatementExtension]\nPolicies = x\n');
    const r2 = await cli(['req', 'new', '--inf', bad, '--key-out', join(dir, 'bad.key'), '--csr-out', join(dir, 'bad.csr')]);
    expect(r2.code).toBe(1);
    expect(r2.err).toContain(`${bad} line 4: unknown section [PolicyStatementExtension]`);
  });

  it('req enroll --inf takes the template, subject and SANs from the file (UTF-16 as Notepad saves it)', async () => {
    const u16 = join(dir, 'web16.inf');
    writeFileSync(u16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(WEB_INF.replace('KeyLength = 3072', 'KeyLength = 2048'), 'utf16le')]));
    const cert = join(dir, 'web.crt');
    const r = await cli(['req', 'enroll', '--url', `${s.url}${cepPath('UsernamePassword')}`, '--username', 'alice', '--password-file', pw, '--ca-bundle', join(s.dataDir, 'certs/root_ca.crt'), '--inf', u16, '--key-out', join(dir, 'web-e.key'), '--cert-out', cert]);
    expect(r.code, r.err).toBe(0);
    const c = new X509Certificate(readFileSync(cert));
    expect(c.subject).toContain('CN=inf.example.test');
    expect(c.subjectAltName).toContain('DNS:www.inf.example.test');
    expect(c.subjectAltName).toContain('IP Address:192.0.2.10');
    const row = (await s.core.db.query<{ template: string }>('SELECT template FROM requests WHERE serial = $1', [c.serialNumber.toLowerCase().replace(/^(00)+/, '')])).rows[0];
    expect(row?.template).toBe('WebServer');
  });
});
