import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { Agent, request } from 'undici';
import { startKdc, type Kdc, loadKerberosClient, type KerberosClientModule } from '../helpers/kdc.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeCsr } from '../helpers/openssl.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { buildGetPoliciesRequest, parseGetPoliciesResponse } from '../../src/protocol/xcep/index.js';
import { buildRstRequest, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { parseEnvelope } from '../../src/protocol/soap/envelope.js';

describe('Kerberos (HTTP Negotiate) against a real MIT KDC', () => {
  let kdc: Kdc;
  let s: TestServer;
  let agent: Agent;
  let krb: KerberosClientModule;
  beforeAll(async () => {
    kdc = await startKdc();
    kdc.addUser('alice', 'Al1ce-pass');
    kdc.addService('HTTP/otherhost');
    const keytab = kdc.addService('HTTP/localhost');
    // GSSAPI reads these from the process environment (server and client share this process).
    process.env.KRB5_CONFIG = kdc.env.KRB5_CONFIG;
    process.env.KRB5CCNAME = `FILE:${kdc.kinit('alice', 'Al1ce-pass')}`;
    s = await startTestServer({ config: { 'auth.kerberos': { keytab, servicePrincipal: 'HTTP@localhost', groups: { 'alice@OPENCES.TEST': ['staff'] } } } });
    agent = new Agent({ connect: { ca: s.rootPem } });
    krb = await loadKerberosClient();
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
    await kdc?.stop();
  });

  const token = async (service = 'HTTP@localhost'): Promise<string> => (await krb.initializeClient(service, { mechOID: krb.GSS_MECH_OID_SPNEGO })).step('');
  const post = async (url: string, body: string, authorization?: string) => {
    const r = await request(url, { method: 'POST', body, dispatcher: agent, headers: { 'content-type': 'application/soap+xml; charset=utf-8', ...(authorization ? { authorization } : {}) } });
    return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
  };
  const cep = () => `${s.url}${cepPath('Kerberos')}`;

  it('answers GetPolicies for a real Negotiate token, with a mutual-authentication token back', async () => {
    const r = await post(cep(), buildGetPoliciesRequest({ to: cep() }), `Negotiate ${await token()}`);
    expect(r.status, r.body).toBe(200);
    expect(String(r.headers['www-authenticate'])).toMatch(/^Negotiate \S+/);
    const pol = parseGetPoliciesResponse(parseEnvelope(r.body, { maxBytes: 1 << 22 }));
    expect(pol.policies!.map((p) => p.attributes.commonName)).toContain('User');
    expect(pol.cAs![0]!.uris.some((u) => u.clientAuthentication === 2)).toBe(true);
  });

  it('issues a User certificate whose subject comes from alice\'s Kerberos identity', async () => {
    const ces = `${s.url}${cesPath('opences Issuing CA', 'Kerberos')}`;
    const csr = makeCsr({ subject: 'CN=someone-else', templateName: 'User' });
    const r = await post(ces, buildRstRequest({ to: ces, requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), `Negotiate ${await token()}`);
    expect(r.status, r.body).toBe(200);
    const out = parseRstrResponse(parseEnvelope(r.body, { maxBytes: 1 << 22 }));
    if (out.disposition !== 'issued') throw new Error('not issued');
    const cert = new X509Certificate(Buffer.from(out.certificateDer));
    expect(cert.subject).toBe('CN=alice');
    expect(cert.subjectAltName).toMatch(/alice@OPENCES\.TEST/);
  });

  it('challenges without a token, and refuses garbage, a token for another service, and a replay — 401 with WWW-Authenticate: Negotiate', async () => {
    const none = await post(cep(), buildGetPoliciesRequest({ to: cep() }));
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Negotiate');
    for (const bad of ['Negotiate Z2FyYmFnZQ==', `Negotiate ${await token('HTTP@otherhost')}`]) {
      const r = await post(cep(), buildGetPoliciesRequest({ to: cep() }), bad);
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Negotiate');
    }
    const t = await token();
    expect((await post(cep(), buildGetPoliciesRequest({ to: cep() }), `Negotiate ${t}`)).status).toBe(200);
    const replay = await post(cep(), buildGetPoliciesRequest({ to: cep() }), `Negotiate ${t}`);
    expect(replay.status).toBe(401);
    const ev = await s.core.audit.list({ type: 'auth.failure' });
    const kerberosFailures = ev.filter((e) => e.method === 'kerberos');
    expect(kerberosFailures.length).toBeGreaterThanOrEqual(3);
    // Each carries GSSAPI's own reason (the client only gets the challenge).
    expect(kerberosFailures.map((e) => e.reason)).toEqual(expect.arrayContaining([expect.stringMatching(/^the Kerberos token was refused: .*replay/i)]));
    expect(kerberosFailures.every((e) => /^the Kerberos token was refused: \S/.test(e.reason ?? ''))).toBe(true);
  });

  it('drains the body of a challenged request to keep the connection, but not one larger than any message', async () => {
    const small = await post(cep(), buildGetPoliciesRequest({ to: cep() }));
    expect(small.status).toBe(401);
    expect(small.headers.connection).not.toBe('close');
    // Twice maxBodyBytes: challenged, and the connection closed rather than the body read.
    const big = await post(cep(), 'x'.repeat(2 * s.config.maxBodyBytes));
    expect(big.status).toBe(401);
    expect(big.headers['www-authenticate']).toBe('Negotiate');
    expect(big.headers.connection).toBe('close');
  });
});
