/**
 * Key pairs made in the browser with WebCrypto. The private key never leaves the page: it signs
 * the CSR here and, if asked, goes into a password-protected PKCS#12 built here too.
 */
export type KeyChoice = 'RSA-2048' | 'RSA-3072' | 'ECDSA-P256' | 'ECDSA-P384';

/** What a template allows, as /enroll/api/templates describes it. */
export interface KeyRules {
  keyAlgorithms: ('RSA' | 'ECDSA_P256' | 'ECDSA_P384')[];
  minimalKeyLength: number;
}

/** The key kinds this page offers for a template, strongest-by-default last. */
export function keyChoices(t: KeyRules): KeyChoice[] {
  const out: KeyChoice[] = [];
  if (t.keyAlgorithms.includes('ECDSA_P256')) out.push('ECDSA-P256');
  if (t.keyAlgorithms.includes('ECDSA_P384')) out.push('ECDSA-P384');
  if (t.keyAlgorithms.includes('RSA')) {
    if (t.minimalKeyLength <= 2048) out.push('RSA-2048');
    if (t.minimalKeyLength <= 3072) out.push('RSA-3072');
  }
  return out;
}

export type HashName = 'SHA-256' | 'SHA-384' | 'SHA-512';

/**
 * A new key pair. Extractable, because the PKCS#12 needs the private key's PKCS#8; it is only ever
 * exported into that (encrypted) file.
 */
export async function generateKeyPair(kind: KeyChoice, hash: HashName): Promise<CryptoKeyPair> {
  const subtle = globalThis.crypto.subtle;
  switch (kind) {
    case 'RSA-2048':
    case 'RSA-3072':
      return subtle.generateKey(
        { name: 'RSASSA-PKCS1-v1_5', modulusLength: kind === 'RSA-2048' ? 2048 : 3072, publicExponent: new Uint8Array([1, 0, 1]), hash },
        true,
        ['sign', 'verify'],
      );
    case 'ECDSA-P256':
    case 'ECDSA-P384':
      return subtle.generateKey({ name: 'ECDSA', namedCurve: kind === 'ECDSA-P256' ? 'P-256' : 'P-384' }, true, ['sign', 'verify']);
  }
}
