/**
 * fast-check arbitraries for the fuzz campaign: mutations of real seeds (bytes, DER trees, XML
 * text) and hostile shapes generated from scratch. Every arbitrary is deterministic under
 * fast-check's seed, so a reported input reproduces from `--seed` and its run index.
 */
import fc from 'fast-check';

/** How big generated hostile shapes get: `short` for `npm test`, `full` for the campaign. */
export interface Scale {
  /** Deepest generated nesting (XML elements, DER constructed values, JSON/YAML collections). */
  depth: number;
  /** Most generated siblings, attributes or namespace declarations. */
  width: number;
  /** Longest generated text or attribute value. */
  text: number;
}
export const SHORT: Scale = { depth: 200, width: 500, text: 5_000 };
export const FULL: Scale = { depth: 100_000, width: 50_000, text: 1_000_000 };

const at = (n: number, len: number): number => (len === 0 ? 0 : n % len);

// ---------------------------------------------------------------------------------------------
// Bytes

type ByteOp =
  | { k: 'flip'; at: number; bit: number }
  | { k: 'set'; at: number; v: number }
  | { k: 'truncate'; at: number }
  | { k: 'insert'; at: number; bytes: Uint8Array }
  | { k: 'delete'; at: number; len: number }
  | { k: 'dup'; at: number; len: number; times: number }
  | { k: 'splice'; at: number; from: number; len: number };

/** Byte values that mean something to DER and UTF-8 decoders (tags, long-form lengths, BOMs). */
const INTERESTING = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x1e, 0x1f, 0x30, 0x31, 0x7f, 0x80, 0x81, 0x82, 0x84, 0x85, 0x88, 0xa0, 0xa1, 0xa3, 0xbf, 0xef, 0xfe, 0xff];

const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  fc.record({ k: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ k: fc.constant('set' as const), at: fc.nat(), v: fc.constantFrom(...INTERESTING) }),
  fc.record({ k: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ k: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ k: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ k: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 256 }), times: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ k: fc.constant('splice' as const), at: fc.nat(), from: fc.nat(), len: fc.integer({ min: 1, max: 512 }) }),
);

function applyByteOp(b: Buffer, op: ByteOp, donor: Buffer): Buffer {
  const i = at(op.at, b.length);
  switch (op.k) {
    case 'flip':
      if (b.length === 0) return b;
      b = Buffer.from(b);
      b[i] = b[i]! ^ (1 << op.bit);
      return b;
    case 'set':
      if (b.length === 0) return b;
      b = Buffer.from(b);
      b[i] = op.v;
      return b;
    case 'truncate':
      return b.subarray(0, i);
    case 'insert':
      return Buffer.concat([b.subarray(0, i), op.bytes, b.subarray(i)]);
    case 'delete':
      return Buffer.concat([b.subarray(0, i), b.subarray(i + op.len)]);
    case 'dup': {
      const piece = b.subarray(i, i + op.len);
      return Buffer.concat([b.subarray(0, i), ...Array<Buffer>(op.times + 1).fill(piece), b.subarray(i + op.len)]);
    }
    case 'splice': {
      const j = at(op.from, donor.length);
      return Buffer.concat([b.subarray(0, i), donor.subarray(j, j + op.len), b.subarray(i)]);
    }
  }
}

/** One to five byte-level mutations of a seed (splices take bytes from another seed). */
export function mutatedBytes(seeds: readonly Buffer[]): fc.Arbitrary<Buffer> {
  return fc.tuple(fc.nat(seeds.length - 1), fc.nat(seeds.length - 1), fc.array(byteOp, { minLength: 1, maxLength: 5 })).map(([s, d, ops]) => ops.reduce((b, op) => applyByteOp(b, op, seeds[d]!), seeds[s]!));
}

// ---------------------------------------------------------------------------------------------
// DER trees

export type Der = { tag: number; bytes: Uint8Array } | { tag: number; children: Der[] };

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

/** DER of a tree, with correct lengths (iterative: generated trees may be deeper than the stack). */
export function encodeDer(root: Der): Buffer {
  const done = new Map<Der, Buffer>();
  const stack: { n: Der; expanded: boolean }[] = [{ n: root, expanded: false }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const n = top.n;
    if ('bytes' in n) {
      done.set(n, Buffer.concat([Buffer.from([n.tag, ...lengthBytes(n.bytes.length)]), n.bytes]));
      stack.pop();
    } else if (!top.expanded) {
      top.expanded = true;
      for (const c of n.children) if (!done.has(c)) stack.push({ n: c, expanded: false });
    } else {
      const inner = Buffer.concat(n.children.map((c) => done.get(c)!));
      done.set(n, Buffer.concat([Buffer.from([n.tag, ...lengthBytes(inner.length)]), inner]));
      stack.pop();
    }
  }
  return done.get(root)!;
}

/** A tolerant TLV reader: constructed values whose contents are whole TLVs become nodes, anything else a leaf. */
export function decodeDer(b: Uint8Array, depth = 0): Der[] | null {
  const out: Der[] = [];
  let off = 0;
  while (off < b.length) {
    if (off + 2 > b.length) return null;
    const tag = b[off]!;
    let len = b[off + 1]!;
    let h = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 3 || off + 2 + n > b.length) return null;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + b[off + 2 + i]!;
      h += n;
    }
    if (off + h + len > b.length) return null;
    const content = b.subarray(off + h, off + h + len);
    const kids = tag & 0x20 && depth < 40 ? decodeDer(content, depth + 1) : null;
    out.push(kids ? { tag, children: kids } : { tag, bytes: content });
    off += h + len;
  }
  return out;
}

function nodes(root: Der, into: Der[] = []): Der[] {
  const stack = [root];
  while (stack.length) {
    const n = stack.pop()!;
    into.push(n);
    if ('children' in n) stack.push(...n.children);
  }
  return into;
}

const oidBytes = (dotted: string): Uint8Array => {
  const p = dotted.split('.').map(Number);
  const out: number[] = [];
  const push = (v: number) => {
    const s = [v & 0x7f];
    for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) s.unshift((v & 0x7f) | 0x80);
    out.push(...s);
  };
  push(p[0]! * 40 + p[1]!);
  p.slice(2).forEach(push);
  return Uint8Array.from(out);
};

/** OIDs our decoders branch on: CSR attributes and extensions, CMS and CMC types, key and signature algorithms. */
const OIDS = [
  '1.2.840.113549.1.9.14', '1.2.840.113549.1.9.7', '1.3.6.1.4.1.311.13.2.1', '1.3.6.1.4.1.311.20.2', '1.3.6.1.4.1.311.21.7', '2.5.29.17', '2.5.29.14',
  '1.2.840.113549.1.7.1', '1.2.840.113549.1.7.2', '1.3.6.1.5.5.7.12.2', '1.3.6.1.5.5.7.7.18', '1.3.6.1.5.5.7.7.5', '1.3.6.1.5.5.7.7.6', '1.3.6.1.4.1.311.10.10.1',
  '1.2.840.113549.1.9.3', '1.2.840.113549.1.9.4', '1.2.840.113549.1.1.1', '1.2.840.113549.1.1.10', '1.2.840.113549.1.1.11', '1.2.840.113549.1.1.5', '1.2.840.113549.1.1.4',
  '1.2.840.10045.2.1', '1.2.840.10045.3.1.7', '1.3.132.0.34', '1.3.132.0.10', '1.2.840.10045.4.3.2', '1.3.101.112', '1.2.840.10040.4.1', '2.16.840.1.101.3.4.2.1', '1.3.14.3.2.26',
  '2.5.4.3', '2.5.4.6', '1.3.6.1.4.1.311.20.2.3', '1.2.840.113549.1.1.8',
].map((o) => ({ tag: 0x06, bytes: oidBytes(o) }) as Der);

const PRIMITIVE_TAGS = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x14, 0x16, 0x17, 0x18, 0x1a, 0x1c, 0x1e, 0x80, 0x81, 0x82, 0x86, 0x87, 0x88];
const CONSTRUCTED_TAGS = [0x30, 0x31, 0xa0, 0xa1, 0xa2, 0xa3, 0x24];

/** Random DER trees, with the OIDs our decoders look for mixed in. */
export const derTree: fc.Arbitrary<Der> = fc.letrec<{ node: Der }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ tag: fc.constantFrom(...PRIMITIVE_TAGS), bytes: fc.uint8Array({ maxLength: 40 }) }) as fc.Arbitrary<Der>,
    fc.constantFrom(...OIDS),
    fc.record({ tag: fc.constantFrom(...CONSTRUCTED_TAGS), children: fc.array(tie('node'), { maxLength: 5 }) }) as fc.Arbitrary<Der>,
  ),
})).node;

/** Generated trees stop growing here (~1–2 MB of DER; 500 × 500 copies once ran out of memory). */
const MAX_TREE_NODES = 50_000;

type TreeOp =
  | { k: 'replace'; at: number; with: Der }
  | { k: 'wrap'; at: number; depth: number; tag: number }
  | { k: 'widen'; at: number; times: number }
  | { k: 'drop'; at: number }
  | { k: 'retag'; at: number; tag: number }
  | { k: 'graft'; at: number; from: number };

function treeOp(scale: Scale): fc.Arbitrary<TreeOp> {
  return fc.oneof(
    fc.record({ k: fc.constant('replace' as const), at: fc.nat(), with: derTree }),
    fc.record({ k: fc.constant('wrap' as const), at: fc.nat(), depth: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: scale.depth })), tag: fc.constantFrom(...CONSTRUCTED_TAGS) }),
    fc.record({ k: fc.constant('widen' as const), at: fc.nat(), times: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: scale.width })) }),
    fc.record({ k: fc.constant('drop' as const), at: fc.nat() }),
    fc.record({ k: fc.constant('retag' as const), at: fc.nat(), tag: fc.constantFrom(...PRIMITIVE_TAGS, ...CONSTRUCTED_TAGS) }),
    fc.record({ k: fc.constant('graft' as const), at: fc.nat(), from: fc.nat() }),
  );
}

function clone(n: Der): Der {
  return 'bytes' in n ? { tag: n.tag, bytes: n.bytes } : { tag: n.tag, children: n.children.map(clone) };
}

function applyTreeOp(root: Der, op: TreeOp, donor: Der): Der {
  const all = nodes(root);
  const target = all[at(op.at, all.length)]!;
  const parentOf = (n: Der): Extract<Der, { children: Der[] }> | undefined => all.find((p): p is Extract<Der, { children: Der[] }> => 'children' in p && p.children.includes(n));
  const swap = (replacement: Der): Der => {
    if (target === root) return replacement;
    const p = parentOf(target);
    if (p) p.children[p.children.indexOf(target)] = replacement;
    return root;
  };
  switch (op.k) {
    case 'replace':
      return swap(op.with);
    case 'wrap': {
      let w: Der = target;
      for (let i = 0; i < op.depth; i++) w = { tag: op.tag, children: [w] };
      return swap(w);
    }
    case 'widen': {
      const p = parentOf(target);
      if (!p) return root;
      // Repeated widening multiplies: keep the tree (and the encoded input) within MAX_TREE_NODES.
      const times = Math.min(op.times, Math.floor((MAX_TREE_NODES - all.length) / nodes(target).length));
      if (times > 0) p.children.splice(p.children.indexOf(target), 0, ...Array.from({ length: times }, () => target));
      return root;
    }
    case 'drop': {
      const p = parentOf(target);
      if (p) p.children.splice(p.children.indexOf(target), 1);
      return root;
    }
    case 'retag':
      target.tag = op.tag;
      if (op.tag & 0x20 && 'bytes' in target) return swap({ tag: op.tag, children: decodeDer(target.bytes) ?? [] });
      return root;
    case 'graft': {
      const d = nodes(donor);
      return swap(clone(d[at(op.from, d.length)]!));
    }
  }
}

/**
 * Structure-aware DER mutation: the seed is read as a tree, subtrees are replaced, wrapped (deep),
 * repeated (wide), dropped, retagged or grafted from another seed, and the result re-encoded with
 * correct lengths — so the change reaches the inner decoders instead of failing the outer length check.
 */
export function mutatedDer(seeds: readonly Buffer[], scale: Scale): fc.Arbitrary<Buffer> {
  const trees = seeds.map((s) => decodeDer(s)?.[0] ?? ({ tag: 0x04, bytes: s } as Der));
  return fc
    .tuple(fc.nat(seeds.length - 1), fc.nat(seeds.length - 1), fc.array(treeOp(scale), { minLength: 1, maxLength: 3 }))
    .map(([s, d, ops]) => encodeDer(ops.reduce((t, op) => applyTreeOp(t, op, trees[d]!), clone(trees[s]!))));
}

/**
 * The most DER a request can carry: a token travels base64 in a SOAP body of at most 1 MiB
 * (maxBodyBytes), so ~768 KiB. Larger generated inputs are cut there (a cut input is still a
 * truncated one worth parsing); the cost of parsing is linear, and beyond this it is not reachable.
 */
export const MAX_TOKEN_DER = 768 * 1024;

/** Seeds mutated at the byte level, as trees, and random trees: the mix every DER target uses. */
export function derInputs(seeds: readonly Buffer[], scale: Scale): fc.Arbitrary<Buffer> {
  return fc
    .oneof({ arbitrary: mutatedDer(seeds, scale), weight: 5 }, { arbitrary: mutatedBytes(seeds), weight: 4 }, { arbitrary: derTree.map(encodeDer), weight: 1 })
    .map((b) => (b.length > MAX_TOKEN_DER ? b.subarray(0, MAX_TOKEN_DER) : b));
}

// ---------------------------------------------------------------------------------------------
// XML

/** Values that have broken XML and date/number/base64 readers somewhere. */
export const HOSTILE_TEXT = [
  '', ' ', '-1', '0', '2147483648', '99999999999999999999', 'NaN', 'true', 'nil', '1.2.3', '0.0', '2.999999999999999999999',
  '&amp;&lt;&gt;', '&#0;', '&#x10FFFF;', '&#xD800;', '&unknown;', ']]>', '<![CDATA[x]]>', '<!-- c -->', '<?pi x?>', '\u0000', '\ufeff', '\ud800',
  '====', 'AAAA=', 'not base64!', '2026-02-30T25:61:61Z', '9999-12-31T23:59:59Z', '-0001-01-01T00:00:00Z', '1970-01-01T00:00:00+25:00',
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest', '#', '#X509Token', 'urn:uuid:x',
];

type XmlOp =
  | { k: 'text'; at: number; value: string }
  | { k: 'dupElement'; at: number; times: number }
  | { k: 'dropElement'; at: number }
  | { k: 'deep'; at: number; depth: number }
  | { k: 'wide'; at: number; count: number }
  | { k: 'attrs'; at: number; count: number; len: number }
  | { k: 'xmlns'; at: number; count: number }
  | { k: 'longText'; at: number; len: number }
  | { k: 'junk'; at: number; what: string }
  | { k: 'namespace'; from: number; to: string }
  | { k: 'bytes'; op: ByteOp };

const JUNK = ['<!DOCTYPE x [<!ENTITY a "b">]>', '<!ENTITY e SYSTEM "file:///etc/passwd">', '&e;', '<![CDATA[<x/>]]>', '<?xml version="1.0"?>', '<!-- -->', '</x>', '<x>', '<', '>', '"', "'", '&', '<a b=">', '<a xmlns:="">', '<a:b/>', '<xmlns:a/>', '\u0000', '\ud800'];
const NAMESPACES = ['http://www.w3.org/2003/05/soap-envelope', 'http://schemas.xmlsoap.org/soap/envelope/', 'http://www.w3.org/2005/08/addressing', 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd', 'http://www.w3.org/2000/09/xmldsig#', 'urn:x', ''];

function xmlOp(scale: Scale): fc.Arbitrary<XmlOp> {
  const big = (n: number) => fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: n }));
  return fc.oneof(
    { arbitrary: fc.record({ k: fc.constant('text' as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(...HOSTILE_TEXT), fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 })) }), weight: 4 },
    { arbitrary: fc.record({ k: fc.constant('dupElement' as const), at: fc.nat(), times: fc.integer({ min: 1, max: 4 }) }), weight: 2 },
    { arbitrary: fc.record({ k: fc.constant('dropElement' as const), at: fc.nat() }), weight: 2 },
    { arbitrary: fc.record({ k: fc.constant('deep' as const), at: fc.nat(), depth: big(scale.depth) }), weight: 1 },
    { arbitrary: fc.record({ k: fc.constant('wide' as const), at: fc.nat(), count: big(scale.width) }), weight: 1 },
    { arbitrary: fc.record({ k: fc.constant('attrs' as const), at: fc.nat(), count: big(scale.width), len: fc.integer({ min: 0, max: 64 }) }), weight: 1 },
    { arbitrary: fc.record({ k: fc.constant('xmlns' as const), at: fc.nat(), count: big(scale.width) }), weight: 1 },
    { arbitrary: fc.record({ k: fc.constant('longText' as const), at: fc.nat(), len: big(scale.text) }), weight: 1 },
    { arbitrary: fc.record({ k: fc.constant('junk' as const), at: fc.nat(), what: fc.constantFrom(...JUNK) }), weight: 2 },
    { arbitrary: fc.record({ k: fc.constant('namespace' as const), from: fc.nat(), to: fc.constantFrom(...NAMESPACES) }), weight: 1 },
    { arbitrary: fc.record({ k: fc.constant('bytes' as const), op: byteOp }), weight: 2 },
  );
}

const OPEN_TAG = /<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)(\s[^<>]*?)?(\/?)>/g;

function openTags(s: string): RegExpExecArray[] {
  return [...s.matchAll(OPEN_TAG)].filter((m) => !m[0].startsWith('</'));
}

function elementEnd(s: string, m: RegExpExecArray): number {
  if (m[4] === '/') return m.index + m[0].length;
  const close = `</${m[1] ?? ''}${m[2]}>`;
  const i = s.indexOf(close, m.index);
  return i < 0 ? -1 : i + close.length;
}

function applyXmlOp(s: string, op: XmlOp): string {
  const tags = op.k === 'bytes' || op.k === 'namespace' || op.k === 'text' ? [] : openTags(s);
  const tag = tags.length ? tags[at((op as { at: number }).at, tags.length)]! : undefined;
  switch (op.k) {
    case 'text': {
      const texts = [...s.matchAll(/>([^<]+)</g)];
      if (!texts.length) return s;
      const m = texts[at(op.at, texts.length)]!;
      return s.slice(0, m.index + 1) + op.value + s.slice(m.index + 1 + m[1]!.length);
    }
    case 'dupElement': {
      if (!tag) return s;
      const end = elementEnd(s, tag);
      if (end < 0) return s;
      return s.slice(0, end) + s.slice(tag.index, end).repeat(op.times) + s.slice(end);
    }
    case 'dropElement': {
      if (!tag) return s;
      const end = elementEnd(s, tag);
      return end < 0 ? s : s.slice(0, tag.index) + s.slice(end);
    }
    case 'deep': {
      if (!tag) return s;
      const i = tag.index + tag[0].length;
      return s.slice(0, i) + '<a>'.repeat(op.depth) + '</a>'.repeat(op.depth) + s.slice(i);
    }
    case 'wide': {
      if (!tag) return s;
      const i = tag.index + tag[0].length;
      return s.slice(0, i) + '<a/>'.repeat(op.count) + s.slice(i);
    }
    case 'attrs': {
      if (!tag) return s;
      const i = tag.index + 1 + (tag[1] ?? '').length + tag[2]!.length;
      const v = 'v'.repeat(op.len);
      let a = '';
      for (let j = 0; j < op.count; j++) a += ` a${j}="${v}"`;
      return s.slice(0, i) + a + s.slice(i);
    }
    case 'xmlns': {
      if (!tag) return s;
      const i = tag.index + 1 + (tag[1] ?? '').length + tag[2]!.length;
      let a = '';
      for (let j = 0; j < op.count; j++) a += ` xmlns:n${j}="urn:n${j}"`;
      return s.slice(0, i) + a + s.slice(i);
    }
    case 'longText': {
      if (!tag) return s;
      const i = tag.index + tag[0].length;
      return s.slice(0, i) + 'x'.repeat(op.len) + s.slice(i);
    }
    case 'junk': {
      const i = at(op.at, s.length + 1);
      return s.slice(0, i) + op.what + s.slice(i);
    }
    case 'namespace': {
      const uris = [...new Set([...s.matchAll(/xmlns(?::[\w.-]+)?="([^"]*)"/g)].map((m) => m[1]!))];
      if (!uris.length) return s;
      return s.split(`"${uris[at(op.from, uris.length)]}"`).join(`"${op.to}"`);
    }
    case 'bytes':
      return applyByteOp(Buffer.from(s, 'utf8'), op.op, Buffer.alloc(0)).toString('utf8');
  }
}

/** One to four XML-aware mutations of a seed document. */
export function mutatedXml(seeds: readonly string[], scale: Scale): fc.Arbitrary<string> {
  return fc.tuple(fc.nat(seeds.length - 1), fc.array(xmlOp(scale), { minLength: 1, maxLength: 4 })).map(([i, ops]) => ops.reduce(applyXmlOp, seeds[i]!));
}

// ---------------------------------------------------------------------------------------------
// JSON and YAML

/** A JSON value nested `depth` deep (arrays or objects), as text. */
export function deepJson(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

/** Values of the shapes a schema expects, and of every other shape (zod must refuse those, typed). */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.constantFrom(null, true, 0, -1, 1e308, '', 'x'.repeat(300), [], {}, { __proto__: { polluted: true } }, { constructor: { prototype: { x: 1 } } }));

type JsonTextOp = { k: 'bytes'; op: ByteOp } | { k: 'deep'; at: number; depth: number; kind: 'array' | 'object' } | { k: 'junk'; at: number; what: string };
const JSON_JUNK = ['\u0000', '"\\ud800"', '1e99999', '-', '"\\u00"', ',', ']', '}', ':', 'NaN', 'Infinity', '"__proto__"', '{"__proto__":{"x":1}}', '\ufeff'];

/** JSON texts: seeds mutated as text, with deep nesting inserted now and then. */
export function mutatedJsonText(seeds: readonly string[], scale: Scale): fc.Arbitrary<string> {
  const op: fc.Arbitrary<JsonTextOp> = fc.oneof(
    { arbitrary: fc.record({ k: fc.constant('bytes' as const), op: byteOp }), weight: 5 },
    { arbitrary: fc.record({ k: fc.constant('deep' as const), at: fc.nat(), depth: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: scale.depth })), kind: fc.constantFrom('array' as const, 'object' as const) }), weight: 1 },
    { arbitrary: fc.record({ k: fc.constant('junk' as const), at: fc.nat(), what: fc.constantFrom(...JSON_JUNK) }), weight: 2 },
  );
  return fc.tuple(fc.nat(seeds.length - 1), fc.array(op, { minLength: 1, maxLength: 3 })).map(([i, ops]) =>
    ops.reduce((s, o) => {
      if (o.k === 'bytes') return applyByteOp(Buffer.from(s, 'utf8'), o.op, Buffer.alloc(0)).toString('utf8');
      const j = at(o.at, s.length + 1);
      return s.slice(0, j) + (o.k === 'deep' ? deepJson(o.depth, o.kind) : o.what) + s.slice(j);
    }, seeds[i]!),
  );
}

/** YAML shapes that stress a YAML loader: alias bombs, deep flow and block nesting, tags, anchors, merge keys. */
export function hostileYaml(scale: Scale): fc.Arbitrary<string> {
  const n = (max: number) => fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: max }));
  return fc.oneof(
    fc.integer({ min: 2, max: 12 }).map((levels) => {
      let y = 'a0: &a0 [x, x, x, x, x, x, x, x, x]\n';
      for (let i = 1; i < levels; i++) y += `a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]\n`;
      return y;
    }),
    n(scale.depth).map((d) => `templates: ${'['.repeat(d)}${']'.repeat(d)}\n`),
    n(scale.depth).map((d) => `templates: ${'{a: '.repeat(d)}1${'}'.repeat(d)}\n`),
    fc.integer({ min: 1, max: Math.min(scale.depth, 2000) }).map((d) => Array.from({ length: d }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' 1\n'),
    n(scale.width).map((w) => `templates:\n${'  - &x {name: a}\n'.repeat(w)}`),
    fc.constantFrom('!!js/function f', '!!binary AAAA', '--- !<tag:yaml.org,2002:set>\n? a', '<<: *missing', 'a: *undefinedAlias', '%YAML 9.9\n---\na', '? [a, b]\n: c', 'a: !!int 99999999999999999999999', 'a: !!float .nan', '\t- x', '---\n...\n---', '\u0000', '"\\ud800"'),
  );
}
