import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeBase64Token, parseCsr, verifyCsrSignature } from '../../../src/protocol/pkcs10/index.js';
import { checkKeyPolicy } from '../../../src/ca/keypolicy.js';
import { checkRequestLimits, checkRequestSignatures } from '../../../src/policy/request-limits.js';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import { OpencesError } from '../../../src/errors.js';

const DIR = join(__dirname, '../../fixtures/bad/csr');
const load = (f: string) => new Uint8Array(readFileSync(join(DIR, f)));

const webServer = defaultTemplates('1.3.6.1.4.1.311.21.8.1').find((t) => t.name === 'WebServer')!;

/** What the RA does with a CSR (for the default WebServer template) before the request is recorded as accepted. */
async function admit(der: Uint8Array): Promise<void> {
  const csr = parseCsr(der);
  checkRequestLimits(csr, webServer);
  checkKeyPolicy(csr.publicKey);
  checkRequestSignatures(csr, webServer);
  if (!(await verifyCsrSignature(der))) throw new OpencesError('badSignature', 'the request signature does not verify (proof of possession failed)');
}

// One file per flaw (Boulder's ca/testdata), each with the error it must produce.
const CORPUS: Record<string, { kind: string; message: RegExp }> = {
  'invalid_signature.der.csr': { kind: 'badSignature', message: /proof of possession failed/ },
  'short_key_rsa1024.der.csr': { kind: 'badPublicKey', message: /RSA-1024 keys are too short: at least 2048 bits/ },
  'dsa_key.der.csr': { kind: 'badPublicKey', message: /DSA keys are not accepted/ },
  'truncated.der.csr': { kind: 'badCsr', message: /not valid DER|truncated/ },
  'garbage.der.csr': { kind: 'badCsr', message: /not valid DER|not a PKCS#10|trailing bytes/ },
  'unsupported_curve_secp256k1.der.csr': { kind: 'badPublicKey', message: /curve secp256k1 is not supported/ },
  'too_many_sans_101.der.csr': { kind: 'policyDenied', message: /asks for 101 subject alternative names; the template WebServer allows at most 100/ },
  'long_cn_5000.der.csr': { kind: 'policyDenied', message: /the subject CN has 5000 characters; RFC 5280 allows at most 64/ },
  'rsa_exponent_3.der.csr': { kind: 'badPublicKey', message: /RSA public exponent 3 is not accepted by this CA/ },
  'sha1_signature.der.csr': { kind: 'badSignature', message: /request signature uses SHA-1, which this template does not accept/ },
};

describe('bad CSR corpus (test/fixtures/bad/csr)', () => {
  it('has a test for every file', () => {
    expect(readdirSync(DIR).filter((f) => f.endsWith('.csr')).sort()).toEqual(Object.keys(CORPUS).sort());
  });
  for (const [file, want] of Object.entries(CORPUS)) {
    it(`refuses ${file} with a typed error`, async () => {
      const err = await admit(load(file)).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(OpencesError);
      expect(err).toMatchObject({ kind: want.kind });
      expect((err as Error).message).toMatch(want.message);
    });
  }
  it('refuses bad_base64.b64', () => {
    expect(() => decodeBase64Token(readFileSync(join(DIR, 'bad_base64.b64'), 'utf8'))).toThrow(/not valid base64/);
  });
});
