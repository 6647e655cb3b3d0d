import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { makeCsr, openssl, opensslStatus, pemOf, tmp, writeTmp } from '../../helpers/openssl.js';
import { fixedClock } from '../../../src/clock.js';
import { OpencesError } from '../../../src/errors.js';
import { fixtureTemplates, newRequestId, order, setupCa, type CaFixture } from './ca-fixture.js';

const T0 = new Date('2026-02-01T12:00:00.250Z');

describe('issuance rules (P-384 CA, pinned clock)', () => {
  let f: CaFixture;
  const clock = fixedClock(T0);

  beforeAll(async () => {
    f = await setupCa('P-384', { clock });
  });
  afterAll(async () => f?.db.close());

  function verifyChain(der: Uint8Array): { code: number; out: string } {
    const d = tmp();
    return opensslStatus(['verify', '-attime', String(Math.floor(clock.now().getTime() / 1000)), '-CAfile', writeTmp(d, 'r.pem', f.rootPem), '-untrusted', writeTmp(d, 'i.pem', f.issuingPem), writeTmp(d, 'l.pem', pemOf(der))]);
  }

  it('issues with every extension of the profile, as openssl reads it, and records the order as issued', async () => {
    const csr = makeCsr({ key: 'ec:P-256', subject: 'CN=ignored-by-the-ca' });
    const id = await newRequestId(f.db, csr.csrDer);
    const o = order(id, csr.csrDer, {
      subject: [{ type: 'C', value: 'DE' }, { type: 'O', value: 'Example' }, { type: 'CN', value: 'app.example.test' }],
      sans: [{ type: 'dns', value: 'app.example.test' }, { type: 'ip', value: '192.0.2.1' }, { type: 'ip', value: '2001:db8::5' }, { type: 'email', value: 'a@example.test' }, { type: 'uri', value: 'https://app.example.test/' }, { type: 'upn', value: 'alice@corp.example.test' }],
      ekus: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'],
      issuancePolicies: ['1.3.6.1.4.1.311.21.8.7.7'],
    }, T0.getTime());
    // A template that produces all of that (the CA signs only what the order's template does).
    const ca = await f.engine({
      templates: fixtureTemplates((t) => {
        t.extensions.ekus = ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'];
        t.extensions.issuancePolicies = ['1.3.6.1.4.1.311.21.8.7.7'];
        t.subject.allowedSanTypes = ['dns', 'ip', 'email', 'uri', 'upn'];
      }),
    });
    const cert = await ca.issue(o);
    expect(cert.chain.map((c) => Buffer.from(c).toString('base64'))).toEqual([Buffer.from(f.h.info.issuingCertificate).toString('base64'), Buffer.from(f.h.info.rootCertificate).toString('base64')]);
    expect(verifyChain(cert.der).code).toBe(0);
    const text = openssl(['x509', '-inform', 'DER', '-noout', '-text'], Buffer.from(cert.der));
    expect(text).toMatch(/Subject: C ?= ?DE, O ?= ?Example, CN ?= ?app.example.test/);
    expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA384/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(text).toMatch(/Certificate Policies:\s+Policy: 1.3.6.1.4.1.311.21.8.7.7/);
    expect(text).toMatch(/X509v3 Subject Alternative Name: \n\s+DNS:app.example.test, IP Address:192.0.2.1, IP Address:2001:DB8:0:0:0:0:0:5, email:a@example.test, URI:https:\/\/app.example.test\/, othername: UPN::alice@corp.example.test/);
    expect(text).toContain('1.3.6.1.4.1.311.21.7');
    expect(text).toContain(`CA Issuers - URI:http://pki.example.test/pki/Test_Issuing_CA.crt`);
    // SKI = SHA-1 of the subject key bits (RFC 5280 method 1), AKI = the issuing CA's SKI
    const leaf = new X509Certificate(Buffer.from(cert.der));
    const issuingText = openssl(['x509', '-noout', '-text'], f.issuingPem);
    const caSki = /Subject Key Identifier: \n\s+([0-9A-F:]+)/.exec(issuingText)![1];
    expect(text).toMatch(new RegExp(`Authority Key Identifier: \\n\\s+(keyid:)?${caSki}`));
    expect(leaf.serialNumber.toLowerCase()).toBe(cert.serial);
    expect(cert.serial).toMatch(/^[0-7][0-9a-f]{31}$/);

    // validity: backdated a minute, whole seconds, the record agrees with the certificate
    expect(cert.notBefore.toISOString()).toBe('2026-02-01T11:59:00.000Z');
    expect(new Date(leaf.validFrom).getTime()).toBe(cert.notBefore.getTime());
    expect(new Date(leaf.validTo).getTime()).toBe(cert.notAfter.getTime());

    const row = await f.db.query<{ status: string; serial: string; disposition: number; disposition_message: string; resolved_at: Date | null }>('SELECT status, serial, disposition, disposition_message, resolved_at FROM requests WHERE id = $1', [id]);
    expect(row.rows[0]).toMatchObject({ status: 'issued', serial: cert.serial, disposition: 3, disposition_message: 'Issued' });
    expect(row.rows[0]!.resolved_at).not.toBeNull();
    const rec = await f.db.query<{ subject: string; sans: string[]; template: string; requester: string }>('SELECT subject, sans, template, requester FROM certificates WHERE serial = $1', [cert.serial]);
    expect(rec.rows[0]).toEqual({ subject: 'C=DE, O=Example, CN=app.example.test', sans: ['dns:app.example.test', 'ip:192.0.2.1', 'ip:2001:db8::5', 'email:a@example.test', 'uri:https://app.example.test/', 'upn:alice@corp.example.test'], template: 'WebServer', requester: 'alice' });
  });

  it('marks the SAN critical when the subject is empty', async () => {
    const csr = makeCsr();
    const cert = await f.ca.issue(order(await newRequestId(f.db, csr.csrDer), csr.csrDer, { subject: [], sans: [{ type: 'dns', value: 'nosubject.example.test' }] }, T0.getTime()));
    const text = openssl(['x509', '-inform', 'DER', '-noout', '-text'], Buffer.from(cert.der));
    expect(text).toMatch(/Subject Alternative Name: critical\s+DNS:nosubject.example.test/);
    expect(verifyChain(cert.der).code).toBe(0);
  });

  it('clips notAfter to the issuing CA and keeps a later start the order asks for', async () => {
    const csr = makeCsr();
    const century = await f.engine({ templates: fixtureTemplates((t) => (t.validityPeriodSeconds = 100 * 365 * 86400)) });
    const far = await century.issue(order(await newRequestId(f.db, csr.csrDer), csr.csrDer, { notAfter: new Date('2099-01-01T00:00:00Z') }, T0.getTime()));
    const caEnd = new Date(new X509Certificate(Buffer.from(f.h.info.issuingCertificate)).validTo);
    expect(far.notAfter.getTime()).toBe(caEnd.getTime());
    expect(new Date(new X509Certificate(Buffer.from(far.der)).validTo).getTime()).toBe(caEnd.getTime());
    expect(verifyChain(far.der).code).toBe(0);

    const later = new Date('2026-03-01T00:00:00Z');
    const csr2 = makeCsr();
    const future = await f.ca.issue(order(await newRequestId(f.db, csr2.csrDer), csr2.csrDer, { notBefore: later, notAfter: new Date('2026-06-01T00:00:00Z') }, T0.getTime()));
    expect(future.notBefore.toISOString()).toBe(later.toISOString());
  });

  it('refuses to issue once the issuing CA has expired', async () => {
    const csr = makeCsr();
    const id = await newRequestId(f.db, csr.csrDer);
    const late = fixedClock(new Date('2040-01-01T00:00:00Z'));
    const ca = await f.engine({ clock: late });
    await expect(ca.issue(order(id, csr.csrDer, {}, late.now().getTime()))).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringMatching(/issuing CA expired/) });
    expect((await f.db.query('SELECT 1 FROM certificates WHERE request_id = $1', [id])).rowCount).toBe(0);
  });

  it('lints before signing: no subject and no SAN, a bad DNS name, more than 256 SANs or an over-long SAN is a policy refusal (the RA denies the request), a validity of our own making is internal; nothing is recorded', async () => {
    const csr = makeCsr();
    const id = await newRequestId(f.db, csr.csrDer);
    // The template's rules refuse such orders first (policyDenied) …
    await expect(f.ca.issue(order(id, csr.csrDer, { subject: [], sans: [] }, T0.getTime()))).rejects.toMatchObject({ kind: 'policyDenied', message: expect.stringMatching(/neither a subject nor a subject alternative name/) });
    await expect(f.ca.issue(order(id, csr.csrDer, { sans: [{ type: 'dns', value: 'bad_name..example' }] }, T0.getTime()))).rejects.toMatchObject({ kind: 'policyDenied', message: expect.stringMatching(/not a valid DNS name/) });
    await expect(f.ca.issue(order(id, csr.csrDer, { notAfter: new Date(T0.getTime() - 3600_000) }, T0.getTime()))).rejects.toMatchObject({ kind: 'policyDenied', message: expect.stringMatching(/ends before it starts/) });
    // … the lint's bounds on what passes them …
    const many = Array.from({ length: 257 }, (_, i) => ({ type: 'dns' as const, value: `h${i}.example.test` }));
    await expect(f.ca.issue(order(id, csr.csrDer, { sans: many }, T0.getTime()))).rejects.toMatchObject({ kind: 'policyDenied', message: expect.stringMatching(/lint failed: the request asks for 257 subject alternative names; at most 256/) });
    const uris = await f.engine({ templates: fixtureTemplates((t) => (t.subject.allowedSanTypes = ['dns', 'ip', 'uri'])) });
    await expect(uris.issue(order(id, csr.csrDer, { sans: [{ type: 'uri', value: `https://x.example.test/${'a'.repeat(2000)}` }] }, T0.getTime()))).rejects.toMatchObject({ kind: 'policyDenied', message: expect.stringMatching(/uri subject alternative name .* has 2023 characters; at most 1024/) });
    // … and the lint still stands behind them, on whatever reaches the signature.
    const p = await f.ca.prepare(order(id, csr.csrDer, {}, T0.getTime()));
    const serial = new Uint8Array(16).fill(0x11);
    await expect(f.ca.sign({ ...p, order: { ...p.order, subject: [], sans: [] } }, serial)).rejects.toMatchObject({ kind: 'policyDenied', message: expect.stringMatching(/lint failed: neither a subject nor a subject alternative name/) });
    await expect(f.ca.sign({ ...p, order: { ...p.order, sans: [{ type: 'dns', value: 'bad_name..example' }] } }, serial)).rejects.toMatchObject({ kind: 'policyDenied', message: expect.stringMatching(/bad DNS name/) });
    await expect(f.ca.sign({ ...p, notAfter: new Date(T0.getTime() - 3600_000) }, serial)).rejects.toMatchObject({ kind: 'internal', message: expect.stringMatching(/notAfter is not after notBefore/) });
    expect((await f.db.query('SELECT 1 FROM certificates WHERE request_id = $1', [id])).rowCount).toBe(0);
    expect((await f.db.query<{ status: string }>('SELECT status FROM requests WHERE id = $1', [id])).rows[0]!.status).toBe('pending');
  });

  it('draws a new serial when one collides, and gives up with a clear error when randomness repeats', async () => {
    const fixed = Buffer.from('11223344556677889900aabbccddeeff', 'hex');
    const other = Buffer.from('21223344556677889900aabbccddeeff', 'hex');
    const seq: Buffer[] = [fixed, fixed, other];
    const ca = await f.engine({ random: () => seq.shift() ?? fixed });
    const c1 = makeCsr();
    const first = await ca.issue(order(await newRequestId(f.db, c1.csrDer), c1.csrDer, {}, T0.getTime()));
    expect(first.serial).toBe('11223344556677889900aabbccddeeff');
    const c2 = makeCsr();
    const second = await ca.issue(order(await newRequestId(f.db, c2.csrDer), c2.csrDer, {}, T0.getTime()));
    expect(second.serial).toBe('21223344556677889900aabbccddeeff');
    const c3 = makeCsr();
    const id3 = await newRequestId(f.db, c3.csrDer);
    await expect(ca.issue(order(id3, c3.csrDer, {}, T0.getTime()))).rejects.toMatchObject({ kind: 'internal', message: expect.stringMatching(/unique serial/) });
    expect((await f.db.query('SELECT 1 FROM certificates WHERE request_id = $1', [id3])).rowCount).toBe(0);
  });

  it('refuses orders for unknown requests or with malformed ids, and unknown serials on revocation', async () => {
    const csr = makeCsr();
    await expect(f.ca.issue(order('999999', csr.csrDer, {}, T0.getTime()))).rejects.toMatchObject({ kind: 'notFound' });
    await expect(f.ca.issue(order('1; DROP TABLE x', csr.csrDer, {}, T0.getTime()))).rejects.toMatchObject({ kind: 'malformed' });
    await expect(f.ca.revoke('00ff', 'keyCompromise')).rejects.toMatchObject({ kind: 'notFound' });
    await expect(f.ca.unrevoke('00ff')).rejects.toMatchObject({ kind: 'notFound' });
    await expect(f.ca.revoke('00ff', 'removeFromCRL')).rejects.toBeInstanceOf(OpencesError);
  });

  it('of two concurrent revocations of one certificate exactly one wins', async () => {
    const csr = makeCsr();
    const cert = await f.ca.issue(order(await newRequestId(f.db, csr.csrDer), csr.csrDer, {}, T0.getTime()));
    const r = await Promise.allSettled([f.ca.revoke(cert.serial, 'keyCompromise'), f.ca.revoke(cert.serial, 'superseded')]);
    expect(r.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
    expect(r.find((x) => x.status === 'rejected')).toMatchObject({ reason: { kind: 'conflict' } });
  });
});
