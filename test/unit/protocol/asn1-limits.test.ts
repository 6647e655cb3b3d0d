import { describe, expect, it } from 'vitest';
import { parseSignedData } from '../../../src/protocol/pkcs7/index.js';
import { parsePkiData } from '../../../src/protocol/cmc/index.js';
import { MAX_NODES } from '../../../src/protocol/pkcs7/asn1.js';
import { seq, set, integer, oid, explicit, octetString } from '../../../src/ca/der.js';

/**
 * The fuzz campaign (test/fuzz, pkcs7 and cmc targets) found PKCS#7 bodies of ~19,000 ASN.1 nodes
 * that held the event loop ~200 ms before they were refused, and 4,096-node ones still 100–270 ms
 * of CPU on a loaded machine: the decoder's node budget is 2,048.
 */
describe('CMS/CMC decoding: node budget', () => {
  it('refuses a SignedData of more than 2,048 ASN.1 nodes as malformed, before walking it', () => {
    expect(MAX_NODES).toBe(2048);
    const many = Array.from({ length: 2100 }, () => integer(1));
    const sd = seq(oid('1.2.840.113549.1.7.2'), explicit(0, seq(integer(1), set(), seq(oid('1.2.840.113549.1.7.1'), explicit(0, octetString(Buffer.from('x')))), set(...many))));
    expect(() => parseSignedData(sd)).toThrow(expect.objectContaining({ kind: 'malformed', message: expect.stringMatching(/Maximum ASN\.1 node count exceeded/) }));
    expect(() => parsePkiData(seq(...many))).toThrow(expect.objectContaining({ kind: 'malformed' }));
  });

  it('still reads a SignedData just under the budget', () => {
    const few = Array.from({ length: 1900 }, () => integer(1));
    const sd = seq(oid('1.2.840.113549.1.7.2'), explicit(0, seq(integer(1), set(), seq(oid('1.2.840.113549.1.7.1'), explicit(0, octetString(Buffer.from('x')))), set(...few))));
    // Structure read (1,900 nodes); refused only for what the signer infos are.
    expect(() => parseSignedData(sd)).toThrow(expect.objectContaining({ kind: 'malformed', message: expect.not.stringMatching(/node count/) }));
  });
});
