import { describe, expect, it } from 'vitest';
import { buildResponseEnvelope, buildResponseEnvelopeBytes } from '../../../../src/protocol/soap/build.js';
import { parseEnvelope } from '../../../../src/protocol/soap/envelope.js';

describe('buildResponseEnvelopeBytes', () => {
  it('is byte for byte the UTF-8 of buildResponseEnvelope, escapes and non-ASCII included', () => {
    const body = '<r xmlns="urn:r">body ✓ é &amp; <x/></r>';
    for (const o of [{ action: 'urn:a&b', relatesTo: 'urn:uuid:é<1>"' }, { action: 'urn:plain' }, { action: 'urn:plain', relatesTo: 'r', messageId: 'm' }, { action: 'urn:a&b', relatesTo: 'again' }, { action: 'urn:x', relatesTo: 'r', activityId: '6f1c1d5e-8c4e-4f0b-9d6a-2d3c4b5a6978' }]) {
      const bytes = buildResponseEnvelopeBytes({ ...o, body: Buffer.from(body) });
      expect(bytes.equals(Buffer.from(buildResponseEnvelope({ ...o, bodyXml: body }), 'utf8'))).toBe(true);
      const env = parseEnvelope(bytes, { maxBytes: 1 << 20 });
      expect(env.header.action).toBe(o.action);
      expect(env.header.relatesTo).toBe(o.relatesTo);
    }
  });
});

describe('the WCF ActivityId header', () => {
  it('follows the Action, in the WCF diagnostics namespace, with a CorrelationId; absent when not asked for', () => {
    const id = '6f1c1d5e-8c4e-4f0b-9d6a-2d3c4b5a6978';
    const xml = buildResponseEnvelope({ action: 'urn:a', relatesTo: 'urn:uuid:1', activityId: id, bodyXml: '<r/>' });
    expect(xml).toContain(`<a:Action s:mustUnderstand="1">urn:a</a:Action><ActivityId CorrelationId="${id}" xmlns="http://schemas.microsoft.com/2004/09/ServiceModel/Diagnostics">${id}</ActivityId><a:RelatesTo>urn:uuid:1</a:RelatesTo>`);
    expect(parseEnvelope(xml, { maxBytes: 1 << 20 }).header.relatesTo).toBe('urn:uuid:1');
    expect(buildResponseEnvelope({ action: 'urn:a', bodyXml: '<r/>' })).not.toContain('ActivityId');
  });
});
