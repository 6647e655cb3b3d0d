import type { KeyAlgorithm } from '../policy/template.js';
import type { CsrPublicKey } from '../protocol/pkcs10/csr.js';
import { HRESULT, OpencesError } from '../errors.js';

/**
 * Is this public key acceptable? (Boulder's goodkey.) The CA-wide floor first, then the
 * template's own requirements. Refusals name the key and the rule, and carry an HRESULT a
 * Windows client shows (NTE_BAD_KEY_LENGTH for sizes, NTE_BAD_KEY for everything else).
 */
export interface KeyPolicyOptions {
  /** CA-wide RSA floor (default 2048; cannot be set below 2048). */
  minRsaBits?: number;
  /** CA-wide RSA ceiling (default and maximum 8192: larger keys only cost CPU). */
  maxRsaBits?: number;
  /** Accept ECDSA P-521 (default false: few Windows templates ask for it). */
  allowP521?: boolean;
  /** Accept Ed25519 (default false: Windows clients neither make nor accept it). */
  allowEd25519?: boolean;
  /**
   * RSA public exponents accepted (default [65537], what every client uses, as Boulder's goodkey
   * and ADCS do). A CA that must serve clients with other exponents lists them (odd, ≥ 3, < 2^32).
   */
  rsaExponents?: readonly number[];
}

export const DEFAULT_RSA_EXPONENTS: readonly number[] = [65537];

/** A template's own requirements (MS-XCEP privateKeyAttributes). */
export interface KeyRequirements {
  allowed?: KeyAlgorithm[];
  minimalKeyLength?: number;
}

const ABSOLUTE_MIN_RSA = 2048;
const ABSOLUTE_MAX_RSA = 8192;

/** Odd primes below 752, as Boulder's goodkey uses: a modulus divisible by one is broken. */
const SMALL_PRIMES: number[] = (() => {
  const out: number[] = [];
  for (let n = 3; n < 752; n += 2) {
    let prime = true;
    for (let d = 3; d * d <= n; d += 2) if (n % d === 0) prime = false;
    if (prime) out.push(n);
  }
  return out;
})();

/** The primes grouped so each group's product stays below 2^53: one BigInt remainder per group. */
const PRIME_GROUPS: { product: bigint; primes: number[] }[] = (() => {
  const groups: { product: bigint; primes: number[] }[] = [];
  let cur: number[] = [];
  let prod = 1;
  for (const p of SMALL_PRIMES) {
    if (prod * p > Number.MAX_SAFE_INTEGER) {
      groups.push({ product: BigInt(prod), primes: cur });
      cur = [];
      prod = 1;
    }
    cur.push(p);
    prod *= p;
  }
  if (cur.length) groups.push({ product: BigInt(prod), primes: cur });
  return groups;
})();

function smallFactor(n: bigint): number | null {
  for (const g of PRIME_GROUPS) {
    const r = Number(n % g.product);
    for (const p of g.primes) if (r % p === 0) return p;
  }
  return null;
}

function refuse(message: string, hresult: number): never {
  throw new OpencesError('badPublicKey', message, { hresult });
}

export function checkKeyPolicy(k: CsrPublicKey, req: KeyRequirements = {}, policy: KeyPolicyOptions = {}): void {
  const minRsa = Math.max(ABSOLUTE_MIN_RSA, policy.minRsaBits ?? ABSOLUTE_MIN_RSA);
  const maxRsa = Math.min(ABSOLUTE_MAX_RSA, policy.maxRsaBits ?? ABSOLUTE_MAX_RSA);
  switch (k.algorithm) {
    case 'RSA': {
      if (k.bits < minRsa) refuse(`RSA-${k.bits} keys are too short: at least ${minRsa} bits are required`, HRESULT.NTE_BAD_KEY_LENGTH);
      if (k.bits > maxRsa) refuse(`RSA-${k.bits} keys are longer than the supported ${maxRsa} bits`, HRESULT.NTE_BAD_KEY_LENGTH);
      // 65537 unless the CA lists others; even then never even, below 3 or huge (a sign of a crafted
      // key, and Number() would have lost their parity anyway).
      const exponents = policy.rsaExponents ?? DEFAULT_RSA_EXPONENTS;
      if (k.exponent === undefined || k.exponent < 3 || k.exponent % 2 === 0 || k.exponent > 0xffffffff) {
        refuse(`RSA public exponent ${k.exponent ?? 'missing'} is not acceptable (use 65537)`, HRESULT.NTE_BAD_KEY);
      }
      if (!exponents.includes(k.exponent)) {
        refuse(`RSA public exponent ${k.exponent} is not accepted by this CA (${exponents.join(', ')} ${exponents.length === 1 ? 'is' : 'are'}; ca.rsaExponents)`, HRESULT.NTE_BAD_KEY);
      }
      if (k.modulus !== undefined) {
        if (k.modulus % 2n === 0n) refuse('the RSA modulus is even', HRESULT.NTE_BAD_KEY);
        const p = smallFactor(k.modulus);
        if (p !== null) refuse(`the RSA modulus is divisible by the small prime ${p}`, HRESULT.NTE_BAD_KEY);
      }
      if (req.allowed && !req.allowed.includes('RSA')) refuse('the template does not allow RSA keys', HRESULT.NTE_BAD_KEY);
      if (req.minimalKeyLength && k.bits < req.minimalKeyLength) {
        refuse(`the template requires RSA keys of at least ${req.minimalKeyLength} bits; the request has ${k.bits}`, HRESULT.NTE_BAD_KEY_LENGTH);
      }
      return;
    }
    case 'EC': {
      if (k.curve === 'P-521') {
        if (!policy.allowP521) refuse('elliptic curve P-521 is not enabled on this CA (P-256 and P-384 are)', HRESULT.NTE_BAD_KEY);
        // ADCS templates have no P-521 algorithm name; a template that lists algorithms excludes it.
        if (req.allowed) refuse('the template does not allow P-521 keys', HRESULT.NTE_BAD_KEY);
        return;
      }
      const alg: KeyAlgorithm | undefined = k.curve === 'P-256' ? 'ECDSA_P256' : k.curve === 'P-384' ? 'ECDSA_P384' : undefined;
      if (!alg) refuse(`elliptic curve ${k.curve ?? 'unknown'} is not supported (P-256 and P-384 are)`, HRESULT.NTE_BAD_KEY);
      if (req.allowed && !req.allowed.includes(alg)) refuse(`the template does not allow ${k.curve} keys`, HRESULT.NTE_BAD_KEY);
      // minimalKeyLength is an RSA notion in ADCS templates; EC curves are judged by the list above.
      return;
    }
    case 'Ed25519':
      if (!policy.allowEd25519) refuse('Ed25519 keys are not accepted by this CA', HRESULT.NTE_BAD_KEY);
      if (req.allowed) refuse('the template does not allow Ed25519 keys', HRESULT.NTE_BAD_KEY);
      return;
    case 'DSA':
      return refuse('DSA keys are not accepted', HRESULT.NTE_BAD_KEY);
    case 'Ed448':
      return refuse('Ed448 keys are not accepted by this CA', HRESULT.NTE_BAD_KEY);
    default:
      return refuse(`unknown public key algorithm ${k.oid}`, HRESULT.NTE_BAD_KEY);
  }
}
