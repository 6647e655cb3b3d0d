import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startKdc, type Kdc, loadKerberosClient, type KerberosClientModule } from '../helpers/kdc.js';
import { postSoap } from '../helpers/soap-client.js';
import { signedRst } from '../helpers/wssec-sign.js';
import { makeCsr, openssl, pemOf, tmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { buildGetPoliciesRequest, parseGetPoliciesResponse } from '../../src/protocol/xcep/index.js';
import { buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { parseEnvelope } from '../../src/protocol/soap/envelope.js';
import { listTemplates } from '../../src/store/template-repo.js';
import { templatesToYaml } from '../../src/policy/template-yaml.js';

/**
 * Certificates of our CA authenticate as the principal recorded when they were issued (issue #17
 * item 2), on a real server in PostgreSQL mode: a partner's user keeps the partner's template scope
 * and is refused once the partner is suspended or removed; a Kerberos user stays a Kerberos user,
 * never the same-named local account.
 */

/** A partner's own PKI (openssl): root → issuing → a client certificate naming the user by e-mail. */
function partnerPki(dir: string, org: string, user: string): { rootPem: string; chainPem: string; certPem: string; keyPem: string } {
  const f = (n: string): string => join(dir, n);
  writeFileSync(f('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  writeFileSync(f('leaf.ext'), `basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\nsubjectAltName=email:${user}@${org}.test\n`);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('root.key'), '-out', f('root.pem'), '-subj', `/CN=${org} Root`, '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('int.key'), '-out', f('int.csr'), '-subj', `/CN=${org} Issuing`]);
  openssl(['x509', '-req', '-in', f('int.csr'), '-CA', f('root.pem'), '-CAkey', f('root.key'), '-CAcreateserial', '-out', f('int.pem'), '-days', '30', '-extfile', f('ca.ext')]);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', `/CN=${user}`]);
  openssl(['x509', '-req', '-in', f('leaf.csr'), '-CA', f('int.pem'), '-CAkey', f('int.key'), '-CAcreateserial', '-out', f('leaf.pem'), '-days', '10', '-extfile', f('leaf.ext')]);
  return { rootPem: readFileSync(f('root.pem'), 'utf8'), chainPem: readFileSync(f('int.pem'), 'utf8'), certPem: readFileSync(f('leaf.pem'), 'utf8'), keyPem: readFileSync(f('leaf.key'), 'utf8') };
}

const serialOf = (certPem: string): string => openssl(['x509', '-noout', '-serial'], certPem).trim().split('=')[1]!.toLowerCase().replace(/^(00)+/, '');

describe('a partner user with a certificate of our CA keeps the partner’s bounds', () => {
  let s: TestServer;
  const acme = partnerPki(tmp('acme-'), 'acme', 'svc1');
  const agents: Agent[] = [];
  let ours: { certPem: string; certDer: Uint8Array; keyPem: string; requestId: string };
  beforeAll(async () => {
    s = await startTestServer();
    // acme may use User only
    await runOperation(s.core, 'partner.add', { name: 'acme', rootsPem: acme.rootPem, mapFrom: 'email', templates: ['User'] }, 'test');
    const agent = as({ certPem: acme.certPem + acme.chainPem, keyPem: acme.keyPem });
    const csr = makeCsr({ key: 'rsa:2048', subject: 'CN=svc1', templateName: 'User' }); // RSA: it also signs WS-Security messages
    const r = await postSoap(ces(), buildRstRequest({ to: ces(), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
    const out = parseRstrResponse(r.env!);
    if (out.disposition !== 'issued') throw new Error(r.body);
    ours = { certPem: pemOf(out.certificateDer), certDer: out.certificateDer, keyPem: csr.keyPem, requestId: out.requestId! };
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.close()));
    await s?.stop();
  });

  function as(id: { certPem: string; keyPem: string }): Agent {
    const a = new Agent({ connect: { ca: s.rootPem, cert: id.certPem, key: id.keyPem } });
    agents.push(a);
    return a;
  }
  const plain = (): Agent => {
    const a = new Agent({ connect: { ca: s.rootPem } });
    agents.push(a);
    return a;
  };
  const cep = () => `${s.url}${cepPath('Certificate')}`;
  const ces = () => `${s.url}${cesPath('opences Issuing CA', 'Certificate')}`;
  const policies = async (id: { certPem: string; keyPem: string }) => {
    const r = await postSoap(cep(), buildGetPoliciesRequest({ to: cep() }), as(id));
    const f = parseFault(r.env!);
    return f ? f.reason : parseGetPoliciesResponse(r.env!).policies!.map((p) => p.attributes.commonName).sort();
  };

  it('sees only the partner’s templates with our certificate, and cannot obtain a WebServer certificate for another name', async () => {
    expect(await policies(ours)).toEqual(['User']);
    const csr = makeCsr({ subject: 'CN=www.victim.example', sans: ['DNS:www.victim.example'], templateName: 'WebServer' });
    const r = await postSoap(ces(), buildRstRequest({ to: ces(), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), as(ours));
    expect(parseFault(r.env!)?.reason, r.body).toMatch(/partner:acme\/svc1@acme.test does not have permission to enroll for the template WebServer/);
    // the same with a WS-Security X.509 message signature instead of TLS
    const signed = await postSoap(ces(), signedRst({ to: ces(), certDer: ours.certDer, keyPem: ours.keyPem, tokenB64: Buffer.from(csr.csrDer).toString('base64') }), plain());
    expect(parseFault(signed.env!)?.reason, signed.body).toMatch(/partner:acme\/svc1@acme.test does not have permission to enroll for the template WebServer/);
    expect((await s.core.db.query(`SELECT 1 FROM certificates WHERE subject ILIKE '%victim%'`)).rowCount).toBe(0);
    const row = (await s.core.db.query<{ requester: string; requester_kind: string; requester_key: string }>('SELECT requester, requester_kind, requester_key FROM requests WHERE id = $1', [ours.requestId])).rows[0];
    expect(row).toEqual({ requester: 'partner:acme/svc1@acme.test', requester_kind: 'partner', requester_key: 'partner:acme/svc1@acme.test' });
  });

  it('suspending the partner refuses our certificate too; resuming lets it in again', async () => {
    await runOperation(s.core, 'partner.suspend', { name: 'acme' }, 'test');
    expect(await policies(ours)).toBe('authentication failed');
    expect(await policies({ certPem: acme.certPem + acme.chainPem, keyPem: acme.keyPem })).toBe('authentication failed');
    const why = (await s.core.audit.list({ type: 'auth.failure', limit: 5 })).map((e) => e.reason);
    expect(why).toEqual(expect.arrayContaining([expect.stringMatching(/its owner's partner acme is removed or suspended/)]));
    await runOperation(s.core, 'partner.resume', { name: 'acme' }, 'test');
    expect(await policies(ours)).toEqual(['User']);
  });

  it('removing the partner refuses our certificate; with revoke it is also revoked', async () => {
    const r = (await runOperation(s.core, 'partner.remove', { name: 'acme', revoke: true }, 'test')) as { revoked: string[] };
    expect(r.revoked).toEqual([serialOf(ours.certPem)]);
    expect(await policies(ours)).toBe('authentication failed');
    const row = (await s.core.db.query<{ revoked_at: Date | null; revocation_reason: number }>('SELECT revoked_at, revocation_reason FROM certificates WHERE serial = $1', [serialOf(ours.certPem)])).rows[0];
    expect(row?.revoked_at).not.toBeNull();
    expect(row?.revocation_reason).toBe(5); // cessationOfOperation
  });
});

describe('a Kerberos user’s certificate signs in as that Kerberos principal, never as the same-named local account', () => {
  let kdc: Kdc;
  let s: TestServer;
  let agent: Agent;
  let krb: KerberosClientModule;
  const agents: Agent[] = [];
  beforeAll(async () => {
    kdc = await startKdc();
    kdc.addUser('alice', 'Al1ce-krb');
    const keytab = kdc.addService('HTTP/localhost');
    process.env.KRB5_CONFIG = kdc.env.KRB5_CONFIG;
    process.env.KRB5CCNAME = `FILE:${kdc.kinit('alice', 'Al1ce-krb')}`;
    s = await startTestServer({ config: { 'auth.kerberos': { keytab, servicePrincipal: 'HTTP@localhost', groups: {} } } });
    agent = new Agent({ connect: { ca: s.rootPem } });
    krb = await loadKerberosClient();
    // The local account alice — someone else — is in staff, and only staff may use StaffWeb.
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'L0cal-alice', groups: ['staff'] }, 'test');
    const web = (await listTemplates(s.core.db)).find((t) => t.name === 'WebServer')!;
    const staffWeb = { ...structuredClone(web), name: 'StaffWeb', displayName: 'Staff web', oid: `${web.oid}.93`, permissions: [{ principal: 'group:staff', read: true, enroll: true, autoenroll: false }] };
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([staffWeb]) }, 'test');
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.close()));
    await agent?.close();
    await s?.stop();
    await kdc?.stop();
  });

  const negotiate = async (): Promise<string> => `Negotiate ${await (await krb.initializeClient('HTTP@localhost', { mechOID: krb.GSS_MECH_OID_SPNEGO })).step('')}`;
  const withCert = (certPem: string, keyPem: string): Agent => {
    const a = new Agent({ connect: { ca: s.rootPem, cert: certPem, key: keyPem } });
    agents.push(a);
    return a;
  };

  it('alice@OPENCES.TEST’s User certificate neither sees nor obtains what the local account alice may', async () => {
    const kces = `${s.url}${cesPath('opences Issuing CA', 'Kerberos')}`;
    const csr = makeCsr({ key: 'rsa:2048', subject: 'CN=alice', templateName: 'User' });
    const r = await request(kces, { method: 'POST', dispatcher: agent, body: buildRstRequest({ to: kces, requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), headers: { 'content-type': 'application/soap+xml; charset=utf-8', authorization: await negotiate() } });
    const body = await r.body.text();
    const out = parseRstrResponse(parseEnvelope(body, { maxBytes: 1 << 22 }));
    expect(out.disposition, body).toBe('issued');
    if (out.disposition !== 'issued') return;

    const mine = withCert(pemOf(out.certificateDer), csr.keyPem);
    const cep = `${s.url}${cepPath('Certificate')}`;
    const pol = await postSoap(cep, buildGetPoliciesRequest({ to: cep }), mine);
    expect(pol.status, pol.body).toBe(200);
    expect(parseGetPoliciesResponse(pol.env!).policies!.map((p) => p.attributes.commonName)).not.toContain('StaffWeb');

    const ces = `${s.url}${cesPath('opences Issuing CA', 'Certificate')}`;
    const staff = makeCsr({ subject: 'CN=staff.example.test', sans: ['DNS:staff.example.test'], templateName: 'StaffWeb' });
    const denied = await postSoap(ces, buildRstRequest({ to: ces, requestType: 'issue', token: { valueType: 'pkcs10', der: staff.csrDer } }), mine);
    expect(parseFault(denied.env!)?.reason, denied.body).toMatch(/alice@OPENCES.TEST does not have permission to enroll for the template StaffWeb/);
    // the same with a WS-Security X.509 message signature instead of TLS
    const signed = await postSoap(ces, signedRst({ to: ces, certDer: out.certificateDer, keyPem: csr.keyPem, tokenB64: Buffer.from(staff.csrDer).toString('base64') }), agent);
    expect(parseFault(signed.env!)?.reason, signed.body).toMatch(/alice@OPENCES.TEST does not have permission to enroll for the template StaffWeb/);

    // what it may do, it does as the Kerberos principal
    const web = makeCsr({ subject: 'CN=krb.example.test', sans: ['DNS:krb.example.test'], templateName: 'WebServer' });
    const ok = parseRstrResponse((await postSoap(ces, buildRstRequest({ to: ces, requestType: 'issue', token: { valueType: 'pkcs10', der: web.csrDer } }), mine)).env!);
    const rec = (await s.core.db.query<{ requester: string; requester_key: string }>('SELECT requester, requester_key FROM requests WHERE id = $1', [ok.requestId])).rows[0];
    expect(rec).toEqual({ requester: 'alice@OPENCES.TEST', requester_key: 'kerberos:alice@OPENCES.TEST' });
    const row = (await s.core.db.query<{ requester_kind: string; requester_key: string }>('SELECT requester_kind, requester_key FROM requests WHERE id = $1', [out.requestId])).rows[0];
    expect(row).toEqual({ requester_kind: 'kerberos', requester_key: 'kerberos:alice@OPENCES.TEST' });
  });

  it('where auth.accountRealms says the realm’s users are the local accounts, alice@OPENCES.TEST is the account alice: her certificate brings the account’s groups, and a token for her cannot approve the account’s request', async () => {
    const keytab = kdc.addService('HTTP/localhost');
    const same = await startTestServer({ config: { 'auth.kerberos': { keytab, servicePrincipal: 'HTTP@localhost', groups: {} }, 'auth.accountRealms': ['OPENCES.TEST'] } });
    try {
      const plain = new Agent({ connect: { ca: same.rootPem } });
      agents.push(plain);
      await runOperation(same.core, 'user.add', { name: 'alice', password: 'L0cal-alice', groups: ['staff'] }, 'test');
      const web = (await listTemplates(same.core.db)).find((t) => t.name === 'WebServer')!;
      await runOperation(same.core, 'template.import', { yaml: templatesToYaml([{ ...structuredClone(web), name: 'StaffWeb', displayName: 'Staff web', oid: `${web.oid}.93`, permissions: [{ principal: 'group:staff', read: true, enroll: true, autoenroll: false }] }]) }, 'test');
      const kces = `${same.url}${cesPath('opences Issuing CA', 'Kerberos')}`;
      const csr = makeCsr({ key: 'ec:P-256', subject: 'CN=alice', templateName: 'User' });
      const r = await request(kces, { method: 'POST', dispatcher: plain, body: buildRstRequest({ to: kces, requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), headers: { 'content-type': 'application/soap+xml; charset=utf-8', authorization: await negotiate() } });
      const body = await r.body.text();
      const out = parseRstrResponse(parseEnvelope(body, { maxBytes: 1 << 22 }));
      expect(out.disposition, body).toBe('issued');
      if (out.disposition !== 'issued') return;
      const row = (await same.core.db.query<{ requester_kind: string; requester_key: string }>('SELECT requester_kind, requester_key FROM requests WHERE id = $1', [out.requestId])).rows[0];
      expect(row).toEqual({ requester_kind: 'account', requester_key: 'account:alice' });
      const mine = new Agent({ connect: { ca: same.rootPem, cert: pemOf(out.certificateDer), key: csr.keyPem } });
      agents.push(mine);
      const cep = `${same.url}${cepPath('Certificate')}`;
      const pol = await postSoap(cep, buildGetPoliciesRequest({ to: cep }), mine);
      expect(parseGetPoliciesResponse(pol.env!).policies!.map((p) => p.attributes.commonName)).toContain('StaffWeb');

      const ces = `${same.url}${cesPath('opences Issuing CA', 'Certificate')}`;
      const pend = makeCsr({ subject: 'CN=pend.example.test', sans: ['DNS:pend.example.test'], templateName: 'WebServerApproval' });
      const pending = parseRstrResponse((await postSoap(ces, buildRstRequest({ to: ces, requestType: 'issue', token: { valueType: 'pkcs10', der: pend.csrDer } }), mine)).env!);
      expect(pending.disposition).toBe('pending');
      const t = (await runOperation(same.core, 'token.create', { role: 'cert-manager', principal: 'alice@opences.test' }, 'test')) as { principal: string; kind: string };
      expect(t).toMatchObject({ principal: 'alice', kind: 'account' });
      await expect(runOperation(same.core, 'request.approve', { id: pending.requestId }, 'alice@OPENCES.TEST')).rejects.toThrow(/cannot approve their own request/);
    } finally {
      await same.stop();
    }
  });
});
