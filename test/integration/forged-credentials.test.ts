import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, openssl, pemOf, tmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { buildGetPoliciesRequest, parseGetPoliciesResponse } from '../../src/protocol/xcep/index.js';
import { buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';

/**
 * Client certificates an attacker can make without any CA key: each copies everything a lazy
 * check would look at (issuer name, authority key id, even the serial of a certificate we did
 * issue) and differs only in what a real check must look at (the issuer's signature, the EKU).
 */

/**
 * A CA certificate with the victim CA's exact name and key identifier but the attacker's own key,
 * and a client certificate "issued" by it: same issuer name, same authority key id, chosen serial.
 */
function forgeUnder(victimCaPem: string, o: { subject: string; serialHex?: string; san?: string }): { certPem: string; keyPem: string; fakeCaPem: string } {
  const dir = tmp('opences-forge-');
  const f = (n: string): string => join(dir, n);
  // The victim's own certificate, re-signed with the attacker's key: the same subject, extensions and
  // subject key identifier bytes, only the public key and the signature are the attacker's.
  writeFileSync(f('victim.pem'), victimCaPem);
  // Of the victim's key type: OpenSSL only takes a certificate as "issued by" a CA whose key type
  // matches the certificate's signature algorithm.
  const rsa = new X509Certificate(victimCaPem).publicKey.asymmetricKeyType === 'rsa';
  openssl(['genpkey', ...(rsa ? ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'] : ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']), '-out', f('fake.key')]);
  openssl(['x509', '-in', f('victim.pem'), '-signkey', f('fake.key'), '-days', '30', '-out', f('fake.pem')]);
  writeFileSync(f('leaf.ext'), ['basicConstraints=CA:FALSE', 'authorityKeyIdentifier=keyid:always', 'extendedKeyUsage=clientAuth', ...(o.san ? [`subjectAltName=${o.san}`] : [])].join('\n') + '\n');
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', o.subject]);
  openssl(['x509', '-req', '-in', f('leaf.csr'), '-CA', f('fake.pem'), '-CAkey', f('fake.key'), ...(o.serialHex ? ['-set_serial', `0x${o.serialHex}`] : ['-CAcreateserial']), '-out', f('leaf.pem'), '-days', '5', '-extfile', f('leaf.ext')]);
  const certPem = readFileSync(f('leaf.pem'), 'utf8');
  // The forgery copies what it set out to copy: the issuer name and the authority key id match.
  const leaf = new X509Certificate(certPem);
  const victim = new X509Certificate(victimCaPem);
  expect(leaf.checkIssued(victim)).toBe(true);
  expect(leaf.verify(victim.publicKey)).toBe(false);
  return { certPem, keyPem: readFileSync(f('leaf.key'), 'utf8'), fakeCaPem: readFileSync(f('fake.pem'), 'utf8') };
}

describe('forged and misused client certificates on the _Certificate endpoints', () => {
  let s: TestServer;
  let issuingPem: string;
  let alice: { certPem: string; keyPem: string; serial: string };
  let web: { certPem: string; keyPem: string };
  const partnerDir = tmp('opences-partner-');
  const p = (n: string): string => join(partnerDir, n);

  const cep = () => `${s.url}${cepPath('Certificate')}`;
  const ces = () => `${s.url}${cesPath('opences Issuing CA', 'Certificate')}`;
  const as = (certPem: string, keyPem: string) => new Agent({ connect: { ca: s.rootPem, cert: certPem, key: keyPem } });
  const getPolicies = async (agent: Agent) => {
    const r = await postSoap(cep(), buildGetPoliciesRequest({ to: cep() }), agent);
    await agent.close();
    return r;
  };
  const enroll = async (template: string, subject: string, sans: string[]) => {
    const csr = makeCsr({ key: 'ec:P-256', subject, sans, templateName: template });
    const agent = new Agent({ connect: { ca: s.rootPem } });
    const url = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const r = await postSoap(url, buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'alice', password: 'S3cret' }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
    await agent.close();
    const out = parseRstrResponse(r.env!);
    if (out.disposition !== 'issued') throw new Error(r.body);
    return { certPem: pemOf(out.certificateDer), keyPem: csr.keyPem };
  };

  beforeAll(async () => {
    s = await startTestServer();
    issuingPem = readFileSync(join(s.dataDir, 'certs', 'issuing_ca.crt'), 'utf8');
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret', groups: ['staff'] }, 'test');
    const a = await enroll('User', 'CN=alice', []);
    alice = { ...a, serial: new X509Certificate(a.certPem).serialNumber };
    web = await enroll('WebServer', 'CN=web.example.test', ['DNS:web.example.test']);

    // A partner with a two-level PKI of its own, trusted for WebServer.
    writeFileSync(p('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n');
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('root.key'), '-out', p('root.pem'), '-subj', '/CN=acme Root', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('int.key'), '-out', p('int.csr'), '-subj', '/CN=acme Issuing']);
    openssl(['x509', '-req', '-in', p('int.csr'), '-CA', p('root.pem'), '-CAkey', p('root.key'), '-CAcreateserial', '-out', p('int.pem'), '-days', '30', '-extfile', p('ca.ext')]);
    await runOperation(s.core, 'partner.add', { name: 'acme', rootsPem: readFileSync(p('root.pem'), 'utf8'), mapFrom: 'email', templates: ['WebServer'] }, 'test');
  });
  afterAll(async () => s?.stop());

  it('the genuine credentials work (so the refusals below are about the forgery, not the setup)', async () => {
    const ok = await getPolicies(as(alice.certPem, alice.keyPem));
    expect(ok.status, ok.body).toBe(200);
    expect(parseGetPoliciesResponse(ok.env!).policies!.length).toBeGreaterThan(0);
  });

  it('refuses a certificate naming our issuing CA (name, key id, and the serial of a real certificate) signed by another key', async () => {
    const forged = forgeUnder(issuingPem, { subject: '/CN=alice', serialHex: alice.serial, san: 'otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice' });
    const r = await getPolicies(as(forged.certPem, forged.keyPem));
    expect(parseFault(r.env!)?.reason).toBe('authentication failed');
    // …and cannot enroll either.
    const agent = as(forged.certPem, forged.keyPem);
    const csr = makeCsr({ subject: 'CN=alice', templateName: 'User' });
    const e = await postSoap(ces(), buildRstRequest({ to: ces(), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
    await agent.close();
    expect(parseFault(e.env!)?.reason).toBe('authentication failed');
    const n = (await s.core.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM requests WHERE requester = 'alice' AND auth_method = 'certificate'`)).rows[0]!.n;
    expect(n).toBe('0');
  });

  it('refuses one of our own certificates without clientAuth (a WebServer certificate) as a TLS client credential', async () => {
    expect(new X509Certificate(web.certPem).keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    const r = await getPolicies(as(web.certPem, web.keyPem));
    expect(parseFault(r.env!)?.reason).toBe('authentication failed');
    const reasons = (await s.core.audit.list({ type: 'auth.failure' })).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining([expect.stringMatching(/does not allow client authentication/)]));
  });

  it('refuses a leaf naming the partner’s issuing CA (with its real certificate in the chain) but signed by another key', async () => {
    const intPem = readFileSync(p('int.pem'), 'utf8');
    const forged = forgeUnder(intPem, { subject: '/CN=svc1', san: 'email:svc1@acme.test' });
    // Sent with the partner's genuine intermediate, as a real partner client would.
    const r = await getPolicies(as(forged.certPem + intPem, forged.keyPem));
    expect(parseFault(r.env!)?.reason).toBe('authentication failed');
    // The same leaf shape issued for real by the intermediate is accepted.
    writeFileSync(p('leaf.ext'), 'basicConstraints=CA:FALSE\nauthorityKeyIdentifier=keyid:always\nextendedKeyUsage=clientAuth\nsubjectAltName=email:svc1@acme.test\n');
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('leaf.key'), '-out', p('leaf.csr'), '-subj', '/CN=svc1']);
    openssl(['x509', '-req', '-in', p('leaf.csr'), '-CA', p('int.pem'), '-CAkey', p('int.key'), '-CAcreateserial', '-out', p('leaf.pem'), '-days', '5', '-extfile', p('leaf.ext')]);
    const genuine = await getPolicies(as(readFileSync(p('leaf.pem'), 'utf8') + intPem, readFileSync(p('leaf.key'), 'utf8')));
    expect(genuine.status, genuine.body).toBe(200);
    expect(parseGetPoliciesResponse(genuine.env!).policies!.map((x) => x.attributes.commonName)).toEqual(['WebServer']);
  });
});
