import type { NameAttribute, SanEntry } from '../ca/types.js';

/**
 * How long a name in a certificate may be: one definition for the registration authority (which
 * refuses a request that asks for more, before recording it as accepted) and the CA's
 * pre-issuance lint (which refuses to sign it whatever the RA decided). If the two disagreed, a
 * request could pass the RA and stay pending forever, refused by the CA on every poll.
 *
 * Subject attributes: the upper bounds of RFC 5280 Appendix A.1 (ub-common-name 64, ub-locality-name
 * 128, …), in characters. Types without a bound of their own there take ub-match (128).
 */
export const SUBJECT_UPPER_BOUNDS: Readonly<Record<string, number>> = {
  CN: 64, // ub-common-name
  O: 64, // ub-organization-name
  OU: 64, // ub-organizational-unit-name
  L: 128, // ub-locality-name
  ST: 128, // ub-state-name
  C: 2, // ub-country-name-alpha-length
  SERIALNUMBER: 64, // ub-serial-number
  E: 255, // ub-emailaddress-length
  DC: 63, // one DNS label (RFC 4519 domainComponent)
};
/** ub-match: the bound for attribute types not listed above (SN, GN, UID, dotted OIDs…). */
export const DEFAULT_ATTRIBUTE_BOUND = 128;
/** Attributes in one subject (the CA signing API's wire schema allows 32). */
export const MAX_SUBJECT_ATTRIBUTES = 32;

/** Per SAN type, in characters: a DNS name is at most 253 (RFC 1035); the rest share a generous cap. */
export const SAN_UPPER_BOUNDS: Readonly<Record<SanEntry['type'], number>> = {
  dns: 253,
  email: 255,
  upn: 1024,
  uri: 1024,
  ip: 39,
};
/** Subject alternative names in one certificate, whatever a template allows (the wire schema's 256). */
export const MAX_SANS_CEILING = 256;

/** Characters (code points), not UTF-16 units: the bounds are in characters. Stops counting past `limit`. */
function lengthOver(s: string, limit: number): number | null {
  if (s.length <= limit) return null; // code points ≤ UTF-16 units
  const n = [...s].length;
  return n > limit ? n : null;
}

/** A short, safe rendering of a value for a refusal message (the value may be 5,000 characters of anything). */
function shown(s: string): string {
  const head = s.slice(0, 40).replace(/[^\x20-\x7e]/g, '?');
  return s.length > 40 ? `"${head}…"` : `"${head}"`;
}

/** Why this subject or these SANs cannot be in a certificate, or null when they can. */
export function nameBoundsProblem(subject: readonly NameAttribute[], sans: readonly SanEntry[], maxSans = MAX_SANS_CEILING): string | null {
  if (subject.length > MAX_SUBJECT_ATTRIBUTES) return `the subject has ${subject.length} attributes; at most ${MAX_SUBJECT_ATTRIBUTES} are allowed`;
  for (const a of subject) {
    const bound = SUBJECT_UPPER_BOUNDS[a.type] ?? DEFAULT_ATTRIBUTE_BOUND;
    const n = lengthOver(a.value, bound);
    if (n !== null) return `the subject ${a.type} has ${n} characters; RFC 5280 allows at most ${bound}`;
  }
  const limit = Math.min(maxSans, MAX_SANS_CEILING);
  if (sans.length > limit) return `the request asks for ${sans.length} subject alternative names; at most ${limit} are allowed`;
  for (const s of sans) {
    const bound = SAN_UPPER_BOUNDS[s.type] ?? 1024;
    const n = lengthOver(s.value, bound);
    if (n !== null) return `the ${s.type} subject alternative name ${shown(s.value)} has ${n} characters; at most ${bound} are allowed`;
  }
  return null;
}
