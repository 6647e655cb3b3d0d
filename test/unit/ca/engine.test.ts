import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { freshTestDb, type TestDb } from '../../helpers/db.js';
import { makeCsr, openssl, opensslStatus, pemOf, tmp, writeTmp } from '../../helpers/openssl.js';
import { initCa, openCaSigner } from '../../../src/ca/init.js';
import { FileKeyStore } from '../../../src/ca/keys/file.js';
import { LocalCa, type LocalCaOptions } from '../../../src/ca/engine.js';
import { systemClock } from '../../../src/clock.js';
import { fixtureTemplates, newRequestId, order } from './ca-fixture.js';
import { windowsFullPkcs7 } from '../../helpers/full-pkcs7.js';

describe.each(['RSA-2048', 'P-256'] as const)('local CA engine with a %s issuing key', (keyType) => {
  let db: TestDb;
  let dir: string;
  let ca: LocalCa;
  let options: LocalCaOptions;
  let rootPem: string;
  let issuingPem: string;

  beforeAll(async () => {
    db = await freshTestDb();
    dir = tmp();
    const keyStore = new FileKeyStore(dir);
    const h = await initCa({ db, keyStore, keyType, caName: 'Test Issuing CA', rootName: 'Test Root CA', pkiBaseUrl: 'http://pki.example.test', clock: systemClock });
    options = { db, clock: systemClock, signer: await openCaSigner(keyStore, h.issuing), info: h.info, issuingCaId: h.issuing.id, pkiBaseUrl: 'http://pki.example.test', templates: fixtureTemplates() };
    ca = new LocalCa(options);
    rootPem = pemOf(h.info.rootCertificate);
    issuingPem = pemOf(h.info.issuingCertificate);
  });
  afterAll(async () => db?.close());

  it('keeps CA keys in 0600 files inside a 0700 directory', () => {
    expect(statSync(join(dir, 'secrets')).mode & 0o777).toBe(0o700);
    const keys = readdirSync(join(dir, 'secrets'));
    expect(keys.length).toBe(2);
    for (const k of keys) expect(statSync(join(dir, 'secrets', k)).mode & 0o777).toBe(0o600);
  });

  it('issues a certificate from an openssl CSR that openssl verifies, with AKI, SKI, AIA, CDP', async () => {
    const csr = makeCsr({ key: 'rsa:2048', subject: 'CN=ignored' });
    const id = await newRequestId(db, csr.csrDer);
    const cert = await ca.issue(order(id, csr.csrDer));
    expect(cert.replayed).toBe(false);
    const d = tmp();
    const leaf = writeTmp(d, 'leaf.pem', pemOf(cert.der));
    const v = opensslStatus(['verify', '-CAfile', writeTmp(d, 'root.pem', rootPem), '-untrusted', writeTmp(d, 'issuing.pem', issuingPem), leaf]);
    expect(v.out).toContain('OK');
    expect(v.code).toBe(0);
    const text = openssl(['x509', '-in', leaf, '-noout', '-text']);
    expect(text).toContain('X509v3 Authority Key Identifier');
    expect(text).toContain('X509v3 Subject Key Identifier');
    expect(text).toContain('CA Issuers - URI:http://pki.example.test/pki/Test_Issuing_CA.crt');
    expect(text).toContain('URI:http://pki.example.test/pki/Test_Issuing_CA.crl');
    expect(text).toContain('DNS:www.example.test');
    expect(text).toContain('TLS Web Server Authentication');
    expect(text).toMatch(/Subject: CN ?= ?www.example.test/);
    const row = await db.query<{ status: string; serial: string }>('SELECT status, serial FROM requests WHERE id = $1', [id]);
    expect(row.rows[0]).toEqual({ status: 'issued', serial: cert.serial });
  });

  it('returns the same certificate when the same order is issued twice, or four times at once', async () => {
    const csr = makeCsr();
    const id = await newRequestId(db, csr.csrDer);
    const [a, b] = await Promise.all([ca.issue(order(id, csr.csrDer)), ca.issue(order(id, csr.csrDer))]);
    expect(Buffer.from(a.der).equals(Buffer.from(b.der))).toBe(true);
    expect([a.replayed, b.replayed].sort()).toEqual([false, true]);
    const n = await db.query('SELECT 1 FROM certificates WHERE request_id = $1', [id]);
    expect(n.rowCount).toBe(1);
    // Each racer signs before it records (one statement under the row lock): one wins, the others
    // fall through to the careful path and answer with the winner's certificate.
    const csr2 = makeCsr();
    const id2 = await newRequestId(db, csr2.csrDer);
    const four = await Promise.all(Array.from({ length: 4 }, () => ca.issue(order(id2, csr2.csrDer))));
    expect(four.filter((c) => !c.replayed)).toHaveLength(1);
    expect(new Set(four.map((c) => Buffer.from(c.der).toString('base64'))).size).toBe(1);
    const rows = await db.query<{ serial: string }>('SELECT serial FROM certificates WHERE request_id = $1', [id2]);
    expect(rows.rows.map((r) => r.serial)).toEqual([four[0]!.serial]);
    expect((await db.query<{ serial: string }>('SELECT serial FROM requests WHERE id = $1', [id2])).rows[0]!.serial).toBe(four[0]!.serial);
  });

  it('clips validity to the issuing CA', async () => {
    const csr = makeCsr();
    const id = await newRequestId(db, csr.csrDer);
    const long = new LocalCa({ ...options, templates: fixtureTemplates((t) => (t.validityPeriodSeconds = 100 * 365 * 86400)) });
    const cert = await long.issue(order(id, csr.csrDer, { notAfter: new Date(Date.now() + 50 * 365 * 86400_000) }));
    const caEnd = new (await import('node:crypto')).X509Certificate(Buffer.from(ca.info().issuingCertificate)).validTo;
    expect(cert.notAfter.getTime()).toBe(new Date(caEnd).getTime());
  });

  it('re-checks the order: disabled template, bad proof of possession, weak key', async () => {
    const csr = makeCsr();
    const id = await newRequestId(db, csr.csrDer);
    await expect(ca.issue(order(id, csr.csrDer, { template: 'Disabled' }))).rejects.toMatchObject({ kind: 'templateNotFound' });
    const tampered = Buffer.from(csr.csrDer);
    tampered[tampered.length - 5] ^= 0xff;
    await expect(ca.issue(order(id, tampered))).rejects.toMatchObject({ kind: 'badSignature' });
    const weak = makeCsr({ key: 'rsa:1024' });
    await expect(ca.issue(order(id, weak.csrDer))).rejects.toMatchObject({ kind: 'badPublicKey' });
    expect((await db.query('SELECT 1 FROM certificates WHERE request_id = $1', [id])).rowCount).toBe(0);
  });

  it("accepts possession proven by a Windows Full PKCS#7's outer signature when the PKCS#10's own fails, and only by the request's own key", async () => {
    const csr = makeCsr();
    const good = windowsFullPkcs7(csr, { breakInner: true });
    const id = await newRequestId(db, good.csrDer);
    // Without the outer signature the broken inner one is refused, as ever.
    await expect(ca.issue(order(id, good.csrDer))).rejects.toMatchObject({ kind: 'badSignature' });
    // Signed by another key (named by the request key's identifier, or by its own): refused.
    const other = makeCsr();
    await expect(ca.issue(order(id, good.csrDer, { possessionSignedData: windowsFullPkcs7(csr, { breakInner: true, signerKeyPem: other.keyPem }).der }))).rejects.toMatchObject({ kind: 'badSignature' });
    await expect(ca.issue(order(id, good.csrDer, { possessionSignedData: windowsFullPkcs7(csr, { breakInner: true, signerKeyPem: other.keyPem, skiKeyPem: other.keyPem }).der }))).rejects.toMatchObject({ kind: 'badSignature' });
    // Around another request: refused.
    await expect(ca.issue(order(id, good.csrDer, { possessionSignedData: windowsFullPkcs7(makeCsr(), { breakInner: true }).der }))).rejects.toMatchObject({ kind: 'badSignature' });
    const cert = await ca.issue(order(id, good.csrDer, { possessionSignedData: good.der }));
    expect(cert.replayed).toBe(false);
  });

  it('puts a revoked serial in the CRL with its reason, and the CRL verifies', async () => {
    const csr = makeCsr();
    const id = await newRequestId(db, csr.csrDer);
    const cert = await ca.issue(order(id, csr.csrDer));
    await ca.revoke(cert.serial, 'keyCompromise');
    await expect(ca.revoke(cert.serial, 'keyCompromise')).rejects.toMatchObject({ kind: 'conflict' });
    const crl = await ca.publishCrl();
    const d = tmp();
    const crlFile = writeTmp(d, 'crl.der', crl);
    const text = openssl(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text']);
    expect(text.toUpperCase()).toContain(cert.serial.toUpperCase());
    expect(text).toContain('Key Compromise');
    expect(text).toMatch(/Next Update:/);
    expect(text).toMatch(/X509v3 CRL Number:\s*\n\s*\d+/);
    const v = opensslStatus(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-CAfile', writeTmp(d, 'issuing.pem', issuingPem)]);
    expect(v.out).toContain('verify OK');
    // a later CRL has a higher number
    const crl2 = await ca.publishCrl();
    const n1 = /CRL Number:\s*\n\s*(\d+)/.exec(text)![1];
    const n2 = /CRL Number:\s*\n\s*(\d+)/.exec(openssl(['crl', '-inform', 'DER', '-in', writeTmp(d, 'crl2.der', crl2), '-noout', '-text']))![1];
    expect(Number(n2)).toBe(Number(n1) + 1);
  });

  it('unrevokes only certificates on hold', async () => {
    const csr = makeCsr();
    const id = await newRequestId(db, csr.csrDer);
    const cert = await ca.issue(order(id, csr.csrDer));
    await ca.revoke(cert.serial, 'certificateHold');
    await ca.unrevoke(cert.serial);
    await ca.revoke(cert.serial, 'superseded');
    await expect(ca.unrevoke(cert.serial)).rejects.toMatchObject({ kind: 'conflict' });
  });
});
