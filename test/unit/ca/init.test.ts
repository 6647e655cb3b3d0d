import { afterAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { freshTestDb, TEST_DATABASE_URL, type TestDb } from '../../helpers/db.js';
import { makeCsr, openssl, opensslStatus, pemOf, tmp, writeTmp } from '../../helpers/openssl.js';
import { initCa, openCaSigner, writeCaCertificates } from '../../../src/ca/init.js';
import { FileKeyStore } from '../../../src/ca/keys/file.js';
import { LocalCa } from '../../../src/ca/engine.js';
import { fixedClock, systemClock } from '../../../src/clock.js';
import { openDb } from '../../../src/store/open.js';
import type { Db } from '../../../src/store/db.js';
import { fixtureTemplates, newRequestId, order, PKI } from './ca-fixture.js';

const dbs: Db[] = [];
afterAll(async () => {
  for (const d of dbs.reverse()) await d.close();
});
async function fresh(): Promise<TestDb> {
  const db = await freshTestDb();
  dbs.push(db);
  return db;
}

describe('initCa', () => {
  it('creates "opences Root CA" (20 y) and "opences Issuing CA" (10 y, pathLen 0) on first start, and writes them as PEM', async () => {
    const db = await fresh();
    const dir = tmp();
    const clock = fixedClock(new Date('2026-01-15T10:00:00Z'));
    const h = await initCa({ db, keyStore: new FileKeyStore(dir), keyType: 'P-256', pkiBaseUrl: PKI, clock });
    expect(h.created).toBe(true);
    expect(h.info).toMatchObject({ name: 'opences Issuing CA', slug: 'opences_Issuing_CA' });
    expect(h.root).toMatchObject({ name: 'opences Root CA', slug: 'opences_Root_CA', kind: 'root', parentId: null, keyType: 'P-256' });
    expect(h.issuing).toMatchObject({ kind: 'issuing', parentId: h.root.id });

    const root = new X509Certificate(Buffer.from(h.info.rootCertificate));
    const issuing = new X509Certificate(Buffer.from(h.info.issuingCertificate));
    expect(root.subject).toBe('CN=opences Root CA\nO=opences');
    expect(issuing.issuer).toBe(root.subject);
    expect(new Date(root.validTo).toISOString()).toBe('2046-01-15T10:00:00.000Z');
    expect(new Date(issuing.validTo).toISOString()).toBe('2036-01-15T10:00:00.000Z');
    expect(new Date(issuing.validFrom).toISOString()).toBe('2026-01-15T09:59:00.000Z');
    expect(issuing.checkIssued(root)).toBe(true);
    expect(issuing.verify(root.publicKey)).toBe(true);

    const paths = writeCaCertificates(dir, h.info);
    expect(paths.root).toBe(join(dir, 'certs', 'root_ca.crt'));
    expect(readFileSync(paths.root, 'utf8')).toBe(pemOf(h.info.rootCertificate));
    expect(readFileSync(paths.issuing, 'utf8')).toBe(pemOf(h.info.issuingCertificate));
    const text = openssl(['x509', '-in', paths.issuing, '-noout', '-text']);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    expect(text).toContain(`CA Issuers - URI:${PKI}/pki/opences_Root_CA.crt`);
    expect(text).toContain(`URI:${PKI}/pki/opences_Root_CA.crl`);
    expect(openssl(['x509', '-in', paths.root, '-noout', '-text'])).toMatch(/Basic Constraints: critical\s+CA:TRUE\s/);
    const v = opensslStatus(['verify', '-CAfile', paths.root, paths.issuing]);
    expect(v.out).toContain('OK');
    expect(v.code).toBe(0);
  });

  it('keeps the same CA across a restart on the same data directory and database (encrypted keys)', async () => {
    const db = await fresh();
    const dir = tmp();
    const first = await initCa({ db, keyStore: new FileKeyStore(dir, 'pass phrase'), keyType: 'RSA-2048', pkiBaseUrl: PKI, clock: systemClock });
    expect(first.created).toBe(true);
    for (const f of readdirSync(join(dir, 'secrets'))) expect(readFileSync(join(dir, 'secrets', f), 'utf8')).toContain('ENCRYPTED PRIVATE KEY');

    // "restart": new key store object, same files, same database
    const keyStore = new FileKeyStore(dir, 'pass phrase');
    const again = await initCa({ db, keyStore, keyType: 'RSA-2048', pkiBaseUrl: PKI, clock: systemClock });
    expect(again.created).toBe(false);
    expect(Buffer.from(again.info.rootCertificate).equals(Buffer.from(first.info.rootCertificate))).toBe(true);
    expect(Buffer.from(again.info.issuingCertificate).equals(Buffer.from(first.info.issuingCertificate))).toBe(true);
    expect(readdirSync(join(dir, 'secrets'))).toHaveLength(2);

    // the reopened key is the issuing CA's key: what it signs chains to the first root
    const signer = await openCaSigner(keyStore, again.issuing);
    const ca = new LocalCa({ db, clock: systemClock, signer, info: again.info, issuingCaId: again.issuing.id, pkiBaseUrl: PKI, templates: fixtureTemplates() });
    const csr = makeCsr();
    const cert = await ca.issue(order(await newRequestId(db, csr.csrDer), csr.csrDer));
    const d = tmp();
    const v = opensslStatus(['verify', '-CAfile', writeTmp(d, 'root.pem', pemOf(first.info.rootCertificate)), '-untrusted', writeTmp(d, 'i.pem', pemOf(first.info.issuingCertificate)), writeTmp(d, 'leaf.pem', pemOf(cert.der))]);
    expect(v.code).toBe(0);

    // a node without the key says so clearly
    await expect(openCaSigner(new FileKeyStore(tmp()), again.issuing)).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringMatching(/does not hold the key of "opences Issuing CA"/) });
  });

  it('creates exactly one CA when two processes start at once on one database', async () => {
    const db = await fresh();
    // a second, independent connection pool on the same schema (another process)
    const other = await openDb({ url: TEST_DATABASE_URL, schema: db.schema, migrate: false });
    dbs.push(other);
    const dir = tmp();
    const [a, b] = await Promise.all([
      initCa({ db, keyStore: new FileKeyStore(dir), keyType: 'P-256', pkiBaseUrl: PKI, clock: systemClock }),
      initCa({ db: other, keyStore: new FileKeyStore(dir), keyType: 'P-256', pkiBaseUrl: PKI, clock: systemClock }),
    ]);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(Buffer.from(a.info.issuingCertificate).equals(Buffer.from(b.info.issuingCertificate))).toBe(true);
    expect((await db.query('SELECT 1 FROM cas')).rowCount).toBe(2);
    // the loser created no keys: only the winner's two files exist, and both are referenced
    const files = readdirSync(join(dir, 'secrets')).sort();
    expect(files).toEqual([`${a.issuing.keyRef}.key`, `${a.root.keyRef}.key`].sort());
  });
});
