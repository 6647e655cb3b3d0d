/**
 * Structural limits on an XML message, enforced on the raw bytes as they arrive, before any parser
 * builds anything (issue #15). Every SOAP message we accept needs fewer than 20 levels, a few dozen
 * elements and attributes and a handful of namespace declarations; the limits leave ample room
 * for that and stop what costs a parser time or memory out of proportion to its size: saxes walks
 * every open element to resolve each prefix (deep nesting is quadratic), and xmldom spends about
 * 10 µs per node, so 1 MiB of `<a/>` or of comments holds the event loop for seconds.
 */
export interface XmlLimits {
  /** Elements open at once (the Envelope is depth 1). */
  maxDepth: number;
  /** Elements in the document; comments and processing instructions count as elements. */
  maxElements: number;
  /** Attributes on one element, namespace declarations included. */
  maxAttributesPerElement: number;
  /** Namespace declarations (xmlns, xmlns:p) on one element. */
  maxNamespaceDeclarationsPerElement: number;
  /** Namespace declarations in the whole document. */
  maxNamespaceDeclarations: number;
  /** Bytes of one run of character data as received (text between two tags, one CDATA section or comment). */
  maxTextBytes: number;
  /** Bytes of one attribute value as received. */
  maxAttributeValueBytes: number;
  /** Bytes of one element or attribute name. */
  maxNameBytes: number;
}

export const DEFAULT_XML_LIMITS: Readonly<XmlLimits> = Object.freeze({
  maxDepth: 32,
  maxElements: 1000,
  maxAttributesPerElement: 64,
  maxNamespaceDeclarationsPerElement: 32,
  maxNamespaceDeclarations: 256,
  // Legitimate tokens are a few KiB, but an oversized CSR must still reach the RA, which denies it
  // with the reason and records the denial (its own size limit is far lower): so most of the body.
  maxTextBytes: 768 * 1024,
  maxAttributeValueBytes: 8 * 1024,
  maxNameBytes: 256,
});

const WHAT: Record<keyof XmlLimits, string> = {
  maxDepth: 'nesting depth',
  maxElements: 'number of elements',
  maxAttributesPerElement: 'number of attributes on one element',
  maxNamespaceDeclarationsPerElement: 'number of namespace declarations on one element',
  maxNamespaceDeclarations: 'number of namespace declarations',
  maxTextBytes: 'size of one text value',
  maxAttributeValueBytes: 'size of one attribute value',
  maxNameBytes: 'size of one name',
};

/** The first limit a message broke; the message names it, and the setting that raises it. */
export class XmlLimitExceeded extends Error {
  constructor(
    readonly limit: keyof XmlLimits,
    readonly value: number,
  ) {
    super(`the message exceeds the XML ${WHAT[limit]} limit of ${value} (soapLimits.${limit})`);
  }
}

/** Thrown for markup that opens a document type declaration (or any `<!` other than a comment or CDATA). */
export class XmlMarkupRefused extends Error {}

// Scanner states.
const TEXT = 0;
const LT = 1; // after '<'
const BANG = 2; // after '<!', reading up to '--' or '[CDATA['
const COMMENT = 3;
const CDATA = 4;
const PI = 5;
const CLOSE = 6; // in '</…>'
const TAG_NAME = 7;
const TAG = 8; // inside a start tag, between attributes
const ATTR_NAME = 9;
const ATTR_EQ = 10; // after an attribute name, before its quote
const ATTR_VALUE = 11;
const TAG_SLASH = 12; // '/' inside a start tag

const C_LT = 0x3c;
const C_GT = 0x3e;
const C_SLASH = 0x2f;
const C_BANG = 0x21;
const C_QUESTION = 0x3f;
const C_EQ = 0x3d;
const C_DQ = 0x22;
const C_SQ = 0x27;
const C_DASH = 0x2d;
const C_RSB = 0x5d;
const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;

const XMLNS = [0x78, 0x6d, 0x6c, 0x6e, 0x73]; // "xmlns"
const CDATA_OPEN = [0x5b, 0x43, 0x44, 0x41, 0x54, 0x41, 0x5b]; // "[CDATA["

/**
 * A byte-level tokenizer that only counts: it follows XML's markup (tags, quoted attribute values,
 * comments, CDATA, processing instructions) well enough to know depth, element and attribute counts
 * and run lengths, and leaves well-formedness to the parser that reads the same bytes after it. It
 * keeps a few integers of state, so chunks can be fed as they arrive; each byte costs a few
 * comparisons, so a 1 MiB body takes a few milliseconds whatever its shape. On a well-formed prefix
 * it sees the structure the parser sees; on a malformed one it may count more (refusing earlier,
 * with a limit named) but the parser then refuses at the first malformation anyway.
 */
export class XmlLimitScanner {
  private state = TEXT;
  private depth = 0;
  private elements = 0;
  private attributes = 0;
  private nsHere = 0;
  private nsTotal = 0;
  /** Length of the current text run, comment, CDATA section, name or attribute value. */
  private run = 0;
  /** Progress through a fixed string ("xmlns", "[CDATA[", "--", "-->", "]]>", "?>"). */
  private match = 0;
  /** The attribute name being read so far equals a prefix of "xmlns" (match bytes long), or is exactly "xmlns:…". */
  private nsName = false;
  private quote = 0;

  constructor(private readonly limits: XmlLimits) {}

  private exceeded(limit: keyof XmlLimits): never {
    throw new XmlLimitExceeded(limit, this.limits[limit]);
  }

  private openElement(): void {
    if (++this.depth > this.limits.maxDepth) this.exceeded('maxDepth');
    if (++this.elements > this.limits.maxElements) this.exceeded('maxElements');
    this.attributes = 0;
    this.nsHere = 0;
  }

  private node(): void {
    if (++this.elements > this.limits.maxElements) this.exceeded('maxElements');
  }

  private endAttributeName(): void {
    if (this.nsName && (this.match === 5 || this.match === 6)) {
      if (++this.nsHere > this.limits.maxNamespaceDeclarationsPerElement) this.exceeded('maxNamespaceDeclarationsPerElement');
      if (++this.nsTotal > this.limits.maxNamespaceDeclarations) this.exceeded('maxNamespaceDeclarations');
    }
  }

  private startAttribute(c: number): void {
    if (++this.attributes > this.limits.maxAttributesPerElement) this.exceeded('maxAttributesPerElement');
    this.state = ATTR_NAME;
    this.run = 1;
    this.nsName = c === XMLNS[0];
    this.match = 1;
  }

  private startText(): void {
    this.state = TEXT;
    this.run = 0;
  }

  /** Scans the next bytes; throws XmlLimitExceeded at the first byte that breaks a limit. */
  push(b: Uint8Array): void {
    const L = this.limits;
    const n = b.length;
    for (let i = 0; i < n; i++) {
      const c = b[i]!;
      switch (this.state) {
        case TEXT:
          if (c === C_LT) this.state = LT;
          else if (++this.run > L.maxTextBytes) this.exceeded('maxTextBytes');
          break;
        case LT:
          if (c === C_SLASH) {
            this.state = CLOSE;
            this.run = 0;
          } else if (c === C_BANG) {
            this.state = BANG;
            this.match = 0;
          } else if (c === C_QUESTION) {
            this.node();
            this.state = PI;
            this.run = 0;
            this.match = 0;
          } else {
            this.openElement();
            this.state = TAG_NAME;
            this.run = 1;
          }
          break;
        case BANG:
          // '<!--' or '<![CDATA['; anything else (DOCTYPE, ENTITY, …) has no place in a SOAP message.
          if (this.match === 0 && c === C_DASH) this.match = -1;
          else if (this.match === -1) {
            if (c !== C_DASH) throw new XmlMarkupRefused('malformed markup after <!-');
            this.node();
            this.state = COMMENT;
            this.run = 0;
            this.match = 0;
          } else if (c === CDATA_OPEN[this.match]) {
            if (++this.match === CDATA_OPEN.length) {
              this.state = CDATA;
              this.run = 0;
              this.match = 0;
            }
          } else throw new XmlMarkupRefused('document type declarations are not allowed');
          break;
        case COMMENT:
          // Ends at "-->" ("--" inside a comment is not well-formed; the parser refuses it).
          if (c === C_DASH) this.match = this.match < 2 ? this.match + 1 : 2;
          else if (c === C_GT && this.match === 2) {
            this.startText();
            break;
          } else this.match = 0;
          if (++this.run > L.maxTextBytes) this.exceeded('maxTextBytes');
          break;
        case CDATA:
          if (c === C_RSB) this.match = this.match < 2 ? this.match + 1 : 2;
          else if (c === C_GT && this.match === 2) {
            this.startText();
            break;
          } else this.match = 0;
          if (++this.run > L.maxTextBytes) this.exceeded('maxTextBytes');
          break;
        case PI:
          if (c === C_GT && this.match === 1) {
            this.startText();
            break;
          }
          this.match = c === C_QUESTION ? 1 : 0;
          if (++this.run > L.maxTextBytes) this.exceeded('maxTextBytes');
          break;
        case CLOSE:
          if (c === C_GT) {
            if (this.depth > 0) this.depth--;
            this.startText();
          } else if (++this.run > L.maxNameBytes) this.exceeded('maxNameBytes');
          break;
        case TAG_NAME:
          if (c === C_GT) this.startText();
          else if (c === C_SLASH) this.state = TAG_SLASH;
          else if (isSpace(c)) this.state = TAG;
          else if (++this.run > L.maxNameBytes) this.exceeded('maxNameBytes');
          break;
        case TAG:
          if (c === C_GT) this.startText();
          else if (c === C_SLASH) this.state = TAG_SLASH;
          else if (!isSpace(c)) this.startAttribute(c);
          break;
        case TAG_SLASH:
          if (c === C_GT) {
            if (this.depth > 0) this.depth--;
            this.startText();
          } else if (!isSpace(c)) this.startAttribute(c);
          else this.state = TAG;
          break;
        case ATTR_NAME:
          if (c === C_EQ || isSpace(c)) {
            this.endAttributeName();
            this.state = ATTR_EQ;
          } else if (c === C_GT || c === C_SLASH) {
            this.endAttributeName();
            if (c === C_GT) this.startText();
            else this.state = TAG_SLASH;
          } else {
            if (++this.run > L.maxNameBytes) this.exceeded('maxNameBytes');
            if (this.nsName) {
              if (this.match < 5) this.nsName = c === XMLNS[this.match];
              else if (this.match === 5) this.nsName = c === 0x3a; // "xmlns:"
              if (this.match < 6) this.match++;
            }
          }
          break;
        case ATTR_EQ:
          if (c === C_DQ || c === C_SQ) {
            this.quote = c;
            this.state = ATTR_VALUE;
            this.run = 0;
          } else if (c === C_GT) this.startText();
          else if (c === C_SLASH) this.state = TAG_SLASH;
          else if (c !== C_EQ && !isSpace(c)) this.startAttribute(c);
          break;
        case ATTR_VALUE:
          if (c === this.quote) this.state = TAG;
          else if (++this.run > L.maxAttributeValueBytes) this.exceeded('maxAttributeValueBytes');
          break;
      }
    }
  }
}
