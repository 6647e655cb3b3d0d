/**
 * A small DER reader for the request hot paths: walks TLV headers over the caller's bytes
 * (subarrays, no object trees) instead of asn1js/pkijs, which cost hundreds of µs per request.
 * Every failure is an OpencesError('malformed'); callers map it to their own message.
 */
import { OpencesError } from '../errors.js';
import { readTlv } from '../ca/der.js';

export { readTlv };

export function malformed(why: string): never {
  throw new OpencesError('malformed', `malformed DER: ${why}`);
}

/** Content bytes of one TLV. */
export function contents(tlv: Uint8Array): Uint8Array {
  const h = readTlv(tlv);
  return tlv.subarray(h.header, h.header + h.length);
}

/** The elements of a constructed TLV, each as its complete TLV bytes. */
export function elements(tlv: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const outer = readTlv(tlv);
  const end = outer.header + outer.length;
  for (let off = outer.header; off < end; ) {
    const t = readTlv(tlv, off);
    const next = off + t.header + t.length;
    if (next > end) malformed('an element runs past its parent');
    out.push(tlv.subarray(off, next));
    off = next;
  }
  return out;
}

/** True when `b` is exactly one TLV (nothing after it). Throws on a malformed header. */
export function isSingleElement(b: Uint8Array): boolean {
  const t = readTlv(b);
  return t.header + t.length === b.length;
}

/**
 * Checks that every constructed element in `b` (a run of TLVs) is made of whole TLVs that end
 * exactly where it ends, to `maxDepth` levels. Primitive contents (OCTET/BIT STRING) are not looked into.
 */
export function checkDer(b: Uint8Array, maxDepth = 32): void {
  walk(b, 0, b.length, maxDepth);
}

function walk(b: Uint8Array, start: number, end: number, depth: number): void {
  for (let off = start; off < end; ) {
    const t = readTlv(b, off);
    const next = off + t.header + t.length;
    if (next > end) malformed('an element runs past its parent');
    if (t.tag & 0x20) {
      if (depth === 0) malformed('nested too deeply');
      walk(b, off + t.header, next, depth - 1);
    }
    off = next;
  }
}

/** Dotted form of an OBJECT IDENTIFIER TLV (arcs of any size). */
export function oidString(tlv: Uint8Array): string {
  if (tlv[0] !== 0x06) malformed('expected an OBJECT IDENTIFIER');
  const c = contents(tlv);
  if (c.length === 0 || (c[c.length - 1]! & 0x80) !== 0) malformed('malformed OBJECT IDENTIFIER');
  let out = '';
  let v = 0;
  let big: bigint | null = null;
  let first = true;
  for (let i = 0; i < c.length; i++) {
    const byte = c[i]!;
    if (big !== null) big = (big << 7n) | BigInt(byte & 0x7f);
    else if (v >= 2 ** 45) big = (BigInt(v) << 7n) | BigInt(byte & 0x7f);
    else v = v * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      if (first) {
        first = false;
        if (big !== null) out = `2.${big - 80n}`;
        else out = v < 40 ? `0.${v}` : v < 80 ? `1.${v - 40}` : `2.${v - 80}`;
      } else out += `.${big ?? v}`;
      v = 0;
      big = null;
    }
  }
  return out;
}

/** A signed INTEGER of at most 6 content bytes as a number; throws otherwise. */
export function smallInteger(tlv: Uint8Array): number {
  if (tlv[0] !== 0x02) malformed('expected an INTEGER');
  const c = contents(tlv);
  if (c.length === 0 || c.length > 6) malformed('an INTEGER that is empty or too large');
  let v = 0;
  for (let i = 0; i < c.length; i++) v = v * 256 + c[i]!;
  return c[0]! & 0x80 ? v - 2 ** (8 * c.length) : v;
}

/** Bytes 0–255 as the same code points (ASCII and ISO 8859-1 strings). */
function latin1(c: Uint8Array): string {
  if (c.length > 64) return Buffer.from(c.buffer, c.byteOffset, c.byteLength).toString('latin1');
  let s = '';
  for (let i = 0; i < c.length; i++) s += String.fromCharCode(c[i]!);
  return s;
}

function utf8(c: Uint8Array): string {
  // Short ASCII (nearly every name) without a Buffer round trip.
  if (c.length <= 64) {
    let s = '';
    for (let i = 0; i < c.length; i++) {
      const b = c[i]!;
      if (b & 0x80) return Buffer.from(c.buffer, c.byteOffset, c.byteLength).toString('utf8');
      s += String.fromCharCode(b);
    }
    return s;
  }
  return Buffer.from(c.buffer, c.byteOffset, c.byteLength).toString('utf8');
}

function utf16be(c: Uint8Array): string {
  let s = '';
  for (let i = 0; i + 1 < c.length; i += 2) s += String.fromCharCode((c[i]! << 8) | c[i + 1]!);
  return s;
}

function utf32be(c: Uint8Array): string {
  let s = '';
  for (let i = 0; i + 3 < c.length; i += 4) {
    const cp = ((c[i]! << 24) | (c[i + 1]! << 16) | (c[i + 2]! << 8) | c[i + 3]!) >>> 0;
    s += cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? '\ufffd' : String.fromCodePoint(cp);
  }
  return s;
}

/**
 * The text of a string TLV: UTF8String, PrintableString, IA5String, NumericString, VisibleString,
 * TeletexString (as ISO 8859-1), BMPString (UTF-16BE), UniversalString (UTF-32BE). Undefined for
 * anything else.
 */
export function text(tlv: Uint8Array | undefined): string | undefined {
  if (!tlv || tlv.length === 0) return undefined;
  switch (tlv[0]) {
    case 0x0c:
      return utf8(contents(tlv));
    case 0x12:
    case 0x13:
    case 0x14:
    case 0x16:
    case 0x1a:
      return latin1(contents(tlv));
    case 0x1e:
      return utf16be(contents(tlv));
    case 0x1c:
      return utf32be(contents(tlv));
    default:
      return undefined;
  }
}

/** Primitive contents as ISO 8859-1 text (IA5String-valued [n] IMPLICIT fields). */
export function latin1Text(tlv: Uint8Array): string {
  return latin1(contents(tlv));
}
