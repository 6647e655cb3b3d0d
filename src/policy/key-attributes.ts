import type { KeyAlgorithm, KeyUsageName, KeyUsageProperty, Template } from './template.js';

/**
 * What a template tells a Windows client about the key to make (MS-XCEP §3.1.4.1.3.20
 * privateKeyAttributes, §3.1.4.1.3.1 hashAlgorithmOIDReference), derived from the semantic
 * template. Pure: src/http/cep.ts turns it into OID references and XML.
 */

/** Microsoft's provider names (ICspInformation): a CSP for CryptoAPI templates, the software KSP for CNG. */
export const PROVIDER = {
  rsaCsp: 'Microsoft Enhanced RSA and AES Cryptographic Provider',
  softwareKsp: 'Microsoft Software Key Storage Provider',
} as const;

/** The public key algorithm OIDs Windows' CNG OID table gives these names (group 3, public key). */
export const KEY_ALGORITHM_OID: Record<KeyAlgorithm, { oid: string; name: string; bits?: number }> = {
  RSA: { oid: '1.2.840.113549.1.1.1', name: 'RSA' },
  ECDSA_P256: { oid: '1.2.840.10045.3.1.7', name: 'ECDSA_P256', bits: 256 },
  ECDSA_P384: { oid: '1.3.132.0.34', name: 'ECDSA_P384', bits: 384 },
};

export const HASH_OID: Record<Template['hashAlgorithm'], { oid: string; name: string }> = {
  SHA256: { oid: '2.16.840.1.101.3.4.2.1', name: 'sha256' },
  SHA384: { oid: '2.16.840.1.101.3.4.2.2', name: 'sha384' },
  SHA512: { oid: '2.16.840.1.101.3.4.2.3', name: 'sha512' },
};

/** NCRYPT_ALLOW_DECRYPT_FLAG, NCRYPT_ALLOW_SIGNING_FLAG, NCRYPT_ALLOW_KEY_AGREEMENT_FLAG. */
export const KEY_USAGE_PROPERTY_BIT: Record<KeyUsageProperty, number> = { decrypt: 0x1, sign: 0x2, keyAgreement: 0x4 };

const SIGN_USAGES: KeyUsageName[] = ['digitalSignature', 'nonRepudiation', 'keyCertSign', 'cRLSign'];
const DECRYPT_USAGES: KeyUsageName[] = ['keyEncipherment', 'dataEncipherment'];

/** A CNG template (policySchema 3 or 4): one key algorithm, KSPs, hash and key usage property on the wire. */
export const isCngTemplate = (t: Template): boolean => t.schemaVersion >= 3;

const ecOnly = (t: Template): boolean => t.privateKey.algorithms.every((a) => a !== 'RSA');

/**
 * The providers sent in cryptoProviders. Never empty: a nil list made Windows 11 fall back to a
 * legacy CSP and an RSA-1024 key whatever minimalKeyLength said (seen by Ultimate CA Manager
 * against real clients), and real ADCS always lists them. CryptoAPI templates get the RSA CSP
 * ADCS lists; CNG templates and ECDSA keys (which no CSP makes) the software KSP.
 */
export function effectiveProviders(t: Template): string[] {
  if (t.privateKey.providers.length) return t.privateKey.providers;
  if (isCngTemplate(t) || ecOnly(t)) return [PROVIDER.softwareKsp];
  return [PROVIDER.rsaCsp];
}

/** keySpec on the wire: a CryptoAPI notion; nil for an ECDSA-only CNG template (as ADCS sends). */
export function wireKeySpec(t: Template): number | undefined {
  return isCngTemplate(t) && ecOnly(t) ? undefined : t.privateKey.keySpec;
}

/** minimalKeyLength on the wire: RSA modulus bits, or the (smallest) curve size of an ECDSA-only template. */
export function wireMinimalKeyLength(t: Template): number {
  if (!ecOnly(t)) return t.privateKey.minimalKeyLength;
  return Math.min(...t.privateKey.algorithms.map((a) => KEY_ALGORITHM_OID[a].bits ?? 256));
}

/** The CNG key usage property: explicit, else what the certificate's key usage needs (an ECDSA key only signs). */
export function keyUsageProperty(t: Template): number {
  let names = t.privateKey.keyUsageProperty ?? [];
  if (!names.length) {
    const ku = t.extensions.keyUsage;
    const derived: KeyUsageProperty[] = [];
    if (ku.some((k) => SIGN_USAGES.includes(k))) derived.push('sign');
    if (ku.some((k) => DECRYPT_USAGES.includes(k))) derived.push('decrypt');
    if (ku.includes('keyAgreement')) derived.push('keyAgreement');
    names = ecOnly(t) ? ['sign'] : derived.length ? derived : ['sign'];
  }
  return names.reduce((f, n) => f | KEY_USAGE_PROPERTY_BIT[n], 0);
}

/** The one key algorithm of a CNG template (validation makes sure there is exactly one). */
export function cngAlgorithm(t: Template): KeyAlgorithm | undefined {
  return isCngTemplate(t) && t.privateKey.algorithms.length === 1 ? t.privateKey.algorithms[0] : undefined;
}
