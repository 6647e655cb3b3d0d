import { describe, expect, it } from 'vitest';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { decodeBase64Token, describeSpki, oidString, parseCsr, splitCsr, verifyCsrSignature } from '../../../src/protocol/pkcs10/index.js';
import { bmp, integer, oid, seq } from '../../../src/ca/der.js';
import { OpencesError } from '../../../src/errors.js';
import { makeCsr, openssl, tmp, writeTmp } from '../../helpers/openssl.js';
import { buildTestCsr, challengePassword, ext, nameValuePair } from './csr-builder.js';

const derOf = (pem: string): Buffer => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');

/** A CSR made by the openssl CLI with extra `req` arguments (signature options). */
function opensslCsr(keyArgs: string[], reqArgs: string[]): Buffer {
  const d = tmp();
  const key = join(d, 'k.pem');
  openssl(['genpkey', ...keyArgs, '-out', key]);
  return derOf(openssl(['req', '-new', '-key', key, '-subj', '/CN=sig.example.test', ...reqArgs]));
}

describe('parseCsr', () => {
  it('reads subject, key, SANs of every kind and the MS template-name extension from an openssl RSA-2048 CSR', () => {
    const csr = makeCsr({
      key: 'rsa:2048',
      subject: 'C=DE/O=Example Org/OU=IT/CN=web01.example.test',
      sans: ['DNS:web01.example.test', 'DNS:www.example.test', 'IP:192.0.2.7', 'IP:2001:db8::1', 'email:ops@example.test', 'URI:https://example.test/x', 'otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice@example.test'],
      templateName: 'WebServer',
    });
    const p = parseCsr(csr.csrDer);
    expect(p.subject).toEqual([
      { type: 'C', value: 'DE' },
      { type: 'O', value: 'Example Org' },
      { type: 'OU', value: 'IT' },
      { type: 'CN', value: 'web01.example.test' },
    ]);
    expect(p.subjectString).toBe('C=DE, O=Example Org, OU=IT, CN=web01.example.test');
    expect(p.publicKey).toMatchObject({ algorithm: 'RSA', bits: 2048, exponent: 65537 });
    expect(p.sans).toEqual([
      { type: 'dns', value: 'web01.example.test' },
      { type: 'dns', value: 'www.example.test' },
      { type: 'ip', value: '192.0.2.7' },
      { type: 'ip', value: '2001:db8:0:0:0:0:0:1' },
      { type: 'email', value: 'ops@example.test' },
      { type: 'uri', value: 'https://example.test/x' },
      { type: 'upn', value: 'alice@example.test' },
    ]);
    expect(p.templateName).toBe('WebServer');
    expect(p.signatureAlgorithm).toBe('1.2.840.113549.1.1.11');
    expect(p.requestedExtensions).toEqual(['2.5.29.17', '1.3.6.1.4.1.311.20.2']);
    // the SPKI is the request's own bytes (openssl prints the same key)
    const d = tmp();
    const pub = derOf(openssl(['req', '-in', writeTmp(d, 'r.pem', csr.csrPem), '-noout', '-pubkey']));
    expect(Buffer.from(p.spki).equals(pub)).toBe(true);
  });

  it('reads a P-256 key and an empty subject', () => {
    const p = parseCsr(makeCsr({ key: 'ec:P-256', subject: 'CN=x', sans: ['DNS:x.example.test'] }).csrDer);
    expect(p.publicKey).toMatchObject({ algorithm: 'EC', curve: 'P-256', bits: 256 });
    const key = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey;
    const empty = parseCsr(buildTestCsr({ key, subject: [], extensions: [ext('2.5.29.17', seq(Buffer.from([0x82, 0x03, 0x61, 0x2e, 0x62])))] }));
    expect(empty.subject).toEqual([]);
    expect(empty.publicKey).toMatchObject({ algorithm: 'EC', curve: 'P-384' });
    expect(empty.sans).toEqual([{ type: 'dns', value: 'a.b' }]);
  });

  it('reads the template extension 1.3.6.1.4.1.311.21.7, enrollment name-value pairs and challengePassword', () => {
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const der = buildTestCsr({
      key,
      extensions: [ext('1.3.6.1.4.1.311.21.7', seq(oid('1.3.6.1.4.1.311.21.8.1.2.3'), integer(100), integer(4))), ext('1.3.6.1.4.1.311.20.2', bmp('User'))],
      attributes: [nameValuePair('CertificateTemplate', 'WebServer'), nameValuePair('ccm', 'client.example.test'), challengePassword('s3cret')],
    });
    const p = parseCsr(der);
    expect(p.templateOid).toEqual({ oid: '1.3.6.1.4.1.311.21.8.1.2.3', majorVersion: 100, minorVersion: 4 });
    expect(p.templateName).toBe('User');
    expect(p.nameValuePairs).toEqual({ CertificateTemplate: 'WebServer', ccm: 'client.example.test' });
    expect(p.challengePassword).toBe('s3cret');
    expect(p.attributes.map((a) => a.type)).toEqual(['1.2.840.113549.1.9.14', '1.3.6.1.4.1.311.13.2.1', '1.3.6.1.4.1.311.13.2.1', '1.2.840.113549.1.9.7']);
    // and openssl agrees the request is well-formed and self-signed
    expect(openssl(['req', '-inform', 'DER', '-noout', '-verify'], der).length).toBeGreaterThanOrEqual(0);
  });

  it('refuses a request asking for one extension twice', () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    const san = ext('2.5.29.17', seq(Buffer.from([0x82, 0x01, 0x61])));
    expect(() => parseCsr(buildTestCsr({ key, extensions: [san, san] }))).toThrow(/extension 2\.5\.29\.17 twice/);
  });

  it('turns truncation at every length and trailing bytes into badCsr, never a crash', () => {
    const der = makeCsr({ key: 'ec:P-256', sans: ['DNS:t.example.test'] }).csrDer;
    for (let n = 0; n < der.length; n++) {
      expect(() => parseCsr(der.subarray(0, n)), `length ${n}`).toThrow(OpencesError);
      expect(() => splitCsr(der.subarray(0, n)), `length ${n}`).toThrow(OpencesError);
    }
    expect(() => parseCsr(Buffer.concat([der, Buffer.from([0])]))).toThrow(/trailing bytes/);
    expect(() => splitCsr(Buffer.concat([der, Buffer.from([0])]))).toThrow(/trailing bytes/);
    expect(() => parseCsr(Buffer.from('not a csr at all, just text.'))).toThrow(expect.objectContaining({ kind: 'badCsr' }));
  });
});

describe('verifyCsrSignature (proof of possession)', () => {
  const cases: [string, () => Buffer][] = [
    ['RSA PKCS#1 v1.5 SHA-256 (openssl)', () => makeCsr({ key: 'rsa:2048' }).csrDer],
    ['RSA PKCS#1 v1.5 SHA-384 (openssl)', () => opensslCsr(['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], ['-sha384'])],
    ['RSA PKCS#1 v1.5 SHA-512 (openssl)', () => opensslCsr(['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], ['-sha512'])],
    ['RSASSA-PSS SHA-256 salt 32 (openssl)', () => opensslCsr(['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], ['-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'])],
    ['RSASSA-PSS SHA-512 salt = digest (openssl)', () => opensslCsr(['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], ['-sha512', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:digest'])],
    ['RSASSA-PSS SHA-256 (node)', () => buildTestCsr({ key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, signature: 'pss-sha256' })],
    ['ECDSA P-256 SHA-256 (openssl)', () => makeCsr({ key: 'ec:P-256' }).csrDer],
    ['ECDSA P-384 SHA-384 (openssl)', () => opensslCsr(['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], ['-sha384'])],
    ['ECDSA P-256 SHA-512 (node)', () => buildTestCsr({ key: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey, signature: 'sha512' })],
    ['Ed25519 (openssl)', () => opensslCsr(['-algorithm', 'ED25519'], [])],
  ];
  for (const [name, make] of cases) {
    it(`accepts ${name}, and refuses it once one bit of the signed part or the signature changes`, async () => {
      const der = make();
      expect(await verifyCsrSignature(der)).toBe(true);
      const parts = splitCsr(der);
      // flip a bit inside the subject (signed part)
      const signedFlip = Buffer.from(der);
      const cnAt = signedFlip.indexOf(Buffer.from('example'));
      if (cnAt > 0) {
        signedFlip[cnAt] ^= 0x01;
        expect(await verifyCsrSignature(signedFlip)).toBe(false);
      }
      const sigFlip = Buffer.from(der);
      sigFlip[sigFlip.length - 1 - Math.floor(parts.signature.length / 2)] ^= 0x01;
      expect(await verifyCsrSignature(sigFlip)).toBe(false);
      // Verified bytes are remembered by their content: the same buffer changed in place after a
      // successful check is checked again, not believed.
      const reused = Buffer.from(der);
      expect(await verifyCsrSignature(reused)).toBe(true);
      reused[reused.length - 1 - Math.floor(parts.signature.length / 2)] ^= 0x01;
      expect(await verifyCsrSignature(reused)).toBe(false);
    });
  }

  it('refuses a request whose signature algorithm does not match its key', async () => {
    const der = makeCsr({ key: 'rsa:2048' }).csrDer;
    const swapped = Buffer.from(der);
    // sha256WithRSAEncryption → ecdsa-with-SHA256 has a different length, so swap to sha384WithRSA instead
    const at = swapped.lastIndexOf(Buffer.from([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]));
    swapped[at + 8] = 0x0c;
    expect(await verifyCsrSignature(swapped)).toBe(false);
  });

  it('refuses an unknown signature algorithm', async () => {
    const der = makeCsr({ key: 'rsa:2048' }).csrDer;
    const b = Buffer.from(der);
    const at = b.lastIndexOf(Buffer.from([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]));
    b[at + 8] = 0x7f;
    expect(await verifyCsrSignature(b)).toBe(false);
  });

  it('the fast key reader agrees with node:crypto on RSA, P-256, P-384 and Ed25519 keys', () => {
    for (const [type, o] of [
      ['rsa', { modulusLength: 3072, publicExponent: 3 }],
      ['ec', { namedCurve: 'prime256v1' }],
      ['ec', { namedCurve: 'secp384r1' }],
      ['ed25519', {}],
    ] as const) {
      const { publicKey } = generateKeyPairSync(type as 'rsa', o as unknown as { modulusLength: number });
      const spki = publicKey.export({ type: 'spki', format: 'der' });
      const d = describeSpki(spki);
      expect(Buffer.from(d.key!.export({ type: 'spki', format: 'der' })).equals(spki)).toBe(true);
      if (type === 'rsa') expect(d.publicKey).toMatchObject({ algorithm: 'RSA', bits: 3072, exponent: 3 });
    }
  });

  it('an EC point that is not on the curve is refused as a bad public key', () => {
    const spki = Buffer.from(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' }));
    spki[spki.length - 1] ^= 0x01; // y no longer matches x
    expect(() => describeSpki(spki)).toThrow(expect.objectContaining({ kind: 'badPublicKey' }));
  });

  it('oidString decodes large arcs', () => {
    expect(oidString(oid('1.3.6.1.4.1.311.21.8.16290613.1234567890123'))).toBe('1.3.6.1.4.1.311.21.8.16290613.1234567890123');
    expect(oidString(oid('2.999.3'))).toBe('2.999.3');
  });
});

describe('decodeBase64Token', () => {
  const der = makeCsr().csrDer;
  const b64 = der.toString('base64');

  it('accepts line breaks, &#xD; remnants, PEM armour and missing padding', () => {
    const wrapped = b64.replace(/(.{64})/g, '$1&#xD;\r\n');
    expect(Buffer.from(decodeBase64Token(wrapped)).equals(der)).toBe(true);
    expect(Buffer.from(decodeBase64Token(`-----BEGIN NEW CERTIFICATE REQUEST-----\n${b64}\n-----END NEW CERTIFICATE REQUEST-----\n`)).equals(der)).toBe(true);
    expect(Buffer.from(decodeBase64Token(b64.replace(/(.{76})/g, '$1&#13;\n'))).equals(der)).toBe(true);
    expect(Buffer.from(decodeBase64Token(Buffer.from('abcd1').toString('base64').replace(/=+$/, ''))).toString()).toBe('abcd1');
  });

  it('refuses what is not base64, with a clear message', () => {
    expect(() => decodeBase64Token('')).toThrow(/is empty/);
    expect(() => decodeBase64Token('MIIB!!', 'BinarySecurityToken')).toThrow(/BinarySecurityToken is not valid base64/);
    expect(() => decodeBase64Token('abcde')).toThrow(/bad length or padding/);
    expect(() => decodeBase64Token('ab=c')).toThrow(OpencesError);
    expect(() => decodeBase64Token('abc==')).toThrow(/padding/);
    expect(() => decodeBase64Token(readFileSync(join(__dirname, '../../fixtures/bad/csr/bad_base64.b64'), 'utf8'))).toThrow(expect.objectContaining({ kind: 'malformed' }));
  });
});

describe('test CSR builder sanity', () => {
  it('builds requests openssl accepts', () => {
    const key = createPrivateKey(makeCsr({ key: 'ec:P-256' }).keyPem);
    const der = buildTestCsr({ key, attributes: [nameValuePair('CertificateTemplate', 'User')] });
    expect(openssl(['req', '-inform', 'DER', '-noout', '-text', '-verify'], der)).toContain('1.3.6.1.4.1.311.13.2.1');
  });
});
