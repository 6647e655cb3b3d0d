import type { X509Certificate } from 'node:crypto';
import * as pkijs from 'pkijs';
import type { SanEntry } from '../ca/types.js';
import { sanEntriesFromDer } from '../protocol/pkcs10/names.js';
import { BoundedCache } from '../bounded-cache.js';
import { decode } from '../protocol/pkcs7/asn1.js';

const SAN_OID = '2.5.29.17';
export const SAN_CACHE_MAX = 2_000;
const cache = new BoundedCache<string, SanEntry[]>(SAN_CACHE_MAX);
/** Entries held (tests: the memo stays within SAN_CACHE_MAX). */
export const sanCacheSize = (): number => cache.size;

/**
 * The subject alternative names of a certificate, read from its DER.
 *
 * Never from node's `subjectAltName` text: a single crafted value such as the dNSName
 * `x othername:UPN::alice@example.com y` prints as `DNS:x othername:UPN::alice@example.com y`, and
 * any pattern over that text finds a UPN the certificate does not hold. Cached by fingerprint
 * (bounded), since the same client certificate authenticates request after request.
 */
export function certificateSans(cert: X509Certificate): SanEntry[] {
  const key = cert.fingerprint256;
  const hit = cache.get(key);
  if (hit) return hit;
  let sans: SanEntry[] = [];
  try {
    // The bounded decoder: pkijs alone reads a crafted name of 1,000 RDNs in a quarter of a second.
    // A certificate it refuses has no SAN we can name a principal from.
    const parsed = new pkijs.Certificate({ schema: decode(new Uint8Array(cert.raw), 'certificate') });
    const ext = parsed.extensions?.find((e) => e.extnID === SAN_OID);
    if (ext) sans = sanEntriesFromDer(ext.extnValue.valueBlock.valueHexView).sans;
  } catch {
    sans = [];
  }
  cache.set(key, sans);
  return sans;
}

/** The first SAN of a kind (what a mapping "from upn/email/dns" means), or undefined. */
export function firstSan(cert: X509Certificate, type: SanEntry['type']): string | undefined {
  return certificateSans(cert).find((s) => s.type === type)?.value;
}
