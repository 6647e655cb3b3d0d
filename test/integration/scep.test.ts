import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { get, request } from 'node:https';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import { opensslStatus, tmp } from '../helpers/openssl.js';
import { runCli } from '../helpers/cli.js';
import { until } from '../helpers/wait.js';
import { Certmonger, scepClientsMissing, scepclient } from '../helpers/scep-clients.js';
import { scepIdentity, scepRequest, type ScepIdentity } from '../helpers/scep.js';
import { integerFromBytes, seq } from '../../src/ca/der.js';
import { runOperation } from '../../src/ops/operations.js';
import { listRows } from '../../src/store/audit-repo.js';
import { decodeSignedData } from '../../src/protocol/pkcs7/index.js';
import { SCEP_OID } from '../../src/protocol/scep/oids.js';
import { openEnvelope } from '../../src/protocol/scep/index.js';

const missing = scepClientsMissing();
// Required under CI (.ci/run installs scep and certmonger); elsewhere skipped with the reason.
if (missing && !process.env.CI) console.warn(`scep.test.ts skipped: ${missing}`);
const suite = missing && !process.env.CI ? describe.skip : describe;

/** The pkiStatus and failInfo of a CertRep, as the client reads them. */
function certRepStatus(der: Uint8Array): { status: string; failInfo?: string } {
  const sd = decodeSignedData(der);
  const attr = (oid: string) => {
    const v = sd.signerInfos[0]!.signedAttributes.find((a) => a.type === oid)?.values[0];
    return v ? Buffer.from(v.subarray(2)).toString('latin1') : undefined;
  };
  const failInfo = attr(SCEP_OID.failInfo);
  return { status: attr(SCEP_OID.pkiStatus)!, ...(failInfo !== undefined ? { failInfo } : {}) };
}

/**
 * SCEP (RFC 8894) with real clients: micromdm's scepclient (Debian `scep`; it signs with SHA-1 and
 * encrypts with DES, so its profile is in legacy mode) and certmonger's scep-submit driven by a
 * private certmonger daemon (AES and SHA-256, on a profile without legacy mode).
 */
suite('SCEP: scepclient and certmonger enroll with one-time challenges', () => {
  let s: TestServer;
  let base: string;
  let dir: string;
  let chainFile: string;
  const verify = (certFile: string) => opensslStatus(['verify', '-CAfile', join(s.dataDir, 'certs', 'root_ca.crt'), '-untrusted', join(s.dataDir, 'certs', 'issuing_ca.crt'), certFile]);
  const challenge = async (profile: string, extra: Record<string, unknown> = {}) => ((await runOperation(s.core, 'scep.challenge', { profile, ...extra }, 'test-admin')) as { challenge: string; id: string }).challenge;
  const audit = async (type: string) => {
    await s.core.audit.flush();
    return listRows(s.core.db, { type, limit: 100 });
  };

  const STATIC = 'closed-network-secret-7f3a';
  /** The server's clock: the wall clock plus `skew` (an expired challenge without waiting for it). */
  let skew = 0;
  const clock = { now: () => new Date(Date.now() + skew) };
  beforeAll(async () => {
    const httpPort = await freePort();
    const secretDir = tmp('scep-secret-');
    writeFileSync(join(secretDir, 'static.secret'), `${STATIC}\n`, { mode: 0o600 });
    s = await startTestServer({
      clock,
      config: {
        scep: {
          httpPort,
          defaultProfile: 'devices',
          profiles: {
            devices: { template: 'WebServer' },
            legacy: { template: 'WebServer', legacy: true },
            approval: { template: 'WebServerApproval', legacy: true },
            closed: { template: 'WebServer', staticChallengeFile: join(secretDir, 'static.secret') },
          },
        },
      },
    });
    base = s.scepHttpUrl!;
    dir = tmp('scep-it-');
    chainFile = join(dir, 'chain.pem');
    writeFileSync(chainFile, readFileSync(join(s.dataDir, 'certs', 'ca_chain.crt')));
  }, 120_000);

  afterAll(async () => {
    await s?.stop();
  });

  it('answers GetCACaps and GetCACert on the NDES path and per profile', async () => {
    const caps = await (await fetch(`${base}/certsrv/mscep/mscep.dll?operation=GetCACaps`)).text();
    expect(caps.split('\n')).toEqual(expect.arrayContaining(['AES', 'SHA-256', 'POSTPKIOperation', 'Renewal']));
    expect(caps).not.toMatch(/DES3|SHA-1|GetNextCACert/);
    expect(await (await fetch(`${base}/scep/legacy?operation=GetCACaps`)).text()).toMatch(/DES3/);
    const r = await fetch(`${base}/scep/devices/pkiclient.exe?operation=GetCACert`);
    expect(r.headers.get('content-type')).toBe('application/x-x509-ca-ra-cert');
    const p7 = join(dir, 'ca.p7b');
    writeFileSync(p7, Buffer.from(await r.arrayBuffer()));
    const certs = opensslStatus(['pkcs7', '-inform', 'DER', '-in', p7, '-print_certs', '-noout']);
    expect(certs.code).toBe(0);
    expect(certs.out).toMatch(/SCEP RA[\s\S]*SCEP RA encryption[\s\S]*Issuing CA[\s\S]*Root CA/);
    // The RA certificates are ours: issued by the issuing CA.
    expect((await fetch(`${base}/scep/nosuch?operation=GetCACaps`)).status).toBe(404);
    // Over HTTPS as well (the plain-HTTP listener is the optional one).
    const viaTls = await new Promise<string>((resolve, reject) => {
      get(`${s.url}/scep/devices?operation=GetCACaps`, { ca: s.rootPem }, (res) => {
        let t = '';
        res.on('data', (d: Buffer) => (t += d.toString()));
        res.on('end', () => resolve(t));
      }).on('error', reject);
    });
    expect(viaTls).toMatch(/SHA-256/);
  });

  it('scepclient enrolls with a one-time challenge from `opences scep challenge`; openssl verifies the certificate', async () => {
    const cli = await runCli(['scep', 'challenge', '--profile', 'legacy', '--for', 'router1.example.com', '--valid', '30m', '--json', '--data-dir', s.dataDir]);
    expect(cli.code, cli.err).toBe(0);
    const ch = (JSON.parse(cli.out) as { challenge: string }).challenge;
    const c1 = join(dir, 'c1');
    const r = await scepclient({ url: `${base}/scep/legacy`, dir: c1, challenge: ch, cn: 'router1.example.com' });
    expect(r.code, r.out).toBe(0);
    expect(verify(join(c1, 'client.pem')).code).toBe(0);
    expect(opensslStatus(['x509', '-in', join(c1, 'client.pem'), '-noout', '-subject']).out).toMatch(/CN = router1.example.com/);

    // The same challenge again (another device): refused with badRequest, and audited.
    const again = await scepclient({ url: `${base}/scep/legacy`, dir: join(dir, 'c1b'), challenge: ch, cn: 'router1.example.com' });
    expect(again.code).not.toBe(0);
    expect(again.out).toMatch(/badRequest/);
    // A wrong challenge: refused the same way.
    const wrong = await scepclient({ url: `${base}/scep/legacy`, dir: join(dir, 'c1c'), challenge: 'NOT-A-CHALLENGE', cn: 'router1.example.com' });
    expect(wrong.code).not.toBe(0);
    expect(wrong.out).toMatch(/badRequest/);
    // A challenge bound to another subject.
    const bound = await challenge('legacy', { for: 'router9.example.com' });
    const other = await scepclient({ url: `${base}/scep/legacy`, dir: join(dir, 'c1d'), challenge: bound, cn: 'router1.example.com' });
    expect(other.out).toMatch(/badRequest/);
    expect(await until(10_000, async () => {
      const reasons = (await audit('scep.request')).map((e) => e.reason ?? '');
      return ['already used', 'wrong challenge password', 'is for router9.example.com'].every((w) => reasons.some((x) => x.includes(w)));
    })).toBe(true);
    // The RA's and the CA's events of a SCEP enrollment are marked with the scep channel, as CES's are with theirs.
    const issued = (await audit('enroll.issue')).filter((e) => e.principal === 'scep:legacy');
    expect(issued.length).toBeGreaterThan(0);
    for (const e of issued) expect(e.details).toMatchObject({ channel: 'scep' });
    expect((await audit('scep.request')).every((e) => e.details?.channel === 'scep')).toBe(true);
  }, 180_000);

  it('a profile without legacy mode refuses scepclient\'s SHA-1/DES message with badAlg', async () => {
    const r = await scepclient({ url: `${base}/scep/devices`, dir: join(dir, 'c2'), challenge: await challenge('devices'), cn: 'old.example.com' });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/badAlg/);
  }, 120_000);

  it('certmonger enrolls with a one-time challenge (AES, SHA-256) and rekeys signed by its certificate; a RenewalReq needs no challenge', async () => {
    const cm = new Certmonger(join(dir, 'cm'));
    await cm.start();
    try {
      expect((await cm.getcert(['add-scep-ca', '-c', 'opences', '-u', `${base}/certsrv/mscep/mscep.dll`])).code).toBe(0);
      const certFile = join(dir, 'cm', 'cert.pem');
      const keyFile = join(dir, 'cm', 'key.pem');
      const ch = await challenge('devices', { for: 'printer1.example.com' });
      const r = await cm.getcert(['request', '-c', 'opences', '-f', certFile, '-k', keyFile, '-L', ch, '-N', 'CN=printer1.example.com', '-w', '-v']);
      expect(r.out).toMatch(/MONITORING/);
      expect(verify(certFile).code).toBe(0);
      const first = opensslStatus(['x509', '-in', certFile, '-noout', '-serial']).out;

      const id = /Request ID '([^']+)'/.exec((await cm.getcert(['list'])).out)![1]!;
      const rekey = await cm.getcert(['rekey', '-i', id, '-w', '-v']);
      expect(rekey.out, rekey.out).toMatch(/MONITORING/);
      const second = opensslStatus(['x509', '-in', certFile, '-noout', '-serial']).out;
      expect(second).not.toBe(first);
      expect(verify(certFile).code).toBe(0);
      expect(await until(10_000, async () => (await audit('scep.renewal')).some((e) => e.outcome === 'success'))).toBe(true);

      // An RFC 8894 RenewalReq (messageType 17) signed by that certificate, for a new key: issued, no challenge.
      const current = new X509Certificate(readFileSync(certFile));
      const fresh = await scepIdentity('printer1.example.com');
      const renewal = scepRequest({ key: createPrivateKey(readFileSync(keyFile)), certDer: new Uint8Array(current.raw), csrDer: fresh.csrDer }, { recipientCertDer: new Uint8Array(new X509Certificate(readFileSync(join(s.dataDir, 'certs', 'scep-ra-encrypt.crt'))).raw), messageType: 'RenewalReq' });
      const rep = await fetch(`${base}/scep/devices?operation=PKIOperation`, { method: 'POST', body: Buffer.from(renewal) });
      const der = new Uint8Array(await rep.arrayBuffer());
      expect(certRepStatus(der)).toEqual({ status: '0' });
      const envelope = decodeSignedData(der).content!;
      const degenerate = openEnvelope(envelope, [{ certificateDer: new Uint8Array(current.raw), privateKey: createPrivateKey(readFileSync(keyFile)) }], { allowLegacy: false }).content;
      const issued = new X509Certificate(Buffer.from(decodeSignedData(degenerate).certificates[0]!.der));
      expect(issued.publicKey.export({ type: 'spki', format: 'der' }).equals(createPublicKey(fresh.key).export({ type: 'spki', format: 'der' }))).toBe(true);
      expect(issued.subject).toBe('CN=printer1.example.com');
      // The same RenewalReq signed by a certificate that is not ours: refused (badCertId).
      const stranger = await scepIdentity('printer1.example.com');
      const forged = scepRequest({ ...stranger, csrDer: fresh.csrDer }, { recipientCertDer: new Uint8Array(new X509Certificate(readFileSync(join(s.dataDir, 'certs', 'scep-ra-encrypt.crt'))).raw), messageType: 'RenewalReq' });
      const refused = await fetch(`${base}/scep/devices?operation=PKIOperation`, { method: 'POST', body: Buffer.from(forged) });
      expect(certRepStatus(new Uint8Array(await refused.arrayBuffer()))).toEqual({ status: '2', failInfo: '4' });
    } finally {
      cm.stop();
    }
  }, 240_000);

  it('a pending profile: PENDING, `opences request approve`, and the client\'s next poll gets the certificate', async () => {
    const c3 = join(dir, 'c3');
    const run = scepclient({ url: `${base}/scep/approval`, dir: c3, challenge: await challenge('approval'), cn: 'switch1.example.com' });
    let id = '';
    expect(await until(60_000, async () => {
      const rows = (await runOperation(s.core, 'request.list', { status: 'pending' }, 'test')) as { id: string; requester: string }[];
      id = rows.find((x) => x.requester === 'scep:approval')?.id ?? '';
      return id !== '';
    }, 250)).toBe(true);
    const approve = await runCli(['request', 'approve', id, '--data-dir', s.dataDir]);
    expect(approve.code, approve.err).toBe(0);
    // scepclient sleeps 30 s after PENDING, then asks again with the same transaction.
    const r = await run;
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/PENDING/);
    expect(verify(join(c3, 'client.pem')).code).toBe(0);
  }, 180_000);

  /** POSTs a PKIOperation; the CertRep's status, failInfo and (SUCCESS) the first certificate of its envelope, opened with `who`'s key. */
  async function pkiOperation(profile: string, body: Uint8Array, who?: ScepIdentity): Promise<{ status: string; failInfo?: string; cert?: X509Certificate; degenerate?: Uint8Array }> {
    const r = await fetch(`${base}/scep/${profile}?operation=PKIOperation`, { method: 'POST', body: Buffer.from(body) });
    expect(r.status).toBe(200);
    const der = new Uint8Array(await r.arrayBuffer());
    const st = certRepStatus(der);
    if (st.status !== '0' || !who) return st;
    const degenerate = openEnvelope(decodeSignedData(der).content!, [{ certificateDer: who.certDer, privateKey: who.key }], { allowLegacy: false }).content;
    const first = decodeSignedData(degenerate).certificates[0];
    return { ...st, degenerate, ...(first ? { cert: new X509Certificate(Buffer.from(first.der)) } : {}) };
  }
  const raEncrypt = () => new Uint8Array(new X509Certificate(readFileSync(join(s.dataDir, 'certs', 'scep-ra-encrypt.crt'))).raw);

  it('CertPoll, GetCert and GetCRL: PENDING until approved, then the certificate; only for the key that asked', async () => {
    const ch = await challenge('approval');
    const dev = await scepIdentity('switch2.example.com', ch);
    const tx = 'poll-tx-1';
    expect(await pkiOperation('approval', scepRequest(dev, { recipientCertDer: raEncrypt(), transactionId: tx }))).toEqual({ status: '3' });
    const names = seq(seq(), seq());
    const poll = () => pkiOperation('approval', scepRequest(dev, { recipientCertDer: raEncrypt(), transactionId: tx, messageType: 'CertPoll', content: names }), dev);
    expect(await poll()).toEqual({ status: '3' });
    // Another key polling the same transaction learns nothing.
    const intruder = await scepIdentity('switch2.example.com');
    expect(await pkiOperation('approval', scepRequest(intruder, { recipientCertDer: raEncrypt(), transactionId: tx, messageType: 'CertPoll', content: names }))).toEqual({ status: '2', failInfo: '2' });
    const pending = (await runOperation(s.core, 'request.list', { status: 'pending' }, 'test')) as { id: string; requester: string }[];
    const id = pending.filter((x) => x.requester === 'scep:approval').map((x) => x.id).pop()!;
    await runOperation(s.core, 'request.approve', { id }, 'test-manager');
    const got = await poll();
    expect(got.status).toBe('0');
    expect(got.cert!.publicKey.export({ type: 'spki', format: 'der' }).equals(createPublicKey(dev.key).export({ type: 'spki', format: 'der' }))).toBe(true);

    // GetCert by issuer and serial; an unknown serial is badCertId.
    const issuerAndSerial = (serialHex: string) => seq(Buffer.from(decodeSignedData(got.degenerate!).certificates[0]!.issuerDer), integerFromBytes(Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, 'hex')));
    const again = await pkiOperation('approval', scepRequest(dev, { recipientCertDer: raEncrypt(), messageType: 'GetCert', content: issuerAndSerial(got.cert!.serialNumber) }), dev);
    expect(again.cert!.raw.equals(got.cert!.raw)).toBe(true);
    expect(await pkiOperation('approval', scepRequest(dev, { recipientCertDer: raEncrypt(), messageType: 'GetCert', content: issuerAndSerial('0123456789abcdef') }))).toEqual({ status: '2', failInfo: '4' });

    // GetCRL: the issuing CA's CRL in a degenerate PKCS#7.
    const crl = await pkiOperation('approval', scepRequest(dev, { recipientCertDer: raEncrypt(), messageType: 'GetCRL', content: issuerAndSerial(got.cert!.serialNumber) }), dev);
    expect(crl.status).toBe('0');
    const p7 = join(dir, 'crl.p7');
    writeFileSync(p7, crl.degenerate!);
    expect(opensslStatus(['pkcs7', '-inform', 'DER', '-in', p7, '-print_certs']).out).toMatch(/Certificate Revocation List[\s\S]*Issuing CA/);
  }, 120_000);

  it('two devices racing with one challenge: exactly one gets a certificate (one UPDATE on PostgreSQL)', async () => {
    const ch = await challenge('devices');
    const devs = await Promise.all([1, 2, 3, 4].map((i) => scepIdentity(`race${i}.example.com`, ch)));
    const out = await Promise.all(devs.map((d) => pkiOperation('devices', scepRequest(d, { recipientCertDer: raEncrypt() }))));
    expect(out.filter((o) => o.status === '0')).toHaveLength(1);
    expect(out.filter((o) => o.status === '2' && o.failInfo === '2')).toHaveLength(3);
  }, 60_000);

  it('an expired challenge is refused (badRequest) and the audit log says it expired', async () => {
    const ch = await challenge('devices', { valid: '1m' });
    skew = 2 * 60_000;
    try {
      const dev = await scepIdentity('late.example.com', ch);
      expect(await pkiOperation('devices', scepRequest(dev, { recipientCertDer: raEncrypt() }))).toEqual({ status: '2', failInfo: '2' });
    } finally {
      skew = 0;
    }
    expect(await until(10_000, async () => (await audit('scep.request')).some((e) => /expired at/.test(e.reason ?? '')))).toBe(true);
  }, 60_000);

  it('a static per-profile secret is accepted (and keeps working); a wrong one is refused', async () => {
    for (const cn of ['cam1.example.com', 'cam2.example.com']) {
      const dev = await scepIdentity(cn, STATIC);
      const r = await pkiOperation('closed', scepRequest(dev, { recipientCertDer: raEncrypt() }), dev);
      expect(r.status).toBe('0');
      expect(r.cert!.subject).toBe(`CN=${cn}`);
    }
    // PKIOperation over GET (message=base64, URL-encoded), as devices without POSTPKIOperation send it.
    const viaGet = await scepIdentity('cam4.example.com', STATIC);
    const r = await fetch(`${base}/scep/closed/pkiclient.exe?operation=PKIOperation&message=${encodeURIComponent(Buffer.from(scepRequest(viaGet, { recipientCertDer: raEncrypt() })).toString('base64'))}`);
    expect(certRepStatus(new Uint8Array(await r.arrayBuffer()))).toEqual({ status: '0' });
    const wrong = await scepIdentity('cam3.example.com', `${STATIC}x`);
    expect(await pkiOperation('closed', scepRequest(wrong, { recipientCertDer: raEncrypt() }))).toEqual({ status: '2', failInfo: '2' });
  }, 60_000);

  it('the admin API creates one-time challenges (certificate manager), not an auditor; the challenge works once', async () => {
    const token = async (role: string) => ((await runOperation(s.core, 'token.create', { role, service: `scep-${role}` }, 'test-admin')) as { token: string }).token;
    const api = (t: string, body: unknown) =>
      new Promise<{ status: number; json: Record<string, unknown> }>((resolve, reject) => {
        const req = request(`${s.url}/api/v1/scep/challenges`, { method: 'POST', ca: s.rootPem, headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' } }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }));
        });
        req.on('error', reject);
        req.end(JSON.stringify(body));
      });
    expect((await api(await token('auditor'), { profile: 'devices' })).status).toBe(403);
    const manager = await token('cert-manager');
    expect((await api(manager, { profile: 'nosuch' })).status).toBe(404);
    const created = await api(manager, { profile: 'devices', for: 'ap1.example.com', valid: '10m' });
    expect(created.status).toBe(201);
    const ch = created.json.challenge as string;
    expect(ch).toMatch(/^[0-9A-F]{32}$/);
    const dev = await scepIdentity('ap1.example.com', ch);
    expect((await pkiOperation('devices', scepRequest(dev, { recipientCertDer: raEncrypt() }), dev)).status).toBe('0');
    const twice = await scepIdentity('ap1.example.com', ch);
    expect(await pkiOperation('devices', scepRequest(twice, { recipientCertDer: raEncrypt() }))).toEqual({ status: '2', failInfo: '2' });
  }, 60_000);

  it('malformed PKIOperation bodies get a clean failure: garbage, truncated, huge, wrong recipient', async () => {
    const post = (body: Uint8Array, profile = 'devices') => fetch(`${base}/scep/${profile}?operation=PKIOperation`, { method: 'POST', body: Buffer.from(body), headers: { 'content-type': 'application/x-pki-message' } });
    expect((await post(new Uint8Array([0x30, 0x82, 0xff, 0xff, 1, 2, 3]))).status).toBe(400);
    const stranger = await scepIdentity('stranger.example.com', 'whatever');
    const other = await scepIdentity('not-the-ra');
    const good = scepRequest(stranger, { recipientCertDer: other.certDer });
    expect((await post(good.subarray(0, good.length >> 1))).status).toBe(400);
    // Too large: refused without reading the rest, and the connection closed rather than drained.
    const huge = await post(new Uint8Array(2 * 1024 * 1024));
    expect(huge.status).toBe(413);
    expect(huge.headers.get('connection')).toBe('close');
    // Well-formed and signed, but encrypted for someone else: a FAILURE CertRep (badMessageCheck).
    const r = await post(good);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/x-pki-message');
    const rep = new Uint8Array(await r.arrayBuffer());
    expect(certRepStatus(rep)).toEqual({ status: '2', failInfo: '1' });
    // The server still answers.
    expect((await fetch(`${base}/scep/devices?operation=GetCACaps`)).status).toBe(200);
    // /metrics counts SCEP outcomes by profile and operation.
    const metrics = await s.http.metrics.registry.metrics();
    expect(metrics).toMatch(/opences_scep_requests_total\{profile="devices",operation="PKCSReq",outcome="failure"\} [1-9]/);
    expect(metrics).toMatch(/opences_scep_requests_total\{profile="devices",operation="unknown",outcome="malformed"\} [1-9]/);
  }, 60_000);

  it('after a CA rollover (`ca renew --new-key`) the RA certificates are re-issued under the new issuing CA and enrollment goes on', async () => {
    const before = new X509Certificate(readFileSync(join(s.dataDir, 'certs', 'scep-ra-sign.crt')));
    await runOperation(s.core, 'ca.renew', { newKey: true }, 'test-admin');
    const issuing = () => new X509Certificate(Buffer.from(s.core.ca.info().issuingCertificate));
    expect(before.checkIssued(issuing())).toBe(false);
    // The first SCEP request after the rollover starts the re-issue; GetCACert soon names RA certificates of the new CA.
    const raOf = async () => {
      const p7 = new Uint8Array(await (await fetch(`${base}/scep/devices?operation=GetCACert`)).arrayBuffer());
      return decodeSignedData(p7).certificates.map((c) => new X509Certificate(Buffer.from(c.der)));
    };
    expect(await until(30_000, async () => {
      const certs = await raOf();
      return certs[0]!.checkIssued(issuing()) && certs[1]!.checkIssued(issuing()) && certs[2]!.raw.equals(issuing().raw);
    }, 250)).toBe(true);
    const dev = await scepIdentity('after-rollover.example.com', await challenge('devices'));
    const r = await pkiOperation('devices', scepRequest(dev, { recipientCertDer: raEncrypt() }), dev);
    expect(r.status).toBe('0');
    expect(r.cert!.checkIssued(issuing())).toBe(true);
  }, 60_000);
});
