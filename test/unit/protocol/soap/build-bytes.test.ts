import { describe, expect, it } from 'vitest';
import { buildResponseEnvelope, buildResponseEnvelopeBytes } from '../../../../src/protocol/soap/build.js';
import { parseEnvelope } from '../../../../src/protocol/soap/envelope.js';

describe('buildResponseEnvelopeBytes', () => {
  it('is byte for byte the UTF-8 of buildResponseEnvelope, escapes and non-ASCII included', () => {
    const body = '<r xmlns="urn:r">body ✓ é &amp; <x/></r>';
    for (const o of [{ action: 'urn:a&b', relatesTo: 'urn:uuid:é<1>"' }, { action: 'urn:plain' }, { action: 'urn:plain', relatesTo: 'r', messageId: 'm' }, { action: 'urn:a&b', relatesTo: 'again' }]) {
      const bytes = buildResponseEnvelopeBytes({ ...o, body: Buffer.from(body) });
      expect(bytes.equals(Buffer.from(buildResponseEnvelope({ ...o, bodyXml: body }), 'utf8'))).toBe(true);
      const env = parseEnvelope(bytes, { maxBytes: 1 << 20 });
      expect(env.header.action).toBe(o.action);
      expect(env.header.relatesTo).toBe(o.relatesTo);
    }
  });
});
