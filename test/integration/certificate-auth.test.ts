import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, openssl, pemOf, tmp, writeTmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { fixedClock } from '../../src/clock.js';
import { CONNECTION_VERDICT_MS } from '../../src/auth/certificate.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { buildGetPoliciesRequest, parseGetPoliciesResponse } from '../../src/protocol/xcep/index.js';
import { buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';

describe('TLS client-certificate authentication on the _Certificate endpoints', () => {
  let s: TestServer;
  let alice: { certPem: string; keyPem: string; serial: string };
  beforeAll(async () => {
    s = await startTestServer();
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret', groups: ['staff'] }, 'test');
    // alice gets a User certificate (client authentication) through the username endpoint
    const csr = makeCsr({ key: 'ec:P-256', subject: 'CN=alice', templateName: 'User' });
    const agent = new Agent({ connect: { ca: s.rootPem } });
    const url = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const r = await postSoap(url, buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'alice', password: 'S3cret' }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
    const out = parseRstrResponse(r.env!);
    if (out.disposition !== 'issued') throw new Error(r.body);
    alice = { certPem: pemOf(out.certificateDer), keyPem: csr.keyPem, serial: openssl(['x509', '-noout', '-serial'], pemOf(out.certificateDer)).trim().split('=')[1]! };
    await agent.close();
  });
  afterAll(async () => s?.stop());

  const withCert = (certPem?: string, keyPem?: string) => new Agent({ connect: { ca: s.rootPem, ...(certPem ? { cert: certPem, key: keyPem } : {}) } });
  const cep = () => `${s.url}${cepPath('Certificate')}`;
  const ces = () => `${s.url}${cesPath('opences Issuing CA', 'Certificate')}`;

  it('lists policy and issues for the holder of a certificate we issued, as its account', async () => {
    const agent = withCert(alice.certPem, alice.keyPem);
    const pol = await postSoap(cep(), buildGetPoliciesRequest({ to: cep() }), agent);
    expect(pol.status, pol.body).toBe(200);
    expect(parseGetPoliciesResponse(pol.env!).policies!.map((p) => p.attributes.commonName)).toContain('WebServer');
    const csr = makeCsr({ subject: 'CN=svc.example.test', sans: ['DNS:svc.example.test'], templateName: 'WebServer' });
    const r = await postSoap(ces(), buildRstRequest({ to: ces(), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
    expect(r.status, r.body).toBe(200);
    const out = parseRstrResponse(r.env!);
    expect(out.disposition).toBe('issued');
    const row = (await s.core.db.query<{ requester: string; auth_method: string }>(`SELECT requester, auth_method FROM requests WHERE id = $1`, [out.requestId])).rows[0];
    expect(row).toEqual({ requester: 'alice', auth_method: 'certificate' });
    await agent.close();
  });

  it('refuses no certificate, a certificate from another CA, and a revoked certificate — each audited', async () => {
    const none = await postSoap(cep(), buildGetPoliciesRequest({ to: cep() }), withCert());
    expect(parseFault(none.env!)?.reason).toBe('authentication failed');

    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const d = tmp();
    const k = writeTmp(d, 'k.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    openssl(['req', '-x509', '-new', '-key', k, '-subj', '/CN=alice', '-days', '2', '-out', join(d, 'c.pem')]);
    const stranger = await postSoap(cep(), buildGetPoliciesRequest({ to: cep() }), withCert(readFileSync(join(d, 'c.pem'), 'utf8'), readFileSync(k, 'utf8')));
    expect(parseFault(stranger.env!)?.reason).toBe('authentication failed');

    await runOperation(s.core, 'cert.revoke', { serial: alice.serial, reason: 'keyCompromise' }, 'local:manager');
    const revoked = await postSoap(cep(), buildGetPoliciesRequest({ to: cep() }), withCert(alice.certPem, alice.keyPem));
    expect(parseFault(revoked.env!)?.reason).toBe('authentication failed');

    const reasons = (await s.core.audit.list({ type: 'auth.failure' })).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['no client certificate presented and no message signature', expect.stringMatching(/not issued by a trusted CA/), expect.stringMatching(/is revoked/)]));
  });
});

describe('a TLS connection keeps its accepted client certificate for CONNECTION_VERDICT_MS', () => {
  const clock = fixedClock(new Date());
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ clock });
    await runOperation(s.core, 'user.add', { name: 'carol', password: 'S3cret', groups: [] }, 'test');
  });
  afterAll(async () => s?.stop());

  const userCertificate = async (name: string): Promise<{ certPem: string; keyPem: string; serial: string }> => {
    const csr = makeCsr({ key: 'ec:P-256', subject: `CN=${name}`, templateName: 'User' });
    const agent = new Agent({ connect: { ca: s.rootPem } });
    const url = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const r = await postSoap(url, buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: name, password: 'S3cret', created: clock.now() }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
    await agent.close();
    const out = parseRstrResponse(r.env!);
    if (out.disposition !== 'issued') throw new Error(r.body);
    return { certPem: pemOf(out.certificateDer), keyPem: csr.keyPem, serial: openssl(['x509', '-noout', '-serial'], pemOf(out.certificateDer)).trim().split('=')[1]! };
  };

  it('checks it once per CONNECTION_VERDICT_MS, and a revocation here ends every kept verdict at once', async () => {
    const cep = `${s.url}${cepPath('Certificate')}`;
    const withCert = (c: { certPem: string; keyPem: string }) => new Agent({ connect: { ca: s.rootPem, cert: c.certPem, key: c.keyPem } });
    const [one, two] = [await userCertificate('carol'), await userCertificate('carol')];
    const policies = (agent: Agent) => postSoap(cep, buildGetPoliciesRequest({ to: cep }), agent);
    const a = withCert(one);
    const b = withCert(two);
    expect((await policies(a)).status).toBe(200);
    expect((await policies(b)).status).toBe(200);
    // Revoked behind the service's back (no invalidation): the open connection keeps its verdict
    // until CONNECTION_VERDICT_MS has passed (the documented bound); a new connection is checked.
    await s.core.db.query('UPDATE certificates SET revoked_at = now(), revocation_reason = 1 WHERE serial = $1', [one.serial.toLowerCase().replace(/^(00)+/, '')]);
    clock.advance(CONNECTION_VERDICT_MS - 1);
    expect((await policies(a)).status).toBe(200);
    const fresh = withCert(one);
    expect(parseFault((await policies(fresh)).env!)?.reason).toBe('authentication failed');
    clock.advance(2);
    expect(parseFault((await policies(a)).env!)?.reason).toBe('authentication failed');
    // Revoked through the service: kept verdicts end at once, on open connections too (b's was
    // just renewed, so only the revocation can end it).
    expect((await policies(b)).status).toBe(200);
    await runOperation(s.core, 'cert.revoke', { serial: two.serial, reason: 'keyCompromise' }, 'local:manager');
    expect(parseFault((await policies(b)).env!)?.reason).toBe('authentication failed');
    await Promise.all([a.close(), b.close(), fresh.close()]);
  });
});
