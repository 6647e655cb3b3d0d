import { HRESULT, OpencesError } from '../errors.js';
import { elements, oidString } from '../protocol/der-reader.js';

/**
 * Which hash a request may be signed with (the CSR's own signature, and the signer of a CMC or
 * PKCS#7 request): SHA-256, SHA-384, SHA-512 or an intrinsic one (Ed25519). SHA-1 only where a
 * template lets legacy clients in (`requests.allowSha1Signatures`: Windows XP/2003-era and old
 * embedded clients); MD2, MD4 and MD5 never (collisions are practical, and ADCS refuses them too).
 * One function for the registration authority and the CA's re-check, so they cannot disagree.
 */
export interface SignatureHashOptions {
  /** The template accepts SHA-1 signatures (default false). */
  allowSha1?: boolean;
}

const STRONG = new Set(['sha256', 'sha384', 'sha512']);
const BROKEN = new Set(['md2', 'md4', 'md5']);

/** Digest algorithm OIDs (also the hash inside RSASSA-PSS parameters). */
const DIGESTS: Record<string, string> = {
  '1.2.840.113549.2.2': 'md2',
  '1.2.840.113549.2.4': 'md4',
  '1.2.840.113549.2.5': 'md5',
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** Signature algorithm OID → its hash; null for algorithms that hash internally (EdDSA). */
const SIGNATURES: Record<string, string | null> = {
  '1.2.840.113549.1.1.2': 'md2',
  '1.2.840.113549.1.1.3': 'md4',
  '1.2.840.113549.1.1.4': 'md5',
  '1.3.14.3.2.3': 'md5', // OIW md5WithRSA
  '1.2.840.113549.1.1.5': 'sha1',
  '1.3.14.3.2.29': 'sha1', // OIW sha1WithRSASignature
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10040.4.3': 'sha1', // dsa-with-sha1
  '2.16.840.1.101.3.4.3.1': 'sha224', // dsa-with-sha224
  '2.16.840.1.101.3.4.3.2': 'sha256', // dsa-with-sha256
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null,
  '1.3.101.113': null,
};
const RSASSA_PSS = '1.2.840.113549.1.1.10';

/**
 * The hash of a signature algorithm (OID and the DER of its parameters): a name such as 'sha256',
 * null for EdDSA, undefined when the algorithm is unknown. RSASSA-PSS reads its hashAlgorithm
 * parameter (absent means SHA-1, RFC 4055).
 */
export function signatureHash(algorithmOid: string, paramsDer?: Uint8Array): string | null | undefined {
  if (algorithmOid !== RSASSA_PSS) return algorithmOid in SIGNATURES ? SIGNATURES[algorithmOid] : undefined;
  if (!paramsDer || paramsDer[0] === 0x05) return 'sha1';
  try {
    for (const item of elements(paramsDer)) {
      if (item[0] !== 0xa0) continue; // [0] hashAlgorithm
      const alg = elements(item)[0];
      return alg ? (DIGESTS[oidString(elements(alg)[0]!)] ?? undefined) : undefined;
    }
    return 'sha1';
  } catch {
    return undefined;
  }
}

/** A digest algorithm OID or node:crypto name → its name (undefined when unknown). */
export function digestName(oidOrName: string): string | undefined {
  return DIGESTS[oidOrName] ?? (Object.values(DIGESTS).includes(oidOrName) ? oidOrName : undefined);
}

function refuse(message: string): never {
  throw new OpencesError('badSignature', message, { hresult: HRESULT.NTE_BAD_ALGID });
}

/**
 * Throws OpencesError('badSignature') with the reason unless `hash` (from signatureHash or
 * digestName) is acceptable for `what` ("the request signature", "the CMC signer's signature").
 */
export function checkSignatureHash(hash: string | null | undefined, what: string, o: SignatureHashOptions = {}, algorithm?: string): void {
  if (hash === null || (hash !== undefined && STRONG.has(hash))) return;
  if (hash === undefined) refuse(`${what} uses an unsupported algorithm${algorithm ? ` (${algorithm})` : ''}; use SHA-256 or stronger`);
  if (BROKEN.has(hash)) refuse(`${what} uses ${hash.toUpperCase()}, which is never accepted; use SHA-256 or stronger`);
  if (hash === 'sha1') {
    if (o.allowSha1) return;
    refuse(`${what} uses SHA-1, which this template does not accept (requests.allowSha1Signatures); use SHA-256 or stronger`);
  }
  refuse(`${what} uses ${hash.toUpperCase()}; use SHA-256 or stronger`);
}
