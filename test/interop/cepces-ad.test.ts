import 'reflect-metadata';
import { X509Certificate as PeculiarCert, SubjectAlternativeNameExtension } from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeCsr, opensslStatus, tmp, writeTmp } from '../helpers/openssl.js';
import { sambaMissing, startSambaDc, type SambaDc } from '../helpers/samba.js';
import { runCepces, cepcesSource, CERTMONGER } from './cepces.js';
import { sidFromSecurityExtension } from '../../src/ca/sid-extension.js';

const missing = sambaMissing();
if (missing && !process.env.CI) console.warn(`cepces-ad.test.ts skipped: ${missing}`);
const suite = missing && !process.env.CI ? describe.skip : describe;

/**
 * A domain-joined Linux host as certmonger + cepces run it: the computer account's keytab
 * (LINUX1$) authenticates to the _Kerberos endpoints with tickets from a Samba AD DC, and the
 * Machine certificate names the host from dNSHostName and carries the computer's SID.
 */
suite('cepces with a computer keytab against an Active Directory domain (Samba DC)', { timeout: 600_000 }, () => {
  let dc: SambaDc;
  let s: TestServer;
  const dir = tmp('opences-cepces-ad-');
  beforeAll(async () => {
    cepcesSource();
    dc = await startSambaDc();
    dc.addUser('svc', 'Svc-Pass-123!');
    const keytab = dc.serviceKeytab('HTTP/localhost', 'svc');
    process.env.KRB5_CONFIG = dc.krb5Conf;
    s = await startTestServer({
      config: {
        'auth.kerberos': {
          keytab,
          servicePrincipal: 'HTTP@localhost',
          channelBinding: 'required',
          directory: { url: dc.ldapsUrl, tlsCaFile: dc.tlsCaFile, bindDn: `CN=svc,CN=Users,${dc.baseDn}`, bindPasswordFile: writeTmp(dir, 'svc.pw', 'Svc-Pass-123!\n'), baseDn: dc.baseDn, realm: dc.realm },
        },
      },
    });
  }, 600_000);
  afterAll(async () => {
    await s?.stop();
    await dc?.stop();
  });

  it('LINUX1$ lists Machine and gets a Machine certificate for linux1.ad.test with its SID', async () => {
    const host = dc.addComputer('LINUX1');
    const krb = { server: s.url, auth: 'Kerberos' as const, caBundle: join(s.dataDir, 'certs/root_ca.crt'), kerberos: { keytab: host.keytab, principal: 'LINUX1$', realm: dc.realm }, env: { KRB5_CONFIG: dc.krb5Conf } };
    const list = await runCepces({ ...krb, operation: 'GET-SUPPORTED-TEMPLATES' });
    expect(list.exitCode, list.stdout + list.stderr).toBe(CERTMONGER.ISSUED);
    expect(list.stdout).toContain('Machine');
    // certmonger's CSR for a host: its own name, the template in the request.
    const csr = makeCsr({ key: 'rsa:2048', subject: `CN=${host.dnsName}`, sans: [`DNS:${host.dnsName}`], templateName: 'Machine' });
    const r = await runCepces({ ...krb, operation: 'SUBMIT', csrPem: csr.csrPem });
    expect(r.exitCode, r.stdout + r.stderr).toBe(CERTMONGER.ISSUED);
    const pem = writeTmp(tmp(), 'linux1.pem', r.stdout);
    expect(opensslStatus(['verify', '-CAfile', join(s.dataDir, 'certs/root_ca.crt'), '-untrusted', join(s.dataDir, 'certs/issuing_ca.crt'), pem]).code).toBe(0);
    const c = new PeculiarCert(r.stdout);
    expect(c.getExtension(SubjectAlternativeNameExtension)!.names.toJSON()).toContainEqual({ type: 'dns', value: host.dnsName });
    const ext = c.extensions.find((e) => e.type === '1.3.6.1.4.1.311.25.2');
    expect(ext && sidFromSecurityExtension(new Uint8Array(ext.value))).toBe(dc.attribute('(sAMAccountName=LINUX1$)', 'objectSid'));
    const row = await s.core.db.query<{ requester: string }>("SELECT requester FROM requests WHERE template = 'Machine' ORDER BY id DESC LIMIT 1");
    expect(row.rows[0]?.requester).toBe(`LINUX1$@${dc.realm}`);
  });
});
