import { describe, expect, it } from 'vitest';
import { parseSignedData } from '../../../src/protocol/pkcs7/index.js';
import { parsePkiData } from '../../../src/protocol/cmc/index.js';
import { MAX_NODES, MAX_OIDS, MAX_OID_BYTES, MAX_STRING_BYTES } from '../../../src/protocol/pkcs7/asn1.js';
import { parsePkiMessage } from '../../../src/protocol/scep/index.js';
import { seq, set, integer, oid, explicit, octetString, tlv } from '../../../src/ca/der.js';

/**
 * The fuzz campaign (test/fuzz, pkcs7 and cmc targets) found PKCS#7 bodies of ~19,000 ASN.1 nodes
 * that held the event loop ~200 ms before they were refused, and 4,096-node ones still 100–270 ms
 * of CPU on a loaded machine: the decoder's node budget is 2,048.
 */
describe('CMS/CMC decoding: node budget', () => {
  it('refuses a SignedData of more than 2,048 ASN.1 nodes as malformed, counted by the linear header pass before asn1js builds any', () => {
    expect(MAX_NODES).toBe(2048);
    const many = Array.from({ length: 2100 }, () => integer(1));
    const sd = seq(oid('1.2.840.113549.1.7.2'), explicit(0, seq(integer(1), set(), seq(oid('1.2.840.113549.1.7.1'), explicit(0, octetString(Buffer.from('x')))), set(...many))));
    expect(() => parseSignedData(sd)).toThrow(expect.objectContaining({ kind: 'malformed', message: 'the PKCS#7 request is not valid DER: it holds more than 2048 ASN.1 values' }));
    expect(() => parsePkiData(seq(...many))).toThrow(expect.objectContaining({ kind: 'malformed', message: 'the CMC request is not valid DER: it holds more than 2048 ASN.1 values' }));
    // The values may hide inside an indefinite-length encoding: counted the same.
    const indefinite = Buffer.concat([Buffer.from([0x30, 0x80]), ...many.map((b) => Buffer.from(b)), Buffer.from([0, 0])]);
    expect(() => parsePkiData(indefinite)).toThrow(expect.objectContaining({ message: 'the CMC request is not valid DER: it holds more than 2048 ASN.1 values' }));
  });

  it('still reads a SignedData just under the budget', () => {
    const few = Array.from({ length: 1900 }, () => integer(1));
    const sd = seq(oid('1.2.840.113549.1.7.2'), explicit(0, seq(integer(1), set(), seq(oid('1.2.840.113549.1.7.1'), explicit(0, octetString(Buffer.from('x')))), set(...few))));
    // Structure read (1,900 nodes); refused only for what the signer infos are.
    expect(() => parseSignedData(sd)).toThrow(expect.objectContaining({ kind: 'malformed', message: expect.not.stringMatching(/node count|ASN\.1 values/) }));
  });

  it('refuses a character string longer than 64 KiB before asn1js decodes it (a 707 KB UTF8String cost 130–350 ms of CPU under load)', () => {
    expect(MAX_STRING_BYTES).toBe(65_536);
    const long = tlv(0x0c, Buffer.alloc(MAX_STRING_BYTES + 1, 0x41));
    expect(() => parsePkiData(long)).toThrow(expect.objectContaining({ kind: 'malformed', message: 'the CMC request holds a character string longer than 65536 bytes' }));
    // Every string type, and inside a structure: a BMPString in a SEQUENCE of a SignedData.
    expect(() => parseSignedData(seq(oid('1.2.840.113549.1.7.2'), explicit(0, seq(tlv(0x1e, Buffer.alloc(70_000, 0))))))).toThrow(expect.objectContaining({ message: 'the PKCS#7 request holds a character string longer than 65536 bytes' }));
    // At the bound, and as OCTET STRING contents (never decoded as text), not refused for that.
    expect(() => parsePkiData(tlv(0x0c, Buffer.alloc(MAX_STRING_BYTES, 0x41)))).toThrow(expect.objectContaining({ message: expect.not.stringMatching(/character string longer/) }));
    expect(() => parsePkiData(seq(octetString(Buffer.alloc(70_000, 0x41))))).toThrow(expect.objectContaining({ message: expect.not.stringMatching(/character string longer/) }));
  });

  it('refuses an OBJECT IDENTIFIER longer than 64 bytes before asn1js decodes it (630 of 271 bytes cost ~300 ms of CPU)', () => {
    expect(MAX_OID_BYTES).toBe(64);
    const longOids = Array.from({ length: 630 }, () => tlv(0x06, Buffer.alloc(271, 0x82)));
    expect(() => parsePkiData(seq(seq(integer(0), seq(...longOids))))).toThrow(expect.objectContaining({ kind: 'malformed', message: 'the CMC request holds an OBJECT IDENTIFIER longer than 64 bytes' }));
    // A long OID inside an OCTET STRING (not decoded) or a 40-byte one is not refused for that.
    expect(() => parsePkiData(seq(octetString(tlv(0x06, Buffer.alloc(271, 0x82)))))).toThrow(expect.objectContaining({ message: expect.not.stringMatching(/longer than 64/) }));
    expect(() => parsePkiData(seq(tlv(0x06, Buffer.from([...Array(39).fill(0x81), 0x01]))))).toThrow(expect.objectContaining({ message: expect.not.stringMatching(/longer than 64/) }));
  });

  it('refuses more than 512 OBJECT IDENTIFIERs before asn1js decodes them (2,040 short ones, 20 KB within the node budget, cost 34–58 ms of CPU under load)', () => {
    expect(MAX_OIDS).toBe(512);
    const rsa = Buffer.from([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01]);
    const oids = (n: number) => Array.from({ length: n }, () => tlv(0x06, rsa));
    expect(() => parsePkiData(seq(...oids(513)))).toThrow(expect.objectContaining({ kind: 'malformed', message: 'the CMC request holds more than 512 OBJECT IDENTIFIERs' }));
    // Counted wherever they are: spread over nested structures, or as the chunks of a constructed
    // OCTET STRING (the shape of the 20 KB SCEP input of the fuzz campaign, refused by asn1js only
    // after it had decoded every chunk).
    expect(() => parseSignedData(seq(oid('1.2.840.113549.1.7.2'), explicit(0, seq(...Array.from({ length: 300 }, () => seq(...oids(2)))))))).toThrow(expect.objectContaining({ message: 'the PKCS#7 request holds more than 512 OBJECT IDENTIFIERs' }));
    const chunks = tlv(0x24, Buffer.concat([...oids(2000), octetString(Buffer.from('x'))]));
    expect(() => parsePkiMessage(seq(oid('1.2.840.113549.1.7.2'), explicit(0, seq(integer(1), set(), seq(oid('1.2.840.113549.1.7.1'), explicit(0, chunks))))))).toThrow(expect.objectContaining({ kind: 'malformed', message: expect.stringMatching(/more than 512 OBJECT IDENTIFIERs/) }));
    // RELATIVE-OIDs cost asn1js the same and count with them.
    expect(() => parsePkiData(seq(...oids(300), ...Array.from({ length: 300 }, () => tlv(0x0d, rsa))))).toThrow(expect.objectContaining({ message: 'the CMC request holds more than 512 OBJECT IDENTIFIERs' }));
    // 512 are not refused for their number.
    expect(() => parsePkiData(seq(...oids(512)))).toThrow(expect.objectContaining({ message: expect.not.stringMatching(/OBJECT IDENTIFIERs/) }));
  });
});
