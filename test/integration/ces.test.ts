import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, refreshCapture, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, openssl, opensslStatus, pemOf, tmp, writeTmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseFault, parseRstrResponse, type RstrResult } from '../../src/protocol/wstep/index.js';
import { buildPkiData } from '../../src/protocol/cmc/index.js';
import { buildSignedData } from '../../src/protocol/pkcs7/index.js';
import { listTemplates } from '../../src/store/template-repo.js';
import { templatesToYaml } from '../../src/policy/template-yaml.js';
import { fixedClock } from '../../src/clock.js';
import { HRESULT } from '../../src/errors.js';

const CAPTURE = readFileSync(join(__dirname, '../fixtures/soap/cepces-rst-issue-request.xml'), 'utf8');
const PKIDATA = '1.3.6.1.5.5.7.12.2';

describe('CES RequestSecurityToken over HTTPS with UsernameToken', () => {
  let s: TestServer;
  let agent: Agent;
  let url: string;
  const clock = fixedClock(new Date());
  beforeAll(async () => {
    s = await startTestServer({ clock });
    agent = new Agent({ connect: { ca: s.rootPem } });
    url = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret', groups: ['staff'], email: 'alice@example.test' }, 'test');
    await runOperation(s.core, 'user.add', { name: 'bob', password: 'B0b-pass' }, 'test');
    // a staff-only, strict copy of User and a renewable short-lived template
    const all = await listTemplates(s.core.db);
    const user = all.find((t) => t.name === 'User')!;
    const strict = { ...structuredClone(user), name: 'StrictUser', displayName: 'Strict user', oid: `${user.oid}.77`, permissions: [{ principal: 'group:staff', read: true, enroll: true, autoenroll: false }] };
    strict.subject.strict = true;
    const short = { ...structuredClone(all.find((t) => t.name === 'WebServer')!), name: 'ShortWeb', displayName: 'Short web', oid: `${user.oid}.78`, validityPeriodSeconds: 10 * 86400, renewalPeriodSeconds: 3 * 86400 };
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([strict, short]) }, 'test');
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const root = () => join(s.dataDir, 'certs/root_ca.crt');
  const issuing = () => join(s.dataDir, 'certs/issuing_ca.crt');
  const rst = (user: string, password: string, o: Omit<Parameters<typeof buildRstRequest>[0], 'to' | 'securityHeaderXml'>) =>
    postSoap(url, buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: user, password, created: clock.now() }), ...o }), agent);
  const issued = (r: { status: number; body: string; env: unknown }): Extract<RstrResult, { disposition: 'issued' }> => {
    expect(r.status, r.body).toBe(200);
    const out = parseRstrResponse(r.env as never);
    expect(out.disposition).toBe('issued');
    return out as Extract<RstrResult, { disposition: 'issued' }>;
  };
  const fault = (r: { status: number; body: string; env: unknown }) => {
    expect(r.status, r.body).toBe(500);
    const f = parseFault(r.env as never);
    expect(f, r.body).not.toBeNull();
    return f!;
  };
  const verifies = (der: Uint8Array): void => {
    const d = tmp();
    const v = opensslStatus(['verify', '-CAfile', root(), '-untrusted', issuing(), writeTmp(d, 'leaf.pem', pemOf(der))]);
    expect(v.out).toContain('OK');
    expect(v.code).toBe(0);
  };
  const certCount = async (): Promise<number> => Number((await s.core.db.query<{ n: string }>('SELECT count(*) AS n FROM certificates')).rows[0]!.n);

  it('issues for the exact RST cepces sent (PKCS#10, template in the 1.3.6.1.4.1.311.20.2 extension)', async () => {
    const r = await postSoap(url, refreshCapture(CAPTURE, { to: url, password: 'S3cret' }), agent);
    const out = issued(r);
    verifies(out.certificateDer);
    expect(out.requestId).toMatch(/^\d+$/);
    const text = openssl(['x509', '-inform', 'DER', '-noout', '-text'], Buffer.from(out.certificateDer));
    expect(text).toContain('DNS:cepces.example.test');
    expect(text).toMatch(/Subject: CN ?= ?cepces.example.test/);
    // The full response is a CMC response carrying the certificate and the chain.
    const d = tmp();
    const full = writeTmp(d, 'full.p7b', out.fullResponseDer!);
    const certs = openssl(['pkcs7', '-inform', 'DER', '-in', full, '-print_certs', '-noout']);
    expect(certs).toContain('subject=CN = cepces.example.test');
    expect(certs).toContain('opences Issuing CA');
    expect(certs).toContain('opences Root CA');
    expect(openssl(['cms', '-inform', 'DER', '-in', full, '-cmsout', '-print'])).toContain('1.3.6.1.5.5.7.12.3');
    // Accepted, then issued: two audit events for the request, the second naming the certificate.
    const serial = new X509Certificate(Buffer.from(out.certificateDer)).serialNumber.toLowerCase().replace(/^0+/, '');
    const events = (await s.core.audit.list({ limit: 50 })).filter((e) => e.requestId === out.requestId);
    expect(events.map((e) => [e.type, e.outcome])).toEqual([
      ['certificate.issue', 'success'],
      ['enroll.issue', 'info'],
    ]);
    expect(events[0]).toMatchObject({ principal: 'alice', template: 'WebServer', method: 'username' });
    expect(events[0]!.serial!.replace(/^0+/, '')).toBe(serial);
  });

  it('issues a CMC PKIData whose template is named only in a CMC attribute', async () => {
    const csr = makeCsr({ key: 'rsa:2048', subject: 'CN=cmc.example.test', sans: ['DNS:cmc.example.test'] });
    const cmc = buildPkiData({ csrDer: csr.csrDer, nameValuePairs: { CertificateTemplate: 'WebServer' } });
    const out = issued(await rst('alice', 'S3cret', { requestType: 'issue', token: { valueType: 'cmc', der: cmc } }));
    verifies(out.certificateDer);
  });

  it('issues a PKCS#7 wrapping a CMC request, and honours AdditionalContext CertificateTemplate', async () => {
    const csr = makeCsr({ key: 'ec:P-384', subject: 'CN=p7.example.test', sans: ['DNS:p7.example.test'] });
    const { signer, certDer } = selfSigned();
    const p7 = buildSignedData({ content: buildPkiData({ csrDer: csr.csrDer }), contentType: PKIDATA, signerCertDer: certDer, signerKey: signer });
    const out = issued(await rst('alice', 'S3cret', { requestType: 'issue', token: { valueType: 'pkcs7', der: p7 }, additionalContext: [{ name: 'CertificateTemplate', value: 'WebServer' }, { name: 'ccm', value: 'host1.example.test' }] }));
    verifies(out.certificateDer);
  });

  it('builds the subject from the identity when the template says so, dropping (and auditing) what was asked', async () => {
    const csr = makeCsr({ key: 'ec:P-256', subject: 'CN=Administrator', sans: ['DNS:evil.example.test'], templateName: 'User' });
    const out = issued(await rst('alice@example.test', 'S3cret', { requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }));
    const text = openssl(['x509', '-inform', 'DER', '-noout', '-text'], Buffer.from(out.certificateDer));
    expect(text).toMatch(/Subject: CN ?= ?alice/);
    expect(text).not.toContain('evil.example.test');
    expect(text).not.toContain('Administrator');
    expect(text).toMatch(/othername: UPN::?alice@example.test/);
    const ev = (await s.core.audit.list({ type: 'enroll.issue' })).find((e) => e.requestId === out.requestId)!;
    expect(JSON.stringify(ev.details)).toContain('evil.example.test');
  });

  it('returns the same certificate when a client retries the same request', async () => {
    const csr = makeCsr({ subject: 'CN=retry.example.test', sans: ['DNS:retry.example.test'], templateName: 'WebServer' });
    const a = issued(await rst('alice', 'S3cret', { requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }));
    const n = await certCount();
    const b = issued(await rst('alice', 'S3cret', { requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }));
    expect(b.requestId).toBe(a.requestId);
    expect(Buffer.from(b.certificateDer).equals(Buffer.from(a.certificateDer))).toBe(true);
    expect(await certCount()).toBe(n);
  });

  it('refuses a replayed RST (the same message again) through the database, which every node shares', async () => {
    const message = refreshCapture(CAPTURE, { to: url, password: 'S3cret' });
    issued(await postSoap(url, message, agent));
    expect(fault(await postSoap(url, message, agent)).reason).toBe('authentication failed');
    const rows = await s.core.audit.list({ type: 'auth.failure', limit: 1 });
    expect(rows[0]?.reason).toMatch(/message replayed \(its MessageID was used before\)/);
  });

  describe('pending requests and CA-manager approval', () => {
    it('answers pending with a reference, returns the certificate to the requester only after approval', async () => {
      const csr = makeCsr({ subject: 'CN=pending.example.test', sans: ['DNS:pending.example.test'], templateName: 'WebServerApproval' });
      const r = await rst('alice', 'S3cret', { requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } });
      expect(r.status, r.body).toBe(200);
      const p = parseRstrResponse(r.env!);
      expect(p.disposition).toBe('pending');
      if (p.disposition !== 'pending') return;
      expect(p.referenceUri).toBe(url);
      expect(p.message).toBe('Taken Under Submission');
      const id = p.requestId!;
      // polling: still pending; someone else cannot see it
      expect(parseRstrResponse((await rst('alice', 'S3cret', { requestType: 'queryTokenStatus', requestId: id })).env!).disposition).toBe('pending');
      const other = fault(await rst('bob', 'B0b-pass', { requestType: 'queryTokenStatus', requestId: id }));
      expect(other.detail?.errorCode).toBe(HRESULT.CERTSRV_E_NO_REQUEST);
      // the requester cannot approve their own request
      await expect(runOperation(s.core, 'request.approve', { id }, 'alice')).rejects.toMatchObject({ kind: 'forbidden' });
      await runOperation(s.core, 'request.approve', { id }, 'local:manager');
      const done = issued(await rst('alice', 'S3cret', { requestType: 'queryTokenStatus', requestId: id }));
      verifies(done.certificateDer);
      await expect(runOperation(s.core, 'request.approve', { id }, 'local:manager')).rejects.toMatchObject({ kind: 'conflict' });
    });

    it('returns the denial when a CA manager denies', async () => {
      const csr = makeCsr({ subject: 'CN=denied.example.test', sans: ['DNS:denied.example.test'], templateName: 'WebServerApproval' });
      const p = parseRstrResponse((await rst('alice', 'S3cret', { requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } })).env!);
      await runOperation(s.core, 'request.deny', { id: p.requestId, reason: 'not our host' }, 'local:manager');
      const f = fault(await rst('alice', 'S3cret', { requestType: 'queryTokenStatus', requestId: p.requestId }));
      expect(f.reason).toContain('not our host');
      expect(f.detail?.requestId).toBe(p.requestId);
    });
  });

  describe('denials: a fault with a clear message, nothing issued, an audit event', () => {
    const cases: [string, () => Promise<{ user: string; pass: string; token: { valueType: 'pkcs10' | 'pkcs7' | 'cmc'; der: Uint8Array } }>, RegExp, number?][] = [
      ['a template the caller may not enroll for', async () => ({ user: 'bob', pass: 'B0b-pass', token: { valueType: 'pkcs10', der: makeCsr({ templateName: 'StrictUser' }).csrDer } }), /does not have permission to enroll for the template StrictUser/, HRESULT.CERTSRV_E_TEMPLATE_DENIED],
      ['a supplied SAN on a strict template', async () => ({ user: 'alice', pass: 'S3cret', token: { valueType: 'pkcs10', der: makeCsr({ sans: ['DNS:x.example.test'], templateName: 'StrictUser' }).csrDer } }), /may not supply subject alternative names/],
      ['an RSA-1024 key', async () => ({ user: 'alice', pass: 'S3cret', token: { valueType: 'pkcs10', der: makeCsr({ key: 'rsa:1024', templateName: 'WebServer' }).csrDer } }), /RSA-1024 keys are too short/, HRESULT.NTE_BAD_KEY_LENGTH],
      ['a wrong proof-of-possession signature', async () => {
        const der = Buffer.from(makeCsr({ key: 'rsa:2048', templateName: 'WebServer' }).csrDer);
        der[der.length - 10] ^= 0x55;
        return { user: 'alice', pass: 'S3cret', token: { valueType: 'pkcs10', der } };
      }, /proof of possession failed/, HRESULT.NTE_BAD_SIGNATURE],
      ['a template that does not exist', async () => ({ user: 'alice', pass: 'S3cret', token: { valueType: 'pkcs10', der: makeCsr({ templateName: 'NoSuch' }).csrDer } }), /NoSuch.*does not exist/],
      ['a request that names no template', async () => ({ user: 'alice', pass: 'S3cret', token: { valueType: 'pkcs10', der: makeCsr({}).csrDer } }), /does not name a certificate template/],
    ];
    for (const [name, make, reason, hresult] of cases) {
      it(`denies ${name}`, async () => {
        const c = await make();
        const before = await certCount();
        const f = fault(await rst(c.user, c.pass, { requestType: 'issue', token: c.token }));
        expect(f.reason).toMatch(reason);
        if (hresult !== undefined) expect(f.detail?.errorCode).toBe(hresult);
        expect(await certCount()).toBe(before);
        const ev = (await s.core.audit.list({ principal: c.user, limit: 5 })).find((e) => e.outcome === 'denied');
        expect(ev?.reason).toMatch(reason);
      });
    }

    it('denies a disabled template', async () => {
      await runOperation(s.core, 'template.disable', { name: 'ShortWeb' }, 'test');
      const f = fault(await rst('alice', 'S3cret', { requestType: 'issue', token: { valueType: 'pkcs10', der: makeCsr({ templateName: 'ShortWeb' }).csrDer } }));
      expect(f.reason).toMatch(/ShortWeb is disabled/);
      await runOperation(s.core, 'template.enable', { name: 'ShortWeb' }, 'test');
    });
  });

  describe('renewal (PKCS#7 signed with the certificate being renewed)', () => {
    let current: { der: Uint8Array; key: ReturnType<typeof createPrivateKey> };
    beforeAll(async () => {
      const csr = makeCsr({ key: 'ec:P-256', subject: 'CN=renew.example.test', sans: ['DNS:renew.example.test'], templateName: 'ShortWeb' });
      const out = issued(await rst('alice', 'S3cret', { requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }));
      current = { der: out.certificateDer, key: createPrivateKey(csr.keyPem) };
    });
    const renewal = (signerCert: Uint8Array, signerKey: ReturnType<typeof createPrivateKey>, subject = 'CN=ignored') =>
      buildSignedData({ content: makeCsr({ key: 'ec:P-256', subject }).csrDer, contentType: '1.2.840.113549.1.7.1', signerCertDer: signerCert, signerKey });

    it('is refused before the renewal window', async () => {
      const f = fault(await rst('alice', 'S3cret', { requestType: 'renew', token: { valueType: 'pkcs7', der: renewal(current.der, current.key) } }));
      expect(f.reason).toMatch(/not yet in the renewal period/);
    });

    it('renews inside the window and keeps the subject', async () => {
      clock.advance(8 * 86400_000);
      try {
        const out = issued(await rst('alice', 'S3cret', { requestType: 'renew', token: { valueType: 'pkcs7', der: renewal(current.der, current.key) } }));
        const text = openssl(['x509', '-inform', 'DER', '-noout', '-text'], Buffer.from(out.certificateDer));
        expect(text).toMatch(/Subject: CN ?= ?renew.example.test/);
        expect(text).toContain('DNS:renew.example.test');
      } finally {
        clock.advance(-8 * 86400_000);
      }
    });

    it('is refused when signed by a certificate this CA did not issue, or by a revoked one', async () => {
      clock.advance(8 * 86400_000);
      try {
        const { signer, certDer } = selfSigned();
        expect(fault(await rst('alice', 'S3cret', { requestType: 'renew', token: { valueType: 'pkcs7', der: renewal(certDer, signer) } })).reason).toMatch(/did not issue/);
        // signed by a different key than the certificate's
        expect(fault(await rst('alice', 'S3cret', { requestType: 'renew', token: { valueType: 'pkcs7', der: renewal(current.der, signer) } })).reason).toMatch(/signature does not verify/);
        const serial = openssl(['x509', '-inform', 'DER', '-noout', '-serial'], Buffer.from(current.der)).trim().split('=')[1]!;
        await runOperation(s.core, 'cert.revoke', { serial, reason: 'keyCompromise' }, 'local:manager');
        expect(fault(await rst('alice', 'S3cret', { requestType: 'renew', token: { valueType: 'pkcs7', der: renewal(current.der, current.key, 'CN=x2') } })).reason).toMatch(/is revoked/);
      } finally {
        clock.advance(-8 * 86400_000);
      }
    });
  });

  describe('bad input', () => {
    const bad: [string, () => string, RegExp][] = [
      ['a truncated token', () => rawRst('pkcs10', Buffer.from(makeCsr().csrDer).subarray(0, 60).toString('base64')), /not valid DER|truncated/],
      ['a garbage token', () => rawRst('pkcs10', Buffer.from('garbage garbage garbage garbage').toString('base64')), /not valid DER|not a PKCS#10|truncated/],
      ['bad base64', () => rawRst('pkcs10', '!!!not base64!!!'), /not valid base64/],
      ['an unknown ValueType', () => rawRst('pkcs10', Buffer.from(makeCsr().csrDer).toString('base64')).replace('enrollment#PKCS10', 'enrollment#PKCS12'), /ValueType .* is not supported/],
      ['an unknown RequestType', () => rawRst('pkcs10', Buffer.from(makeCsr().csrDer).toString('base64')).replace('200512/Issue', '200512/Cancel'), /RequestType .* is not supported/],
      ['a CSR of 1 MiB', () => rawRst('pkcs10', Buffer.alloc(1024 * 1024, 7).toString('base64')), /exceeds/],
    ];
    const rawRst = (vt: string, b64: string): string =>
      buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'alice', password: 'S3cret' }), requestType: 'issue', token: { valueType: vt as 'pkcs10', der: new Uint8Array() } }).replace('wsu:Id=""></wsse:BinarySecurityToken>', `wsu:Id="">${b64}</wsse:BinarySecurityToken>`);
    for (const [name, body, reason] of bad) {
      it(`refuses ${name} with a fault`, async () => {
        const before = await certCount();
        const f = fault(await postSoap(url, body(), agent));
        expect(f.reason).toMatch(reason);
        expect(await certCount()).toBe(before);
      });
    }
  });

  it('leaves an intact audit chain behind all of the above', async () => {
    const v = await s.core.audit.verify();
    expect(v.ok).toBe(true);
  });
});

function selfSigned(): { signer: ReturnType<typeof createPrivateKey>; certDer: Uint8Array } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const d = tmp();
  const key = writeTmp(d, 'k.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  openssl(['req', '-x509', '-new', '-key', key, '-subj', '/CN=stranger', '-days', '30', '-out', join(d, 'c.pem')]);
  const pem = readFileSync(join(d, 'c.pem'), 'utf8');
  return { signer: privateKey, certDer: Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64') };
}
