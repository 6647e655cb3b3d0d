import { describe, expect, it } from 'vitest';
import { EnvelopeReader, NS, parseEnvelope } from '../../../../src/protocol/soap/index.js';
import { OpencesError } from '../../../../src/errors.js';
import { thrown } from '../../../helpers/thrown.js';

const OPTS = { maxBytes: 1 << 20 };
const env = (header: string, body = '<o:Op xmlns:o="urn:op"/>'): string => `<s:Envelope xmlns:s="${NS.soap12}" xmlns:a="${NS.wsa}"><s:Header>${header}</s:Header><s:Body>${body}</s:Body></s:Envelope>`;


/** Feeds the message to the streaming reader in chunks of `size` bytes, as a socket would. */
function streamed(bytes: Buffer, size: number, maxBytes = OPTS.maxBytes): ReturnType<EnvelopeReader['end']> {
  const r = new EnvelopeReader({ maxBytes });
  for (let i = 0; i < bytes.length; i += size) r.push(bytes.subarray(i, i + size));
  return r.end();
}

/**
 * The envelope rules an attacker plays with to make two readers see two messages: headers in the
 * wrong place or twice, a mustUnderstand header we would silently skip, byte-order marks and
 * chunk boundaries.
 */
describe('SOAP 1.2 envelope rules', () => {
  it('reads every WS-Addressing header, trimmed, and the first element of the Body as the operation', () => {
    const e = parseEnvelope(env('<a:Action> urn:act </a:Action><a:MessageID>m</a:MessageID><a:To>t</a:To><a:ReplyTo><a:Address>r</a:Address></a:ReplyTo><a:RelatesTo>rel</a:RelatesTo><a:From><a:Address>f</a:Address></a:From>'), OPTS);
    expect(e.header).toEqual({ action: 'urn:act', messageId: 'm', to: 't', replyTo: 'r', relatesTo: 'rel' });
    expect(e.operation?.localName).toBe('Op');
    expect(parseEnvelope(env('', ''), OPTS).operation).toBeUndefined();
    // An empty ReplyTo is present, with no address.
    expect(parseEnvelope(env('<a:ReplyTo/>'), OPTS).header.replyTo).toBe('');
    // No Header at all is fine.
    expect(parseEnvelope(`<s:Envelope xmlns:s="${NS.soap12}"><s:Body/></s:Envelope>`, OPTS).header).toEqual({});
  });

  it.each(['MessageID', 'To', 'RelatesTo'])('refuses a second WS-Addressing %s', (name) => {
    expect(thrown(() => parseEnvelope(env(`<a:${name}>1</a:${name}><a:${name}>2</a:${name}>`), OPTS)).message).toBe(`the message carries more than one WS-Addressing ${name} header`);
  });

  it('refuses a second ReplyTo and a second Security header', () => {
    expect(thrown(() => parseEnvelope(env('<a:ReplyTo><a:Address>1</a:Address></a:ReplyTo><a:ReplyTo><a:Address>2</a:Address></a:ReplyTo>'), OPTS)).message).toBe('the message carries more than one WS-Addressing ReplyTo header');
    const sec = `<o:Security xmlns:o="${NS.wsse}"/>`;
    expect(thrown(() => parseEnvelope(env(sec + sec), OPTS)).message).toBe('the message carries more than one WS-Security header');
  });

  it('refuses a second Header, a Header after the Body, a foreign element, and no Body', () => {
    const s = `xmlns:s="${NS.soap12}"`;
    expect(thrown(() => parseEnvelope(`<s:Envelope ${s}><s:Header/><s:Header/><s:Body/></s:Envelope>`, OPTS)).message).toBe('unexpected element Header in the Envelope (only Header, then Body)');
    expect(thrown(() => parseEnvelope(`<s:Envelope ${s}><s:Body/><s:Header/></s:Envelope>`, OPTS)).message).toBe('unexpected element Header in the Envelope (only Header, then Body)');
    expect(thrown(() => parseEnvelope(`<s:Envelope ${s} xmlns:x="urn:x"><x:Body/></s:Envelope>`, OPTS)).message).toBe('unexpected element Body in the Envelope (only Header, then Body)');
    expect(thrown(() => parseEnvelope(`<s:Envelope ${s}><s:Header/></s:Envelope>`, OPTS)).message).toBe('the Envelope has no Body');
    expect(thrown(() => parseEnvelope(`<s:Envelope ${s}><s:Body/><s:Body/></s:Envelope>`, OPTS)).message).toBe('the Envelope has more than one Body');
  });

  it('refuses SOAP 1.1 as a version mismatch, another namespace as malformed, and names a foreign root', () => {
    expect(thrown(() => parseEnvelope(`<s:Envelope xmlns:s="${NS.soap11}"><s:Body/></s:Envelope>`, OPTS))).toMatchObject({ kind: 'unsupported', details: { versionMismatch: true } });
    const other = thrown(() => parseEnvelope('<s:Envelope xmlns:s="urn:not-soap"><s:Body/></s:Envelope>', OPTS));
    expect(other).toMatchObject({ kind: 'malformed', details: { versionMismatch: true } });
    expect(other.message).toBe(`the Envelope is in the wrong namespace (urn:not-soap; SOAP 1.2 is ${NS.soap12})`);
    expect(thrown(() => parseEnvelope('<Envelope><Body/></Envelope>', OPTS)).message).toBe(`the Envelope is in the wrong namespace (none; SOAP 1.2 is ${NS.soap12})`);
    expect(thrown(() => parseEnvelope('<x:Root xmlns:x="urn:x"/>', OPTS)).message).toBe('the request is not a SOAP envelope (root element Root)');
  });

  it.each([
    ['1', undefined, true],
    ['true', undefined, true],
    [' true ', undefined, true],
    ['true', 'http://www.w3.org/2003/05/soap-envelope/role/next', true],
    ['true', 'http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver', true],
    ['0', undefined, false],
    ['false', undefined, false],
    ['true', 'urn:someone-else', false],
  ])('mustUnderstand=%j role=%j on a header we do not process: refused=%s', (mu, role, refused) => {
    const h = `<x:T xmlns:x="urn:x" s:mustUnderstand="${mu}"${role ? ` s:role="${role}"` : ''}>1</x:T>`;
    if (refused) {
      expect(thrown(() => parseEnvelope(env(h), OPTS))).toMatchObject({ kind: 'unsupported', message: 'the header {urn:x}T must be understood but this service does not process it', details: { mustUnderstand: true, field: 'T' } });
    } else {
      expect(parseEnvelope(env(h), OPTS).operation?.localName).toBe('Op');
    }
  });

  it('understands, with mustUnderstand, the WS-Addressing headers it reads or may ignore and WS-Security', () => {
    for (const h of ['Action', 'MessageID', 'To', 'From', 'FaultTo', 'RelatesTo']) {
      expect(parseEnvelope(env(`<a:${h} s:mustUnderstand="1">x</a:${h}>`), OPTS).operation?.localName, h).toBe('Op');
    }
    expect(parseEnvelope(env(`<a:ReplyTo s:mustUnderstand="1"><a:Address>x</a:Address></a:ReplyTo>`), OPTS).header.replyTo).toBe('x');
    expect(parseEnvelope(env(`<o:Security xmlns:o="${NS.wsse}" s:mustUnderstand="1"/>`), OPTS).header.security?.hasSignature).toBe(false);
    // Not any header in the WS-Addressing namespace.
    expect(thrown(() => parseEnvelope(env('<a:Other s:mustUnderstand="1">x</a:Other>'), OPTS)).details).toMatchObject({ mustUnderstand: true });
  });

  it('refuses DOCTYPE and ENTITY wherever they appear, comments included', () => {
    for (const dtd of ['<!-- <!DOCTYPE x> -->', '<!-- <!entity x "y"> -->']) {
      expect(thrown(() => parseEnvelope(env(dtd), OPTS)).message).toBe('document type declarations are not allowed (DOCTYPE and ENTITY are refused: no DTDs in SOAP)');
    }
  });

  it('reads the same message whatever the chunk boundaries, a UTF-8 byte order mark split across chunks included', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(env('<a:Action>urn:é</a:Action>'))]);
    for (const size of [1, 2, 3, 5, 4096]) expect(streamed(bytes, size).header.action, `chunks of ${size}`).toBe('urn:é');
    // Shorter than a byte order mark: held back, then read at the end.
    const r = new EnvelopeReader(OPTS);
    r.push(Buffer.from('<'));
    expect(thrown(() => r.end()).kind).toBe('malformed');
  });

  it('refuses UTF-16 in either byte order, however it is chunked', () => {
    for (const bom of [[0xff, 0xfe], [0xfe, 0xff]]) {
      const bytes = Buffer.concat([Buffer.from(bom), Buffer.from('<a/>', 'utf16le')]);
      for (const size of [1, 2, 64]) {
        expect(thrown(() => streamed(bytes, size))).toMatchObject({ kind: 'unsupported', message: 'UTF-16 messages are not supported: send UTF-8 (application/soap+xml; charset=utf-8)' });
      }
    }
    // Two bytes that only look like a mark's start are not refused for it.
    expect(thrown(() => streamed(Buffer.from([0xff, 0x00, 0x3c]), 1)).message).not.toMatch(/UTF-16/);
  });

  it('counts every byte against maxBytes, streamed or whole, the limit itself allowed', () => {
    const bytes = Buffer.from(env(''));
    expect(streamed(bytes, 7, bytes.length).bodyElement.localName).toBe('Body');
    expect(parseEnvelope(bytes, { maxBytes: bytes.length }).bodyElement.localName).toBe('Body');
    expect(thrown(() => streamed(bytes, 7, bytes.length - 1))).toMatchObject({ kind: 'tooLarge', message: `the message exceeds the limit of ${bytes.length - 1} bytes` });
    expect(thrown(() => parseEnvelope(bytes, { maxBytes: bytes.length - 1 }))).toMatchObject({ kind: 'tooLarge', message: `the message of ${bytes.length} bytes exceeds the limit of ${bytes.length - 1} bytes` });
    expect(thrown(() => new EnvelopeReader(OPTS).end())).toMatchObject({ kind: 'malformed', message: 'the request body is empty' });
  });

  it('stays failed: after one refusal every push and the end throw the same error', () => {
    const r = new EnvelopeReader({ maxBytes: 4 });
    const first = thrown(() => r.push(Buffer.from('<s:Envelope')));
    expect(thrown(() => r.push(Buffer.from('x')))).toBe(first);
    expect(thrown(() => r.end())).toBe(first);
    const bad = new EnvelopeReader(OPTS);
    const e = thrown(() => bad.push(Buffer.from('<a><b></a>')));
    expect(e.message).toMatch(/^the request is not well-formed XML: /);
    expect(thrown(() => bad.end())).toBe(e);
  });

  it('reads a message whose Security header carries a signature from one xmldom document, and the same values', () => {
    const xml = env(`<a:Action>urn:act</a:Action><o:Security xmlns:o="${NS.wsse}"><ds:Signature xmlns:ds="${NS.ds}"/></o:Security>`);
    const e = parseEnvelope(xml, OPTS);
    expect(e.document).toBeDefined();
    expect(e.header.action).toBe('urn:act');
    expect(e.document!.documentElement?.localName).toBe('Envelope');
    expect(e.xml).toBe(xml);
    expect(parseEnvelope(env('<a:Action>urn:act</a:Action>'), OPTS).document).toBeUndefined();
  });
});
