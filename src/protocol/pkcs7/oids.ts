/** CMS (RFC 5652) and algorithm OIDs the PKCS#7 codec reads and writes. */
export const CMS_OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  /** id-cct-PKIData (RFC 5272): the content of a CMC request. */
  pkiData: '1.3.6.1.5.5.7.12.2',
  /** id-cct-PKIResponse (RFC 5272). */
  pkiResponse: '1.3.6.1.5.5.7.12.3',
  subjectKeyIdentifier: '2.5.29.14',
} as const;

/** Digest algorithm OIDs → node:crypto hash names. */
export const DIGEST_OIDS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

export const DIGEST_OID_BY_NAME: Record<string, string> = Object.fromEntries(Object.entries(DIGEST_OIDS).map(([o, n]) => [n, o]));

export const KEY_ALG = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  ecPublicKey: '1.2.840.10045.2.1',
  mgf1: '1.2.840.113549.1.1.8',
} as const;

/**
 * Signature algorithm OID → key family and hash. `hash: undefined` means "the SignerInfo's
 * digestAlgorithm" (CMS allows rsaEncryption / ecPublicKey as the signature algorithm).
 * EdDSA (RFC 8419) is left out: OpenSSL 3.0 cannot produce it, so nothing could check ours.
 */
export const SIGNATURE_ALGS: Record<string, { family: 'rsa' | 'ec'; hash: string | undefined }> = {
  '1.2.840.113549.1.1.1': { family: 'rsa', hash: undefined },
  '1.2.840.113549.1.1.5': { family: 'rsa', hash: 'sha1' },
  '1.2.840.113549.1.1.11': { family: 'rsa', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { family: 'rsa', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { family: 'rsa', hash: 'sha512' },
  '1.2.840.10045.2.1': { family: 'ec', hash: undefined },
  '1.2.840.10045.4.1': { family: 'ec', hash: 'sha1' },
  '1.2.840.10045.4.3.2': { family: 'ec', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { family: 'ec', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { family: 'ec', hash: 'sha512' },
};

export const RSA_WITH: Record<string, string> = { sha1: '1.2.840.113549.1.1.5', sha256: '1.2.840.113549.1.1.11', sha384: '1.2.840.113549.1.1.12', sha512: '1.2.840.113549.1.1.13' };
export const ECDSA_WITH: Record<string, string> = { sha1: '1.2.840.10045.4.1', sha256: '1.2.840.10045.4.3.2', sha384: '1.2.840.10045.4.3.3', sha512: '1.2.840.10045.4.3.4' };
