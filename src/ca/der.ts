/**
 * A minimal DER encoder for the issuance hot path (facts.md: building certificates through
 * @peculiar/x509 costs ~4–5 ms each). Only what certificates and CRLs need; every function
 * returns the complete TLV as a Buffer so pieces can be pre-encoded once and concatenated.
 */
import { OpencesError } from '../errors.js';

/**
 * One TLV. Hot: called a few dozen times per certificate, so it sizes the output once and
 * copies each part into it (Buffer.allocUnsafe of small sizes slices node's pool).
 */
export function tlv(tag: number, content: Uint8Array | Uint8Array[]): Buffer {
  let len = 0;
  if (Array.isArray(content)) for (const c of content) len += c.length;
  else len = content.length;
  const header = len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : len < 0x1000000 ? 5 : 6;
  const out = Buffer.allocUnsafe(header + len);
  out[0] = tag;
  if (header === 2) out[1] = len;
  else {
    out[1] = 0x80 | (header - 2);
    for (let i = header - 1, v = len; i >= 2; i--, v = Math.floor(v / 256)) out[i] = v & 0xff;
  }
  if (Array.isArray(content)) {
    let off = header;
    for (const c of content) {
      out.set(c, off);
      off += c.length;
    }
  } else out.set(content, header);
  return out;
}

export const seq = (...items: Uint8Array[]): Buffer => tlv(0x30, items);
export const set = (...items: Uint8Array[]): Buffer => tlv(0x31, items);
/** SET OF: DER requires the elements sorted by their encodings. */
export const setOf = (...items: Uint8Array[]): Buffer => tlv(0x31, [...items].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
export const octetString = (b: Uint8Array): Buffer => tlv(0x04, b);
export const bitString = (b: Uint8Array, unused = 0): Buffer => tlv(0x03, [Buffer.from([unused]), b]);
export const nullValue = (): Buffer => Buffer.from([0x05, 0x00]);
export const boolean = (v: boolean): Buffer => Buffer.from([0x01, 0x01, v ? 0xff : 0x00]);
export const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
export const printable = (s: string): Buffer => tlv(0x13, Buffer.from(s, 'ascii'));
export const ia5 = (s: string): Buffer => tlv(0x16, Buffer.from(s, 'ascii'));
export const bmp = (s: string): Buffer => {
  const b = Buffer.alloc(s.length * 2);
  for (let i = 0; i < s.length; i++) b.writeUInt16BE(s.charCodeAt(i), i * 2);
  return tlv(0x1e, b);
};
/** [n] EXPLICIT (constructed context tag). */
export const explicit = (n: number, inner: Uint8Array): Buffer => tlv(0xa0 | n, inner);
/** [n] IMPLICIT primitive. */
export const implicitPrim = (n: number, content: Uint8Array): Buffer => tlv(0x80 | n, content);
/** [n] IMPLICIT constructed (content is already the inner elements). */
export const implicitCons = (n: number, content: Uint8Array[]): Buffer => tlv(0xa0 | n, content);

/** INTEGER from unsigned big-endian bytes (adds the 0x00 that keeps it positive). */
export function integerFromBytes(b: Uint8Array): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && (b[i + 1]! & 0x80) === 0) i++;
  let body = Buffer.from(b.subarray(i));
  if (body.length === 0) body = Buffer.from([0]);
  if (body[0]! & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return tlv(0x02, body);
}

export function integer(n: number | bigint): Buffer {
  let v = BigInt(n);
  if (v < 0n) throw new Error('negative integers are not needed here');
  const bytes: number[] = [];
  do {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  } while (v > 0n);
  return integerFromBytes(Buffer.from(bytes));
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map((p) => BigInt(p));
  if (parts.length < 2) throw new Error(`bad OID ${dotted}`);
  const out: number[] = [];
  const push = (v: bigint): void => {
    const stack = [Number(v & 0x7fn)];
    v >>= 7n;
    while (v > 0n) {
      stack.unshift(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(...stack);
  };
  push(parts[0]! * 40n + parts[1]!);
  for (const p of parts.slice(2)) push(p);
  return tlv(0x06, Buffer.from(out));
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; always Z, no fractions. */
export function time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  const rest = `${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(0x17, Buffer.from(`${pad(y % 100)}${rest}`, 'ascii'));
  return tlv(0x18, Buffer.from(`${pad(y, 4)}${rest}`, 'ascii'));
}

export function utcTime(d: Date): Buffer {
  const y = d.getUTCFullYear();
  if (y < 1950 || y > 2049) throw new Error(`UTCTime cannot hold the year ${y}`);
  return time(d);
}

export function generalizedTime(d: Date): Buffer {
  const s = `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  return tlv(0x18, Buffer.from(s, 'ascii'));
}

function malformed(why: string): never {
  throw new OpencesError('malformed', `malformed DER: ${why}`);
}

/**
 * Reads one TLV header at `offset`: returns tag, header length and content length. Bounds are
 * checked (the bytes may come from a client), and only DER's definite, minimal lengths pass.
 */
export function readTlv(b: Uint8Array, offset = 0): { tag: number; header: number; length: number } {
  if (offset + 2 > b.length) malformed('truncated header');
  const tag = b[offset]!;
  if ((tag & 0x1f) === 0x1f) malformed('multi-byte tags are not used here');
  let len = b[offset + 1]!;
  let header = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) malformed('indefinite length');
    if (n > 4) malformed('length too large');
    if (offset + 2 + n > b.length) malformed('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[offset + 2 + i]!;
    header += n;
  }
  if (offset + header + len > b.length) malformed('content runs past the end');
  return { tag, header, length: len };
}

/** The i-th element of a constructed value's content, as its complete TLV bytes; throws past the end. */
export function child(b: Uint8Array, index: number): Uint8Array {
  const outer = readTlv(b, 0);
  const end = outer.header + outer.length;
  let off = outer.header;
  for (let i = 0; off < end; i++) {
    const t = readTlv(b, off);
    if (off + t.header + t.length > end) malformed('element runs past its parent');
    if (i === index) return b.subarray(off, off + t.header + t.length);
    off += t.header + t.length;
  }
  return malformed(`no element ${index}`);
}
