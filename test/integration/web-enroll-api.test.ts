import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeCsr, opensslAsync, tmp, writeTmp } from '../helpers/openssl.js';
import { runCli } from '../helpers/cli.js';
import { runOperation } from '../../src/ops/operations.js';
import { ensureWebBuilt } from '../../src/web/build.js';
import { CONTENT_SECURITY_POLICY } from '../../src/http/web/headers.js';
import { cesPath } from '../../src/http/endpoints.js';

/**
 * Issue #22, web enrollment (/enroll, docs/web-enrollment.md) at the HTTP level: sign-in by
 * password and by client certificate, CSRF and origin checks, templates as GetPolicies lists them,
 * issue / pending / denied through the RA, collecting a pending request (here and with QueryTokenStatus),
 * downloads that openssl verifies, body limits, and the `enroll` audit channel.
 * The browser itself: web-enroll-browser.test.ts; Kerberos: web-enroll-kerberos.test.ts.
 */
describe('web enrollment API (/enroll/api)', () => {
  let s: TestServer;
  let agent: Agent;
  const dir = tmp('opences-webenroll-');
  beforeAll(async () => {
    await ensureWebBuilt();
    s = await startTestServer();
    agent = new Agent({ connect: { ca: s.rootPem } });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'Al1ce-pass', groups: ['staff'] }, 'test');
    await runOperation(s.core, 'user.add', { name: 'bob', password: 'B0b-pass!', groups: [] }, 'test');
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const SAME_ORIGIN = () => ({ origin: s.url, 'sec-fetch-site': 'same-origin' });
  interface Session {
    cookie: string;
    csrf: string;
  }
  const http = async (method: string, path: string, o: { session?: Session; csrf?: string | null; headers?: Record<string, string>; json?: unknown; body?: string; dispatcher?: Agent } = {}) => {
    const headers: Record<string, string> = { ...SAME_ORIGIN(), ...(o.headers ?? {}) };
    if (o.session) headers.cookie = o.session.cookie;
    const csrf = o.csrf === undefined ? o.session?.csrf : o.csrf;
    if (csrf && method !== 'GET') headers['x-csrf-token'] = csrf;
    if (o.json !== undefined) headers['content-type'] = 'application/json';
    const r = await request(`${s.url}${path}`, { method: method as 'GET', dispatcher: o.dispatcher ?? agent, headers, body: o.json !== undefined ? JSON.stringify(o.json) : o.body });
    const bytes = Buffer.from(await r.body.arrayBuffer());
    const ct = String(r.headers['content-type'] ?? '');
    return { status: r.statusCode, headers: r.headers, bytes, text: bytes.toString('utf8'), json: ct.includes('json') && bytes.length ? (JSON.parse(bytes.toString('utf8')) as Record<string, unknown>) : null };
  };
  const signIn = async (username: string, password: string): Promise<Session> => {
    const r = await http('POST', '/enroll/api/session/password', { json: { username, password } });
    expect(r.status, r.text).toBe(200);
    const cookie = /^(__Host-opences-enroll=[A-Za-z0-9_-]{43});/.exec(String(r.headers['set-cookie']))![1]!;
    return { cookie, csrf: String(r.json!.csrf) };
  };
  const events = async (type: string) => (await s.core.audit.list({ type, limit: 200 })).filter((e) => e.type === type);

  it('serves the page under the strict CSP, never cached; /enroll redirects to /enroll/', async () => {
    const page = await http('GET', '/enroll/');
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.text).toMatch(/<script type="module" src="\/web\/assets\/enroll-[A-Za-z0-9]+\.js"><\/script>/);
    expect(page.text).not.toMatch(/<script>(?!<)/);
    const bare = await http('GET', '/enroll');
    expect(bare.status).toBe(301);
    expect(bare.headers.location).toBe('/enroll/');
  });

  it('signs in with an account password into an HttpOnly, Secure, SameSite=Strict __Host- cookie; a wrong password is refused and audited', async () => {
    const bad = await http('POST', '/enroll/api/session/password', { json: { username: 'alice', password: 'wrong' } });
    expect(bad.status).toBe(401);
    expect(bad.headers['set-cookie']).toBeUndefined();
    expect((await events('auth.failure')).some((e) => e.principal === 'alice' && e.reason === 'wrong password' && e.details?.channel === 'enroll')).toBe(true);

    const r = await http('POST', '/enroll/api/session/password', { json: { username: 'alice', password: 'Al1ce-pass' } });
    expect(r.status).toBe(200);
    const setCookie = String(r.headers['set-cookie']);
    expect(setCookie).toMatch(/^__Host-opences-enroll=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; Secure; HttpOnly; SameSite=Strict$/);
    expect(r.json).toMatchObject({ principal: { name: 'alice', method: 'username' } });
    const session = { cookie: setCookie.split(';')[0]!, csrf: String(r.json!.csrf) };
    const me = await http('GET', '/enroll/api/session', { session });
    expect(me.json).toMatchObject({ principal: { name: 'alice' }, csrf: session.csrf });
    const started = (await events('web.session.start')).find((e) => e.principal === 'alice');
    expect(started?.details?.channel).toBe('enroll');
  });

  it('limits failed password sign-ins per account as the UsernameToken path does (10 per 5 minutes): then even the right password waits', async () => {
    await runOperation(s.core, 'user.add', { name: 'dave', password: 'D4ve-pass', groups: [] }, 'test');
    for (let i = 0; i < 10; i++) expect((await http('POST', '/enroll/api/session/password', { json: { username: 'dave', password: `guess-${i}` } })).status).toBe(401);
    const limited = await http('POST', '/enroll/api/session/password', { json: { username: 'dave', password: 'D4ve-pass' } });
    expect(limited.status).toBe(429);
    expect(limited.json!.detail).toMatch(/too many failed sign-ins/);
    expect(limited.headers['set-cookie']).toBeUndefined();
    expect((await events('auth.failure')).some((e) => e.principal === 'dave' && e.reason === 'rate limited' && e.details?.channel === 'enroll')).toBe(true);
  });

  it('refuses a sign-in posted from another site, and every call without a session', async () => {
    const cross = await http('POST', '/enroll/api/session/password', { headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, json: { username: 'alice', password: 'Al1ce-pass' } });
    expect(cross.status).toBe(403);
    expect(cross.headers['set-cookie']).toBeUndefined();
    for (const [method, path] of [['GET', '/enroll/api/templates'], ['GET', '/enroll/api/requests'], ['POST', '/enroll/api/requests'], ['GET', '/enroll/api/requests/1']] as const) {
      const r = await http(method, path, { json: method === 'POST' ? {} : undefined });
      expect(r.status, `${method} ${path}`).toBe(401);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    // A console session is no enrollment session.
    const forged = await http('GET', '/enroll/api/templates', { headers: { cookie: `__Host-opences-enroll=${'A'.repeat(43)}` } });
    expect(forged.status).toBe(401);
  });

  it('lists the templates the principal may enroll for, as GetPolicies does', async () => {
    const alice = await signIn('alice', 'Al1ce-pass');
    const r = await http('GET', '/enroll/api/templates', { session: alice });
    expect(r.status).toBe(200);
    const list = r.json!.templates as { name: string; approval: boolean; keyAlgorithms: string[]; enrolleeSupplies: boolean }[];
    expect(list.map((t) => t.name)).toEqual(expect.arrayContaining(['User', 'WebServer', 'WebServerApproval']));
    expect(list.find((t) => t.name === 'WebServerApproval')!.approval).toBe(true);
    expect(list.find((t) => t.name === 'WebServer')!.enrolleeSupplies).toBe(true);
    await runOperation(s.core, 'template.disable', { name: 'Machine' }, 'test');
    const after = await http('GET', '/enroll/api/templates', { session: alice });
    expect((after.json!.templates as { name: string }[]).map((t) => t.name)).not.toContain('Machine');
  });

  it('CSRF: a state change without the token, with a wrong one, or from another origin is refused (403, audited) and changes nothing', async () => {
    const alice = await signIn('alice', 'Al1ce-pass');
    const csr = makeCsr({ subject: 'CN=csrf.example.test', sans: ['DNS:csrf.example.test'] });
    const before = (await http('GET', '/enroll/api/requests', { session: alice })).json!.requests as unknown[];
    const body = { template: 'WebServer', csr: csr.csrPem };
    const none = await http('POST', '/enroll/api/requests', { session: alice, csrf: null, json: body });
    expect(none.status).toBe(403);
    expect(none.json!.detail).toMatch(/CSRF token is missing/);
    const wrong = await http('POST', '/enroll/api/requests', { session: alice, csrf: 'x'.repeat(43), json: body });
    expect(wrong.status).toBe(403);
    const cross = await http('POST', '/enroll/api/requests', { session: alice, headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, json: body });
    expect(cross.status).toBe(403);
    // A cross-site HTML form post (no custom header possible, text/plain or urlencoded body).
    const form = await http('POST', '/enroll/api/requests', { session: alice, csrf: null, headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' }, body: 'template=WebServer' });
    expect(form.status).toBe(403);
    const afterList = (await http('GET', '/enroll/api/requests', { session: alice })).json!.requests as unknown[];
    expect(afterList.length).toBe(before.length);
    const refused = (await events('web.refused')).filter((e) => e.details?.channel === 'enroll');
    const reasons = refused.map((e) => e.reason).join('\n');
    expect(reasons).toMatch(/POST \/requests: missing CSRF token/);
    expect(reasons).toMatch(/POST \/requests: wrong CSRF token/);
    expect(reasons).toMatch(/POST \/requests: cross-site request/);
  });

  it('issues from a pasted CSR through the RA; the PEM and PKCS#7 downloads verify with openssl against the root', async () => {
    const alice = await signIn('alice', 'Al1ce-pass');
    const csr = makeCsr({ key: 'rsa:2048', subject: 'CN=www.example.test', sans: ['DNS:www.example.test'] });
    const r = await http('POST', '/enroll/api/requests', { session: alice, json: { template: 'WebServer', csr: csr.csrPem } });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ status: 'issued', message: 'Issued' });
    const id = String(r.json!.requestId);
    const row = (await s.core.db.query<{ requester: string; auth_method: string; template: string }>('SELECT requester, auth_method, template FROM requests WHERE id = $1', [id])).rows[0];
    expect(row).toEqual({ requester: 'alice', auth_method: 'username', template: 'WebServer' });

    const pem = await http('GET', `/enroll/api/requests/${id}/certificate.pem`, { session: alice });
    expect(pem.status).toBe(200);
    expect(pem.headers['content-disposition']).toBe(`attachment; filename="request-${id}.pem"`);
    expect(pem.text.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    const pemFile = writeTmp(dir, `r${id}.pem`, pem.text);
    const v = await opensslAsync(['verify', '-CAfile', join(s.dataDir, 'certs/root_ca.crt'), '-untrusted', join(s.dataDir, 'certs/issuing_ca.crt'), pemFile]);
    expect(v.code, v.out).toBe(0);
    // The certificate is for the CSR's key.
    const certMod = await opensslAsync(['x509', '-in', pemFile, '-noout', '-pubkey']);
    const keyPub = await opensslAsync(['pkey', '-in', csr.keyFile, '-pubout']);
    expect(certMod.out).toBe(keyPub.out);

    const p7 = await http('GET', `/enroll/api/requests/${id}/certificate.p7b`, { session: alice });
    expect(p7.status).toBe(200);
    expect(p7.headers['content-type']).toMatch(/^application\/pkcs7-mime/);
    const p7File = writeTmp(dir, `r${id}.p7b`, p7.bytes);
    const certs = await opensslAsync(['pkcs7', '-inform', 'DER', '-in', p7File, '-print_certs']);
    expect(certs.code).toBe(0);
    expect(certs.out.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    const chainFile = writeTmp(dir, `r${id}-p7.pem`, certs.out);
    expect((await opensslAsync(['verify', '-CAfile', join(s.dataDir, 'certs/root_ca.crt'), '-untrusted', chainFile, pemFile])).code).toBe(0);

    const issue = (await events('enroll.issue')).find((e) => e.requestId === id);
    expect(issue?.details?.channel).toBe('enroll');
    const issued = (await events('certificate.issue')).find((e) => e.requestId === id);
    expect(issued?.details?.channel).toBe('enroll');
    expect((await events('enroll.retrieve')).filter((e) => e.requestId === id && e.details?.channel === 'enroll').map((e) => e.details?.what)).toEqual(expect.arrayContaining(['pem', 'p7b']));
  });

  it('pending (WebServerApproval): the request ID, collected after approval here and with QueryTokenStatus; nobody else sees it', async () => {
    const alice = await signIn('alice', 'Al1ce-pass');
    const csr = makeCsr({ subject: 'CN=pending.example.test', sans: ['DNS:pending.example.test'] });
    const r = await http('POST', '/enroll/api/requests', { session: alice, json: { template: 'WebServerApproval', csr: csr.csrPem } });
    expect(r.json).toMatchObject({ status: 'pending', message: 'Taken Under Submission' });
    const id = String(r.json!.requestId);
    expect(id).toMatch(/^\d+$/);
    expect((await http('GET', `/enroll/api/requests/${id}`, { session: alice })).json).toMatchObject({ status: 'pending', requestId: id });
    expect((await http('GET', `/enroll/api/requests/${id}/certificate.pem`, { session: alice })).status).toBe(409);
    const bob = await signIn('bob', 'B0b-pass!');
    const theirs = await http('GET', `/enroll/api/requests/${id}`, { session: bob });
    expect(theirs.status).toBe(404);
    expect(((await http('GET', '/enroll/api/requests', { session: bob })).json!.requests as { requestId: string }[]).map((x) => x.requestId)).not.toContain(id);
    const mine = (await http('GET', '/enroll/api/requests', { session: alice })).json!.requests as { requestId: string; status: string; template: string }[];
    expect(mine.find((x) => x.requestId === id)).toMatchObject({ status: 'pending', template: 'WebServerApproval' });

    await runOperation(s.core, 'request.approve', { id }, 'local:manager');
    const got = await http('GET', `/enroll/api/requests/${id}`, { session: alice });
    expect(got.json).toMatchObject({ status: 'issued', requestId: id });
    expect(String(got.json!.certificate)).toMatch(/^-----BEGIN CERTIFICATE-----/);

    // The same request through CES QueryTokenStatus (certreq -retrieve), with alice's password.
    const pw = writeTmp(dir, 'alice.pw', 'Al1ce-pass');
    const certOut = join(dir, `q${id}.crt`);
    const ces = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const q = await runCli(['req', 'retrieve', '--url', ces, '--username', 'alice', '--password-file', pw, '--ca-bundle', join(s.dataDir, 'certs/root_ca.crt'), id, '--cert-out', certOut]);
    expect(q.code, q.err).toBe(0);
    expect(readFileSync(certOut, 'utf8').replace(/\s/g, '')).toContain(String(got.json!.certificate).replace(/\s/g, ''));
  });

  it('denied: the reason is shown (a key the template refuses; a CA manager\'s denial); a malformed CSR is a clear error', async () => {
    const alice = await signIn('alice', 'Al1ce-pass');
    const weak = makeCsr({ key: 'rsa:1024', subject: 'CN=weak.example.test', sans: ['DNS:weak.example.test'] });
    const r = await http('POST', '/enroll/api/requests', { session: alice, json: { template: 'WebServer', csr: weak.csrPem } });
    expect(r.status).toBe(200);
    expect(r.json!.status).toBe('denied');
    expect(String(r.json!.message)).toMatch(/1024/);
    expect((await http('GET', `/enroll/api/requests/${String(r.json!.requestId)}`, { session: alice })).json).toMatchObject({ status: 'denied', message: r.json!.message });

    const csr = makeCsr({ subject: 'CN=nope.example.test', sans: ['DNS:nope.example.test'] });
    const p = await http('POST', '/enroll/api/requests', { session: alice, json: { template: 'WebServerApproval', csr: csr.csrPem } });
    const id = String(p.json!.requestId);
    await runOperation(s.core, 'request.deny', { id, reason: 'not one of our hosts' }, 'local:manager');
    expect((await http('GET', `/enroll/api/requests/${id}`, { session: alice })).json).toMatchObject({ status: 'denied', message: 'Denied by local:manager: not one of our hosts' });

    const junk = await http('POST', '/enroll/api/requests', { session: alice, json: { template: 'WebServer', csr: 'not base64 at all!' } });
    expect(junk.status).toBe(400);
    expect(junk.json!.detail).toMatch(/not valid base64/);
    const notCsr = await http('POST', '/enroll/api/requests', { session: alice, json: { template: 'WebServer', csr: Buffer.from('hello world').toString('base64') } });
    expect(notCsr.json).toMatchObject({ status: 'denied' });
    const noTemplate = await http('POST', '/enroll/api/requests', { session: alice, json: { template: 'NoSuchTemplate', csr: csr.csrPem } });
    expect(noTemplate.json).toMatchObject({ status: 'denied' });
    expect(String(noTemplate.json!.message)).toMatch(/NoSuchTemplate.*does not exist/);
  });

  it('bounds bodies: too large (413) and too deeply nested (400)', async () => {
    const alice = await signIn('alice', 'Al1ce-pass');
    const big = await http('POST', '/enroll/api/requests', { session: alice, json: { template: 'WebServer', csr: 'A'.repeat(70 * 1024) } });
    expect(big.status).toBe(413);
    const deep = await http('POST', '/enroll/api/requests', { session: alice, headers: { 'content-type': 'application/json' }, body: '['.repeat(100) + ']'.repeat(100) });
    expect(deep.status).toBe(400);
    const bad = await http('POST', '/enroll/api/session/password', { headers: { 'content-type': 'application/json' }, body: '{"username":' });
    expect(bad.status).toBe(400);
  });

  it('signs in with a TLS client certificate this CA issued, as its owner; none, or a revoked one, is refused', async () => {
    const alice = await signIn('alice', 'Al1ce-pass');
    const csr = makeCsr({ subject: 'CN=alice' });
    const r = await http('POST', '/enroll/api/requests', { session: alice, json: { template: 'User', csr: csr.csrPem } });
    expect(r.json!.status).toBe('issued');
    const withCert = new Agent({ connect: { ca: s.rootPem, cert: String(r.json!.certificate), key: csr.keyPem } });
    try {
      const ok = await http('POST', '/enroll/api/session/certificate', { dispatcher: withCert });
      expect(ok.status, ok.text).toBe(200);
      expect(ok.json).toMatchObject({ principal: { name: 'alice', method: 'certificate' } });
      const session = { cookie: String(ok.headers['set-cookie']).split(';')[0]!, csrf: String(ok.json!.csrf) };
      expect((await http('GET', '/enroll/api/templates', { session, dispatcher: withCert })).status).toBe(200);
      // The session is bound to the TLS endpoint, not to the connection: the cookie works on another one.
      expect((await http('GET', '/enroll/api/session', { session })).status).toBe(200);

      const none = await http('POST', '/enroll/api/session/certificate');
      expect(none.status).toBe(401);
      expect(none.json!.detail).toMatch(/no client certificate/);
      expect((await events('auth.failure')).some((e) => /certificate sign-in without a client certificate/.test(e.reason ?? '') && e.details?.channel === 'enroll')).toBe(true);

      await runOperation(s.core, 'cert.revoke', { serial: String(r.json!.serial), reason: 'keyCompromise' }, 'local:manager');
      const fresh = new Agent({ connect: { ca: s.rootPem, cert: String(r.json!.certificate), key: csr.keyPem } });
      const revoked = await http('POST', '/enroll/api/session/certificate', { dispatcher: fresh });
      expect(revoked.status).toBe(401);
      await fresh.close();
      expect((await events('auth.failure')).some((e) => /is revoked/.test(e.reason ?? ''))).toBe(true);
    } finally {
      await withCert.close();
    }
  });

  it('signs out: the session ends and is audited', async () => {
    const alice = await signIn('alice', 'Al1ce-pass');
    const noToken = await http('POST', '/enroll/api/session/end', { session: alice, csrf: null });
    expect(noToken.status).toBe(403);
    const out = await http('POST', '/enroll/api/session/end', { session: alice });
    expect(out.status).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/^__Host-opences-enroll=; Max-Age=0;/);
    expect((await http('GET', '/enroll/api/session', { session: alice })).status).toBe(401);
    expect((await events('web.session.end')).some((e) => e.principal === 'alice' && e.details?.channel === 'enroll')).toBe(true);
  });
});
