/**
 * parseCsr walks DER headers (src/protocol/der-reader.ts) instead of asn1js/pkijs trees: requests
 * made by `openssl req` decode to the expected fields, string types included, and hostile
 * variants give the expected badCsr messages.
 */
import { describe, expect, it } from 'vitest';
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCsr } from '../../../src/protocol/pkcs10/csr.js';
import { sanEntriesFromDer } from '../../../src/protocol/pkcs10/names.js';
import { bitString, bmp, implicitCons, integer, octetString, oid, seq, set, tlv, utf8 } from '../../../src/ca/der.js';
import { OpencesError } from '../../../src/errors.js';
import { openssl, tmp } from '../../helpers/openssl.js';

const dir = tmp('opences-csr-der-');
const keyFile = join(dir, 'key.pem');
openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile]);
const privateKey = createPrivateKey(readFileSync(keyFile));

let n = 0;
/** `openssl req -new` with a whole config file (the way makeCsr does, with more knobs). */
function opensslCsr(config: string): Buffer {
  const cnf = join(dir, `req${++n}.cnf`);
  writeFileSync(cnf, config);
  const pem = openssl(['req', '-new', '-key', keyFile, '-config', cnf]);
  return Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
}

/** A request with exactly the given Name and attribute TLVs (signed, though parseCsr does not check). */
function rawCsr(name: Uint8Array, attributes: Uint8Array[], key: KeyObject = privateKey, version = 0): Buffer {
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const info = seq(integer(version), name, spki, implicitCons(0, attributes));
  return seq(info, seq(oid('1.2.840.10045.4.3.2')), bitString(sign('sha256', info, { key, dsaEncoding: 'der' })));
}
const cn = (value: Uint8Array): Buffer => seq(set(seq(oid('2.5.4.3'), value)));
const extensionRequest = (...exts: Uint8Array[]): Buffer => seq(oid('1.2.840.113549.1.9.14'), set(seq(...exts)));
const ext = (id: string, value: Uint8Array): Buffer => seq(oid(id), octetString(value));

function badCsr(der: Uint8Array): OpencesError {
  try {
    parseCsr(der);
  } catch (e) {
    expect(e).toBeInstanceOf(OpencesError);
    expect((e as OpencesError).kind).toBe('badCsr');
    return e as OpencesError;
  }
  throw new Error('parseCsr accepted the request');
}

describe('parseCsr over openssl requests', () => {
  it('reads UPN, IP (v4 and v6), email, URI, DNS, dirName and RID SANs and a BMPString template name', () => {
    const der = opensslCsr(`[req]
distinguished_name=dn
prompt=no
req_extensions=ext
[dn]
CN=web01.example.test
[ext]
subjectAltName=DNS:web01.example.test,IP:192.0.2.7,IP:2001:db8::1,email:ops@example.test,URI:https://example.test/p?q=1,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice@example.test,otherName:1.2.3.4;UTF8:other,dirName:dir_sect,RID:1.2.3.4
1.3.6.1.4.1.311.20.2=ASN1:BMPSTRING:WebServer
[dir_sect]
CN=in a dirName
`);
    const p = parseCsr(der);
    expect(p.subject).toEqual([{ type: 'CN', value: 'web01.example.test' }]);
    expect(p.sans).toEqual([
      { type: 'dns', value: 'web01.example.test' },
      { type: 'ip', value: '192.0.2.7' },
      { type: 'ip', value: '2001:db8:0:0:0:0:0:1' },
      { type: 'email', value: 'ops@example.test' },
      { type: 'uri', value: 'https://example.test/p?q=1' },
      { type: 'upn', value: 'alice@example.test' },
    ]);
    expect(p.unsupportedSans).toEqual(['otherName', 'GeneralName[4]', 'GeneralName[8]']);
    expect(p.templateName).toBe('WebServer');
    expect(p.requestedExtensions).toEqual(['2.5.29.17', '1.3.6.1.4.1.311.20.2']);
    expect(p.signatureAlgorithm).toBe('1.2.840.10045.4.3.2');
    expect(p.publicKey).toMatchObject({ algorithm: 'EC', curve: 'P-256', bits: 256 });
    const pub = openssl(['req', '-inform', 'DER', '-noout', '-pubkey'], der);
    expect(Buffer.from(p.spki).equals(Buffer.from(pub.replace(/-----[^-]+-----|\s/g, ''), 'base64'))).toBe(true);
    expect(p.attributes).toHaveLength(1);
    expect(p.attributes[0]!.type).toBe('1.2.840.113549.1.9.14');
    expect(p.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('reads a BMPString template name with characters outside Latin-1, and challengePassword', () => {
    const p = parseCsr(
      opensslCsr(`[req]
distinguished_name=dn
prompt=no
utf8=yes
req_extensions=ext
attributes=attrs
[dn]
CN=t.example.test
[ext]
1.3.6.1.4.1.311.20.2=ASN1:FORMAT:UTF8,BMPSTRING:Vorlage-Ω
[attrs]
challengePassword=s3cret-pw
`),
    );
    expect(p.templateName).toBe('Vorlage-Ω');
    expect(p.challengePassword).toBe('s3cret-pw');
    expect(p.attributes.map((a) => a.type)).toEqual(['1.2.840.113549.1.9.7', '1.2.840.113549.1.9.14']);
  });

  it('decodes UTF8String subjects (accents, CJK, astral characters) and escapes the subject string', () => {
    const p = parseCsr(
      opensslCsr(`[req]
distinguished_name=dn
prompt=no
utf8=yes
string_mask=utf8only
[dn]
C=DE
O=Jürgen & Söhne, GmbH
OU=日本 😀
CN=müller.example.test
`),
    );
    expect(p.subject).toEqual([
      { type: 'C', value: 'DE' },
      { type: 'O', value: 'Jürgen & Söhne, GmbH' },
      { type: 'OU', value: '日本 😀' },
      { type: 'CN', value: 'müller.example.test' },
    ]);
    expect(p.subjectString).toBe('C=DE, O=Jürgen & Söhne\\, GmbH, OU=日本 😀, CN=müller.example.test');
    expect(p.sans).toEqual([]);
    expect(p.requestedExtensions).toEqual([]);
  });

  it('decodes PrintableString, TeletexString and BMPString subject values (string_mask=default)', () => {
    const der = opensslCsr(`[req]
distinguished_name=dn
prompt=no
utf8=yes
string_mask=default
[dn]
O=Café Zürich
OU=Ωmega Ω
CN=plain.example.test
`);
    // openssl chose T61String (0x14) for Latin-1 and BMPString (0x1e) beyond it
    expect(der.includes(Buffer.from([0x14, 0x0b]))).toBe(true);
    expect(der.includes(Buffer.from([0x1e, 0x0e]))).toBe(true);
    expect(parseCsr(der).subject).toEqual([
      { type: 'O', value: 'Café Zürich' },
      { type: 'OU', value: 'Ωmega Ω' },
      { type: 'CN', value: 'plain.example.test' },
    ]);
  });
});

describe('parseCsr string types and structure', () => {
  it('decodes UniversalString, IA5String, NumericString, VisibleString; other types give an empty value', () => {
    const u32 = Buffer.alloc(8);
    u32.writeUInt32BE(0x1f600, 0);
    u32.writeUInt32BE(0x41, 4);
    const name = seq(
      set(seq(oid('2.5.4.3'), tlv(0x1c, u32))),
      set(seq(oid('0.9.2342.19200300.100.1.25'), tlv(0x16, Buffer.from('example')))),
      set(seq(oid('2.5.4.5'), tlv(0x12, Buffer.from('12345')))),
      set(seq(oid('2.5.4.11'), tlv(0x1a, Buffer.from('vis'))), seq(oid('1.2.3.4.5'), integer(7))),
    );
    expect(parseCsr(rawCsr(name, [])).subject).toEqual([
      { type: 'CN', value: '😀A' },
      { type: 'DC', value: 'example' },
      { type: 'SERIALNUMBER', value: '12345' },
      { type: 'OU', value: 'vis' },
      { type: '1.2.3.4.5', value: '' },
    ]);
  });

  it('reads the template extension, name-value pairs and keeps unknown attributes raw', () => {
    const unknown = seq(oid('1.2.3.4.5.6'), set(integer(5), utf8('x')));
    const der = rawCsr(cn(utf8('x')), [
      extensionRequest(ext('1.3.6.1.4.1.311.21.7', seq(oid('1.3.6.1.4.1.311.21.8.1.2'), integer(100), integer(3))), ext('1.2.3.9', Buffer.from([0xff, 0xff]))),
      seq(oid('1.3.6.1.4.1.311.13.2.1'), set(seq(bmp('CertificateTemplate'), bmp('User')))),
      unknown,
    ]);
    const p = parseCsr(der);
    expect(p.templateOid).toEqual({ oid: '1.3.6.1.4.1.311.21.8.1.2', majorVersion: 100, minorVersion: 3 });
    expect(p.nameValuePairs).toEqual({ CertificateTemplate: 'User' });
    expect(p.requestedExtensions).toEqual(['1.3.6.1.4.1.311.21.7', '1.2.3.9']);
    expect(p.attributes[2]).toEqual({ type: '1.2.3.4.5.6', values: [new Uint8Array(integer(5)), new Uint8Array(utf8('x'))] });
  });

  it('sanEntriesFromDer reads GeneralNames as certificate-names.ts passes them', () => {
    const gn = seq(tlv(0x82, Buffer.from('a.example')), tlv(0x87, Buffer.from([10, 0, 0, 1])), tlv(0xa0, [oid('1.3.6.1.4.1.311.20.2.3'), tlv(0xa0, utf8('bob@example.test'))]), tlv(0x89, Buffer.from([1])));
    expect(sanEntriesFromDer(gn)).toEqual({
      sans: [
        { type: 'dns', value: 'a.example' },
        { type: 'ip', value: '10.0.0.1' },
        { type: 'upn', value: 'bob@example.test' },
      ],
      unsupported: ['GeneralName[9]'],
    });
    // a UPN that is not a UTF8String is not taken as one
    expect(sanEntriesFromDer(seq(tlv(0xa0, [oid('1.3.6.1.4.1.311.20.2.3'), tlv(0xa0, tlv(0x16, Buffer.from('x@y')))]))).unsupported).toEqual(['otherName']);
  });
});

describe('parseCsr refuses hostile variants with badCsr', () => {
  const san = ext('2.5.29.17', seq(tlv(0x82, Buffer.from('a.example'))));

  it('a duplicate extension', () => {
    expect(badCsr(rawCsr(cn(utf8('x')), [extensionRequest(san, san)])).message).toBe('the request asks for extension 2.5.29.17 twice');
  });

  it('an extension value with trailing bytes, or one that is not DER inside', () => {
    const trailing = ext('2.5.29.17', Buffer.concat([seq(tlv(0x82, Buffer.from('a.example'))), Buffer.from([0x00, 0x00])]));
    expect(badCsr(rawCsr(cn(utf8('x')), [extensionRequest(trailing)])).message).toBe('a requested extension value is not valid DER');
    const overrun = ext('1.3.6.1.4.1.311.20.2', Buffer.from([0x30, 0x03, 0x1e, 0x05, 0x00]));
    expect(badCsr(rawCsr(cn(utf8('x')), [extensionRequest(overrun)])).message).toBe('a requested extension value is not valid DER');
  });

  it('a truncated attribute: values cut off (lengths fixed up), or cut inside (lengths left)', () => {
    expect(badCsr(rawCsr(cn(utf8('x')), [seq(oid('1.2.840.113549.1.9.7'))])).message).toBe('the certificate request has a malformed attribute or extension');
    expect(badCsr(rawCsr(cn(utf8('x')), [seq(oid('1.2.840.113549.1.9.14'), set())])).message).toBe('the certificate request has a malformed attribute or extension');
    expect(badCsr(rawCsr(cn(utf8('x')), [extensionRequest(seq(oid('2.5.29.17')))])).message).toBe('the certificate request has a malformed attribute or extension');
    // the challengePassword's SET claims one byte more than the attribute holds
    const good = rawCsr(cn(utf8('x')), [seq(oid('1.2.840.113549.1.9.7'), set(utf8('pw')))]);
    const cut = Buffer.from(good);
    const at = cut.indexOf(Buffer.from([0x31, 0x04, 0x0c, 0x02]));
    cut[at + 1] = 0x05;
    expect(badCsr(cut).message).toBe('the certificate request is not valid DER (truncated or corrupt)');
  });

  it('a malformed template extension, a SAN that is not GeneralNames, a bad iPAddress', () => {
    expect(badCsr(rawCsr(cn(utf8('x')), [extensionRequest(ext('1.3.6.1.4.1.311.21.7', seq(integer(1))))])).message).toBe('the certificate template extension (1.3.6.1.4.1.311.21.7) is malformed');
    expect(badCsr(rawCsr(cn(utf8('x')), [extensionRequest(ext('2.5.29.17', utf8('a.example')))])).message).toBe('the certificate request has a malformed attribute or extension');
    expect(badCsr(rawCsr(cn(utf8('x')), [extensionRequest(ext('2.5.29.17', seq(tlv(0x87, Buffer.from([1, 2, 3])))))])).message).toBe('the certificate request has a malformed attribute or extension');
  });

  it('outer structure: version, Name, trailing bytes, indefinite length, not a request', () => {
    expect(badCsr(rawCsr(cn(utf8('x')), [], privateKey, 1)).message).toBe('unsupported certificate request version 1');
    expect(badCsr(rawCsr(seq(seq(oid('2.5.4.3'), utf8('x'))), [])).message).toBe('the data is not a PKCS#10 certificate request');
    const der = rawCsr(cn(utf8('x')), []);
    expect(badCsr(Buffer.concat([der, Buffer.from([0x05, 0x00])])).message).toBe('the certificate request has trailing bytes');
    const indefinite = Buffer.concat([Buffer.from([0x30, 0x80]), der.subarray(der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2), Buffer.from([0, 0])]);
    expect(badCsr(indefinite).message).toBe('the certificate request is not valid DER (truncated or corrupt)');
    expect(badCsr(seq(integer(0), integer(1), integer(2), integer(3), integer(4), integer(5))).message).toBe('the data is not a PKCS#10 certificate request');
    expect(badCsr(der.subarray(0, 10)).message).toBe('the certificate request is truncated');
  });
});
