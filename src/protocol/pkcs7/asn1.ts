/**
 * Narrow, bounded ASN.1 reading for the CMS and CMC codecs. Input comes from clients, so every
 * decode has resource limits (depth, node count, size), never parses OCTET STRING contents on
 * its own (asn1js 4 does by default: wasted work and a second attack surface), and every
 * mismatch becomes OpencesError('malformed') naming what was wrong.
 */
import * as asn1js from 'asn1js';
import { OpencesError } from '../../errors.js';

/** Deep enough for a certificate inside a SignedData inside a ContentInfo (~14), shallow enough to stop nesting bombs. */
export const MAX_DEPTH = 32;
/**
 * asn1js costs ~3–25 µs of CPU per node (idle to heavily loaded 2-core machine) plus the schema
 * comparison: 20,000 nodes held the event loop ~200 ms, and 4,096 still 100–270 ms of CPU under
 * load (found by the fuzz campaign, docs/testing.md). A renewal with a 256-SAN request and a
 * four-certificate chain is under 1,000 nodes.
 */
export const MAX_NODES = 2_048;
export const MAX_BYTES = 4 * 1024 * 1024;

export function malformed(message: string): never {
  throw new OpencesError('malformed', message);
}

/** Real OIDs are under 40 bytes (a template OID ~30); asn1js spends ~0.5 ms of CPU on each 271-byte one. */
export const MAX_OID_BYTES = 64;

/**
 * The longest character string accepted in a request. asn1js decodes every string value
 * eagerly, byte by byte: a 707 KB UTF8String cost 130–350 ms of CPU under load (fuzz campaign,
 * docs/testing.md). Names have RFC 5280 upper bounds far below this; a CMC name/value pair or a
 * SAN list is a few KB.
 */
export const MAX_STRING_BYTES = 65_536;

/**
 * The most OBJECT IDENTIFIERs one value may hold. asn1js decodes each at ~16–30 µs of CPU (a
 * 2-core machine at load ~11), far more than every other small value: 2,040 OIDs of 8 bytes (20 KB,
 * within the node budget) cost 34–58 ms, several times what 2,040 INTEGERs or strings cost. Windows'
 * CMC full response with its chain holds 58; a renewal with a four-certificate chain ~150.
 * RELATIVE-OIDs (which no request of ours carries) count with them: they cost the same.
 */
export const MAX_OIDS = 512;

/** Universal tags of the character string types (X.680 §41), primitive or constructed. */
const STRING_TAGS = new Set([0x0c, 0x12, 0x13, 0x14, 0x15, 0x16, 0x19, 0x1a, 0x1b, 0x1c, 0x1e]);

/**
 * One linear pre-order pass over the TLV headers (indefinite lengths and end-of-contents included;
 * primitive contents skipped), before asn1js builds anything: refuses an OBJECT IDENTIFIER longer
 * than MAX_OID_BYTES (630 OIDs of 271 bytes in a 173 KB CMC request cost ~300 ms of CPU to
 * decode), more than MAX_OIDS of them, and more than MAX_NODES values (asn1js builds every node up to its own limit before it
 * gives up: a 104 KB CMC request of small values took ~100 ms of CPU under load to be refused so,
 * fuzz campaign, docs/testing.md). Anything structurally odd is left to asn1js to report.
 */
function preScan(b: Uint8Array): 'longOid' | 'tooManyOids' | 'tooManyNodes' | 'longString' | undefined {
  let off = 0;
  let nodes = 0;
  let oids = 0;
  while (off + 2 <= b.length) {
    if (++nodes > MAX_NODES) return 'tooManyNodes';
    const tag = b[off++]!;
    if ((tag & 0x1f) === 0x1f) while (off < b.length && b[off++]! & 0x80);
    if (off >= b.length) return undefined;
    let len = b[off++]!;
    const indefinite = len === 0x80;
    if (len & 0x80 && !indefinite) {
      const n = len & 0x7f;
      if (n > 4 || off + n > b.length) return undefined;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + b[off++]!;
    }
    // OBJECT IDENTIFIER and RELATIVE-OID: asn1js decodes both arc by arc, at the same cost.
    const isOid = tag === 0x06 || tag === 0x0d;
    if (isOid && !indefinite && len > MAX_OID_BYTES) return 'longOid';
    if (isOid && ++oids > MAX_OIDS) return 'tooManyOids';
    if (STRING_TAGS.has(tag & 0xdf) && !indefinite && len > MAX_STRING_BYTES) return 'longString';
    if (tag & 0x20) continue; // constructed: its contents are the next TLVs
    if (indefinite) return undefined;
    off += len;
  }
  return undefined;
}

/** Decodes exactly one BER/DER value filling all of `der`. */
export function decode(der: Uint8Array, what: string): asn1js.AsnType {
  if (!(der instanceof Uint8Array) || der.length === 0) malformed(`the ${what} is empty`);
  if (der.length > MAX_BYTES) throw new OpencesError('tooLarge', `the ${what} is larger than ${MAX_BYTES} bytes`);
  const odd = preScan(der);
  if (odd === 'longOid') malformed(`the ${what} holds an OBJECT IDENTIFIER longer than ${MAX_OID_BYTES} bytes`);
  if (odd === 'tooManyOids') malformed(`the ${what} holds more than ${MAX_OIDS} OBJECT IDENTIFIERs`);
  if (odd === 'longString') malformed(`the ${what} holds a character string longer than ${MAX_STRING_BYTES} bytes`);
  if (odd === 'tooManyNodes') malformed(`the ${what} is not valid DER: it holds more than ${MAX_NODES} ASN.1 values`);
  const r = asn1js.fromBER(der, { maxDepth: MAX_DEPTH, maxNodes: MAX_NODES, maxContentLength: MAX_BYTES, parseEmbedded: false });
  if (r.offset === -1 || r.result.error) {
    const why = r.result.error || 'undecodable';
    malformed(`the ${what} is not valid DER: ${/depth/i.test(why) ? `nested deeper than ${MAX_DEPTH} levels` : why}`);
  }
  if (r.offset !== der.length) malformed(`the ${what} has ${der.length - r.offset} trailing bytes after its DER value`);
  return r.result;
}

/**
 * asn1js.compareSchema, plus the check it leaves out: no elements beyond what the schema
 * allows (it happily ignores trailing extras). Returns the named components.
 */
export function matchSchema(node: asn1js.AsnType, schema: asn1js.AsnType, what: string): Record<string, unknown> {
  const r = asn1js.compareSchema(node, node, schema);
  if (!r.verified) malformed(`the ${what} does not have the expected ASN.1 structure`);
  const schemaItems = (schema as { valueBlock?: { value?: unknown } }).valueBlock?.value;
  const nodeItems = (node as { valueBlock?: { value?: unknown } }).valueBlock?.value;
  if (Array.isArray(schemaItems) && Array.isArray(nodeItems) && !schemaItems.some((s) => s instanceof asn1js.Repeated) && nodeItems.length > schemaItems.length) {
    malformed(`the ${what} has ${nodeItems.length - schemaItems.length} unexpected trailing elements`);
  }
  return r.result as unknown as Record<string, unknown>;
}

/** The exact bytes the value arrived as (not a re-encoding: signatures cover these). */
export function raw(node: asn1js.AsnType): Uint8Array {
  return new Uint8Array(node.valueBeforeDecodeView);
}

export function children(node: asn1js.AsnType | undefined, what: string, max = 1024): asn1js.AsnType[] {
  const v = (node as { valueBlock?: { value?: unknown } } | undefined)?.valueBlock?.value;
  if (!node || !node.idBlock.isConstructed || !Array.isArray(v)) malformed(`the ${what} is not a constructed value`);
  if (v.length > max) malformed(`the ${what} has more than ${max} elements`);
  return v as asn1js.AsnType[];
}

export function oidText(node: unknown, what: string): string {
  if (!(node instanceof asn1js.ObjectIdentifier)) malformed(`the ${what} is not an OBJECT IDENTIFIER`);
  const s = node.valueBlock.toString();
  if (!/^\d+(\.\d+)+$/.test(s)) malformed(`the ${what} is not a valid OBJECT IDENTIFIER`);
  return s;
}

/** Unsigned big-endian magnitude of an INTEGER; negative values are refused. */
export function unsignedBytes(node: unknown, what: string): Uint8Array {
  if (!(node instanceof asn1js.Integer)) malformed(`the ${what} is not an INTEGER`);
  const b = new Uint8Array(node.valueBlock.valueHexView);
  if (b.length === 0) malformed(`the ${what} is an empty INTEGER`);
  if (b[0]! & 0x80) malformed(`the ${what} is negative`);
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

export function bigUint(node: unknown, what: string): bigint {
  let v = 0n;
  for (const byte of unsignedBytes(node, what)) v = (v << 8n) | BigInt(byte);
  return v;
}

/** BodyPartID ::= INTEGER (0..4294967295) (RFC 5272 §3.2.1.3.1). */
export function uint32(node: unknown, what: string): number {
  const v = bigUint(node, what);
  if (v > 0xffffffffn) malformed(`the ${what} ${v} is outside 0..4294967295`);
  return Number(v);
}

export function smallInt(node: unknown, what: string): number {
  const v = bigUint(node, what);
  if (v > 0xffffn) malformed(`the ${what} ${v} is out of range`);
  return Number(v);
}

/** OCTET STRING contents, joining the segments of a BER constructed encoding. */
export function octets(node: unknown, what: string, depth = 0): Uint8Array {
  if (!(node instanceof asn1js.OctetString)) malformed(`the ${what} is not an OCTET STRING`);
  if (!node.idBlock.isConstructed) return new Uint8Array(node.valueBlock.valueHexView);
  if (depth > 4) malformed(`the ${what} nests constructed OCTET STRINGs too deeply`);
  const parts = (node.valueBlock.value as asn1js.AsnType[]).map((p) => octets(p, what, depth + 1));
  return new Uint8Array(Buffer.concat(parts));
}

/** Text of a string type (UTF8String, BMPString, PrintableString, IA5String…), or undefined. */
export function stringValue(node: unknown): string | undefined {
  if (node instanceof asn1js.BmpString || node instanceof asn1js.Utf8String || node instanceof asn1js.PrintableString || node instanceof asn1js.IA5String || node instanceof asn1js.VisibleString || node instanceof asn1js.TeletexString || node instanceof asn1js.UniversalString) {
    const v = node.valueBlock.value;
    return typeof v === 'string' ? v : undefined;
  }
  return undefined;
}

export function isContext(node: asn1js.AsnType | undefined, tagNumber: number): boolean {
  return !!node && node.idBlock.tagClass === 3 && node.idBlock.tagNumber === tagNumber;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}
