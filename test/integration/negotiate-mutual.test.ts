import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startKdc, type Kdc } from '../helpers/kdc.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { openssl, tmp } from '../helpers/openssl.js';
import { runCli } from '../helpers/cli.js';
import { text } from '../../src/protocol/soap/xml.js';
import { cepPath } from '../../src/http/endpoints.js';
import { SoapTransport } from '../../src/client/transport.js';
import { EnrollmentClient } from '../../src/client/enrollment-client.js';
import { NegotiateExchange } from '../../src/auth/negotiate-client.js';
import { loadKerberosBinding } from '../../src/auth/negotiate.js';
import { OpencesError } from '../../src/errors.js';

/** What a successful SOAP answer looks like to the transport; a fault, so that using it would show. */
const FAULT_BODY =
  '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code>' +
  '<s:Reason><s:Text xml:lang="en-US">body from an impostor</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>';
const OK_BODY = '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><Marker xmlns="urn:test">from the server</Marker></s:Body></s:Envelope>';

/**
 * The requester's half of Kerberos mutual authentication: the server's `WWW-Authenticate:
 * Negotiate <token>` is fed back into the request's GSSAPI context, and a token that does not
 * complete it makes the request fail unread.
 */
describe('Kerberos mutual authentication on the requester side (real MIT KDC)', { timeout: 180_000 }, () => {
  let kdc: Kdc;
  let s: TestServer;
  let impostor: Server;
  let impostorUrl: string;
  /** What the impostor answers: a WWW-Authenticate value (or none) and a body. */
  let reply: { header?: string; body: string } = { body: OK_BODY };
  let aliceEnv: Record<string, string>;
  const env = { ...process.env };
  const dir = tmp('opences-mutual-');

  beforeAll(async () => {
    kdc = await startKdc();
    kdc.addUser('alice', 'Al1ce-pass');
    kdc.addService('HTTP/otherhost');
    const keytab = kdc.addService('HTTP/localhost');
    // The acceptor keytab is process-wide (KRB5_KTNAME): HTTP/otherhost goes into the server's
    // keytab too, so this process can also act as "another service" and make its tokens.
    kdc.run('/usr/sbin/kadmin.local', ['-r', kdc.realm, '-q', `ktadd -k ${keytab} -norandkey HTTP/otherhost`]);
    process.env.KRB5_CONFIG = kdc.env.KRB5_CONFIG;
    const ccache = `FILE:${kdc.kinit('alice', 'Al1ce-pass', join(dir, 'alice.ccache'))}`;
    process.env.KRB5CCNAME = ccache;
    aliceEnv = { KRB5_CONFIG: kdc.env.KRB5_CONFIG, KRB5CCNAME: ccache };
    s = await startTestServer({ config: { 'auth.kerberos': { keytab, servicePrincipal: 'HTTP@localhost' } } });

    // A second HTTPS server on loopback, for the same host name (so the client asks for
    // HTTP@localhost), that does not hold the key and answers whatever `reply` says.
    const key = join(dir, 'impostor.key');
    const crt = join(dir, 'impostor.crt');
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-days', '1', '-keyout', key, '-out', crt]);
    impostor = createServer({ key: readFileSync(key), cert: readFileSync(crt) }, (req, res) => {
      req.resume();
      req.on('end', () => {
        if (!req.headers.authorization?.startsWith('Negotiate ')) {
          res.writeHead(401, { 'www-authenticate': 'Negotiate' }).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/soap+xml; charset=utf-8', ...(reply.header !== undefined ? { 'www-authenticate': reply.header } : {}) });
        res.end(reply.body);
      });
    });
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r));
    impostorUrl = `https://localhost:${(impostor.address() as AddressInfo).port}${cepPath('Kerberos')}`;
    impostorCa = readFileSync(crt, 'utf8');
  });
  let impostorCa: string;
  afterAll(async () => {
    await new Promise((r) => impostor?.close(r));
    await s?.stop();
    await kdc?.stop();
    process.env = env;
  });

  const cep = () => `${s.url}${cepPath('Kerberos')}`;

  it('the server\'s token completes the request\'s GSSAPI context', async () => {
    const exchange = await NegotiateExchange.start('HTTP@localhost');
    expect(exchange.contextComplete).toBe(false);
    const agent = new Agent({ connect: { ca: s.rootPem } });
    try {
      const r = await request(cep(), { method: 'POST', dispatcher: agent, body: '', headers: { 'content-type': 'application/soap+xml; charset=utf-8', authorization: exchange.authorization } });
      await r.body.dump();
      expect(r.headers['www-authenticate']).toMatch(/^Negotiate [A-Za-z0-9+/]+=*$/);
      expect(await exchange.verifyResponse(r.headers['www-authenticate'])).toBe('verified');
      expect(exchange.contextComplete).toBe(true);
    } finally {
      await agent.close();
    }
  });

  it('GetPolicies through the transport still works, and each request is mutually authenticated', async () => {
    const lines: string[] = [];
    const t = new SoapTransport({ auth: { kind: 'kerberos' }, caBundlePem: s.rootPem, debug: (m) => lines.push(m) });
    try {
      const { templates } = await new EnrollmentClient(t).getPolicies(cep());
      expect(templates.map((x) => x.name)).toContain('User');
      await new EnrollmentClient(t).getPolicies(cep());
    } finally {
      await t.close();
    }
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/the server proved it holds the HTTP@localhost key \(mutual authentication complete\)/);
  });

  it('opences req enroll --kerberos: both requests verified (NODE_DEBUG=opences)', async () => {
    const r = await runCli(['req', 'enroll', '--kerberos', '--url', cep(), '--ca-bundle', join(s.dataDir, 'certs/root_ca.crt'), '--template', 'User', '--key-out', join(dir, 'a.key'), '--cert-out', join(dir, 'a.crt')], { env: { ...aliceEnv, NODE_DEBUG: 'opences' } });
    expect(r.code, r.err).toBe(0);
    expect(r.err.match(/mutual authentication complete/g)).toHaveLength(2);
  });

  /** Posts to the impostor through the real transport; returns what it threw (or the envelope). */
  const viaImpostor = async (header: string | undefined, body = FAULT_BODY): Promise<{ error?: unknown; lines: string[]; bodyText?: string }> => {
    reply = { ...(header !== undefined ? { header } : {}), body };
    const lines: string[] = [];
    const t = new SoapTransport({ auth: { kind: 'kerberos' }, caBundlePem: impostorCa, debug: (m) => lines.push(m) });
    try {
      const env = await t.post(impostorUrl, OK_BODY);
      return { lines, bodyText: text(env.operation) ?? '' };
    } catch (e) {
      return { error: e, lines };
    } finally {
      await t.close();
    }
  };
  const expectRefused = (r: { error?: unknown; lines: string[] }, why: RegExp): void => {
    expect(r.error).toBeInstanceOf(OpencesError);
    const e = r.error as OpencesError;
    expect(e.kind).toBe('unauthenticated');
    expect(e.message).toMatch(/the server failed Kerberos mutual authentication for HTTP@localhost/);
    expect(e.message).toMatch(why);
    expect(e.message).toMatch(/its response was not used/);
    // The body (a SOAP fault) was never parsed: that would have been an EnrollmentDenied saying so.
    expect(e.message).not.toMatch(/impostor/);
  };

  it('refuses a response whose Negotiate token was made by another service (HTTP@otherhost)', async () => {
    const krb = await loadKerberosBinding();
    const other = await NegotiateExchange.start('HTTP@otherhost');
    const acceptor = await krb.initializeServer('HTTP@otherhost');
    await acceptor.step(other.token);
    expect(acceptor.contextComplete).toBe(true);
    expect(acceptor.response).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expectRefused(await viaImpostor(`Negotiate ${acceptor.response}`), /GSSAPI rejected its token/);
  });

  it('refuses the real server\'s token replayed from another request', async () => {
    const first = await NegotiateExchange.start('HTTP@localhost');
    const agent = new Agent({ connect: { ca: s.rootPem } });
    let header: string;
    try {
      const r = await request(cep(), { method: 'POST', dispatcher: agent, body: '', headers: { authorization: first.authorization } });
      await r.body.dump();
      header = String(r.headers['www-authenticate']);
    } finally {
      await agent.close();
    }
    expectRefused(await viaImpostor(header), /GSSAPI rejected its token/);
  });

  it('refuses garbage: base64 that is no GSSAPI token, and a token that is not base64', async () => {
    expectRefused(await viaImpostor(`Negotiate ${Buffer.from('not a GSSAPI token at all').toString('base64')}`), /GSSAPI rejected its token/);
    expectRefused(await viaImpostor('Negotiate %%%not-base64%%%'), /not base64/);
  });

  it('accepts a successful response without a Negotiate token (a proxy may strip it), saying so in debug output only', async () => {
    const r = await viaImpostor(undefined, OK_BODY);
    expect(r.error).toBeUndefined();
    expect(r.bodyText).toContain('from the server');
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/no WWW-Authenticate: Negotiate token, so the server was not mutually authenticated/);
    // A bare "Negotiate" (no token) is the same case.
    const bare = await viaImpostor('Negotiate', OK_BODY);
    expect(bare.error).toBeUndefined();
    expect(bare.lines[0]).toMatch(/not mutually authenticated/);
  });
});
