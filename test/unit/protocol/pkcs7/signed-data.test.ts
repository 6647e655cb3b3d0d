import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCertsOnly, buildSignedData, parseSignedData, CMS_OID } from '../../../../src/protocol/pkcs7/index.js';
import { buildPkiData, CMC_OID } from '../../../../src/protocol/cmc/index.js';
import { OpencesError } from '../../../../src/errors.js';
import { makeCsr, openssl, opensslStatus, tmp, writeTmp } from '../../../helpers/openssl.js';
import { makeSigner, renewalRequest, type KeySpec } from '../../../helpers/cmc-build.js';

const csr = makeCsr({ key: 'ec:P-256', subject: 'CN=renew.example.test' });
const rsa = makeSigner({ key: 'rsa:2048', subject: '/CN=old-rsa.example.test' });
const ec = makeSigner({ key: 'ec:P-256', subject: '/CN=old-ec.example.test' });

/** `openssl cms -verify -noverify` (signature only, no chain) and the content it extracts. */
function opensslVerify(der: Uint8Array): { code: number; out: string; content?: Buffer } {
  const dir = tmp('opences-p7-');
  const out = join(dir, 'content.der');
  const r = opensslStatus(['cms', '-verify', '-inform', 'DER', '-in', writeTmp(dir, 'in.p7', der), '-noverify', '-binary', '-out', out]);
  return { ...r, content: r.code === 0 ? readFileSync(out) : undefined };
}

/** SignedData made by `openssl cms -sign` over the CSR, with extra flags. */
function opensslSign(signer: { certFile: string; keyFile: string }, flags: string[] = []): Uint8Array {
  const dir = tmp('opences-p7-');
  const out = join(dir, 'out.p7');
  openssl(['cms', '-sign', '-binary', '-nodetach', '-outform', 'DER', '-in', writeTmp(dir, 'csr.der', csr.csrDer), '-signer', signer.certFile, '-inkey', signer.keyFile, '-out', out, ...flags]);
  return new Uint8Array(readFileSync(out));
}

function flipByteOf(haystack: Uint8Array, needle: Uint8Array, at: number): Uint8Array {
  const copy = Buffer.from(haystack);
  const start = copy.indexOf(Buffer.from(needle));
  expect(start).toBeGreaterThan(0);
  copy[start + at] ^= 0x01;
  return new Uint8Array(copy);
}

describe('buildSignedData (MS-WSTEP renewal) is read by openssl and by parseSignedData', () => {
  const cases: [string, KeySpec, { pss?: boolean; digest?: 'sha256' | 'sha384' | 'sha512' }][] = [
    ['RSA PKCS#1 v1.5 SHA-256', 'rsa:2048', {}],
    ['RSA-PSS SHA-256', 'rsa:2048', { pss: true }],
    ['RSA PKCS#1 v1.5 SHA-512', 'rsa:2048', { digest: 'sha512' }],
    ['ECDSA P-256', 'ec:P-256', {}],
    ['ECDSA P-384 SHA-384', 'ec:P-384', { digest: 'sha384' }],
  ];
  for (const [name, key, opts] of cases) {
    it(name, () => {
      const s = key === 'rsa:2048' ? rsa : key === 'ec:P-256' ? ec : makeSigner({ key });
      const p7 = renewalRequest({ csrDer: csr.csrDer, certDer: s.certDer, key: s.key, ...opts });
      const v = opensslVerify(p7);
      expect(v.out).toMatch(/Verification successful/);
      expect(v.code).toBe(0);
      expect(Buffer.compare(v.content!, csr.csrDer)).toBe(0);

      const r = parseSignedData(p7);
      expect(r.contentType).toBe(CMS_OID.data);
      expect(r.innerKind).toBe('pkcs10');
      expect(Buffer.compare(Buffer.from(r.content), csr.csrDer)).toBe(0);
      expect(r.certificates).toHaveLength(1);
      expect(r.signers).toHaveLength(1);
      const signer = r.signers[0]!;
      expect(signer).toMatchObject({ signatureValid: true, keySource: 'certificate', digestAlgorithm: opts.digest ?? 'sha256' });
      expect(signer.failure).toBeUndefined();
      expect(signer.sid.kind).toBe('issuerAndSerial');
      expect(Buffer.compare(Buffer.from(signer.certificateDer!), Buffer.from(s.certDer))).toBe(0);
      expect(signer.signedAttributes.map((a) => a.type)).toEqual(expect.arrayContaining([CMS_OID.contentType, CMS_OID.messageDigest, CMS_OID.signingTime]));
    });
  }

  it('reports signatureValid false when one byte of the content is changed', () => {
    const p7 = renewalRequest({ csrDer: csr.csrDer, certDer: rsa.certDer, key: rsa.key });
    const tampered = flipByteOf(p7, csr.csrDer, csr.csrDer.length - 1);
    expect(opensslVerify(tampered).code).not.toBe(0);
    const signer = parseSignedData(tampered).signers[0]!;
    expect(signer.signatureValid).toBe(false);
    expect(signer.failure).toMatch(/messageDigest/);
  });

  it('reports signatureValid false when the signature itself is changed', () => {
    const p7 = Buffer.from(renewalRequest({ csrDer: csr.csrDer, certDer: rsa.certDer, key: rsa.key }));
    p7[p7.length - 5] ^= 0x80; // inside the RSA signature, the last field
    expect(opensslVerify(p7).code).not.toBe(0);
    expect(parseSignedData(p7).signers[0]).toMatchObject({ signatureValid: false, failure: 'the signature does not verify' });
  });

  it('reports signatureValid false when a different key signed than the certificate names', () => {
    for (const [cert, key] of [
      [rsa, makeSigner({ key: 'rsa:2048' })],
      [ec, makeSigner({ key: 'ec:P-256' })],
      [rsa, ec], // and a key of another type
    ] as const) {
      const p7 = buildSignedData({ content: csr.csrDer, contentType: CMS_OID.data, signerCertDer: cert.certDer, signerKey: key.key });
      expect(opensslVerify(p7).code).not.toBe(0);
      const signer = parseSignedData(p7).signers[0]!;
      expect(signer.certificateDer).toBeDefined();
      expect(signer.signatureValid).toBe(false);
    }
  });

  it('reports signatureValid false when no certificate matches the signer', () => {
    const p7 = buildSignedData({ content: csr.csrDer, contentType: CMS_OID.data, subjectKeyIdentifier: new Uint8Array(20).fill(7), signerKey: rsa.key, extraCerts: [ec.certDer] });
    const signer = parseSignedData(p7).signers[0]!;
    expect(signer).toMatchObject({ signatureValid: false, failure: /no certificate/ });
    expect(signer.certificateDer).toBeUndefined();
  });
});

describe('parseSignedData reads what openssl cms -sign makes', () => {
  const variants: [string, () => Uint8Array, string][] = [
    ['RSA, issuerAndSerial, signed attributes', () => opensslSign(rsa), 'sha256'],
    ['ECDSA, subjectKeyIdentifier signer (-keyid)', () => opensslSign(ec, ['-keyid']), 'sha256'],
    ['RSA without signed attributes (-noattr)', () => opensslSign(rsa, ['-noattr']), 'sha256'],
    ['RSA-PSS, SHA-384', () => opensslSign(rsa, ['-md', 'sha384', '-keyopt', 'rsa_padding_mode:pss']), 'sha384'],
    ['indefinite-length BER (-stream)', () => opensslSign(ec, ['-stream']), 'sha256'],
  ];
  for (const [name, make, digest] of variants) {
    it(name, () => {
      const r = parseSignedData(make());
      expect(r.innerKind).toBe('pkcs10');
      expect(Buffer.compare(Buffer.from(r.content), csr.csrDer)).toBe(0);
      expect(r.signers).toHaveLength(1);
      expect(r.signers[0]).toMatchObject({ signatureValid: true, keySource: 'certificate', digestAlgorithm: digest });
    });
  }
});

describe('inner content detection', () => {
  const pki = buildPkiData({ csrDer: csr.csrDer });
  it('id-cct-PKIData content is CMC', () => {
    const r = parseSignedData(buildSignedData({ content: pki, contentType: CMC_OID.pkiData, signerCertDer: ec.certDer, signerKey: ec.key }));
    expect(r).toMatchObject({ contentType: CMC_OID.pkiData, innerKind: 'pkiData' });
    expect(r.signers[0]!.signatureValid).toBe(true);
  });
  it('id-data content is told apart by structure: PKIData or PKCS#10', () => {
    expect(parseSignedData(buildSignedData({ content: pki, contentType: CMS_OID.data, signerCertDer: ec.certDer, signerKey: ec.key })).innerKind).toBe('pkiData');
    expect(parseSignedData(buildSignedData({ content: csr.csrDer, contentType: CMS_OID.data, signerCertDer: ec.certDer, signerKey: ec.key })).innerKind).toBe('pkcs10');
    expect(parseSignedData(buildSignedData({ content: Buffer.from('hello'), contentType: CMS_OID.data, signerCertDer: ec.certDer, signerKey: ec.key })).innerKind).toBe('other');
  });
  it('requires signed attributes for a content type other than id-data (RFC 5652 §5.3)', () => {
    const dir = tmp('opences-p7-');
    const out = join(dir, 'out.p7');
    openssl(['cms', '-sign', '-binary', '-nodetach', '-noattr', '-econtent_type', CMC_OID.pkiData, '-outform', 'DER', '-in', writeTmp(dir, 'pki.der', pki), '-signer', ec.certFile, '-inkey', ec.keyFile, '-out', out]);
    const r = parseSignedData(new Uint8Array(readFileSync(out)));
    expect(r.innerKind).toBe('pkiData');
    expect(r.signers[0]).toMatchObject({ signatureValid: false, failure: /signed attributes are required/ });
  });
});

describe('buildCertsOnly', () => {
  it('is a degenerate PKCS#7 that openssl pkcs7 -print_certs lists in order', () => {
    const dir = tmp('opences-p7-');
    const out = openssl(['pkcs7', '-inform', 'DER', '-in', writeTmp(dir, 'c.p7b', buildCertsOnly([rsa.certDer, ec.certDer])), '-print_certs', '-noout']);
    expect(out).toMatch(/subject=CN = old-rsa\.example\.test[\s\S]*subject=CN = old-ec\.example\.test/);
  });
  it('carries no content, so parseSignedData refuses it as a request', () => {
    expect(() => parseSignedData(buildCertsOnly([rsa.certDer]))).toThrow(expect.objectContaining({ kind: 'malformed', message: expect.stringMatching(/carries no content/) }));
  });
});

describe('malformed PKCS#7', () => {
  it('names what is wrong', () => {
    const expectMalformed = (der: Uint8Array, message: RegExp): void => {
      let err: unknown;
      try {
        parseSignedData(der);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(OpencesError);
      expect(err).toMatchObject({ kind: 'malformed' });
      expect((err as Error).message).toMatch(message);
    };
    const p7 = renewalRequest({ csrDer: csr.csrDer, certDer: rsa.certDer, key: rsa.key });
    expectMalformed(p7.subarray(0, p7.length - 10), /not valid DER/);
    expectMalformed(Buffer.concat([p7, Buffer.from([0, 0])]), /trailing bytes/);
    expectMalformed(new Uint8Array(0), /empty/);
    expectMalformed(csr.csrDer, /SignedData/);
    // ContentInfo holding envelopedData
    expectMalformed(Buffer.from('300f06092a864886f70d010703a0023000', 'hex'), /not CMS SignedData \(content type 1\.2\.840\.113549\.1\.7\.3\)/);
  });
  it('refuses a builder call without a way to name the signer', () => {
    expect(() => buildSignedData({ content: csr.csrDer, contentType: CMS_OID.data, signerKey: rsa.key })).toThrow(OpencesError);
  });
});
