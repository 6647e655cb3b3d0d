import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startKdc, type Kdc, loadKerberosClient, type KerberosClientModule } from '../helpers/kdc.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeCsr } from '../helpers/openssl.js';
import { ensureWebBuilt } from '../../src/web/build.js';

/**
 * Issue #22: Kerberos sign-in to /enroll (HTTP Negotiate, the same check as the _Kerberos
 * endpoints) against a real MIT KDC, at the HTTP level — what a browser allowed to send its ticket
 * to the site does after the 401 challenge.
 */
describe('web enrollment: Kerberos (Negotiate) sign-in', () => {
  let kdc: Kdc;
  let s: TestServer;
  let agent: Agent;
  let krb: KerberosClientModule;
  beforeAll(async () => {
    await ensureWebBuilt();
    kdc = await startKdc();
    kdc.addUser('alice', 'Al1ce-pass');
    const keytab = kdc.addService('HTTP/localhost');
    // GSSAPI reads these from the process environment (server and client share this process).
    process.env.KRB5_CONFIG = kdc.env.KRB5_CONFIG;
    process.env.KRB5CCNAME = `FILE:${kdc.kinit('alice', 'Al1ce-pass')}`;
    s = await startTestServer({ config: { 'auth.kerberos': { keytab, servicePrincipal: 'HTTP@localhost', groups: {} } } });
    agent = new Agent({ connect: { ca: s.rootPem } });
    krb = await loadKerberosClient();
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
    await kdc?.stop();
  });

  const token = async (): Promise<string> => (await krb.initializeClient('HTTP@localhost', { mechOID: krb.GSS_MECH_OID_SPNEGO })).step('');
  const http = async (method: 'GET' | 'POST', path: string, headers: Record<string, string> = {}, json?: unknown) => {
    const r = await request(`${s.url}${path}`, { method, dispatcher: agent, headers: { origin: s.url, 'sec-fetch-site': 'same-origin', ...(json !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers, text, json: text && String(r.headers['content-type']).includes('json') ? (JSON.parse(text) as Record<string, unknown>) : null };
  };

  it('the page offers Kerberos sign-in when it is configured', async () => {
    const page = await http('GET', '/enroll/');
    expect(page.text).toMatch(/"kerberos":true/);
  });

  it('challenges with WWW-Authenticate: Negotiate, refuses garbage (audited), and opens a session for a valid ticket', async () => {
    const challenge = await http('POST', '/enroll/api/session/kerberos');
    expect(challenge.status).toBe(401);
    expect(challenge.headers['www-authenticate']).toBe('Negotiate');
    expect(challenge.headers['set-cookie']).toBeUndefined();

    const garbage = await http('POST', '/enroll/api/session/kerberos', { authorization: 'Negotiate Z2FyYmFnZQ==' });
    expect(garbage.status).toBe(401);
    const failures = (await s.core.audit.list({ type: 'auth.failure', limit: 50 })).filter((e) => e.method === 'kerberos');
    expect(failures.some((e) => e.details?.channel === 'enroll')).toBe(true);

    const ok = await http('POST', '/enroll/api/session/kerberos', { authorization: `Negotiate ${await token()}` });
    expect(ok.status, ok.text).toBe(200);
    expect(String(ok.headers['www-authenticate'])).toMatch(/^Negotiate \S+/);
    expect(ok.json).toMatchObject({ principal: { name: 'alice@OPENCES.TEST', method: 'kerberos' } });
    const cookie = String(ok.headers['set-cookie']).split(';')[0]!;
    const csrf = String(ok.json!.csrf);

    // The session enrolls as the Kerberos principal: a User certificate named from the identity.
    const csr = makeCsr({ subject: 'CN=someone-else' });
    const r = await http('POST', '/enroll/api/requests', { cookie, 'x-csrf-token': csrf }, { template: 'User', csr: csr.csrPem });
    expect(r.json).toMatchObject({ status: 'issued' });
    const row = (await s.core.db.query<{ requester: string; auth_method: string }>('SELECT requester, auth_method FROM requests WHERE id = $1', [String(r.json!.requestId)])).rows[0];
    expect(row).toEqual({ requester: 'alice@OPENCES.TEST', auth_method: 'kerberos' });
    const start = (await s.core.audit.list({ type: 'web.session.start', limit: 10 })).find((e) => e.principal === 'alice@OPENCES.TEST');
    expect(start).toMatchObject({ method: 'kerberos', details: expect.objectContaining({ channel: 'enroll' }) });
  });
});
