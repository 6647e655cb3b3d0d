import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startKdc, type Kdc } from '../helpers/kdc.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { opensslStatus, tmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { SoapTransport } from '../../src/client/transport.js';
import { EnrollmentClient } from '../../src/client/enrollment-client.js';
import { runCli } from '../helpers/cli.js';


/** The `opences` command as a separate process, with the Kerberos environment a user would have. */
const cli = (args: string[], env: Record<string, string>) => runCli(args, { env });

// Each test runs the CLI several times as separate processes: give a loaded machine room.
describe('opences req --kerberos against a real MIT KDC and a real opences serve', { timeout: 180_000 }, () => {
  let kdc: Kdc;
  let s: TestServer;
  let aliceEnv: Record<string, string>;
  const dir = tmp('opences-req-krb-');

  beforeAll(async () => {
    kdc = await startKdc();
    kdc.addUser('alice', 'Al1ce-pass');
    const keytab = kdc.addService('HTTP/localhost');
    // The server runs in this process: GSSAPI reads krb5.conf from here.
    process.env.KRB5_CONFIG = kdc.env.KRB5_CONFIG;
    s = await startTestServer({ config: { 'auth.kerberos': { keytab, servicePrincipal: 'HTTP@localhost' } } });
    aliceEnv = { KRB5_CONFIG: kdc.env.KRB5_CONFIG, KRB5CCNAME: `FILE:${kdc.kinit('alice', 'Al1ce-pass', join(dir, 'alice.ccache'))}` };
  });
  afterAll(async () => {
    await s?.stop();
    await kdc?.stop();
  });

  const bundle = () => ['--ca-bundle', join(s.dataDir, 'certs/root_ca.crt')];
  const cep = () => `${s.url}${cepPath('Kerberos')}`;
  const ces = () => `${s.url}${cesPath('opences Issuing CA', 'Kerberos')}`;

  it('lists the templates with the caller\'s ticket (req policy --kerberos)', async () => {
    const r = await cli(['req', 'policy', '--kerberos', '--url', cep(), ...bundle(), '--json'], aliceEnv);
    expect(r.code, r.err).toBe(0);
    const templates = JSON.parse(r.out) as { name: string; enrollmentUrls: { uri: string; clientAuthentication: number }[] }[];
    expect(templates.map((t) => t.name)).toContain('User');
    expect(templates.find((t) => t.name === 'User')!.enrollmentUrls.some((u) => u.clientAuthentication === 2 && u.uri.includes('_CES_Kerberos'))).toBe(true);
  });

  it('req enroll --kerberos issues a User certificate whose subject comes from the Kerberos identity, with a fresh token per request', async () => {
    const before = (await s.core.audit.list({ type: 'auth.failure' })).length;
    const key = join(dir, 'alice.key');
    const cert = join(dir, 'alice.crt');
    // The subject asked for is ignored: the User template builds it from the authenticated principal.
    const r = await cli(['req', 'enroll', '--kerberos', '--url', cep(), ...bundle(), '--template', 'User', '--subject', 'CN=someone-else', '--key-out', key, '--cert-out', cert], aliceEnv);
    expect(r.code, r.err).toBe(0);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const c = new X509Certificate(readFileSync(cert));
    expect(c.subject).toBe('CN=alice');
    expect(c.subjectAltName).toMatch(/alice@OPENCES\.TEST/);
    const v = opensslStatus(['verify', '-CAfile', join(s.dataDir, 'certs/root_ca.crt'), '-untrusted', join(s.dataDir, 'certs/issuing_ca.crt'), cert]);
    expect(v.code, v.out).toBe(0);
    // Two requests (GetPolicies, then Issue) each carried a token GSSAPI accepted: none was a replay.
    expect((await s.core.audit.list({ type: 'auth.failure' })).length).toBe(before);
    const issued = await s.core.db.query<{ requester: string }>("SELECT requester FROM requests WHERE template = 'User' ORDER BY id DESC LIMIT 1");
    expect(issued.rows[0]?.requester).toBe('alice@OPENCES.TEST');
  });

  it('new → submit --kerberos (pending, exit 3) → approve → retrieve --kerberos', async () => {
    const key = join(dir, 'p.key');
    const csr = join(dir, 'p.csr');
    expect((await cli(['req', 'new', '--template', 'WebServerApproval', '--subject', 'CN=krb.example.test', '--san', 'dns:krb.example.test', '--key-out', key, '--csr-out', csr], {})).code).toBe(0);
    const sub = await cli(['req', 'submit', '--kerberos', '--url', ces(), ...bundle(), csr, '--json'], aliceEnv);
    expect(sub.code, sub.err).toBe(3);
    const { requestId } = JSON.parse(sub.out) as { requestId: string };
    await runOperation(s.core, 'request.approve', { id: requestId }, 'local:manager');
    const cert = join(dir, 'p.crt');
    const got = await cli(['req', 'retrieve', '--kerberos', '--url', ces(), ...bundle(), requestId, '--cert-out', cert], aliceEnv);
    expect(got.code, got.err).toBe(0);
    expect(new X509Certificate(readFileSync(cert)).subject).toBe('CN=krb.example.test');
  });

  it('without a ticket: exit 1, says to kinit, and writes nothing', async () => {
    const key = join(dir, 'none.key');
    const r = await cli(['req', 'enroll', '--kerberos', '--url', cep(), ...bundle(), '--template', 'User', '--key-out', key, '--cert-out', join(dir, 'none.crt')], { KRB5_CONFIG: kdc.env.KRB5_CONFIG, KRB5CCNAME: `FILE:${join(dir, 'no-such-ccache')}` });
    expect(r.code).toBe(1);
    expect(r.err).toContain(`cannot authenticate to ${cep()} with Kerberos`);
    expect(r.err).toMatch(/kinit/);
    expect(existsSync(key)).toBe(false);
  });

  it('refuses --kerberos with a URL that is not a _Kerberos endpoint, and with other credentials', async () => {
    const wrong = await cli(['req', 'policy', '--kerberos', '--url', `${s.url}${cepPath('UsernamePassword')}`, ...bundle()], aliceEnv);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/--kerberos needs a _Kerberos endpoint .*_CEP_UsernamePassword.* is not one/);
    const both = await cli(['req', 'policy', '--kerberos', '--username', 'alice', '--password-file', '/dev/null', '--url', cep(), ...bundle()], aliceEnv);
    expect(both.code).toBe(1);
    expect(both.err).toContain('do not combine it with --username');
  });

  it('names the package to install when the kerberos binding is missing', async () => {
    const t = new SoapTransport({ auth: { kind: 'kerberos' }, caBundlePem: s.rootPem, loadKerberos: () => import('kerberos-binding-that-is-not-installed' as string) });
    try {
      await expect(new EnrollmentClient(t).getPolicies(cep())).rejects.toThrow(/--kerberos\) needs the optional npm package "kerberos".*npm install kerberos/);
    } finally {
      await t.close();
    }
  });
});
