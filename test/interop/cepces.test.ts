import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeCsr, opensslStatus, tmp, writeTmp } from '../helpers/openssl.js';
import { runCepces, cepcesSource, CERTMONGER } from './cepces.js';
import { runOperation } from '../../src/ops/operations.js';
import { startKdc } from '../helpers/kdc.js';

describe('cepces (openSUSE, certmonger helper) against opences', () => {
  let s: TestServer;
  const creds = { username: 'alice@example.test', password: 'S3cret-pass' };
  beforeAll(async () => {
    cepcesSource(); // fail loudly when the checkout is missing
    s = await startTestServer();
    await runOperation(s.core, 'user.add', { name: 'alice', password: creds.password, groups: ['staff'] }, 'test');
  });
  afterAll(async () => s?.stop());

  const base = () => ({ server: s.url, auth: 'UsernamePassword' as const, caBundle: join(s.dataDir, 'certs/root_ca.crt'), ...creds });

  it('lists our templates through the UsernamePassword CEP endpoint (GET-SUPPORTED-TEMPLATES)', async () => {
    const r = await runCepces({ ...base(), operation: 'GET-SUPPORTED-TEMPLATES' });
    expect(r.exitCode, r.stderr).toBe(CERTMONGER.ISSUED);
    expect(r.stdout.split('\n').map((l) => l.trim()).filter(Boolean).sort()).toEqual(['Machine', 'User', 'WebServer', 'WebServerApproval']);
  });

  it('enrolls for WebServer (SUBMIT) and openssl verifies the certificate', async () => {
    const csr = makeCsr({ key: 'rsa:2048', subject: 'CN=cepces.example.test', sans: ['DNS:cepces.example.test'], templateName: 'WebServer' });
    const r = await runCepces({ ...base(), operation: 'SUBMIT', csrPem: csr.csrPem });
    expect(r.exitCode, r.stdout + r.stderr).toBe(CERTMONGER.ISSUED);
    const d = tmp();
    const leaf = writeTmp(d, 'leaf.pem', r.stdout);
    const v = opensslStatus(['verify', '-CAfile', join(s.dataDir, 'certs/root_ca.crt'), '-untrusted', join(s.dataDir, 'certs/issuing_ca.crt'), leaf]);
    expect(v.out).toContain('OK');
    expect(v.code).toBe(0);
  });

  it('gets a cookie for WebServerApproval, and POLL returns the certificate after approval', async () => {
    const csr = makeCsr({ key: 'ec:P-256', subject: 'CN=approve.example.test', sans: ['DNS:approve.example.test'], templateName: 'WebServerApproval' });
    const r = await runCepces({ ...base(), operation: 'SUBMIT', csrPem: csr.csrPem });
    expect(r.exitCode, r.stdout + r.stderr).toBe(CERTMONGER.WAITMORE);
    const cookie = r.stdout.trim().split('\n')[1]!;
    const [requestId, reference] = cookie.split(',');
    expect(reference).toContain('_CES_UsernamePassword/service.svc/CES');
    const again = await runCepces({ ...base(), operation: 'POLL', cookie });
    expect(again.exitCode, again.stderr).toBe(CERTMONGER.WAITMORE);
    await runOperation(s.core, 'request.approve', { id: requestId }, 'local:manager');
    const done = await runCepces({ ...base(), operation: 'POLL', cookie });
    expect(done.exitCode, done.stderr).toBe(CERTMONGER.ISSUED);
    const leaf = writeTmp(tmp(), 'leaf.pem', done.stdout);
    expect(opensslStatus(['verify', '-CAfile', join(s.dataDir, 'certs/root_ca.crt'), '-untrusted', join(s.dataDir, 'certs/issuing_ca.crt'), leaf]).code).toBe(0);
  });

  it('enrolls with a TLS client certificate (auth=Certificate) issued to alice earlier', async () => {
    const userCsr = makeCsr({ key: 'rsa:2048', subject: 'CN=alice', templateName: 'User' });
    const got = await runCepces({ ...base(), operation: 'SUBMIT', csrPem: userCsr.csrPem });
    expect(got.exitCode, got.stdout + got.stderr).toBe(CERTMONGER.ISSUED);
    const d = tmp();
    const certFile = writeTmp(d, 'alice.crt', got.stdout);
    const keyFile = writeTmp(d, 'alice.key', userCsr.keyPem);
    const cert = { server: s.url, auth: 'Certificate' as const, caBundle: join(s.dataDir, 'certs/root_ca.crt'), certFile, keyFile };
    const list = await runCepces({ ...cert, operation: 'GET-SUPPORTED-TEMPLATES' });
    expect(list.exitCode, list.stdout + list.stderr).toBe(CERTMONGER.ISSUED);
    expect(list.stdout).toContain('WebServer');
    const csr = makeCsr({ key: 'ec:P-256', subject: 'CN=tlsauth.example.test', sans: ['DNS:tlsauth.example.test'], templateName: 'WebServer' });
    const r = await runCepces({ ...cert, operation: 'SUBMIT', csrPem: csr.csrPem });
    expect(r.exitCode, r.stdout + r.stderr).toBe(CERTMONGER.ISSUED);
    expect(opensslStatus(['verify', '-CAfile', join(s.dataDir, 'certs/root_ca.crt'), '-untrusted', join(s.dataDir, 'certs/issuing_ca.crt'), writeTmp(d, 'leaf.pem', r.stdout)]).code).toBe(0);
  });

  it('enrolls with Kerberos (auth=Kerberos, HTTP Negotiate) against a throwaway MIT realm, its tokens bound to the TLS connection (channelBinding: required)', async () => {
    const kdc = await startKdc();
    try {
      const serviceKeytab = kdc.addService('HTTP/localhost');
      const clientKeytab = kdc.addService('svc-web'); // a client principal with its keys in a keytab, as a host would have
      process.env.KRB5_CONFIG = kdc.env.KRB5_CONFIG;
      // required: only a token carrying this connection's tls-server-end-point bindings passes, as cepces >= 0.3.17 sends them.
      const k = await startTestServer({ config: { 'auth.kerberos': { keytab: serviceKeytab, servicePrincipal: 'HTTP@localhost', groups: {}, channelBinding: 'required' } } });
      try {
        const krb = { server: k.url, auth: 'Kerberos' as const, caBundle: join(k.dataDir, 'certs/root_ca.crt'), kerberos: { keytab: clientKeytab, principal: 'svc-web', realm: kdc.realm }, env: { KRB5_CONFIG: kdc.env.KRB5_CONFIG } };
        const list = await runCepces({ ...krb, operation: 'GET-SUPPORTED-TEMPLATES' });
        expect(list.exitCode, list.stdout + list.stderr).toBe(CERTMONGER.ISSUED);
        expect(list.stdout).toContain('WebServer');
        const csr = makeCsr({ key: 'ec:P-256', subject: 'CN=krb.example.test', sans: ['DNS:krb.example.test'], templateName: 'WebServer' });
        const r = await runCepces({ ...krb, operation: 'SUBMIT', csrPem: csr.csrPem });
        expect(r.exitCode, r.stdout + r.stderr).toBe(CERTMONGER.ISSUED);
        expect(opensslStatus(['verify', '-CAfile', join(k.dataDir, 'certs/root_ca.crt'), '-untrusted', join(k.dataDir, 'certs/issuing_ca.crt'), writeTmp(tmp(), 'leaf.pem', r.stdout)]).code).toBe(0);
      } finally {
        await k.stop();
      }
    } finally {
      await kdc.stop();
    }
  });

  it('reads a policy with a schema-3 (CNG) template, lists it, and enrolls a P-256 key for it', async () => {
    await runOperation(s.core, 'template.enable', { name: 'WebServerECDSA' }, 'test');
    try {
      const list = await runCepces({ ...base(), operation: 'GET-SUPPORTED-TEMPLATES' });
      expect(list.exitCode, list.stderr).toBe(CERTMONGER.ISSUED);
      expect(list.stdout.split('\n').map((l) => l.trim()).filter(Boolean).sort()).toEqual(['Machine', 'User', 'WebServer', 'WebServerApproval', 'WebServerECDSA']);
      const csr = makeCsr({ key: 'ec:P-256', subject: 'CN=cng.example.test', sans: ['DNS:cng.example.test'], templateName: 'WebServerECDSA' });
      const r = await runCepces({ ...base(), operation: 'SUBMIT', csrPem: csr.csrPem });
      expect(r.exitCode, r.stdout + r.stderr).toBe(CERTMONGER.ISSUED);
      expect(opensslStatus(['verify', '-CAfile', join(s.dataDir, 'certs/root_ca.crt'), '-untrusted', join(s.dataDir, 'certs/issuing_ca.crt'), writeTmp(tmp(), 'leaf.pem', r.stdout)]).code).toBe(0);
    } finally {
      await runOperation(s.core, 'template.disable', { name: 'WebServerECDSA' }, 'test');
    }
  });

  it('is rejected with a wrong password', async () => {
    const r = await runCepces({ ...base(), password: 'wrong', operation: 'GET-SUPPORTED-TEMPLATES' });
    expect(r.exitCode).not.toBe(CERTMONGER.ISSUED);
  });
});
