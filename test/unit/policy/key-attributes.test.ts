import { describe, expect, it } from 'vitest';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import { cngAlgorithm, effectiveProviders, keyUsageProperty, PROVIDER, wireKeySpec, wireMinimalKeyLength } from '../../../src/policy/key-attributes.js';
import type { KeyAlgorithm, KeyUsageName, Template } from '../../../src/policy/template.js';

const templates = defaultTemplates('1.3.6.1.4.1.311.21.8.7.7');
const T = (name: string): Template => structuredClone(templates.find((t) => t.name === name)!);

/** WebServer with the given key algorithms, schema and key usage. */
function shaped(algorithms: KeyAlgorithm[], schemaVersion: Template['schemaVersion'] = 2, keyUsage?: KeyUsageName[]): Template {
  const t = T('WebServer');
  t.privateKey.algorithms = algorithms;
  t.schemaVersion = schemaVersion;
  if (keyUsage) t.extensions.keyUsage = keyUsage;
  return t;
}

// What a Windows client is told about the key to make (MS-XCEP privateKeyAttributes). A wrong
// answer here makes Windows generate a key the RA then refuses, or a legacy RSA-1024 key.
describe('key attributes on the wire (src/policy/key-attributes.ts)', () => {
  it('never sends an empty provider list: the RSA CSP for CryptoAPI RSA templates, the software KSP for CNG or ECDSA-only ones', () => {
    expect(effectiveProviders(shaped(['RSA', 'ECDSA_P256']))).toEqual([PROVIDER.rsaCsp]);
    expect(effectiveProviders(shaped(['RSA'], 3))).toEqual([PROVIDER.softwareKsp]);
    expect(effectiveProviders(shaped(['RSA'], 4))).toEqual([PROVIDER.softwareKsp]);
    // No CSP makes an ECDSA key, whatever the schema.
    expect(effectiveProviders(shaped(['ECDSA_P256', 'ECDSA_P384'], 2))).toEqual([PROVIDER.softwareKsp]);
    const own = shaped(['RSA']);
    own.privateKey.providers = ['Microsoft Platform Crypto Provider'];
    expect(effectiveProviders(own)).toEqual(['Microsoft Platform Crypto Provider']);
  });

  it('keySpec is left out only for an ECDSA-only CNG template', () => {
    expect(wireKeySpec(shaped(['ECDSA_P256'], 3))).toBeUndefined();
    expect(wireKeySpec(shaped(['RSA'], 3))).toBe(1);
    // A CryptoAPI template keeps its keySpec even when it names only curves.
    expect(wireKeySpec(shaped(['ECDSA_P256'], 2))).toBe(1);
    const sig = shaped(['RSA', 'ECDSA_P384'], 2);
    sig.privateKey.keySpec = 2;
    expect(wireKeySpec(sig)).toBe(2);
  });

  it('minimalKeyLength is the RSA modulus when RSA is allowed, else the smallest curve named', () => {
    expect(wireMinimalKeyLength(shaped(['RSA', 'ECDSA_P384']))).toBe(2048);
    expect(wireMinimalKeyLength(shaped(['ECDSA_P384']))).toBe(384);
    expect(wireMinimalKeyLength(shaped(['ECDSA_P384', 'ECDSA_P256']))).toBe(256);
    expect(wireMinimalKeyLength(shaped(['ECDSA_P256']))).toBe(256);
  });

  it('the CNG key usage property: explicit when set, else derived from the key usage; an ECDSA key only signs', () => {
    const explicit = shaped(['RSA'], 3);
    explicit.privateKey.keyUsageProperty = ['decrypt', 'keyAgreement'];
    expect(keyUsageProperty(explicit)).toBe(0x1 | 0x4);
    // An empty list is "not set": derived.
    const empty = shaped(['RSA'], 3, ['digitalSignature', 'keyEncipherment']);
    empty.privateKey.keyUsageProperty = [];
    expect(keyUsageProperty(empty)).toBe(0x2 | 0x1);
    expect(keyUsageProperty(shaped(['RSA'], 3, ['nonRepudiation']))).toBe(0x2);
    expect(keyUsageProperty(shaped(['RSA'], 3, ['dataEncipherment']))).toBe(0x1);
    expect(keyUsageProperty(shaped(['RSA'], 3, ['keyAgreement']))).toBe(0x4);
    expect(keyUsageProperty(shaped(['RSA'], 3, ['cRLSign', 'keyAgreement']))).toBe(0x2 | 0x4);
    // Nothing derivable: a key that signs.
    expect(keyUsageProperty(shaped(['RSA'], 3, []))).toBe(0x2);
    expect(keyUsageProperty(shaped(['ECDSA_P256'], 3, ['digitalSignature', 'keyAgreement']))).toBe(0x2);
  });

  it('the one key algorithm of a CNG template, and none for a CryptoAPI one or an invalid CNG one', () => {
    expect(cngAlgorithm(shaped(['ECDSA_P384'], 3))).toBe('ECDSA_P384');
    expect(cngAlgorithm(shaped(['RSA'], 4))).toBe('RSA');
    expect(cngAlgorithm(shaped(['ECDSA_P384'], 2))).toBeUndefined();
    expect(cngAlgorithm(shaped(['RSA', 'ECDSA_P256'], 3))).toBeUndefined();
  });
});
