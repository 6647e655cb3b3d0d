import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { makeCsr, type Csr, type CsrOptions } from '../../helpers/openssl.js';
import { breakSelfSignature } from '../../helpers/full-pkcs7.js';
import { setupCa, type CaFixture } from '../ca/ca-fixture.js';
import { AuditLog } from '../../../src/audit/log.js';
import { RegistrationAuthority } from '../../../src/enrollment/ra.js';
import type { EnrollmentOutcome, IssuedOutcome, SubmitInput } from '../../../src/enrollment/types.js';
import { principalRef } from '../../../src/auth/identity.js';
import type { Principal } from '../../../src/auth/principal.js';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import type { Template } from '../../../src/policy/template.js';
import { buildSignedData } from '../../../src/protocol/pkcs7/index.js';
import { HRESULT } from '../../../src/errors.js';
import { fixedClock } from '../../../src/clock.js';

const DAY = 86400_000;
const T0 = new Date('2026-12-03T10:00:00.000Z');

const alice: Principal = { name: 'alice@EXAMPLE.TEST', groups: ['authenticated'], method: 'kerberos', realm: 'EXAMPLE.TEST' };
const bob: Principal = { name: 'bob@EXAMPLE.TEST', groups: ['authenticated'], method: 'kerberos', realm: 'EXAMPLE.TEST' };
const officer: Principal = { name: 'carol@EXAMPLE.TEST', groups: ['authenticated'], method: 'kerberos', realm: 'EXAMPLE.TEST' };

/** Templates derived from the default WebServer one, each with the one rule a test is about. */
function templates(): Template[] {
  const web = defaultTemplates('1.3.6.1.4.1.311.21.8.1.2').find((t) => t.name === 'WebServer')!;
  const mk = (name: string, n: number, edit: (t: Template) => void = () => {}): Template => {
    const t = { ...structuredClone(web), name, displayName: name, oid: `${web.oid}.${n}`, validityPeriodSeconds: 10 * 86400, renewalPeriodSeconds: 3 * 86400 };
    t.extensions.ekus = ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'];
    edit(t);
    return t;
  };
  return [
    mk('Web', 1),
    mk('Approval', 2, (t) => (t.enrollment.pendAllRequests = true)),
    mk('Off', 3, (t) => (t.enabled = false)),
    mk('ReadOnly', 4, (t) => (t.permissions = [{ principal: 'group:authenticated', read: true, enroll: false, autoenroll: false }])),
    mk('EnrollNoRead', 5, (t) => (t.permissions = [{ principal: 'group:authenticated', read: false, enroll: true, autoenroll: false }])),
    mk('AutoOnly', 6, (t) => (t.permissions = [{ principal: 'group:authenticated', read: true, enroll: false, autoenroll: true }])),
    mk('P256Only', 7, (t) => (t.privateKey.algorithms = ['ECDSA_P256'])),
    mk('Rsa3072', 8, (t) => {
      t.privateKey.algorithms = ['RSA'];
      t.privateKey.minimalKeyLength = 3072;
    }),
    mk('SameKey', 9, (t) => (t.enrollment.requireSameKeyRenewal = true)),
    mk('KeyBased', 10, (t) => {
      t.enrollment.allowKeyBasedRenewal = true;
      t.permissions = [{ principal: 'group:authenticated', read: true, enroll: false, autoenroll: false }];
    }),
  ];
}

/**
 * The registration authority's decisions on a real CA and PostgreSQL, each tried as the request a
 * caller would make to get a certificate it should not: no right, the wrong key, a forged or
 * borrowed certificate for renewal, a manager approving their own request.
 */
describe('registration authority: who gets which certificate', () => {
  let f: CaFixture;
  let ra: RegistrationAuthority;
  let audit: AuditLog;
  const clock = fixedClock(T0);
  const all = templates();

  beforeAll(async () => {
    f = await setupCa('P-256', { clock });
    const ca = await f.engine({ templates: async (name) => all.find((t) => t.name === name) ?? null });
    audit = new AuditLog(f.db, clock);
    ra = new RegistrationAuthority({ db: f.db, ca, audit, clock, templates: { list: async () => all, get: async (n) => all.find((t) => t.name === n) ?? null } });
  });
  afterAll(async () => f?.db.close());

  const csrFor = (template: string, o: { key?: CsrOptions['key']; cn?: string } = {}): Csr =>
    makeCsr({ key: o.key ?? 'ec:P-256', subject: `CN=${o.cn ?? 'www.example.test'}`, sans: [`DNS:${o.cn ?? 'www.example.test'}`], templateName: template });
  const submit = (principal: Principal, raw: Uint8Array, o: Partial<SubmitInput> = {}): Promise<EnrollmentOutcome> =>
    ra.submit({ principal, address: '192.0.2.7', kind: 'issue', format: 'pkcs10', raw, additionalContext: [], ...o });
  async function issue(principal: Principal, template: string, o: { key?: CsrOptions['key']; cn?: string } = {}): Promise<IssuedOutcome & { keyPem: string; csr: Csr }> {
    const csr = csrFor(template, o);
    const out = await submit(principal, csr.csrDer);
    if (out.status !== 'issued') throw new Error(`not issued: ${JSON.stringify(out)}`);
    return { ...out, keyPem: csr.keyPem, csr };
  }
  const renewalOf = (signer: { certificate: Uint8Array; keyPem: string }, csrDer: Uint8Array): Uint8Array =>
    buildSignedData({ content: csrDer, contentType: '1.2.840.113549.1.7.1', signerCertDer: signer.certificate, signerKey: createPrivateKey(signer.keyPem) });
  const renew = (principal: Principal, raw: Uint8Array, o: Partial<SubmitInput> = {}): Promise<EnrollmentOutcome> => submit(principal, raw, { kind: 'renew', format: 'pkcs7', ...o });
  const denied = (out: EnrollmentOutcome): { message: string; hresult: number } => {
    expect(out.status).toBe('denied');
    return out as { message: string; hresult: number };
  };

  it('issues to an enrollee with read and enroll rights, with the names it asked for, and audits the issuance', async () => {
    const out = await issue(alice, 'Web', { cn: 'app.example.test' });
    const cert = new X509Certificate(Buffer.from(out.certificate));
    expect(cert.subject).toBe('CN=app.example.test');
    expect(cert.subjectAltName).toBe('DNS:app.example.test');
    expect(cert.checkIssued(new X509Certificate(Buffer.from(f.h.info.issuingCertificate)))).toBe(true);
    expect(out.chain).toHaveLength(2);
    await audit.flush();
    const events = await audit.list({ type: 'certificate.issue' });
    expect(events.some((e) => e.requestId === out.requestId && e.serial === out.serial && e.principal === alice.name)).toBe(true);
    // The same request again within the window is the same request, not a second certificate.
    const again = await submit(alice, out.csr.csrDer);
    expect(again).toMatchObject({ status: 'issued', requestId: out.requestId, serial: out.serial });
    // Another requester with the same CSR is another request.
    const bobs = await submit(bob, out.csr.csrDer);
    expect(bobs.status === 'issued' && bobs.requestId).not.toBe(out.requestId);
  });

  it.each([
    ['ReadOnly', 'read without enroll'],
    ['EnrollNoRead', 'enroll without read'],
  ])('denies %s (%s), records the request as denied and audits it', async (template) => {
    const d = denied(await submit(alice, csrFor(template).csrDer));
    expect(d.message).toBe(`${alice.name} does not have permission to enroll for the template ${template}`);
    expect(d.hresult).toBe(HRESULT.CERTSRV_E_TEMPLATE_DENIED);
    await audit.flush();
    const events = await audit.list({ type: 'enroll.issue' });
    expect(events.find((e) => e.template === template && e.outcome === 'denied')?.reason).toBe(d.message);
  });

  it('issues with read and autoenroll (as ADCS and GetPolicies do)', async () => {
    expect((await submit(alice, csrFor('AutoOnly').csrDer)).status).toBe('issued');
  });

  it('denies a disabled template and an endpoint that takes renewals only', async () => {
    expect(denied(await submit(alice, csrFor('Off').csrDer)).message).toBe('the template Off is disabled');
    expect(denied(await submit(alice, csrFor('Web').csrDer, { renewalOnly: true })).message).toBe('this enrollment endpoint accepts renewal requests only');
  });

  it("applies the template's own key rules: its algorithms and its minimal key length", async () => {
    expect((await submit(alice, csrFor('P256Only').csrDer)).status).toBe('issued');
    expect(denied(await submit(alice, csrFor('P256Only', { key: 'ec:P-384' }).csrDer)).message).toMatch(/P-384|algorithm|not allowed/i);
    expect(denied(await submit(alice, csrFor('P256Only', { key: 'rsa:2048' }).csrDer)).message).toMatch(/RSA|algorithm|not allowed/i);
    const short = denied(await submit(alice, csrFor('Rsa3072', { key: 'rsa:2048' }).csrDer));
    expect(short.message).toMatch(/2048.*3072|3072/);
    expect((await submit(alice, csrFor('Rsa3072', { key: 'rsa:3072' }).csrDer)).status).toBe('issued');
  });

  it('denies a request whose self-signature does not verify (no proof of possession), and a malformed one without recording it', async () => {
    const d = await submit(alice, breakSelfSignature(csrFor('Web').csrDer));
    expect(d).toMatchObject({ status: 'denied', message: 'the request signature does not verify (proof of possession failed)', hresult: HRESULT.NTE_BAD_SIGNATURE, malformed: true });
    const garbage = await submit(alice, new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]));
    expect(garbage).toMatchObject({ status: 'denied', malformed: true, hresult: HRESULT.CRYPT_E_ASN1_BADTAG });
    expect('requestId' in garbage && garbage.requestId).toBeFalsy();
  });

  it('pends for a certificate manager; the requester cannot approve or deny it, another manager can; only the requester sees its status', async () => {
    const csr = csrFor('Approval');
    const p = await submit(officer, csr.csrDer);
    expect(p).toMatchObject({ status: 'pending', disposition: 5 });
    const id = (p as { requestId: string }).requestId;
    await expect(ra.approve(id, officer.name, principalRef(officer))).rejects.toMatchObject({ kind: 'forbidden' });
    await expect(ra.deny(id, officer.name, 'no', principalRef(officer))).rejects.toMatchObject({ kind: 'forbidden' });
    await expect(ra.status(id, bob)).rejects.toMatchObject({ kind: 'notFound' });
    expect(await ra.status(id, officer)).toMatchObject({ status: 'pending' });
    const issued = await ra.approve(id, alice.name, principalRef(alice));
    expect(issued.status).toBe('issued');
    expect(await ra.status(id, officer)).toMatchObject({ status: 'issued', serial: issued.serial });
    await expect(ra.approve(id, alice.name, principalRef(alice))).rejects.toMatchObject({ kind: 'conflict' });

    const other = await submit(officer, csrFor('Approval').csrDer);
    const otherId = (other as { requestId: string }).requestId;
    await ra.deny(otherId, alice.name, 'not this one', principalRef(alice));
    expect(await ra.status(otherId, officer)).toMatchObject({ status: 'denied', message: `Denied by ${alice.name}: not this one`, hresult: HRESULT.CERTSRV_E_TEMPLATE_DENIED, invalidRequest: true });
    await expect(ra.deny(otherId, alice.name, 'again', principalRef(alice))).rejects.toMatchObject({ kind: 'conflict' });
    await expect(ra.approve('999999', alice.name)).rejects.toMatchObject({ kind: 'notFound' });
  });

  describe('renewal', () => {
    it('renews a certificate signed with itself by its owner, keeping its names', async () => {
      clock.set(T0);
      const old = await issue(alice, 'Web', { cn: 'keep.example.test' });
      clock.set(new Date(T0.getTime() + 8 * DAY));
      try {
        const out = await renew(alice, renewalOf(old, makeCsr({ subject: 'CN=ignored.example.test' }).csrDer));
        expect(out.status).toBe('issued');
        const cert = new X509Certificate(Buffer.from((out as IssuedOutcome).certificate));
        expect(cert.subject).toBe('CN=keep.example.test');
        expect(cert.subjectAltName).toBe('DNS:keep.example.test');
      } finally {
        clock.set(T0);
      }
    });

    it('refuses a renewal before the renewal period, of an expired certificate and of a revoked one', async () => {
      const old = await issue(alice, 'Web');
      const early = denied(await renew(alice, renewalOf(old, makeCsr().csrDer)));
      expect(early.message).toBe(`the certificate ${old.serial} is not yet in the renewal period of the template Web`);
      clock.set(new Date(T0.getTime() + 11 * DAY));
      try {
        expect(denied(await renew(alice, renewalOf(old, makeCsr().csrDer))).message).toBe(`the certificate being renewed (serial ${old.serial}) has expired`);
      } finally {
        clock.set(T0);
      }
      const revoked = await issue(alice, 'Web');
      await f.ca.revoke(revoked.serial, 'keyCompromise');
      clock.set(new Date(T0.getTime() + 8 * DAY));
      try {
        expect(denied(await renew(alice, renewalOf(revoked, makeCsr().csrDer))).message).toBe(`the certificate being renewed (serial ${revoked.serial}) is revoked`);
      } finally {
        clock.set(T0);
      }
    });

    it("refuses another principal's certificate, and a certificate made at home with the serial of one we issued", async () => {
      const old = await issue(alice, 'Web');
      clock.set(new Date(T0.getTime() + 8 * DAY));
      try {
        expect(denied(await renew(bob, renewalOf(old, makeCsr().csrDer))).message).toBe(`the certificate ${old.serial} belongs to ${alice.name}; only its owner may renew it`);
        // Same serial, issuer name and subject as ours; its own key, signed by itself.
        const ours = new x509.X509Certificate(old.certificate);
        const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
        const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
        const forged = await x509.X509CertificateGenerator.create({
          serialNumber: ours.serialNumber,
          subject: ours.subject,
          issuer: ours.issuer,
          notBefore: ours.notBefore,
          notAfter: ours.notAfter,
          publicKey: keys.publicKey,
          signingKey: keys.privateKey,
          signingAlgorithm: alg,
        });
        const keyPem = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64')}\n-----END PRIVATE KEY-----\n`;
        const d = denied(await renew(alice, renewalOf({ certificate: new Uint8Array(forged.rawData), keyPem }, makeCsr().csrDer)));
        expect(d.message).toBe('the renewal is signed by a certificate this CA did not issue');
        expect(d.hresult).toBe(HRESULT.CERT_E_UNTRUSTEDROOT);
      } finally {
        clock.set(T0);
      }
    });

    it('refuses a renewal that is not signed by a certificate, or for another template', async () => {
      const old = await issue(alice, 'Web');
      clock.set(new Date(T0.getTime() + 8 * DAY));
      try {
        const unsigned = await renew(alice, csrFor('Web').csrDer, { format: 'pkcs10' });
        expect(denied(unsigned).message).toBe('a renewal must be a PKCS#7 signed with the certificate being renewed');
        const other = denied(await renew(alice, renewalOf(old, makeCsr({ templateName: 'P256Only' }).csrDer)));
        expect(other.message).toBe('a renewal must be for the same template (Web), not P256Only');
      } finally {
        clock.set(T0);
      }
    });

    it('requireSameKeyRenewal: a new key is refused, the old key renews', async () => {
      const old = await issue(alice, 'SameKey');
      clock.set(new Date(T0.getTime() + 8 * DAY));
      try {
        expect(denied(await renew(alice, renewalOf(old, makeCsr().csrDer))).message).toBe('the template requires renewal with the same key');
        expect((await renew(alice, renewalOf(old, old.csr.csrDer))).status).toBe('issued');
      } finally {
        clock.set(T0);
      }
    });

    it('key-based renewal: the certificate itself stands in for the enroll right, but only for itself (not certificate A renewing B)', async () => {
      // Issued while alice still had the right (an earlier template state): issue through Web's
      // rights, then renew under KeyBased, which grants read only.
      const a = await issueUnder('KeyBased');
      const b = await issueUnder('KeyBased');
      const asCert = (c: IssuedOutcome): Principal => ({ ...alice, method: 'certificate', ref: principalRef(alice), certificate: { der: c.certificate, serial: c.serial, issuer: '', subject: '' } });
      clock.set(new Date(T0.getTime() + 8 * DAY));
      try {
        expect((await renew(asCert(a), renewalOf(a, makeCsr().csrDer))).status).toBe('issued');
        const crossed = denied(await renew(asCert(a), renewalOf(b, makeCsr().csrDer)));
        expect(crossed.message).toBe(`${alice.name} does not have permission to enroll for the template KeyBased`);
        // Signed in otherwise (Kerberos), the read right alone does not renew.
        expect(denied(await renew(alice, renewalOf(b, makeCsr().csrDer))).message).toBe(`${alice.name} does not have permission to enroll for the template KeyBased`);
      } finally {
        clock.set(T0);
      }
    });
  });

  /** A certificate of `template` for alice, issued by an RA whose copy of the template grants enroll. */
  async function issueUnder(template: string): Promise<IssuedOutcome & { keyPem: string; csr: Csr }> {
    const open = all.map((t) => (t.name === template ? { ...structuredClone(t), permissions: [{ principal: 'group:authenticated', read: true, enroll: true, autoenroll: false }] } : t));
    const ca = await f.engine({ templates: async (name) => open.find((t) => t.name === name) ?? null });
    const other = new RegistrationAuthority({ db: f.db, ca, audit, clock, templates: { list: async () => open, get: async (n) => open.find((t) => t.name === n) ?? null } });
    const csr = csrFor(template);
    const out = await other.submit({ principal: alice, address: '192.0.2.7', kind: 'issue', format: 'pkcs10', raw: csr.csrDer, additionalContext: [] });
    if (out.status !== 'issued') throw new Error(JSON.stringify(out));
    return { ...out, keyPem: csr.keyPem, csr };
  }
});
