import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startKdc, type Kdc, loadKerberosClient, type KerberosClientModule } from '../helpers/kdc.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { openssl, tmp } from '../helpers/openssl.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { buildGetPoliciesRequest, parseGetPoliciesResponse } from '../../src/protocol/xcep/index.js';
import { buildRstRequest, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { parseEnvelope } from '../../src/protocol/soap/envelope.js';
import { child, readTlv } from '../../src/ca/der.js';
import { templateInformation } from '../../src/ca/extensions.js';
import { listTemplates } from '../../src/store/template-repo.js';

/**
 * Unattended machine autoenrollment as a domain-joined Windows computer does it: the computer
 * account (WS01$) signs in with Kerberos, GetPolicies must show the Machine template with the
 * DNS-derived name flags and the machine bit (else autoenrollment silently skips it), and the
 * request names the template only by its template-information extension, with no subject and no
 * SAN: the names come from the identity.
 */
describe('GPO machine autoenrollment (computer account over Kerberos)', () => {
  let kdc: Kdc;
  let s: TestServer;
  let agent: Agent;
  let krb: KerberosClientModule;
  beforeAll(async () => {
    kdc = await startKdc();
    kdc.addUser('WS01$', 'Ws01-machine-pass');
    const keytab = kdc.addService('HTTP/localhost');
    process.env.KRB5_CONFIG = kdc.env.KRB5_CONFIG;
    process.env.KRB5CCNAME = `FILE:${kdc.kinit('WS01$', 'Ws01-machine-pass')}`;
    s = await startTestServer({ config: { 'auth.kerberos': { keytab, servicePrincipal: 'HTTP@localhost' } } });
    agent = new Agent({ connect: { ca: s.rootPem } });
    krb = await loadKerberosClient();
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
    await kdc?.stop();
  });

  const token = async (): Promise<string> => (await krb.initializeClient('HTTP@localhost', { mechOID: krb.GSS_MECH_OID_SPNEGO })).step('');
  const post = async (url: string, body: string) => {
    const r = await request(url, { method: 'POST', body, dispatcher: agent, headers: { 'content-type': 'application/soap+xml; charset=utf-8', authorization: `Negotiate ${await token()}` } });
    return { status: r.statusCode, body: await r.body.text() };
  };

  it('GetPolicies offers Machine with DNS-derived subjectNameFlags and the machine bit in generalFlags', async () => {
    const url = `${s.url}${cepPath('Kerberos')}`;
    const r = await post(url, buildGetPoliciesRequest({ to: url }));
    expect(r.status, r.body).toBe(200);
    const m = parseGetPoliciesResponse(parseEnvelope(r.body, { maxBytes: 1 << 22 })).policies!.find((p) => p.attributes.commonName === 'Machine')!.attributes;
    expect(m.subjectNameFlags).toBe(0x18000000); // SUBJECT_REQUIRE_DNS_AS_CN | SUBJECT_ALT_REQUIRE_DNS, no enrollee-supplies bits
    expect(m.generalFlags! & 0x40).toBe(0x40);
    expect(m.privateKey.cryptoProviders).toEqual(['Microsoft Enhanced RSA and AES Cryptographic Provider']);
  });

  it('issues for a CSR with no subject and no SAN, naming the template only in 1.3.6.1.4.1.311.21.7: CN and DNS SAN from the computer account', async () => {
    const machine = (await listTemplates(s.core.db)).find((t) => t.name === 'Machine')!;
    // The extnValue of the template-information extension, as certenroll puts it in the request.
    const ext = templateInformation(machine.oid, machine.majorRevision, machine.minorRevision);
    const octets = child(ext, 1);
    const t = readTlv(octets);
    const value = Buffer.from(octets.subarray(t.header, t.header + t.length)).toString('hex');
    const dir = tmp('opences-gpo-');
    try {
      const key = join(dir, 'key.pem');
      const cnf = join(dir, 'req.cnf');
      openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key]);
      writeFileSync(cnf, `[req]\ndistinguished_name=dn\nreq_extensions=ext\n[dn]\n[ext]\n1.3.6.1.4.1.311.21.7=DER:${value}\n`);
      openssl(['req', '-new', '-key', key, '-config', cnf, '-subj', '/', '-outform', 'DER', '-out', join(dir, 'req.der')]);
      const csr = readFileSync(join(dir, 'req.der'));
      expect(openssl(['req', '-inform', 'DER', '-in', join(dir, 'req.der'), '-noout', '-subject'])).toMatch(/^subject=\s*$/m);
      const ces = `${s.url}${cesPath('opences Issuing CA', 'Kerberos')}`;
      const r = await post(ces, buildRstRequest({ to: ces, requestType: 'issue', token: { valueType: 'pkcs10', der: csr } }));
      expect(r.status, r.body).toBe(200);
      const out = parseRstrResponse(parseEnvelope(r.body, { maxBytes: 1 << 22 }));
      if (out.disposition !== 'issued') throw new Error(`not issued: ${r.body}`);
      const cert = new X509Certificate(Buffer.from(out.certificateDer));
      expect(cert.subject).toBe('CN=ws01.opences.test');
      expect(cert.subjectAltName).toBe('DNS:ws01.opences.test');
      expect(Buffer.from(out.certificateDer).includes(Buffer.from(ext))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
