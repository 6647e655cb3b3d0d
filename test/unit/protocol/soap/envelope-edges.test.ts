import { describe, expect, it } from 'vitest';
import { buildFaultEnvelope, buildRequestEnvelope, buildResponseEnvelope } from '../../../../src/protocol/soap/build.js';
import { EnvelopeReader, NS, parseEnvelope } from '../../../../src/protocol/soap/index.js';
import { thrown } from '../../../helpers/thrown.js';

const OPTS = { maxBytes: 1 << 20 };
const env = (header: string, body = '<o:Op xmlns:o="urn:op"/>'): string => `<s:Envelope xmlns:s="${NS.soap12}" xmlns:a="${NS.wsa}"><s:Header>${header}</s:Header><s:Body>${body}</s:Body></s:Envelope>`;

function streamed(bytes: Buffer, size: number): ReturnType<EnvelopeReader['end']> {
  const r = new EnvelopeReader(OPTS);
  for (let i = 0; i < bytes.length; i += size) r.push(bytes.subarray(i, i + size));
  return r.end();
}

// Edges of the envelope reader a hostile client can reach: what is kept of a chunked message (the
// text signatures are checked on), bytes left over at its end, a bare byte-order mark.
describe('SOAP envelope edges', () => {
  it('keeps the whole text of a chunked message, and reads a chunked signed message from one document', () => {
    const xml = env(`<a:Action>urn:é</a:Action><o:Security xmlns:o="${NS.wsse}"><ds:Signature xmlns:ds="${NS.ds}"/></o:Security>`);
    const e = streamed(Buffer.from(xml), 16);
    expect(e.xml).toBe(xml);
    expect(e.document?.documentElement?.localName).toBe('Envelope');
    expect(e.header.action).toBe('urn:é');
  });

  it('refuses a message whose last bytes are a cut UTF-8 sequence after the Envelope', () => {
    const bytes = Buffer.concat([Buffer.from(env('')), Buffer.from([0xc3])]);
    expect(thrown(() => streamed(bytes, 4096)).kind).toBe('malformed');
    expect(thrown(() => parseEnvelope(bytes, OPTS)).kind).toBe('malformed');
  });

  it('refuses a message of just a UTF-16 byte order mark as UTF-16', () => {
    for (const bom of [[0xff, 0xfe], [0xfe, 0xff]]) expect(thrown(() => streamed(Buffer.from(bom), 64)).kind).toBe('unsupported');
  });

  it('names an unqualified mustUnderstand header with an empty namespace', () => {
    expect(thrown(() => parseEnvelope(env('<T s:mustUnderstand="1">1</T>'), OPTS)).message).toBe('the header {}T must be understood but this service does not process it');
  });
});

describe('SOAP envelopes we build', () => {
  it('a fault carries a MessageID only when asked, and its ActivityId after RelatesTo with its own CorrelationId', () => {
    const id = '6f1c1d5e-8c4e-4f0b-9d6a-2d3c4b5a6978';
    const corr = '0a1b2c3d-0000-4000-8000-000000000001';
    const xml = buildFaultEnvelope({ code: 'Receiver', reason: 'r', relatesTo: 'urn:uuid:9', messageId: 'urn:uuid:m', activityId: id, correlationId: corr });
    expect(xml).toContain(`<a:MessageID>urn:uuid:m</a:MessageID><a:RelatesTo>urn:uuid:9</a:RelatesTo><ActivityId CorrelationId="${corr}" `);
    expect(parseEnvelope(xml, OPTS).header).toMatchObject({ messageId: 'urn:uuid:m', relatesTo: 'urn:uuid:9' });
    const bare = buildFaultEnvelope({ code: 'Sender', reason: 'r' });
    expect(bare).not.toContain('MessageID');
    expect(bare).not.toContain('RelatesTo');
    expect(bare).not.toContain('Subcode');
    expect(bare).not.toContain('Detail');
  });

  it('a response carries MessageID and RelatesTo only when given', () => {
    const xml = buildResponseEnvelope({ action: 'urn:a', messageId: 'urn:uuid:m', bodyXml: '<r/>' });
    expect(parseEnvelope(xml, OPTS).header).toEqual({ action: 'urn:a', messageId: 'urn:uuid:m' });
  });

  it('a request carries Action, a fresh MessageID unless given, To, the security header and extra namespaces', () => {
    const a = parseEnvelope(buildRequestEnvelope({ action: 'urn:act', to: 'https://ca/x', bodyXml: '<q:Q xmlns:q="urn:q"/>' }), OPTS);
    const b = parseEnvelope(buildRequestEnvelope({ action: 'urn:act', to: 'https://ca/x', bodyXml: '<q:Q xmlns:q="urn:q"/>' }), OPTS);
    expect(a.header.messageId).toMatch(/^urn:uuid:[0-9a-f-]{36}$/);
    expect(a.header.messageId).not.toBe(b.header.messageId);
    expect(a.header).toMatchObject({ action: 'urn:act', to: 'https://ca/x' });
    const c = parseEnvelope(buildRequestEnvelope({ action: 'urn:act', to: 't', messageId: 'urn:uuid:given', bodyXml: '<q:Q/>', extraNs: ' xmlns:q="urn:q"', securityHeaderXml: `<o:Security xmlns:o="${NS.wsse}"/>` }), OPTS);
    expect(c.header.messageId).toBe('urn:uuid:given');
    expect(c.header.security).toBeDefined();
    expect(c.operation?.namespaceURI).toBe('urn:q');
  });
});
