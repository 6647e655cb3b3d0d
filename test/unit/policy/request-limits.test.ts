import { describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { checkCertificateNames, checkRequestLimits, checkRequestSignatures, MAX_CSR_BYTES } from '../../../src/policy/request-limits.js';
import { checkSignatureHash, signatureHash } from '../../../src/ca/signature-policy.js';
import { nameBoundsProblem } from '../../../src/policy/name-bounds.js';
import { lintCertificate } from '../../../src/ca/lint.js';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import { parseCsr } from '../../../src/protocol/pkcs10/index.js';
import { explicit, integer, octetString, oid, seq, implicitPrim, utf8 } from '../../../src/ca/der.js';
import { HRESULT, OpencesError } from '../../../src/errors.js';
import { attribute, buildTestCsr, ext } from '../pkcs10/csr-builder.js';
import { refusal } from '../../helpers/thrown.js';

const web = defaultTemplates('1.3.6.1.4.1.311.21.8.1').find((t) => t.name === 'WebServer')!;
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const dnsNames = (n: number) => seq(...Array.from({ length: n }, (_, i) => implicitPrim(2, Buffer.from(`h${i}.example.test`))));


describe('request limits (src/policy/request-limits.ts)', () => {
  it('counts every requested SAN, kept or not, against the template limit (default 100, requests.maxSans)', () => {
    const at100 = parseCsr(buildTestCsr({ key: privateKey, extensions: [ext('2.5.29.17', dnsNames(100))] }));
    expect(refusal(() => checkRequestLimits(at100, web))).toBeNull();
    const over = parseCsr(buildTestCsr({ key: privateKey, extensions: [ext('2.5.29.17', dnsNames(101))] }));
    expect(refusal(() => checkRequestLimits(over, web))).toMatchObject({ kind: 'policyDenied', message: 'the request asks for 101 subject alternative names; the template WebServer allows at most 100', details: { hresult: HRESULT.CERTSRV_E_BAD_REQUESTSUBJECT } });
    expect(refusal(() => checkRequestLimits(at100, { ...web, requests: { maxSans: 5 } }))?.message).toMatch(/allows at most 5$/);
    // x400Address [3] names, which no template honours, count too.
    const odd = parseCsr(buildTestCsr({ key: privateKey, extensions: [ext('2.5.29.17', seq(...Array.from({ length: 101 }, () => Buffer.from([0xa3, 0x00]))))] }));
    expect(refusal(() => checkRequestLimits(odd, web))?.message).toMatch(/asks for 101 subject alternative names/);
  });

  it('refuses too many extensions and attribute values, and a CSR over the size limit', () => {
    const exts = Array.from({ length: 33 }, (_, i) => ext(`1.2.3.${i}`, Buffer.from([5, 0])));
    expect(refusal(() => checkRequestLimits(parseCsr(buildTestCsr({ key: privateKey, extensions: exts })), web))?.message).toBe('the request asks for 33 extensions; at most 32 are accepted');
    const attrs = Array.from({ length: 65 }, (_, i) => attribute(`1.2.3.4.${i}`, utf8('x')));
    expect(refusal(() => checkRequestLimits(parseCsr(buildTestCsr({ key: privateKey, attributes: attrs })), web))?.message).toMatch(/carries 6[56] attribute values; at most 64/);
    const big = parseCsr(buildTestCsr({ key: privateKey, attributes: [attribute('1.2.3.4', octetString(Buffer.alloc(MAX_CSR_BYTES)))] }));
    expect(refusal(() => checkRequestLimits(big, web))).toMatchObject({ kind: 'policyDenied', details: { hresult: HRESULT.E_INVALIDARG } });
  });

  it('applies the RFC 5280 upper bounds to the requested subject and to the names the certificate will carry', () => {
    expect(nameBoundsProblem([{ type: 'CN', value: 'a'.repeat(64) }], [])).toBeNull();
    expect(nameBoundsProblem([{ type: 'CN', value: 'a'.repeat(65) }], [])).toBe('the subject CN has 65 characters; RFC 5280 allows at most 64');
    expect(nameBoundsProblem([{ type: 'L', value: 'a'.repeat(128) }, { type: 'C', value: 'DE' }], [])).toBeNull();
    expect(nameBoundsProblem([{ type: 'C', value: 'DEU' }], [])).toMatch(/subject C has 3 characters; RFC 5280 allows at most 2/);
    // Characters, not UTF-16 units: 64 emoji are 64 characters.
    expect(nameBoundsProblem([{ type: 'CN', value: '😀'.repeat(64) }], [])).toBeNull();
    expect(() => checkCertificateNames([{ type: 'E', value: `${'a'.repeat(250)}@example.test` }], [], web)).toThrow(/subject E has 263 characters; RFC 5280 allows at most 255/);
  });

  it('the CA lint uses the same bounds (a refusal the RA denies, not an internal error)', () => {
    const lint = (subject: { type: string; value: string }[]) => () => lintCertificate({ subject, sans: [], notBefore: new Date(0), notAfter: new Date(1000), caNotAfter: new Date(2000), extensions: [] });
    expect(refusal(lint([{ type: 'CN', value: 'a'.repeat(64) }]))).toBeNull();
    expect(refusal(lint([{ type: 'CN', value: 'a'.repeat(5000) }]))).toMatchObject({ kind: 'policyDenied', message: 'pre-issuance lint failed: the subject CN has 5000 characters; RFC 5280 allows at most 64' });
  });
});

describe('request signature hashes (src/ca/signature-policy.ts)', () => {
  it('accepts SHA-256/384/512 and RSASSA-PSS with SHA-256; refuses SHA-1 unless the template allows legacy clients', () => {
    const strong = parseCsr(buildTestCsr({ key: rsa, signature: 'sha256' }));
    expect(refusal(() => checkRequestSignatures(strong, web))).toBeNull();
    expect(refusal(() => checkRequestSignatures(parseCsr(buildTestCsr({ key: rsa, signature: 'pss-sha256' })), web))).toBeNull();
    const sha1 = parseCsr(buildTestCsr({ key: privateKey, signature: 'sha1' }));
    expect(refusal(() => checkRequestSignatures(sha1, web))).toMatchObject({ kind: 'badSignature', message: expect.stringMatching(/request signature uses SHA-1, which this template does not accept/), details: { hresult: HRESULT.NTE_BAD_ALGID } });
    expect(refusal(() => checkRequestSignatures(sha1, { ...web, requests: { allowSha1Signatures: true } }))).toBeNull();
  });

  it('reads the hash of RSASSA-PSS parameters (absent means SHA-1, RFC 4055)', () => {
    const sha256 = seq(oid('2.16.840.1.101.3.4.2.1'));
    expect(signatureHash('1.2.840.113549.1.1.10', seq(explicit(0, sha256), explicit(2, integer(32))))).toBe('sha256');
    expect(signatureHash('1.2.840.113549.1.1.10', seq())).toBe('sha1');
    expect(signatureHash('1.2.840.113549.1.1.10')).toBe('sha1');
    expect(signatureHash('1.2.840.113549.1.1.10', seq(explicit(0, seq(oid('1.2.840.113549.2.5')))))).toBe('md5');
  });

  it('never accepts MD5 (not even for legacy clients), and names unknown algorithms', () => {
    expect(refusal(() => checkSignatureHash(signatureHash('1.2.840.113549.1.1.4'), 'the request signature', { allowSha1: true }))?.message).toBe('the request signature uses MD5, which is never accepted; use SHA-256 or stronger');
    expect(refusal(() => checkSignatureHash(signatureHash('1.2.3.4'), 'the request signature', {}, '1.2.3.4'))?.message).toBe('the request signature uses an unsupported algorithm (1.2.3.4); use SHA-256 or stronger');
    expect(signatureHash('1.3.101.112')).toBeNull();
    expect(refusal(() => checkSignatureHash(null, 'an Ed25519 signature'))).toBeNull();
  });

  it("judges a CMC or PKCS#7 signer's digest and signature hash too", () => {
    const csr = parseCsr(buildTestCsr({ key: privateKey }));
    expect(refusal(() => checkRequestSignatures(csr, web, { digestAlgorithm: 'sha256', signatureHash: 'sha256' }))).toBeNull();
    expect(refusal(() => checkRequestSignatures(csr, web, { digestAlgorithm: 'sha1', signatureHash: 'sha1' }))?.message).toMatch(/CMS signer digest uses SHA-1/);
    expect(refusal(() => checkRequestSignatures(csr, web, { digestAlgorithm: '1.2.840.113549.2.5' }))?.message).toMatch(/CMS signer digest uses MD5, which is never accepted/);
    expect(refusal(() => checkRequestSignatures(csr, { ...web, requests: { allowSha1Signatures: true } }, { digestAlgorithm: 'sha1', signatureHash: 'sha1' }))).toBeNull();
  });
});
