import { createHash, createPublicKey, verify as cryptoVerify, constants, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto';
import * as asn1js from 'asn1js';
import { describeSpki, splitCsr, type CsrParts } from './inspect.js';

/** Signature algorithm OID → node:crypto hash (null for Ed25519/Ed448, which hash internally). */
const SIG_HASH: Record<string, string | null> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null,
  '1.3.101.113': null,
};
const RSASSA_PSS = '1.2.840.113549.1.1.10';
/** Digest algorithm OIDs → node:crypto hash names (shared with the CMS verifier). */
export const HASH_OIDS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

export function verifySignature(tbs: Uint8Array, algOid: string, algParams: asn1js.AsnType | undefined, signature: Uint8Array, key: KeyObject): boolean {
  try {
    if (algOid === RSASSA_PSS) {
      const { hash, saltLength } = pssParams(algParams);
      return cryptoVerify(hash, tbs, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, signature);
    }
    if (!(algOid in SIG_HASH)) return false;
    const hash = SIG_HASH[algOid]!;
    if (key.asymmetricKeyType === 'ec') return cryptoVerify(hash, tbs, { key, dsaEncoding: 'der' }, signature);
    return cryptoVerify(hash, tbs, key, signature);
  } catch {
    return false;
  }
}

function pssParams(p: asn1js.AsnType | undefined): { hash: string; saltLength: number } {
  let hash = 'sha1';
  let saltLength = 20;
  if (p instanceof asn1js.Sequence) {
    for (const item of p.valueBlock.value) {
      const tag = item.idBlock.tagNumber;
      const inner = (item as asn1js.Constructed).valueBlock.value?.[0];
      if (tag === 0 && inner instanceof asn1js.Sequence) {
        const oid = inner.valueBlock.value[0];
        if (oid instanceof asn1js.ObjectIdentifier) hash = HASH_OIDS[oid.valueBlock.toString()] ?? hash;
      } else if (tag === 2 && inner instanceof asn1js.Integer) {
        saltLength = inner.valueBlock.valueDec;
      }
    }
  }
  return { hash, saltLength };
}

/** The node:crypto verify call for an algorithm, or null when we do not accept it. */
function verifyArgs(algOid: string, params: asn1js.AsnType | undefined, key: KeyObject): { hash: string | null; key: KeyObject | VerifyKeyObjectInput } | null {
  if (algOid === RSASSA_PSS) {
    const { hash, saltLength } = pssParams(params);
    return { hash, key: { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength } };
  }
  if (!(algOid in SIG_HASH)) return null;
  const hash = SIG_HASH[algOid]!;
  return { hash, key: key.asymmetricKeyType === 'ec' ? { key, dsaEncoding: 'der' } : key };
}

/**
 * Proof of possession: the request is signed by the private key matching its public key.
 * Runs node:crypto's asynchronous verify (libuv threadpool), so it costs the event loop little.
 * Malformed requests throw OpencesError('badCsr'); a wrong signature resolves to false.
 */
export async function verifyCsrSignature(der: Uint8Array, known?: { parts: CsrParts; key: KeyObject | null }): Promise<boolean> {
  const digest = createHash('sha256').update(der).digest('base64');
  if (verified.has(digest)) return true;
  const ok = await verifyUncached(der, known);
  if (ok) {
    if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value!);
    verified.add(digest);
  }
  return ok;
}

/**
 * SHA-256 of requests whose signature verified in this process, oldest dropped first. Whether a
 * request's signature verifies is a function of its bytes alone, so the registration authority
 * and the local CA (which re-checks every order, and in one process sees the same bytes moments
 * later) pay for the check once. A CA in another process keeps its own set and verifies itself.
 */
const verified = new Set<string>();
export const VERIFIED_MAX = 4096;
/** Requests remembered as verified (tests: the memo stays within VERIFIED_MAX). */
export const verifiedMemoSize = (): number => verified.size;

/** Whether these exact bytes verified in this process recently (lets the CA skip decoding the key). */
export function verifiedBefore(der: Uint8Array): boolean {
  return verified.has(createHash('sha256').update(der).digest('base64'));
}

async function verifyUncached(der: Uint8Array, known?: { parts: CsrParts; key: KeyObject | null }): Promise<boolean> {
  const parts = known?.parts ?? splitCsr(der);
  let key = known?.key ?? null;
  if (!key) {
    // RSA and P-256 keys from their components (describeSpki: 8 µs and 65 µs against OpenSSL 3's
    // DER decoder's 105 µs); anything else, or anything describeSpki refuses, through DER.
    try {
      key = describeSpki(parts.spki).key;
    } catch {
      key = null;
    }
    try {
      key ??= createPublicKey({ key: Buffer.from(parts.spki), format: 'der', type: 'spki' });
    } catch {
      return false;
    }
  }
  let params: asn1js.AsnType | undefined;
  if (parts.signatureParams && parts.signatureAlgorithm === RSASSA_PSS) {
    // RSASSA-PSS-params are four fields two levels deep: bound the decoder well below its defaults.
    // asn1js throws (rather than reporting) on some malformed values, such as a GeneralizedTime
    // that is not a time (found by the fuzz campaign): unreadable parameters verify nothing.
    try {
      const r = asn1js.fromBER(parts.signatureParams, { maxDepth: 8, maxNodes: 64, maxContentLength: 4096 });
      if (r.offset === -1 || r.result.error) return false;
      params = r.result;
    } catch {
      return false;
    }
  }
  const args = verifyArgs(parts.signatureAlgorithm, params, key);
  if (!args) return false;
  return new Promise((resolve) => {
    try {
      cryptoVerify(args.hash, parts.tbs, args.key, parts.signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}
