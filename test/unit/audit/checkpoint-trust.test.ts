import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate, sign } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { makeCsr } from '../../helpers/openssl.js';
import { setupCa, newRequestId, order, type CaFixture } from '../ca/ca-fixture.js';
import { AuditLog } from '../../../src/audit/log.js';
import { ensureAuditSigner, type AuditSigner } from '../../../src/audit/signing-key.js';
import { AUDIT_SIGNING_EKU, checkpointProblem, fingerprintOf, parseCheckpoints, statement, toJson, type Checkpoint } from '../../../src/audit/checkpoint.js';
import { databaseSource, verifyAudit } from '../../../src/audit/verify-checkpoints.js';
import { insertCheckpoint } from '../../../src/store/audit-checkpoint-repo.js';
import { fixedClock } from '../../../src/clock.js';

const T0 = new Date('2026-12-03T10:00:00.000Z');

/**
 * Signed audit checkpoints are what shows that the newest events of the log were cut off; each of
 * these is an attempt to make a checkpoint the verifier believes without the audit signing key of
 * this deployment.
 */
describe('audit checkpoints: only our audit signing key makes one that is believed', () => {
  let f: CaFixture;
  let audit: AuditLog;
  let signer: AuditSigner;
  const clock = fixedClock(T0);
  let issuers: Uint8Array[];

  async function checkpoint(o: { seq: number; hash: string; at?: Date; by?: AuditSigner }): Promise<Checkpoint> {
    const by = o.by ?? signer;
    const partial = { seq: o.seq, hash: o.hash, at: o.at ?? clock.now(), signer: by.fingerprint };
    return { ...partial, signature: (await by.sign(statement(partial))).toString('base64'), certificate: by.certificate };
  }

  beforeAll(async () => {
    f = await setupCa('P-256', { clock });
    audit = new AuditLog(f.db, clock);
    signer = await ensureAuditSigner({ dataDir: f.dir, db: f.db, ca: f.ca, clock, audit });
    issuers = [f.h.info.issuingCertificate];
    for (let i = 0; i < 5; i++) await audit.record({ type: 'test', outcome: 'info', reason: `event ${i}` });
  });
  afterAll(async () => f?.db.close());

  it('the audit signing key is ours: issued by the issuing CA with the audit EKU, kept 0600, reopened rather than replaced', async () => {
    const cert = new X509Certificate(Buffer.from(signer.certificate));
    expect(cert.checkIssued(new X509Certificate(Buffer.from(f.h.info.issuingCertificate)))).toBe(true);
    expect(cert.keyUsage).toEqual([AUDIT_SIGNING_EKU]);
    expect(statSync(join(f.dir, 'secrets', 'audit_signing.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(f.dir, 'certs', 'audit_signing.crt'), 'utf8')).toContain('BEGIN CERTIFICATE');
    const again = await ensureAuditSigner({ dataDir: f.dir, db: f.db, ca: f.ca, clock, audit });
    expect(again.fingerprint).toBe(signer.fingerprint);
    const types = (await audit.list({ type: 'audit.signer' })).map((e) => e.type);
    expect(types).toEqual(['audit.signer']);
  });

  it('replaces the key when its certificate is within 30 days of its end', async () => {
    const cert = new X509Certificate(Buffer.from(signer.certificate));
    const late = fixedClock(new Date(Date.parse(cert.validTo) - 29 * 86400_000));
    const renewed = await ensureAuditSigner({ dataDir: f.dir, db: f.db, ca: f.ca, clock: late, audit });
    expect(renewed.fingerprint).not.toBe(signer.fingerprint);
    // A day earlier it is still fresh: the next start keeps the (renewed) key.
    const kept = await ensureAuditSigner({ dataDir: f.dir, db: f.db, ca: f.ca, clock: fixedClock(new Date(late.now().getTime() - 86400_000)), audit });
    expect(kept.fingerprint).toBe(renewed.fingerprint);
  });

  it('believes a checkpoint signed by our audit key over the log as it is', async () => {
    const head = (await audit.head())!;
    const c = await checkpoint(head);
    expect(checkpointProblem(c, issuers)).toBeNull();
    // Any one of the deployment's issuing CAs will do (after a rollover there are several).
    expect(checkpointProblem(c, [f.h.info.rootCertificate, f.h.info.issuingCertificate])).toBeNull();
    expect(await verifyAudit({ audit, db: f.db, issuers, sources: [{ name: 'kept.jsonl', checkpoint: c }] })).toEqual({ ok: true, count: head.seq, checkpoint: { seq: head.seq, at: T0.toISOString(), source: 'kept.jsonl' } });
  });

  it('refuses a checkpoint whose signer certificate does not parse or is not the one it names', async () => {
    const c = await checkpoint((await audit.head())!);
    expect(checkpointProblem({ ...c, certificate: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]) }, issuers)).toBe('its signer certificate does not parse');
    expect(checkpointProblem({ ...c, signer: fingerprintOf(f.h.info.issuingCertificate) }, issuers)).toBe('its signer certificate is not the one it names');
  });

  it('refuses a forged audit signing certificate: our issuing CA\'s name and key id, signed by another key', async () => {
    const ours = new x509.X509Certificate(signer.certificate);
    const issuing = new x509.X509Certificate(f.h.info.issuingCertificate);
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const forgerKeys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const leafKeys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const aki = issuing.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
    const forged = await x509.X509CertificateGenerator.create({
      serialNumber: '01ab',
      subject: ours.subject,
      issuer: issuing.subject,
      notBefore: new Date(T0.getTime() - 86400_000),
      notAfter: new Date(T0.getTime() + 86400_000),
      publicKey: leafKeys.publicKey,
      signingKey: forgerKeys.privateKey,
      signingAlgorithm: alg,
      extensions: [new x509.AuthorityKeyIdentifierExtension(aki), new x509.ExtendedKeyUsageExtension([AUDIT_SIGNING_EKU]), new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
    });
    const der = new Uint8Array(forged.rawData);
    // The name and key id match our CA, so only the signature on the certificate tells them apart.
    expect(new X509Certificate(Buffer.from(der)).checkIssued(new X509Certificate(Buffer.from(f.h.info.issuingCertificate)))).toBe(true);
    const leafKey = await crypto.subtle.exportKey('pkcs8', leafKeys.privateKey);
    const forger: AuditSigner = {
      certificate: der,
      fingerprint: fingerprintOf(der),
      sign: async (data) => sign('sha256', data, { key: Buffer.from(leafKey), format: 'der', type: 'pkcs8', dsaEncoding: 'der' }),
    };
    const c = await checkpoint({ ...(await audit.head())!, by: forger });
    expect(checkpointProblem(c, issuers)).toBe("its signer certificate was not issued by this deployment's CA");
  });

  it('refuses a checkpoint signed with a certificate of ours that is not an audit signing certificate (a WebServer certificate)', async () => {
    const csr = makeCsr({ key: 'ec:P-256' });
    const id = await newRequestId(f.db, csr.csrDer, T0);
    const web = await f.ca.issue(order(id, csr.csrDer, {}, T0.getTime()));
    const webSigner: AuditSigner = { certificate: web.der, fingerprint: fingerprintOf(web.der), sign: async (data) => sign('sha256', data, { key: csr.keyPem, dsaEncoding: 'der' }) };
    const c = await checkpoint({ ...(await audit.head())!, by: webSigner });
    expect(checkpointProblem(c, issuers)).toBe('its signer certificate is not an audit signing certificate');
  });

  it('refuses a checkpoint dated outside its signer certificate\'s validity, and takes both ends as inside', async () => {
    const head = (await audit.head())!;
    const cert = new X509Certificate(Buffer.from(signer.certificate));
    const from = new Date(cert.validFrom);
    const to = new Date(cert.validTo);
    expect(checkpointProblem(await checkpoint({ ...head, at: from }), issuers)).toBeNull();
    expect(checkpointProblem(await checkpoint({ ...head, at: to }), issuers)).toBeNull();
    const outside = "it was made outside its signer certificate's validity";
    expect(checkpointProblem(await checkpoint({ ...head, at: new Date(from.getTime() - 1) }), issuers)).toBe(outside);
    expect(checkpointProblem(await checkpoint({ ...head, at: new Date(to.getTime() + 1) }), issuers)).toBe(outside);
  });

  it('refuses a checkpoint whose statement was changed after signing, or whose signature is not one', async () => {
    const c = await checkpoint((await audit.head())!);
    expect(checkpointProblem({ ...c, seq: c.seq + 1 }, issuers)).toBe('its signature does not verify');
    expect(checkpointProblem({ ...c, hash: 'f'.repeat(64) }, issuers)).toBe('its signature does not verify');
    expect(checkpointProblem({ ...c, at: new Date(c.at.getTime() + 1) }, issuers)).toBe('its signature does not verify');
    expect(checkpointProblem({ ...c, signature: 'AAAA' }, issuers)).toBe('its signature does not verify');
  });

  it('the statement is the documented canonical JSON (docs/audit.md)', () => {
    expect(statement({ seq: 7, hash: 'a'.repeat(64), at: T0, signer: 'b'.repeat(64) }).toString('utf8')).toBe(
      `{"at":"2026-12-03T10:00:00.000Z","hash":"${'a'.repeat(64)}","seq":7,"signer":"${'b'.repeat(64)}","type":"opences.audit.checkpoint","v":1}`,
    );
  });

  it('verify: a log that ends before the checkpoint lost its newest events, named by number', async () => {
    const head = (await audit.head())!;
    const one = await checkpoint({ seq: head.seq + 1, hash: head.hash });
    const r1 = await verifyAudit({ audit, db: f.db, issuers, sources: [{ name: 'kept.jsonl', checkpoint: one }] });
    expect(r1).toMatchObject({ ok: false, count: head.seq, firstBrokenSeq: head.seq + 1, missing: { from: head.seq + 1, to: head.seq + 1 } });
    expect(r1.reason).toBe(`event ${head.seq + 1} is missing: the checkpoint from kept.jsonl (signed ${T0.toISOString()}) vouches for ${head.seq + 1} events, the log ends at event ${head.seq}`);
    const three = await checkpoint({ seq: head.seq + 3, hash: head.hash });
    const r3 = await verifyAudit({ audit, db: f.db, issuers, sources: [{ name: 'kept.jsonl', checkpoint: three }] });
    expect(r3).toMatchObject({ ok: false, firstBrokenSeq: head.seq + 1, missing: { from: head.seq + 1, to: head.seq + 3 } });
    expect(r3.reason).toMatch(new RegExp(`^events ${head.seq + 1}–${head.seq + 3} are missing`));
  });

  it('verify: an event that differs from the checkpoint\'s hash means the log was rewritten; an untrusted checkpoint is itself reported', async () => {
    const head = (await audit.head())!;
    const rewritten = await checkpoint({ seq: head.seq, hash: 'e'.repeat(64) });
    const r = await verifyAudit({ audit, db: f.db, issuers, sources: [{ name: 'the database', checkpoint: null }, { name: 'kept.jsonl', checkpoint: rewritten }] });
    expect(r).toMatchObject({ ok: false, firstBrokenSeq: head.seq, reason: `event ${head.seq} differs from the checkpoint from kept.jsonl (signed ${T0.toISOString()}): the log was rewritten` });
    const good = await checkpoint(head);
    const untrusted = await verifyAudit({ audit, db: f.db, issuers, sources: [{ name: 'kept.jsonl', checkpoint: { ...good, seq: head.seq - 1 } }] });
    expect(untrusted).toMatchObject({ ok: false, firstBrokenSeq: head.seq - 1 });
    expect(untrusted.reason).toBe(`the checkpoint from kept.jsonl (event ${head.seq - 1}, signed ${T0.toISOString()}) cannot be trusted: its signature does not verify`);
  });

  it('verify: reports against the newest of several checkpoints, and the chain walk comes first', async () => {
    const head = (await audit.head())!;
    const older = await checkpoint({ seq: head.seq - 2, hash: (await f.db.query<{ hash: string }>('SELECT hash FROM audit_events WHERE seq = $1', [head.seq - 2])).rows[0]!.hash });
    const newer = await checkpoint(head);
    const sources = [{ name: 'a', checkpoint: older }, { name: 'b', checkpoint: newer }, { name: 'c', checkpoint: older }];
    expect(await verifyAudit({ audit, db: f.db, issuers, sources })).toEqual({ ok: true, count: head.seq, checkpoint: { seq: head.seq, at: T0.toISOString(), source: 'b' } });
    expect(await verifyAudit({ audit, db: f.db, issuers, sources: [] })).toEqual({ ok: true, count: head.seq, checkpoint: null });
    await insertCheckpoint(f.db, newer);
    expect((await databaseSource(f.db)).checkpoint).toMatchObject({ seq: head.seq, hash: head.hash, signer: newer.signer });
  });

  it('reads kept checkpoints: the highest seq wins, and anything that is not one is named by line', async () => {
    const head = (await audit.head())!;
    const a = await checkpoint({ seq: 1, hash: head.hash });
    const b = await checkpoint(head);
    expect(parseCheckpoints([toJson(a), toJson(b), toJson(a)].join('\r\n'), 'f')?.seq).toBe(head.seq);
    const parsed = parseCheckpoints(toJson(b), 'f')!;
    expect(checkpointProblem(parsed, issuers)).toBeNull();
    const bad = (over: Record<string, unknown>): string => JSON.stringify({ ...JSON.parse(toJson(b)), ...over });
    for (const over of [{ seq: 0 }, { seq: 1.5 }, { seq: '3' }, { hash: 'A'.repeat(64) }, { hash: 'a'.repeat(63) }, { signer: 'x'.repeat(64) }, { at: 'not a date' }, { at: 5 }, { signature: 1 }, { certificate: null }]) {
      expect(() => parseCheckpoints(`\n${bad(over)}`, 'kept.jsonl'), JSON.stringify(over)).toThrow(/^kept\.jsonl, line 2: not an audit checkpoint/);
    }
    expect(() => parseCheckpoints('[1]', 'k')).toThrow(/line 1: not an audit checkpoint/);
    expect(() => parseCheckpoints('null', 'k')).toThrow(/line 1: not an audit checkpoint/);
  });
});
