import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { writeFileSync, readFileSync } from 'node:fs';
import { Agent } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, openssl, pemOf, tmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { buildSignedData } from '../../src/protocol/pkcs7/index.js';
import { listTemplates } from '../../src/store/template-repo.js';
import { templatesToYaml } from '../../src/policy/template-yaml.js';
import { fixedClock } from '../../src/clock.js';

/**
 * Renewals that look right to a lazy check: a certificate made at home with the serial of one we
 * issued, one of our certificates standing in (over TLS) for another of the same owner, and a new
 * key where the template demands the old one.
 */
describe('renewal: forged and substituted certificates, and same-key renewal', () => {
  let s: TestServer;
  let agent: Agent;
  const clock = fixedClock(new Date());
  const DAY = 86400_000;
  beforeAll(async () => {
    s = await startTestServer({ clock });
    agent = new Agent({ connect: { ca: s.rootPem } });
    await runOperation(s.core, 'user.add', { name: 'rita', password: 'R1ta-pass' }, 'test');
    const web = (await listTemplates(s.core.db)).find((t) => t.name === 'WebServer')!;
    const mk = (name: string, n: number, o: { kbr?: boolean; sameKey?: boolean } = {}) => {
      const t = { ...structuredClone(web), name, displayName: name, oid: `${web.oid}.${n}`, validityPeriodSeconds: 10 * 86400, renewalPeriodSeconds: 3 * 86400, permissions: [{ principal: 'user:rita', read: true, enroll: true, autoenroll: false }] };
      t.enrollment.allowKeyBasedRenewal = o.kbr ?? false;
      t.enrollment.requireSameKeyRenewal = o.sameKey ?? false;
      t.extensions.ekus = ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'];
      return t;
    };
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([mk('RenewPlain', 91), mk('RenewKbr', 92, { kbr: true }), mk('RenewSameKey', 93, { sameKey: true })]) }, 'test');
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const ces = (auth: 'UsernamePassword' | 'Certificate') => `${s.url}${cesPath('opences Issuing CA', auth)}`;
  const ritaHeader = () => usernameHeader({ username: 'rita', password: 'R1ta-pass', created: clock.now() });

  async function enroll(template: string, key?: { keyPem: string; csrDer: Buffer }): Promise<{ certDer: Uint8Array; keyPem: string }> {
    const csr = key ?? makeCsr({ key: 'ec:P-256', subject: `CN=${template.toLowerCase()}.example.test`, sans: [`DNS:${template.toLowerCase()}.example.test`], templateName: template });
    const url = ces('UsernamePassword');
    const r = await postSoap(url, buildRstRequest({ to: url, securityHeaderXml: ritaHeader(), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
    const out = parseRstrResponse(r.env!);
    if (out.disposition !== 'issued') throw new Error(r.body);
    return { certDer: out.certificateDer, keyPem: csr.keyPem };
  }

  /** A renewal request: the new CSR in a PKCS#7 signed with `signer`. */
  const renewal = (signer: { certDer: Uint8Array; keyPem: string }, csrDer?: Buffer) =>
    ({ valueType: 'pkcs7' as const, der: buildSignedData({ content: csrDer ?? makeCsr({ key: 'ec:P-256', subject: 'CN=ignored' }).csrDer, contentType: '1.2.840.113549.1.7.1', signerCertDer: signer.certDer, signerKey: createPrivateKey(signer.keyPem) }) });

  const inWindow = async <T>(fn: () => Promise<T>): Promise<T> => {
    clock.advance(8 * DAY);
    try {
      return await fn();
    } finally {
      clock.advance(-8 * DAY);
    }
  };

  it('refuses a renewal signed by a home-made certificate carrying the serial (and names) of one we issued', async () => {
    const real = await enroll('RenewPlain');
    const realX = new X509Certificate(Buffer.from(real.certDer));
    // The attacker's own self-signed certificate, same subject, same issuer name, same serial.
    const d = tmp('opences-homemade-');
    const key = join(d, 'k.pem');
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
    writeFileSync(join(d, 'real.pem'), pemOf(real.certDer));
    openssl(['x509', '-in', join(d, 'real.pem'), '-signkey', key, '-days', '9', '-out', join(d, 'fake.pem')]);
    const fakePem = readFileSync(join(d, 'fake.pem'), 'utf8');
    const fake = new X509Certificate(fakePem);
    expect(fake.serialNumber).toBe(realX.serialNumber);
    expect(fake.subject).toBe(realX.subject);
    const fakeDer = new Uint8Array(fake.raw);
    const r = await inWindow(() => postSoap(ces('UsernamePassword'), buildRstRequest({ to: ces('UsernamePassword'), securityHeaderXml: ritaHeader(), requestType: 'renew', token: renewal({ certDer: fakeDer, keyPem: readFileSync(key, 'utf8') }) }), agent));
    expect(parseFault(r.env!)?.reason, r.body).toMatch(/signed by a certificate this CA did not issue/);
    // The genuine certificate renews.
    const ok = await inWindow(() => postSoap(ces('UsernamePassword'), buildRstRequest({ to: ces('UsernamePassword'), securityHeaderXml: ritaHeader(), requestType: 'renew', token: renewal(real) }), agent));
    expect(parseRstrResponse(ok.env!).disposition, ok.body).toBe('issued');
  });

  it('key-based renewal: TLS certificate A cannot stand in for renewing certificate B of the same owner', async () => {
    const a = await enroll('RenewKbr');
    const b = await enroll('RenewKbr');
    // The owner loses the enroll right: only a certificate renewing itself may still renew.
    const t = (await listTemplates(s.core.db)).find((x) => x.name === 'RenewKbr')!;
    t.permissions = [];
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([t]) }, 'test');
    const tlsAs = (c: { certDer: Uint8Array; keyPem: string }) => new Agent({ connect: { ca: s.rootPem, cert: pemOf(c.certDer), key: c.keyPem } });
    const withA = tlsAs(a);
    try {
      const crossed = await inWindow(() => postSoap(ces('Certificate'), buildRstRequest({ to: ces('Certificate'), requestType: 'renew', token: renewal(b) }), withA));
      expect(parseFault(crossed.env!)?.reason, crossed.body).toMatch(/does not have permission to enroll for the template RenewKbr/);
      // A renewing itself is key-based renewal proper, and is issued.
      const own = await inWindow(() => postSoap(ces('Certificate'), buildRstRequest({ to: ces('Certificate'), requestType: 'renew', token: renewal(a) }), withA));
      expect(parseRstrResponse(own.env!).disposition, own.body).toBe('issued');
    } finally {
      await withA.close();
    }
  });

  it('requireSameKeyRenewal: a new key is refused, the same key renews', async () => {
    const first = makeCsr({ key: 'ec:P-256', subject: 'CN=samekey.example.test', sans: ['DNS:samekey.example.test'], templateName: 'RenewSameKey' });
    const cur = await enroll('RenewSameKey', first);
    const newKey = await inWindow(() => postSoap(ces('UsernamePassword'), buildRstRequest({ to: ces('UsernamePassword'), securityHeaderXml: ritaHeader(), requestType: 'renew', token: renewal(cur) }), agent));
    expect(parseFault(newKey.env!)?.reason, newKey.body).toMatch(/requires renewal with the same key/);
    // The same key: a fresh CSR made with the certificate's own key.
    const d = tmp('opences-samekey-');
    const cnf = join(d, 'req.cnf');
    writeFileSync(cnf, '[req]\ndistinguished_name=dn\nprompt=no\n[dn]\nCN=samekey.example.test\n');
    const csrPem = openssl(['req', '-new', '-key', first.keyFile, '-config', cnf]);
    const sameKeyCsr = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const same = await inWindow(() => postSoap(ces('UsernamePassword'), buildRstRequest({ to: ces('UsernamePassword'), securityHeaderXml: ritaHeader(), requestType: 'renew', token: renewal(cur, sameKeyCsr) }), agent));
    expect(parseRstrResponse(same.env!).disposition, same.body).toBe('issued');
  });
});
