import { describe, expect, it } from 'vitest';
import * as asn1js from 'asn1js';
import { bitString, bmp, boolean, child, explicit, generalizedTime, ia5, implicitCons, implicitPrim, integer, integerFromBytes, octetString, oid, printable, readTlv, seq, set, setOf, time, tlv, utcTime, utf8 } from '../../../src/ca/der.js';
import { OpencesError } from '../../../src/errors.js';
import { openssl } from '../../helpers/openssl.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('DER encoder', () => {
  it('encodes lengths in short and long form (127, 128, 255, 256, 65536)', () => {
    for (const n of [0, 1, 127, 128, 255, 256, 65535, 65536]) {
      const v = tlv(0x04, Buffer.alloc(n, 0xab));
      const r = asn1js.fromBER(v);
      expect(r.offset, `length ${n}`).toBe(v.length);
      expect((r.result as asn1js.OctetString).valueBlock.valueHexView.length).toBe(n);
    }
    expect(hex(tlv(0x04, Buffer.alloc(128)).subarray(0, 3))).toBe('048180');
    expect(hex(tlv(0x04, Buffer.alloc(256)).subarray(0, 4))).toBe('04820100');
  });

  it('encodes INTEGERs minimally and positive', () => {
    expect(hex(integer(0))).toBe('020100');
    expect(hex(integer(127))).toBe('02017f');
    expect(hex(integer(128))).toBe('02020080');
    expect(hex(integer(256))).toBe('02020100');
    expect(hex(integer(2n ** 64n))).toBe('0209010000000000000000');
    expect(hex(integerFromBytes(Buffer.from('0000ff', 'hex')))).toBe('020200ff');
    expect(hex(integerFromBytes(Buffer.from('00007f', 'hex')))).toBe('02017f');
    expect(hex(integerFromBytes(Buffer.from('8001', 'hex')))).toBe('0203008001');
    expect(() => integer(-1)).toThrow();
  });

  it('encodes OIDs, including large arcs, as openssl reads them', () => {
    expect(hex(oid('1.2.840.113549.1.1.11'))).toBe('06092a864886f70d01010b');
    expect(hex(oid('2.5.29.17'))).toBe('0603551d11');
    const big = oid('1.3.6.1.4.1.311.21.8.16290613.5467891.2147483648');
    expect(openssl(['asn1parse', '-inform', 'DER'], big)).toContain('1.3.6.1.4.1.311.21.8.16290613.5467891.2147483648');
    expect(hex(oid('2.999'))).toBe('06028837');
  });

  it('encodes strings with their tags', () => {
    expect(hex(utf8('é'))).toBe('0c02c3a9');
    expect(hex(printable('DE'))).toBe('13024445');
    expect(hex(ia5('a@b'))).toBe('1603614062');
    expect(hex(bmp('Us'))).toBe('1e0400550073');
    expect(hex(boolean(true))).toBe('0101ff');
    expect(hex(boolean(false))).toBe('010100');
    expect(hex(bitString(Buffer.from([0x80]), 7))).toBe('03020780');
    expect(hex(octetString(Buffer.from([1])))).toBe('040101');
  });

  it('uses UTCTime through 2049 and GeneralizedTime from 2050 (RFC 5280 4.1.2.5), whole seconds, Z', () => {
    expect(Buffer.from(time(new Date('2049-12-31T23:59:59.999Z'))).toString('latin1').slice(2)).toBe('491231235959Z');
    expect(time(new Date('2049-12-31T23:59:59Z'))[0]).toBe(0x17);
    expect(time(new Date('2050-01-01T00:00:00Z'))[0]).toBe(0x18);
    expect(Buffer.from(time(new Date('2050-01-01T00:00:00Z'))).toString('latin1').slice(2)).toBe('20500101000000Z');
    expect(time(new Date('1949-12-31T23:59:59Z'))[0]).toBe(0x18);
    expect(Buffer.from(generalizedTime(new Date('2026-03-04T05:06:07Z'))).toString('latin1').slice(2)).toBe('20260304050607Z');
    expect(() => utcTime(new Date('2050-01-01T00:00:00Z'))).toThrow();
  });

  it('sorts SET OF by encoding (DER), keeps SET order as given, and tags context values', () => {
    expect(hex(setOf(integer(2), integer(1)))).toBe('3106020101020102');
    expect(hex(set(integer(2), integer(1)))).toBe('3106020102020101');
    expect(hex(explicit(0, integer(2)))).toBe('a003020102');
    expect(hex(implicitPrim(2, Buffer.from('a')))).toBe('820161');
    expect(hex(implicitCons(0, [integer(1)]))).toBe('a003020101');
    // a nested structure asn1js decodes back without error
    const v = seq(oid('2.5.4.3'), utf8('x'), explicit(3, seq(integer(5))));
    const r = asn1js.fromBER(v);
    expect(r.offset).toBe(v.length);
  });
});

describe('DER reader (untrusted input)', () => {
  const v = seq(integer(1), seq(utf8('a'), utf8('b')), octetString(Buffer.alloc(200)));

  it('walks children and throws past the end', () => {
    expect(hex(child(v, 0))).toBe('020101');
    expect(child(child(v, 1), 1)[2]).toBe(0x62);
    expect(child(v, 2).length).toBe(203);
    expect(() => child(v, 3)).toThrow(/no element 3/);
    expect(() => child(seq(), 0)).toThrow(OpencesError);
  });

  it('refuses truncated, indefinite and oversized lengths with a typed error', () => {
    for (let n = 0; n < v.length; n++) expect(() => child(v.subarray(0, n), 2), `length ${n}`).toThrow(OpencesError);
    expect(() => readTlv(Buffer.from([0x30, 0x80, 0x00, 0x00]))).toThrow(/indefinite/);
    expect(() => readTlv(Buffer.from([0x30, 0x85, 1, 1, 1, 1, 1]))).toThrow(/too large/);
    expect(() => readTlv(Buffer.from([0x30, 0x05, 1]))).toThrow(/past the end/);
    expect(() => readTlv(Buffer.from([0x1f, 0x01, 0]))).toThrow(/multi-byte tags/);
    expect(() => child(Buffer.from([0x30, 0x03, 0x04, 0x05, 0x00]), 0)).toThrow(OpencesError);
  });
});
