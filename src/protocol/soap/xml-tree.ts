import { SaxesParser, type SaxesAttributeNS } from 'saxes';
import { isNCNameStartChar } from 'xmlchars/xmlns/1.0/ed3.js';

/**
 * The slice of the DOM that our SOAP codecs read. xmldom's Element satisfies it (messages that
 * carry an XML signature are parsed with xmldom, which xml-crypto needs); everything else is
 * parsed into the light tree below, about five times faster than building an xmldom document.
 */
export interface XmlNode {
  readonly nodeType: number;
  readonly nextSibling: XmlNode | null;
  readonly nodeValue: string | null;
}

export interface XmlElement extends XmlNode {
  readonly firstChild: XmlNode | null;
  readonly namespaceURI: string | null;
  readonly localName: string | null;
  readonly nodeName: string;
  getAttribute(qualifiedName: string): string | null;
  getAttributeNS(namespace: string | null, localName: string): string | null;
  /** The namespace a prefix (null: the default namespace) is bound to where this element stands. */
  lookupNamespaceURI(prefix: string | null): string | null;
}

export const ELEMENT_NODE = 1;
export const TEXT_NODE = 3;
export const CDATA_SECTION_NODE = 4;

class LiteText implements XmlNode {
  nextSibling: XmlNode | null = null;
  constructor(
    readonly nodeType: number,
    readonly nodeValue: string,
  ) {}
}

class LiteElement implements XmlElement {
  readonly nodeType = ELEMENT_NODE;
  readonly nodeValue = null;
  firstChild: XmlNode | null = null;
  lastChild: LiteElement | LiteText | null = null;
  nextSibling: XmlNode | null = null;
  constructor(
    readonly parentNode: LiteElement | null,
    readonly namespaceURI: string | null,
    readonly localName: string,
    readonly nodeName: string,
    /** As saxes hands them over (qualified name → attribute): not copied, rarely read. */
    private readonly attributes: Readonly<Record<string, SaxesAttributeNS>>,
    /** The namespace declarations on this element (saxes: prefix, '' for the default, → URI). */
    private readonly declared: Readonly<Record<string, string>>,
  ) {}

  lookupNamespaceURI(prefix: string | null): string | null {
    const key = prefix ?? '';
    if (key === 'xml') return 'http://www.w3.org/XML/1998/namespace';
    if (key === 'xmlns') return 'http://www.w3.org/2000/xmlns/';
    for (let e: LiteElement | null = this; e; e = e.parentNode) {
      const uri = e.declared[key];
      if (uri !== undefined) return uri === '' ? null : uri;
    }
    return null;
  }

  append(n: LiteElement | LiteText): void {
    if (this.lastChild) this.lastChild.nextSibling = n;
    else this.firstChild = n;
    this.lastChild = n;
  }

  getAttribute(qualifiedName: string): string | null {
    return Object.hasOwn(this.attributes, qualifiedName) ? this.attributes[qualifiedName]!.value : null;
  }

  getAttributeNS(namespace: string | null, localName: string): string | null {
    const ns = namespace ?? '';
    for (const name in this.attributes) {
      const a = this.attributes[name]!;
      if (a.local === localName && a.uri === ns) return a.value;
    }
    return null;
  }
}

/**
 * Namespaces in XML 1.0 §4: a qualified name is an NCName or prefix:NCName. saxes checks that names
 * are XML Names and binds their prefixes, but lets `p:.x` or `p:a:b` through; xmldom does not.
 */
function checkQName(name: string): void {
  const i = name.indexOf(':');
  if (i < 0) return;
  const local = name.slice(i + 1);
  if (i === 0 || local === '' || local.includes(':') || !isNCNameStartChar(local.codePointAt(0)!)) throw new Error(`${name.slice(0, 100)} is not a namespace-well-formed name`);
}

/** Thrown for a document type declaration: SOAP forbids DTDs, and we never expand entities. */
export class DtdRefused extends Error {}

/** What the handlers of one parser build; reset for every document. */
interface Build {
  root: LiteElement | undefined;
  stack: LiteElement[];
}

function newParser(b: Build): SaxesParser {
  const parser = new SaxesParser({ xmlns: true });
  parser.on('doctype', () => {
    throw new DtdRefused('document type declarations are not allowed');
  });
  // SOAP 1.2 part 1 §5: senders must not send processing instructions and a receiver should fault
  // them (the XML declaration is not one).
  parser.on('processinginstruction', (pi) => {
    throw new Error(`processing instructions are not allowed in SOAP messages (<?${pi.target.slice(0, 40)}…?>)`);
  });
  parser.on('opentag', (tag) => {
    const attrs = tag.attributes as Record<string, SaxesAttributeNS>;
    checkQName(tag.name);
    for (const name in attrs) checkQName(name);
    const parent = b.stack[b.stack.length - 1];
    const el = new LiteElement(parent ?? null, tag.uri === '' ? null : tag.uri, tag.local, tag.name, attrs, tag.ns);
    if (parent) parent.append(el);
    else b.root = el;
    b.stack.push(el);
  });
  parser.on('closetag', () => {
    b.stack.pop();
  });
  // Text outside the root element is whitespace (anything else is a well-formedness error).
  parser.on('text', (t) => b.stack[b.stack.length - 1]?.append(new LiteText(TEXT_NODE, t)));
  parser.on('cdata', (t) => b.stack[b.stack.length - 1]?.append(new LiteText(CDATA_SECTION_NODE, t)));
  return parser;
}

/**
 * Parsers with their handlers, kept for reuse (a new one costs ~20 µs, a tenth of a small
 * message): saxes resets itself after a document ends. After an error its state is unknown, so it
 * is dropped and the next document gets a new one.
 */
const idle: { parser: SaxesParser; build: Build }[] = [];
const MAX_IDLE = 32;

/**
 * Parses well-formed, namespace-well-formed XML 1.0 (saxes: a conforming, non-validating parser)
 * into a light element tree, from text fed in pieces as it arrives (so a large message never
 * holds the event loop in one go; documents being read at the same time each have their own
 * parser). Refuses any DOCTYPE; knows only the predefined entities and character references, so
 * there is nothing external to fetch and nothing to expand. Refuses processing instructions; drops
 * comments. Throws an Error saying where the document is not well-formed.
 *
 * It builds whatever it is given: structural limits (depth, counts, sizes) are the job of
 * XmlLimitScanner (xml-limits.ts), which reads the same bytes first.
 */
export class XmlTreeParser {
  private readonly parser: SaxesParser;
  private readonly build: Build;
  private failed = false;

  constructor() {
    const reused = idle.pop();
    this.build = reused?.build ?? { root: undefined, stack: [] };
    this.parser = reused?.parser ?? newParser(this.build);
    this.build.root = undefined;
    this.build.stack = [];
  }

  write(text: string): void {
    if (this.failed) throw new Error('the parser already failed');
    try {
      this.parser.write(text);
    } catch (e) {
      this.failed = true;
      throw e;
    }
  }

  close(): XmlElement {
    if (this.failed) throw new Error('the parser already failed');
    try {
      this.parser.close();
    } catch (e) {
      this.failed = true;
      throw e;
    }
    const root = this.build.root;
    this.build.root = undefined;
    this.build.stack = [];
    if (idle.length < MAX_IDLE) idle.push({ parser: this.parser, build: this.build });
    if (!root) throw new Error('no root element');
    return root;
  }
}

/** Parses a whole document at once (see XmlTreeParser). */
export function parseXmlTree(xml: string): XmlElement {
  const p = new XmlTreeParser();
  p.write(xml);
  return p.close();
}
