import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnvelope } from '../../../src/protocol/soap/envelope.js';
import { parseGetPolicies } from '../../../src/protocol/xcep/index.js';
import { parseRst } from '../../../src/protocol/wstep/index.js';
import { OpencesError, type ErrorKind } from '../../../src/errors.js';

const DIR = join(__dirname, '../../fixtures/soap/bad');

/** What the CEP and CES front ends do with a body: parse the envelope, then the operation it holds. */
function handle(bytes: Buffer): unknown {
  const env = parseEnvelope(bytes, { maxBytes: 1 << 20 });
  return env.operation?.localName === 'RequestSecurityToken' ? parseRst(env, { maxTokenBytes: 1 << 16 }) : parseGetPolicies(env);
}

// One file per flaw (Boulder's ca/testdata), each with the typed error it must produce.
const CORPUS: Record<string, { kind: ErrorKind; message: RegExp; details?: Record<string, unknown> }> = {
  'xxe.xml': { kind: 'malformed', message: /^document type declarations are not allowed/ },
  'billion-laughs.xml': { kind: 'malformed', message: /^document type declarations are not allowed/ },
  'not-xml.txt': { kind: 'malformed', message: /^the request is not well-formed XML: .+|^the request is not a SOAP envelope/ },
  'soap11-envelope.xml': { kind: 'unsupported', message: /^SOAP 1\.1 is not supported: use SOAP 1\.2/, details: { versionMismatch: true } },
  'wrong-namespace.xml': { kind: 'malformed', message: /^the Envelope is in the wrong namespace \(urn:example:not-soap;/, details: { versionMismatch: true } },
  'missing-body.xml': { kind: 'malformed', message: /^the Envelope has no Body$/ },
  'unknown-mustunderstand.xml': { kind: 'unsupported', message: /^the header \{urn:example:transactions\}Transaction must be understood/, details: { mustUnderstand: true } },
  'bad-base64-token.xml': { kind: 'malformed', message: /^the BinarySecurityToken is not valid base64/ },
  'unknown-valuetype.xml': { kind: 'unsupported', message: /^BinarySecurityToken ValueType http:\/\/schemas\.microsoft\.com\/windows\/pki\/2009\/01\/enrollment#PKCS12 is not supported/ },
  'no-client.xml': { kind: 'malformed', message: /^GetPolicies has no client element/ },
};

describe('bad SOAP corpus (test/fixtures/soap/bad)', () => {
  it('has a test for every file', () => {
    expect(readdirSync(DIR).sort()).toEqual(Object.keys(CORPUS).sort());
  });
  for (const [file, want] of Object.entries(CORPUS)) {
    it(`${file} → ${want.kind}`, () => {
      let err: unknown;
      try {
        handle(readFileSync(join(DIR, file)));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(OpencesError);
      const e = err as OpencesError;
      expect(e.kind).toBe(want.kind);
      expect(e.message).toMatch(want.message);
      if (want.details) expect(e.details).toMatchObject(want.details);
    });
  }
});
