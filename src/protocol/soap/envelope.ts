import { DOMParser, type Document as XDocument } from '@xmldom/xmldom';
import { OpencesError } from '../../errors.js';
import { NS } from './namespaces.js';
import { child, childElements, text, type El } from './xml.js';
import { StringDecoder } from 'node:string_decoder';
import { DEFAULT_XML_LIMITS, XmlLimitExceeded, XmlLimitScanner, XmlMarkupRefused, type XmlLimits } from './xml-limits.js';
import { DtdRefused, XmlTreeParser } from './xml-tree.js';
import { parseSecurityHeader, type SecurityHeader } from './wssecurity.js';

export interface SoapHeader {
  /** WS-Addressing Action (trimmed). */
  action?: string;
  messageId?: string;
  to?: string;
  /** ReplyTo/Address. */
  replyTo?: string;
  /** RelatesTo (what a response carries; the client side reads it). */
  relatesTo?: string;
  security?: SecurityHeader;
}

export interface SoapEnvelope {
  header: SoapHeader;
  /** The Body element that is the direct child of the Envelope (the one a signature must cover). */
  bodyElement: El;
  /** The first element inside Body (the operation, or s:Fault). */
  operation: El | undefined;
  /**
   * The xmldom document, for XML signature verification on the same tree: present exactly when the
   * Security header carries a signature (the whole message is then read from this tree alone).
   */
  document?: XDocument;
  /** Raw text as received. (Signatures are verified on `document`, never on this text: src/auth/xml-signature.ts.) */
  xml: string;
}

export interface ParseEnvelopeOptions {
  /** Refuse larger messages before parsing them. */
  maxBytes: number;
  /** Structural limits checked on the bytes before any parser sees them (default DEFAULT_XML_LIMITS). */
  limits?: XmlLimits;
}

// Headers we process; anything else with mustUnderstand="1"/"true" gets a MustUnderstand fault
// (SOAP 1.2 part 1 §5.2.3). WS-Addressing headers other than these carry nothing we act on, but we
// still "understand" them: ignoring From/FaultTo is what an anonymous-reply service does.
const UNDERSTOOD = new Set([
  `${NS.wsa}|Action`,
  `${NS.wsa}|MessageID`,
  `${NS.wsa}|To`,
  `${NS.wsa}|ReplyTo`,
  `${NS.wsa}|From`,
  `${NS.wsa}|FaultTo`,
  `${NS.wsa}|RelatesTo`,
  `${NS.wsse}|Security`,
]);

// SOAP 1.2 roles that address us; a header aimed at another role is not ours to understand.
const OUR_ROLES = new Set(['', 'http://www.w3.org/2003/05/soap-envelope/role/next', 'http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver']);

const DTD = /<!DOCTYPE|<!ENTITY/i;

const notWellFormed = (e: unknown): OpencesError => {
  const first = e instanceof Error ? (e.message.split('\n')[0] ?? '') : 'unreadable';
  const why = first.replace(/^\[xmldom [a-z]+\]\s*/i, '').slice(0, 200);
  return new OpencesError('malformed', `the request is not well-formed XML: ${why}`);
};

const DTD_REFUSED = 'document type declarations are not allowed (DOCTYPE and ENTITY are refused: no DTDs in SOAP)';

function parseDom(xml: string): XDocument {
  try {
    return new DOMParser({
      onError: (level, msg) => {
        // xmldom only logs unless told otherwise; a warning (e.g. an unbound prefix in an attribute
        // value) is harmless, every error is not.
        if (level !== 'warning') throw new Error(msg);
      },
    }).parseFromString(xml, 'text/xml');
  } catch (e) {
    throw notWellFormed(e);
  }
}

/** Maps what the scanner and the tree parser throw to the typed errors callers fault with. */
function parseFailure(e: unknown): OpencesError {
  if (e instanceof OpencesError) return e;
  if (e instanceof XmlLimitExceeded) return new OpencesError('malformed', e.message, { limit: e.limit });
  if (e instanceof DtdRefused || e instanceof XmlMarkupRefused) return new OpencesError('malformed', DTD_REFUSED);
  return notWellFormed(e);
}

/** The trimmed text of a WS-Addressing header, refusing duplicates (a second Action is ambiguous). */
function once(header: SoapHeader, key: 'action' | 'messageId' | 'to' | 'replyTo' | 'relatesTo', value: string | undefined, name: string): void {
  if (header[key] !== undefined) throw new OpencesError('malformed', `the message carries more than one WS-Addressing ${name} header`);
  header[key] = value?.trim() ?? '';
}

/**
 * Reads a SOAP 1.2 envelope from bytes fed as they arrive (`push` each chunk, then `end`). Each
 * chunk goes first through the limit scanner (xml-limits.ts), then, decoded, into the tree parser,
 * so a hostile body is refused at the first byte that breaks a limit, before the rest is read,
 * before anything is authenticated, and no chunk costs more than a few milliseconds. A parse
 * failure is thrown as a typed OpencesError ('tooLarge' or 'malformed', naming the limit), by `push`
 * or by `end`; after one the reader is done.
 *
 * Refuses document type declarations outright (no entities, no XXE, no billion laughs), SOAP 1.1,
 * any other root, a missing or repeated Body, and headers marked mustUnderstand that this service
 * does not process.
 *
 * One parser reads each message: the light tree (saxes) unless the Security header carries an XML
 * signature, in which case the whole message is read again, and only, from an xmldom document —
 * the tree xml-crypto verifies — so what is checked and what is used never come from two parsers.
 * xmldom only ever sees a message that passed the limits.
 */
export class EnvelopeReader {
  private readonly scanner: XmlLimitScanner;
  private readonly tree = new XmlTreeParser();
  private readonly decoder = new StringDecoder('utf8');
  /** The decoded text so far (what the tree parser got), kept for signature verification. */
  private readonly texts: string[] = [];
  private size = 0;
  /** Bytes held back until the byte-order mark (if any) can be recognised. */
  private head: Buffer | undefined = Buffer.alloc(0);
  private failed: OpencesError | undefined;

  constructor(private readonly opts: ParseEnvelopeOptions) {
    this.scanner = new XmlLimitScanner(opts.limits ?? DEFAULT_XML_LIMITS);
  }

  push(chunk: Uint8Array): void {
    if (this.failed) throw this.failed;
    try {
      this.size += chunk.length;
      if (this.size > this.opts.maxBytes) throw new OpencesError('tooLarge', `the message exceeds the limit of ${this.opts.maxBytes} bytes`);
      let b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (this.head) {
        b = Buffer.concat([this.head, b]);
        if (b.length < 3) {
          this.head = b;
          return;
        }
        this.head = undefined;
        b = this.skipBom(b);
      }
      this.feed(b);
    } catch (e) {
      throw this.fail(e);
    }
  }

  end(): SoapEnvelope {
    if (this.failed) throw this.failed;
    try {
      if (this.size === 0) throw new OpencesError('malformed', 'the request body is empty');
      if (this.head) {
        const b = this.skipBom(this.head);
        this.head = undefined;
        this.feed(b);
      }
      const rest = this.decoder.end();
      if (rest) {
        this.texts.push(rest);
        this.tree.write(rest);
      }
      const root = this.tree.close();
      const xml = this.texts.length === 1 ? this.texts[0]! : this.texts.join('');
      // Also inside comments and CDATA, as before streaming: nothing DTD-like is accepted anywhere.
      if (DTD.test(xml)) throw new OpencesError('malformed', DTD_REFUSED);
      const light = readEnvelope(root, xml);
      if (!light.header.security?.hasSignature) return light;
      const document = parseDom(xml);
      const env = document.documentElement as El | null;
      if (!env) throw new OpencesError('malformed', 'the request holds no XML element');
      return { ...readEnvelope(env, xml), document };
    } catch (e) {
      throw this.fail(e);
    }
  }

  private fail(e: unknown): OpencesError {
    this.failed = parseFailure(e);
    return this.failed;
  }

  private skipBom(b: Buffer): Buffer {
    if (b.length >= 2 && ((b[0] === 0xff && b[1] === 0xfe) || (b[0] === 0xfe && b[1] === 0xff))) {
      throw new OpencesError('unsupported', 'UTF-16 messages are not supported: send UTF-8 (application/soap+xml; charset=utf-8)');
    }
    return b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? b.subarray(3) : b;
  }

  private feed(b: Buffer): void {
    this.scanner.push(b);
    const text = this.decoder.write(b);
    if (text) {
      this.texts.push(text);
      this.tree.write(text);
    }
  }
}

/**
 * Parses a whole SOAP 1.2 envelope held in memory: the pure entry point (bytes and limits in, a
 * typed envelope or a typed error out) that the fuzz targets call. See EnvelopeReader.
 */
export function parseEnvelope(bytes: Uint8Array | string, opts: ParseEnvelopeOptions): SoapEnvelope {
  const b = typeof bytes === 'string' ? Buffer.from(bytes.charCodeAt(0) === 0xfeff ? bytes.slice(1) : bytes, 'utf8') : bytes;
  if (b.length > opts.maxBytes) throw new OpencesError('tooLarge', `the message of ${b.length} bytes exceeds the limit of ${opts.maxBytes} bytes`);
  const reader = new EnvelopeReader(opts);
  reader.push(b);
  return reader.end();
}

function readEnvelope(env: El, xml: string): SoapEnvelope {
  if (env.localName !== 'Envelope') throw new OpencesError('malformed', `the request is not a SOAP envelope (root element ${env.localName ?? env.nodeName})`);
  if (env.namespaceURI === NS.soap11) {
    throw new OpencesError('unsupported', 'SOAP 1.1 is not supported: use SOAP 1.2 (application/soap+xml)', { versionMismatch: true });
  }
  if (env.namespaceURI !== NS.soap12) {
    throw new OpencesError('malformed', `the Envelope is in the wrong namespace (${env.namespaceURI ?? 'none'}; SOAP 1.2 is ${NS.soap12})`, { versionMismatch: true });
  }

  // SOAP 1.2 part 1 §5: an optional Header, then exactly one Body, nothing else.
  const parts = childElements(env);
  let headerEl: El | undefined;
  let bodyElement: El | undefined;
  for (const p of parts) {
    const isSoap = p.namespaceURI === NS.soap12;
    if (isSoap && p.localName === 'Header' && !headerEl && !bodyElement) headerEl = p;
    else if (isSoap && p.localName === 'Body' && !bodyElement) bodyElement = p;
    else if (isSoap && p.localName === 'Body') throw new OpencesError('malformed', 'the Envelope has more than one Body');
    else throw new OpencesError('malformed', `unexpected element ${p.localName} in the Envelope (only Header, then Body)`);
  }
  if (!bodyElement) throw new OpencesError('malformed', 'the Envelope has no Body');

  const header: SoapHeader = {};
  if (headerEl) {
    for (const h of childElements(headerEl)) {
      const key = `${h.namespaceURI ?? ''}|${h.localName}`;
      const mu = (h.getAttributeNS(NS.soap12, 'mustUnderstand') ?? '').trim();
      const role = (h.getAttributeNS(NS.soap12, 'role') ?? '').trim();
      if ((mu === 'true' || mu === '1') && !UNDERSTOOD.has(key) && OUR_ROLES.has(role)) {
        throw new OpencesError('unsupported', `the header {${h.namespaceURI ?? ''}}${h.localName} must be understood but this service does not process it`, {
          mustUnderstand: true,
          field: h.localName ?? undefined,
        });
      }
      if (h.namespaceURI === NS.wsa) {
        if (h.localName === 'Action') once(header, 'action', text(h), 'Action');
        else if (h.localName === 'MessageID') once(header, 'messageId', text(h), 'MessageID');
        else if (h.localName === 'To') once(header, 'to', text(h), 'To');
        else if (h.localName === 'ReplyTo') once(header, 'replyTo', text(child(h, NS.wsa, 'Address')), 'ReplyTo');
        else if (h.localName === 'RelatesTo') once(header, 'relatesTo', text(h), 'RelatesTo');
      } else if (key === `${NS.wsse}|Security`) {
        if (header.security) throw new OpencesError('malformed', 'the message carries more than one WS-Security header');
        header.security = parseSecurityHeader(h);
      }
    }
  }
  return { header, bodyElement, operation: childElements(bodyElement)[0], xml };
}
