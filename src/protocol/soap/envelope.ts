import { DOMParser, type Document as XDocument } from '@xmldom/xmldom';
import { OpencesError } from '../../errors.js';
import { NS } from './namespaces.js';
import { child, childElements, text, type El } from './xml.js';
import { parseSecurityHeader, type SecurityHeader } from './wssecurity.js';

export interface SoapHeader {
  action?: string;
  messageId?: string;
  to?: string;
  replyTo?: string;
  security?: SecurityHeader;
}

export interface SoapEnvelope {
  header: SoapHeader;
  /** The Body element that is the direct child of the Envelope (the one a signature must cover). */
  bodyElement: El;
  /** The first element inside Body (the operation). */
  operation: El | undefined;
  document: XDocument;
  /** Raw text as received (for signature verification with xml-crypto). */
  xml: string;
}

// Headers we process; anything else with mustUnderstand="1" gets a MustUnderstand fault.
const UNDERSTOOD = new Set([`${NS.wsa}|Action`, `${NS.wsa}|MessageID`, `${NS.wsa}|To`, `${NS.wsa}|ReplyTo`, `${NS.wsa}|From`, `${NS.wsa}|FaultTo`, `${NS.wsse}|Security`]);

export function parseEnvelope(bytes: Uint8Array | string, opts: { maxBytes: number }): SoapEnvelope {
  const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length;
  if (size > opts.maxBytes) throw new OpencesError('tooLarge', `the message of ${size} bytes exceeds the limit of ${opts.maxBytes} bytes`);
  if (size === 0) throw new OpencesError('malformed', 'the request body is empty');
  const xml = typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  // No DTDs at all: no entities to expand, no external fetches (XXE), no billion laughs.
  if (/<!DOCTYPE/i.test(xml) || /<!ENTITY/i.test(xml)) throw new OpencesError('malformed', 'document type declarations are not allowed');
  let document: XDocument;
  try {
    document = new DOMParser({
      onError: (level, msg) => {
        if (level !== 'warning') throw new Error(msg);
      },
    }).parseFromString(xml, 'text/xml');
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0]!.replace(/^\[xmldom [a-z]+\]\s*/i, '') : 'unreadable';
    throw new OpencesError('malformed', `the request is not well-formed XML: ${why.slice(0, 200)}`);
  }
  const env = document.documentElement as El | null;
  if (!env || env.localName !== 'Envelope') throw new OpencesError('malformed', 'the request is not a SOAP envelope');
  if (env.namespaceURI === NS.soap11) throw new OpencesError('unsupported', 'SOAP 1.1 is not supported: use SOAP 1.2 (application/soap+xml)', { versionMismatch: true });
  if (env.namespaceURI !== NS.soap12) throw new OpencesError('malformed', `the envelope is in the wrong namespace (${env.namespaceURI ?? 'none'})`, { versionMismatch: true });
  const parts = childElements(env);
  const headerEl = parts.find((e) => e.namespaceURI === NS.soap12 && e.localName === 'Header');
  const bodies = parts.filter((e) => e.namespaceURI === NS.soap12 && e.localName === 'Body');
  if (bodies.length !== 1) throw new OpencesError('malformed', bodies.length ? 'the envelope has more than one Body' : 'the envelope has no Body');
  const bodyElement = bodies[0]!;

  const header: SoapHeader = {};
  if (headerEl) {
    for (const h of childElements(headerEl)) {
      const key = `${h.namespaceURI}|${h.localName}`;
      const mu = h.getAttributeNS(NS.soap12, 'mustUnderstand');
      if ((mu === 'true' || mu === '1') && !UNDERSTOOD.has(key)) {
        throw new OpencesError('unsupported', `header ${h.localName} (${h.namespaceURI ?? 'no namespace'}) must be understood but is not supported`, { mustUnderstand: true });
      }
      if (h.namespaceURI === NS.wsa) {
        if (h.localName === 'Action') header.action = text(h)?.trim();
        else if (h.localName === 'MessageID') header.messageId = text(h)?.trim();
        else if (h.localName === 'To') header.to = text(h)?.trim();
        else if (h.localName === 'ReplyTo') header.replyTo = text(child(h, NS.wsa, 'Address'))?.trim();
      } else if (key === `${NS.wsse}|Security`) {
        if (header.security) throw new OpencesError('malformed', 'more than one WS-Security header');
        header.security = parseSecurityHeader(h);
      }
    }
  }
  const ops = childElements(bodyElement);
  return { header, bodyElement, operation: ops[0], document, xml };
}
