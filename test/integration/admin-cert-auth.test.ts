import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, openssl, pemOf, tmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { loadConfig } from '../../src/config.js';
import { loadTrustRoots } from '../../src/http/admin/client-cert.js';

interface Identity {
  certPem: string;
  keyPem: string;
}

/** An operations PKI outside opences (made with openssl): its root, and client certificates under it. */
function opsPki(dir: string) {
  const f = (n: string): string => join(dir, n);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('root.key'), '-out', f('root.pem'), '-subj', '/O=Example Ops/CN=Ops Root', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const leaf = (name: string, subj: string, eku = 'clientAuth'): Identity => {
    writeFileSync(f(`${name}.ext`), `basicConstraints=CA:FALSE\nextendedKeyUsage=${eku}\n`);
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', subj]);
    openssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('root.pem'), '-CAkey', f('root.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '10', '-extfile', f(`${name}.ext`)]);
    return { certPem: readFileSync(f(`${name}.pem`), 'utf8'), keyPem: readFileSync(f(`${name}.key`), 'utf8') };
  };
  const selfSigned = (): Identity => {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('self.key'), '-out', f('self.pem'), '-subj', '/O=Example Ops/CN=ops-admin', '-days', '2']);
    return { certPem: readFileSync(f('self.pem'), 'utf8'), keyPem: readFileSync(f('self.key'), 'utf8') };
  };
  return { rootFile: f('root.pem'), leaf, selfSigned };
}

describe('admin API authentication by TLS client certificate', () => {
  const dir = tmp('ops-pki-');
  const pki = opsPki(dir);
  const opsAdmin = pki.leaf('opsadmin', '/O=Example Ops/CN=ops-admin');
  const auditorCert = pki.leaf('auditor', '/O=Example Ops/CN=audit-bot');
  const unlisted = pki.leaf('unlisted', '/O=Example Ops/CN=someone-else');
  const serverOnly = pki.leaf('server', '/O=Example Ops/CN=ops-admin-server', 'serverAuth');
  const stranger = pki.selfSigned();
  const auditorFingerprint = new X509Certificate(auditorCert.certPem).fingerprint256; // AA:BB:… as operators copy it
  let s: TestServer;
  let alice: Identity & { serial: string };
  let carolToken: string;
  let auditorToken: string;
  const agents: Agent[] = [];

  beforeAll(async () => {
    s = await startTestServer({
      config: {
        admin: {
          trustRoots: [pki.rootFile],
          certificates: [
            { subject: 'CN=ops-admin, O=Example Ops', role: 'ca-admin' }, // order and spacing do not matter
            { fingerprint: auditorFingerprint, role: 'auditor' },
            { san: 'email:alice@example.test', role: 'cert-manager' },
            { subject: 'CN=ops-admin-server,O=Example Ops', role: 'ca-admin' },
          ],
        },
      },
    });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret-alice', email: 'alice@example.test' }, 'test');
    await runOperation(s.core, 'user.add', { name: 'carol' }, 'test').catch(() => undefined); // token create --for names an existing principal
    carolToken = ((await runOperation(s.core, 'token.create', { role: 'cert-manager', principal: 'carol' }, 'test')) as { token: string }).token;
    await runOperation(s.core, 'user.add', { name: 'dave' }, 'test').catch(() => undefined); // token create --for names an existing principal
    auditorToken = ((await runOperation(s.core, 'token.create', { role: 'auditor', principal: 'dave' }, 'test')) as { token: string }).token;
    // alice enrolls for a User certificate (client authentication) from our CA with her password.
    const csr = makeCsr({ key: 'ec:P-256', subject: 'CN=alice', templateName: 'User' });
    const url = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const r = await postSoap(url, buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'alice', password: 'S3cret-alice' }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agentFor());
    const out = parseRstrResponse(r.env!);
    if (out.disposition !== 'issued') throw new Error(r.body);
    const certPem = pemOf(out.certificateDer);
    alice = { certPem, keyPem: csr.keyPem, serial: openssl(['x509', '-noout', '-serial'], certPem).trim().split('=')[1]! };
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.close()));
    await s?.stop();
  });

  function agentFor(id?: Identity): Agent {
    const a = new Agent({ connect: { ca: s.rootPem, ...(id ? { cert: id.certPem, key: id.keyPem } : {}) } });
    agents.push(a);
    return a;
  }
  const api = async (id: Identity | undefined, method: 'GET' | 'POST', path: string, o: { token?: string; body?: unknown } = {}) => {
    const r = await request(`${s.url}/api/v1${path}`, {
      method,
      dispatcher: agentFor(id),
      headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: o.body !== undefined ? JSON.stringify(o.body) : undefined,
    });
    const text = await r.body.text();
    return { status: r.statusCode, json: JSON.parse(text) as Record<string, unknown>, headers: r.headers };
  };
  const failures = async () => (await s.core.audit.list({ type: 'auth.failure', limit: 200 })).map((e) => `${e.method}: ${e.reason}`);

  it('a listed certificate from a configured trust root acts with its role, as its CN, in the audit log', async () => {
    const list = await api(opsAdmin, 'GET', '/templates');
    expect(list.status, JSON.stringify(list.json)).toBe(200);
    const off = await api(opsAdmin, 'POST', '/templates/WebServer/disable');
    expect(off.json).toEqual({ name: 'WebServer', enabled: false });
    expect((await api(opsAdmin, 'POST', '/templates/WebServer/enable')).status).toBe(200);
    const ev = (await s.core.audit.list({ type: 'template.disabled' })).find((e) => e.template === 'WebServer');
    expect(ev?.actor).toBe('ops-admin');
  });

  it('401 without any credential, for an unlisted, self-signed, or non-client-auth certificate — each audited', async () => {
    const none = await api(undefined, 'GET', '/templates');
    expect(none.status).toBe(401);
    expect(String(none.json.detail)).toMatch(/API token .* or an admin client certificate/);
    expect(String(none.headers['www-authenticate'])).toContain('Bearer');
    for (const id of [unlisted, stranger, serverOnly]) {
      const r = await api(id, 'GET', '/templates');
      expect(r.status).toBe(401);
      expect(r.json.type).toBe('https://opences.dev/problems/unauthenticated');
    }
    expect(await failures()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^certificate: admin API: client certificate O=Example Ops, CN=someone-else .* is not an admin certificate$/),
        expect.stringMatching(/^certificate: admin API: client certificate .*CN=ops-admin is not issued by a CA trusted for administration$/),
        expect.stringMatching(/^certificate: admin API: admin client certificate .* does not allow client authentication$/),
      ]),
    );
  });

  it('403 for the wrong role: a certificate matched by fingerprint is an auditor — reads the audit log, changes nothing', async () => {
    expect((await api(auditorCert, 'GET', '/audit/verify')).json).toMatchObject({ ok: true });
    const r = await api(auditorCert, 'POST', '/crl/publish', { body: {} });
    expect(r.status).toBe(403);
    expect(r.json.detail).toBe('the role auditor may not publishCrl');
    expect((await s.core.audit.list({ type: 'authz.denied' })).some((e) => e.actor === 'audit-bot' && e.method === 'certificate')).toBe(true);
    // The ca-admin certificate may not read the audit log either (least privilege).
    expect((await api(opsAdmin, 'GET', '/audit')).status).toBe(403);
  });

  it('a bearer token, when sent, decides — not the certificate the client also presents', async () => {
    const r = await api(opsAdmin, 'POST', '/templates/WebServer/disable', { token: auditorToken });
    expect(r.status).toBe(403);
    expect((await api(opsAdmin, 'GET', '/templates', { token: 'oc_000000000000_' + 'A'.repeat(43) })).status).toBe(401);
  });

  it('our own certificate is the account it names: a certificate manager cannot approve their own request; revoked → 401', async () => {
    const csr = makeCsr({ subject: 'CN=self.example.test', sans: ['DNS:self.example.test'], templateName: 'WebServerApproval' });
    const url = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const r = await postSoap(url, buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'alice', password: 'S3cret-alice' }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agentFor());
    const pending = parseRstrResponse(r.env!);
    expect(pending.disposition).toBe('pending');

    const mine = await api(alice, 'GET', `/requests/${pending.requestId}`);
    expect(mine.status).toBe(200);
    const self = await api(alice, 'POST', `/requests/${pending.requestId}/approve`);
    expect(self.status).toBe(403);
    expect(self.json.detail).toMatch(/cannot approve their own request/);
    const denied = (await s.core.audit.list({ type: 'request.approve' })).find((e) => e.requestId === pending.requestId && e.outcome === 'denied');
    expect(denied?.actor).toBe('alice');
    expect((await api(undefined, 'POST', `/requests/${pending.requestId}/approve`, { token: carolToken })).status).toBe(200);

    expect((await api(undefined, 'POST', `/certificates/${alice.serial}/revoke`, { token: carolToken, body: { reason: 'keyCompromise' } })).status).toBe(200);
    expect((await api(alice, 'GET', '/requests')).status).toBe(401);
    expect(await failures()).toEqual(expect.arrayContaining([expect.stringMatching(/^certificate: client certificate .* is revoked$/)]));
  });

  it('configuration is validated: exactly one matcher, a real fingerprint, a known role, readable trust roots', () => {
    const bad = (certificates: unknown[]) => () => loadConfig({ env: {}, flags: { admin: { certificates } } });
    expect(bad([{ role: 'ca-admin' }])).toThrow(/admin\.certificates\.0: .*exactly one of subject, san, fingerprint/);
    expect(bad([{ subject: 'CN=a', san: 'dns:a', role: 'ca-admin' }])).toThrow(/exactly one/);
    expect(bad([{ fingerprint: 'abc', role: 'auditor' }])).toThrow(/admin\.certificates\.0\.fingerprint/);
    expect(bad([{ san: 'a.example.test', role: 'auditor' }])).toThrow(/admin\.certificates\.0\.san/);
    expect(bad([{ subject: 'CN=a', role: 'root' }])).toThrow(/admin\.certificates\.0\.role/);
    expect(bad([{ subject: 'CN=a', role: 'auditor', extra: 1 }])).toThrow(/admin\.certificates\.0/);
    const ok = loadConfig({ env: {}, flags: { admin: { certificates: [{ fingerprint: auditorFingerprint, role: 'auditor' }] } } });
    expect(ok.admin.certificates[0]!.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(() => loadTrustRoots(['/nonexistent/ops-root.pem'])).toThrow(/admin\.trustRoots\[0\]: cannot read/);
    expect(() => loadTrustRoots([writeTmpFile('leaf.pem', opsAdmin.certPem)])).toThrow(/admin\.trustRoots\[0\]: .* is not a CA certificate/);
    expect(loadTrustRoots([pki.rootFile])).toHaveLength(1);
  });

  function writeTmpFile(name: string, text: string): string {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  }
});
