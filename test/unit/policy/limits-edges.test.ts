import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { implicitPrim, octetString, oid, seq, set, utf8 } from '../../../src/ca/der.js';
import { HRESULT, OpencesError } from '../../../src/errors.js';
import { defaultTemplates, generateEnterpriseArc } from '../../../src/policy/defaults.js';
import { checkCertificateNames, checkRequestLimits, checkRequestSignatures, MAX_CSR_BYTES, maxSansOf } from '../../../src/policy/request-limits.js';
import { parseCsr } from '../../../src/protocol/pkcs10/index.js';
import { attribute, buildTestCsr, ext } from '../pkcs10/csr-builder.js';
import { refusal } from '../../helpers/thrown.js';

const web = defaultTemplates('1.3.6.1.4.1.311.21.8.1').find((t) => t.name === 'WebServer')!;
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const dnsNames = (n: number) => seq(...Array.from({ length: n }, (_, i) => implicitPrim(2, Buffer.from(`h${i}.example.test`))));


describe('request limits at their edges (src/policy/request-limits.ts)', () => {
  it('a template cannot raise the SAN limit past the shared ceiling of 256', () => {
    expect(maxSansOf(web)).toBe(100);
    expect(maxSansOf({ ...web, requests: { maxSans: 1000 } })).toBe(256);
    expect(maxSansOf({ ...web, requests: {} })).toBe(100);
    const many = parseCsr(buildTestCsr({ key: privateKey, extensions: [ext('2.5.29.17', dnsNames(257))] }));
    expect(refusal(() => checkRequestLimits(many, { ...web, requests: { maxSans: 1000 } }))?.message).toBe('the request asks for 257 subject alternative names; the template WebServer allows at most 256');
  });

  it('32 requested extensions and 64 attribute values are accepted', () => {
    const exts = Array.from({ length: 32 }, (_, i) => ext(`1.2.3.${i}`, Buffer.from([5, 0])));
    expect(refusal(() => checkRequestLimits(parseCsr(buildTestCsr({ key: privateKey, extensions: exts })), web))).toBeNull();
    // 63 attributes of our own plus the extension request the builder adds: 64 values.
    const attrs = Array.from({ length: 63 }, (_, i) => attribute(`1.2.3.4.${i}`, utf8('x')));
    const csr = parseCsr(buildTestCsr({ key: privateKey, attributes: attrs, extensions: [ext('1.2.3', Buffer.from([5, 0]))] }));
    expect(csr.attributes.reduce((n, a) => n + a.values.length, 0)).toBe(64);
    expect(refusal(() => checkRequestLimits(csr, web))).toBeNull();
  });

  it('a request of exactly 128 KiB is accepted, one byte more is not', () => {
    // Ed25519: a signature of fixed size, so the request's size follows the padding exactly.
    const ed = generateKeyPairSync('ed25519').privateKey;
    const csrOf = (pad: number) => buildTestCsr({ key: ed, attributes: [attribute('1.2.3.4', octetString(Buffer.alloc(pad)))] });
    const pad = MAX_CSR_BYTES - 300 + (MAX_CSR_BYTES - csrOf(MAX_CSR_BYTES - 300).length);
    const at = parseCsr(csrOf(pad));
    expect(at.der.length).toBe(MAX_CSR_BYTES);
    expect(refusal(() => checkRequestLimits(at, web))).toBeNull();
    expect(refusal(() => checkRequestLimits(parseCsr(csrOf(pad + 1)), web))).toMatchObject({ kind: 'policyDenied', message: `the certificate request is ${MAX_CSR_BYTES + 1} bytes; at most ${MAX_CSR_BYTES} are accepted`, details: { hresult: HRESULT.E_INVALIDARG } });
  });

  it('a requested subject past its bound is denied as a bad subject', () => {
    // Encoded by hand: our own name encoder refuses to write it.
    const long = parseCsr(buildTestCsr({ key: privateKey, subjectDer: seq(set(seq(oid('2.5.4.3'), utf8('a'.repeat(65))))) }));
    expect(refusal(() => checkRequestLimits(long, web))).toMatchObject({ kind: 'policyDenied', message: 'the subject CN has 65 characters; RFC 5280 allows at most 64', details: { hresult: HRESULT.CERTSRV_E_BAD_REQUESTSUBJECT } });
  });

  it("the certificate's names are held to the template's own SAN limit", () => {
    const sans = Array.from({ length: 6 }, (_, i) => ({ type: 'dns' as const, value: `h${i}.example.test` }));
    expect(refusal(() => checkCertificateNames([], sans.slice(0, 5), { ...web, requests: { maxSans: 5 } }))).toBeNull();
    expect(refusal(() => checkCertificateNames([], sans, { ...web, requests: { maxSans: 5 } }))).toMatchObject({ kind: 'policyDenied', message: 'the request asks for 6 subject alternative names; at most 5 are allowed', details: { hresult: HRESULT.CERTSRV_E_BAD_REQUESTSUBJECT } });
  });

  it("a CMS signer's hashes are judged only when the decoder reports them, and its signature hash with its own name", () => {
    const csr = parseCsr(buildTestCsr({ key: privateKey }));
    expect(refusal(() => checkRequestSignatures(csr, web, {}))).toBeNull();
    expect(refusal(() => checkRequestSignatures(csr, web, { digestAlgorithm: 'sha256', signatureHash: null }))).toBeNull();
    expect(refusal(() => checkRequestSignatures(csr, web, { signatureHash: 'sha1' }))?.message).toMatch(/^the request's CMS signer signature uses SHA-1/);
  });
});

describe('the enterprise OID arc (src/policy/defaults.ts)', () => {
  it('is six 24-bit numbers from 24 random bytes under 1.3.6.1.4.1.311.21.8', () => {
    const asked: number[] = [];
    const bytes = Buffer.from([0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 0, 0xff, 0xff, 0xfe]);
    const arc = generateEnterpriseArc((n) => (asked.push(n), new Uint8Array(bytes)));
    expect(asked).toEqual([24]);
    expect(arc).toBe(`1.3.6.1.4.1.311.21.8.1.${0xffffff}.0.${0x345678}.0.${0xfffffe}`);
  });
});
