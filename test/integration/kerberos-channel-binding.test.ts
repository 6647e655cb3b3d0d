import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate, createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startKdc, type Kdc } from '../helpers/kdc.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/wait.js';
import { cepPath } from '../../src/http/endpoints.js';
import { buildGetPoliciesRequest } from '../../src/protocol/xcep/index.js';
import { createKerberosAuthenticator } from '../../src/auth/kerberos.js';
import { tokenEnctypes } from '../../src/auth/channel-binding.js';

/**
 * A Negotiate token from python3-gssapi (MIT GSSAPI, the library cepces' requests-gssapi uses),
 * with channel bindings `application data` (hex) or none. `mech`: bare Kerberos or SPNEGO, as
 * Windows sends it.
 */
function gssToken(kdc: Kdc, ccache: string, appData: Buffer | null, mech: 'krb5' | 'spnego' = 'krb5', host = 'localhost'): string {
  const py = [
    'import base64, sys, gssapi',
    'from gssapi.raw import ChannelBindings',
    'app = bytes.fromhex(sys.argv[1]) if sys.argv[1] else None',
    "mech = gssapi.MechType.kerberos if sys.argv[2] == 'krb5' else gssapi.OID.from_int_seq('1.3.6.1.5.5.2')",
    "name = gssapi.Name('HTTP@' + sys.argv[3], gssapi.NameType.hostbased_service)",
    "ctx = gssapi.SecurityContext(name=name, usage='initiate', mech=mech, flags=[gssapi.RequirementFlag.mutual_authentication], channel_bindings=ChannelBindings(application_data=app) if app is not None else None)",
    'print(base64.b64encode(ctx.step()).decode())',
  ].join('\n');
  const r = spawnSync('/usr/bin/python3', ['-c', py, appData ? appData.toString('hex') : '', mech, host], { env: { ...process.env, ...kdc.env, KRB5CCNAME: `FILE:${ccache}` }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3-gssapi: ${r.stderr}`);
  return r.stdout.trim();
}

/** RFC 5929 tls-server-end-point application data for a certificate signed with SHA-256. */
const endPoint = (der: Buffer): Buffer => Buffer.concat([Buffer.from('tls-server-end-point:'), createHash('sha256').update(der).digest()]);

describe('Kerberos channel binding (Extended Protection) with a real KDC and python3-gssapi', () => {
  let kdc: Kdc;
  let s: TestServer;
  let agent: Agent;
  let keytab: string;
  let ccache: string;
  let ours: Buffer;
  let other: Buffer;

  beforeAll(async () => {
    // RC4 (still found in Active Directory) is off by default in MIT 1.20: allowed here, for its test.
    kdc = await startKdc({ libdefaults: { allow_rc4: 'true', permitted_enctypes: 'DEFAULT arcfour-hmac', default_tgs_enctypes: 'DEFAULT arcfour-hmac', default_tkt_enctypes: 'DEFAULT arcfour-hmac' } });
    kdc.addUser('alice', 'Al1ce-pass');
    keytab = kdc.addService('HTTP/localhost');
    process.env.KRB5_CONFIG = kdc.env.KRB5_CONFIG;
    ccache = kdc.kinit('alice', 'Al1ce-pass');
    // Default channelBinding: when-present.
    s = await startTestServer({ config: { 'auth.kerberos': { keytab, servicePrincipal: 'HTTP@localhost', groups: {} } } });
    agent = new Agent({ connect: { ca: s.rootPem } });
    const served = readFileSync(join(s.dataDir, 'certs', 'tls.crt'), 'utf8');
    ours = Buffer.from(new X509Certificate(served).raw);
    // A man in the middle's certificate: any other one (here our root's).
    other = Buffer.from(new X509Certificate(s.rootPem).raw);
  }, 120_000);
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
    await kdc?.stop();
  });

  const getPolicies = async (token: string) => {
    const url = `${s.url}${cepPath('Kerberos')}`;
    const r = await request(url, { method: 'POST', body: buildGetPoliciesRequest({ to: url }), dispatcher: agent, headers: { 'content-type': 'application/soap+xml; charset=utf-8', authorization: `Negotiate ${token}` } });
    await r.body.text();
    return r.statusCode;
  };

  it('accepts a token bound to this TLS connection (bare Kerberos and SPNEGO)', async () => {
    expect(await getPolicies(gssToken(kdc, ccache, endPoint(ours)))).toBe(200);
    expect(await getPolicies(gssToken(kdc, ccache, endPoint(ours), 'spnego'))).toBe(200);
  });

  it('refuses a token bound to another TLS connection, and audits why', async () => {
    expect(await getPolicies(gssToken(kdc, ccache, endPoint(other)))).toBe(401);
    expect(await getPolicies(gssToken(kdc, ccache, endPoint(other), 'spnego'))).toBe(401);
    // Bindings of another kind altogether (not tls-server-end-point) are no better.
    expect(await getPolicies(gssToken(kdc, ccache, Buffer.from('tls-unique:0123456789abcdef')))).toBe(401);
    const audited = async () => (await s.core.audit.list({ type: 'auth.failure' })).map((e) => e.reason ?? '').join('\n');
    await until(5_000, async () => (await audited()).includes('made for another TLS connection'));
    expect(await audited()).toContain('made for another TLS connection');
  });

  it('accepts a token without bindings when the setting is when-present (the default)', async () => {
    expect(await getPolicies(gssToken(kdc, ccache, null))).toBe(200);
  });

  it('required refuses a token without bindings and accepts a bound one; off accepts even wrong ones', async () => {
    const header = (t: string) => `Negotiate ${t}`;
    const required = await createKerberosAuthenticator({ keytab, servicePrincipal: 'HTTP@localhost', groupMapping: {}, channelBinding: 'required' });
    await expect(required.authenticate(header(gssToken(kdc, ccache, null)), { tlsCertificate: ours })).rejects.toMatchObject({ kind: 'unauthenticated', message: expect.stringContaining('carries no channel bindings') });
    await expect(required.authenticate(header(gssToken(kdc, ccache, endPoint(other))), { tlsCertificate: ours })).rejects.toMatchObject({ kind: 'unauthenticated' });
    expect((await required.authenticate(header(gssToken(kdc, ccache, endPoint(ours))), { tlsCertificate: ours })).principal.name).toBe('alice@OPENCES.TEST');
    const off = await createKerberosAuthenticator({ keytab, servicePrincipal: 'HTTP@localhost', groupMapping: {}, channelBinding: 'off' });
    expect((await off.authenticate(header(gssToken(kdc, ccache, endPoint(other))), { tlsCertificate: ours })).principal.name).toBe('alice@OPENCES.TEST');
  });

  // The service's key type decides the ticket's and (with MIT's KDC) the session key's: each one
  // the bindings are read through, added to the keytab the server already uses.
  it.each([
    ['aes256-cts-hmac-sha1-96', 18],
    ['aes128-cts-hmac-sha1-96', 17],
    ['aes128-cts-hmac-sha256-128', 19],
    ['aes256-cts-hmac-sha384-192', 20],
    ['arcfour-hmac', 23],
  ])('reads the bindings of a ticket and session key of %s', async (enctype, etype) => {
    const host = `${enctype.replace(/[^a-z0-9]/g, '')}.opences.test`;
    kdc.addService(`HTTP/${host}`, { keytab, enctypes: [enctype] });
    const auth = await createKerberosAuthenticator({ keytab, servicePrincipal: `HTTP@${host}`, groupMapping: {}, channelBinding: 'required' });
    const good = gssToken(kdc, ccache, endPoint(ours), 'spnego', host);
    expect(tokenEnctypes(Buffer.from(good, 'base64'))).toEqual({ ticket: etype, authenticator: etype });
    expect((await auth.authenticate(`Negotiate ${good}`, { tlsCertificate: ours })).principal.name).toBe('alice@OPENCES.TEST');
    await expect(auth.authenticate(`Negotiate ${gssToken(kdc, ccache, endPoint(other), 'krb5', host)}`, { tlsCertificate: ours })).rejects.toMatchObject({ message: expect.stringContaining('made for another TLS connection') });
  });
});
