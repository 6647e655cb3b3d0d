import { describe, expect, it, beforeAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EnvelopeError, buildCertRep, caCaps, openEnvelope, parseIssuerAndSerial, parsePkiMessage, sealEnvelope } from '../../../../src/protocol/scep/index.js';
import { seq } from '../../../../src/ca/der.js';
import { OpencesError } from '../../../../src/errors.js';
import { scepIdentity, scepRequest, type ScepIdentity } from '../../../helpers/scep.js';
import { tmp } from '../../../helpers/openssl.js';

let ra: ScepIdentity;
let other: ScepIdentity;
let client: ScepIdentity;

beforeAll(async () => {
  [ra, other, client] = await Promise.all([scepIdentity('RA'), scepIdentity('someone else'), scepIdentity('dev.example.com', 'S3CRET-CHALLENGE')]);
});

describe('SCEP pkiMessage codec', () => {
  it('parses a PKCSReq and opens its envelope with the RA key it is addressed to', () => {
    const msg = parsePkiMessage(scepRequest(client, { recipientCertDer: ra.certDer, transactionId: 'tx-1' }));
    expect(msg.messageType).toBe('PKCSReq');
    expect(msg.transactionId).toBe('tx-1');
    expect(msg.senderNonce.length).toBe(16);
    expect(msg.signatureValid).toBe(true);
    expect(Buffer.from(msg.signerCertificateDer!).equals(Buffer.from(client.certDer))).toBe(true);
    const opened = openEnvelope(msg.envelope, [{ certificateDer: other.certDer, privateKey: other.key }, { certificateDer: ra.certDer, privateKey: ra.key }], { allowLegacy: false });
    expect(opened.keyIndex).toBe(1);
    expect(opened.cipher).toBe('aes-256-cbc');
    expect(Buffer.from(opened.content).equals(Buffer.from(client.csrDer))).toBe(true);
  });

  it('refuses an envelope for another recipient (badMessageCheck) and legacy ciphers outside legacy mode (badAlg)', () => {
    const toOther = parsePkiMessage(scepRequest(client, { recipientCertDer: other.certDer }));
    const e1 = (() => { try { openEnvelope(toOther.envelope, [{ certificateDer: ra.certDer, privateKey: ra.key }], { allowLegacy: true }); } catch (e) { return e; } return null; })();
    expect(e1).toBeInstanceOf(EnvelopeError);
    expect((e1 as EnvelopeError).reason).toBe('badMessageCheck');
    for (const cipher of ['des-cbc', 'des-ede3-cbc'] as const) {
      const m = parsePkiMessage(scepRequest(client, { recipientCertDer: ra.certDer, cipher }));
      expect(() => openEnvelope(m.envelope, [{ certificateDer: ra.certDer, privateKey: ra.key }], { allowLegacy: false })).toThrow(/legacy/);
      const opened = openEnvelope(m.envelope, [{ certificateDer: ra.certDer, privateKey: ra.key }], { allowLegacy: true });
      expect(opened.cipher).toBe(cipher);
      expect(Buffer.from(opened.content).equals(Buffer.from(client.csrDer))).toBe(true);
    }
  });

  it('a tampered encrypted key opens nothing and says only badMessageCheck', () => {
    const m = parsePkiMessage(scepRequest(client, { recipientCertDer: ra.certDer }));
    const env = Buffer.from(m.envelope);
    // The encrypted key is the first 256-byte run after the recipient's serial: flip a byte in its middle.
    const at = env.indexOf(Buffer.from([0x04, 0x82, 0x01, 0x00]));
    expect(at).toBeGreaterThan(0);
    env[at + 4 + 128] ^= 0xff;
    try {
      openEnvelope(env, [{ certificateDer: ra.certDer, privateKey: ra.key }], { allowLegacy: false });
      expect.unreachable('a tampered key must not open the envelope');
    } catch (e) {
      expect(e).toBeInstanceOf(EnvelopeError);
      expect((e as EnvelopeError).reason).toBe('badMessageCheck');
    }
  });

  it('refuses truncated, garbage and oversize messages as malformed values, never by crashing', () => {
    const good = scepRequest(client, { recipientCertDer: ra.certDer });
    for (const bad of [good.subarray(0, good.length - 10), good.subarray(0, 40), randomBytes(500), new Uint8Array(0)]) {
      expect(() => parsePkiMessage(bad)).toThrow(OpencesError);
    }
    expect(() => parsePkiMessage(new Uint8Array(300 * 1024))).toThrow(/larger than/);
  });

  it('builds a CertRep openssl verifies, with the envelope only the requester opens', () => {
    const degenerate = new Uint8Array([0x30, 0x00]);
    const envelope = sealEnvelope({ content: degenerate, recipientCertDer: client.certDer, cipher: 'aes-128-cbc' });
    const rep = buildCertRep({ transactionId: 'tx-9', recipientNonce: randomBytes(16), senderNonce: randomBytes(16), status: 'SUCCESS', envelope, signerCertDer: ra.certDer, signerKey: ra.key, digest: 'sha256' });
    const dir = tmp('scep-certrep-');
    writeFileSync(join(dir, 'rep.der'), rep);
    const out = execFileSync('openssl', ['cms', '-verify', '-noverify', '-inform', 'DER', '-in', join(dir, 'rep.der'), '-out', join(dir, 'env.der')], { stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toBeDefined();
    const opened = openEnvelope(new Uint8Array(execFileSync('cat', [join(dir, 'env.der')])), [{ certificateDer: client.certDer, privateKey: client.key }], { allowLegacy: false });
    expect(Buffer.from(opened.content).equals(Buffer.from(degenerate))).toBe(true);
    const fail = buildCertRep({ transactionId: 'tx-9', recipientNonce: randomBytes(16), senderNonce: randomBytes(16), status: 'FAILURE', failInfo: 'badRequest', signerCertDer: ra.certDer, signerKey: ra.key, digest: 'sha256' });
    expect(fail.length).toBeGreaterThan(100);
  });

  it('IssuerAndSerialNumber keeps the serial as the store writes it (a leading 0 digit too)', () => {
    const der = seq(seq(), Buffer.from([0x02, 0x03, 0x09, 0xab, 0xcd]));
    expect(parseIssuerAndSerial(der).serial).toBe('09abcd');
    expect(parseIssuerAndSerial(seq(seq(), Buffer.from([0x02, 0x03, 0x00, 0x89, 0xab]))).serial).toBe('89ab');
  });

  it('GetCACaps offers AES and SHA-256, and the legacy algorithms only in legacy mode', () => {
    expect(caCaps({ legacy: false, nextCa: false }).split('\n')).toEqual(expect.arrayContaining(['AES', 'SHA-256', 'POSTPKIOperation', 'Renewal']));
    expect(caCaps({ legacy: false, nextCa: false })).not.toMatch(/DES3|SHA-1|GetNextCACert/);
    expect(caCaps({ legacy: true, nextCa: true })).toMatch(/DES3[\s\S]*SHA-1/);
    expect(caCaps({ legacy: false, nextCa: true })).toMatch(/GetNextCACert/);
  });
});
