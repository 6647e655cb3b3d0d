import 'reflect-metadata';
import { BoundedCache } from '../bounded-cache.js';
import { createHash, X509Certificate } from 'node:crypto';
import * as px from '@peculiar/x509';
import { OpencesError } from '../errors.js';

/**
 * Partner CRLs: parsing what an operator loads or a distribution URL serves, and deciding whether
 * a partner certificate is revoked. A CRL counts only when its issuer name is the certificate's
 * issuer name, its signature verifies with that issuer's key (which must be allowed to sign CRLs)
 * and it carries no critical extension we do not understand. The newest of those (thisUpdate) must
 * be current — past nextUpdate (plus the partner's grace) fails closed, as does having none — and a
 * certificate any of them lists is revoked (a hold ends when a newer CRL drops it).
 */

export interface ParsedCrl {
  der: Uint8Array;
  /** Issuer name as @peculiar/x509 prints it; the same function prints certificates' issuer names. */
  issuerName: string;
  thisUpdate: Date;
  nextUpdate: Date | null;
}

/** A CRL as stored for a partner (file loaded by an operator, or cached from a URL). */
export interface StoredCrl extends ParsedCrl {
  source: 'file' | 'url';
  url?: string;
}

export const MAX_CRL_BYTES = 16 * 1024 * 1024;
/** thisUpdate may be this far in the future (clock skew between the partner's CA and us). */
const SKEW_MS = 5 * 60_000;
const IDP = '2.5.29.28';
const CRL_NUMBER = '2.5.29.20';
const AKI = '2.5.29.35';
const UNDERSTOOD_CRITICAL = new Set([IDP, CRL_NUMBER, AKI]);

/** One or more CRLs from a file's bytes: DER, or PEM with any number of `X509 CRL` blocks. */
export function parseCrls(bytes: Uint8Array, origin = 'CRL'): ParsedCrl[] {
  if (bytes.length > MAX_CRL_BYTES) throw new OpencesError('tooLarge', `${origin}: larger than ${MAX_CRL_BYTES} bytes`);
  const text = Buffer.from(bytes).toString('latin1');
  const ders = text.includes('-----BEGIN')
    ? [...text.matchAll(/-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/g)].map((m) => new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')))
    : [bytes];
  if (ders.length === 0) throw new OpencesError('malformed', `${origin}: no "X509 CRL" PEM block`, { field: 'crl' });
  return ders.map((der) => parseCrl(der, origin));
}

export function parseCrl(der: Uint8Array, origin = 'CRL'): ParsedCrl {
  let crl: px.X509Crl;
  try {
    crl = new px.X509Crl(Buffer.from(der));
    // Touch the fields now, so a broken CRL fails here and not at the first client.
    void crl.thisUpdate;
    void crl.issuerName.toString();
  } catch (e) {
    throw new OpencesError('malformed', `${origin}: not a CRL (${e instanceof Error ? e.message : String(e)})`, { field: 'crl' });
  }
  return { der: new Uint8Array(der), issuerName: crl.issuerName.toString(), thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate ?? null };
}

const normSerial = (s: string): string => s.toLowerCase().replace(/[^0-9a-f]/g, '').replace(/^0+(?=.)/, '');

interface Checked {
  verified: boolean;
  why?: string;
  revoked?: Map<string, { date: Date; reason?: string }>;
  /** From the verified bytes, never from what a store says about them. */
  thisUpdate?: Date;
  nextUpdate?: Date | null;
}

/** Verified CRLs by (issuer key fingerprint, CRL bytes): a CRL is parsed and verified once, not per client. */
export const CHECKED_CRL_MAX = 256;
const checkedCache = new BoundedCache<string, Checked>(CHECKED_CRL_MAX);
/** Entries held (tests: the memo stays within CHECKED_CRL_MAX). */
export const checkedCrlCacheSize = (): number => checkedCache.size;

async function check(crl: ParsedCrl, issuer: X509Certificate): Promise<Checked> {
  const key = `${issuer.fingerprint256}|${createHash('sha256').update(crl.der).digest('hex')}`;
  const hit = checkedCache.get(key);
  if (hit) return hit;
  let result: Checked;
  try {
    const c = new px.X509Crl(Buffer.from(crl.der));
    const unknown = c.extensions.filter((e) => e.critical && !UNDERSTOOD_CRITICAL.has(e.type));
    if (unknown.length) result = { verified: false, why: `has unsupported critical extension ${unknown.map((e) => e.type).join(', ')}` };
    else if (c.getExtension(IDP) && isIndirectOrPartial(c.getExtension(IDP)!.value)) result = { verified: false, why: 'is an indirect or partitioned CRL (not supported)' };
    else if (!(await c.verify({ publicKey: new px.X509Certificate(issuer.raw) }).catch(() => false))) result = { verified: false, why: 'signature does not verify with the issuer key' };
    else {
      const revoked = new Map<string, { date: Date; reason?: string }>();
      for (const e of c.entries) revoked.set(normSerial(e.serialNumber), { date: e.revocationDate, ...(e.reason !== undefined ? { reason: px.X509CrlReason[e.reason] } : {}) });
      result = { verified: true, revoked, thisUpdate: c.thisUpdate, nextUpdate: c.nextUpdate ?? null };
    }
  } catch (e) {
    result = { verified: false, why: `cannot be read (${e instanceof Error ? e.message : String(e)})` };
  }
  checkedCache.set(key, result);
  return result;
}

/**
 * IssuingDistributionPoint (RFC 5280 §5.2.5): an indirect CRL, or one covering only some reasons,
 * does not tell us everything about the issuer's certificates. onlyContainsUserCerts/CACerts are
 * fine for the certificates they cover; we accept them (a partner that partitions by type still
 * lists every revoked end-entity certificate in the user-certs CRL).
 */
function isIndirectOrPartial(value: ArrayBuffer): boolean {
  // IssuingDistributionPoint ::= SEQUENCE { [0] dp, [1] users, [2] CAs, [3] onlySomeReasons, [4] indirectCRL, [5] attrs }
  const b = new Uint8Array(value);
  if (b[0] !== 0x30) return true;
  let i = 2;
  let len = b[1]!;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let k = 0; k < n; k++) len = (len << 8) | b[2 + k]!;
    i = 2 + n;
  }
  const end = Math.min(b.length, i + len);
  while (i < end) {
    const tag = b[i]!;
    let l = b[i + 1]!;
    let h = 2;
    if (l & 0x80) {
      const n = l & 0x7f;
      l = 0;
      for (let k = 0; k < n; k++) l = (l << 8) | b[i + 2 + k]!;
      h = 2 + n;
    }
    const num = tag & 0x1f;
    if (num === 3 || num === 4) {
      // onlySomeReasons, or indirectCRL TRUE
      if (num === 3 || b[i + h] !== 0x00) return true;
    }
    i += h + l;
  }
  return false;
}

/**
 * At load time: the partner's own CA certificates (roots, registered intermediates) that bear the
 * CRL's issuer name must include one whose key verifies it — a wrong or forged file is refused at
 * once instead of failing clients later. A CRL of an intermediate we only see in handshakes cannot
 * be checked yet: 'unknown issuer'.
 */
export async function verifyCrlAgainst(crl: ParsedCrl, cas: X509Certificate[]): Promise<'verified' | 'unknown issuer' | string> {
  const named = cas.filter((c) => new px.X509Certificate(c.raw).subjectName.toString() === crl.issuerName);
  if (named.length === 0) return 'unknown issuer';
  const why: string[] = [];
  for (const ca of named) {
    const r = await check(crl, ca);
    if (r.verified) return 'verified';
    why.push(r.why ?? 'does not verify');
  }
  return why.join('; ');
}

export interface RevocationOptions {
  now: Date;
  /** How long past nextUpdate a CRL is still used. */
  graceMs: number;
  /** 'leaf': only the client certificate; 'chain': every certificate below the root. */
  mode: 'leaf' | 'chain';
}

const subjectOf = (c: X509Certificate): string => c.subject.replace(/\n/g, ', ');

/**
 * Null when no certificate of the chain (leaf first, root last) is revoked according to the
 * partner's CRLs, else the reason to refuse: revoked, no valid CRL for an issuer, or a stale CRL.
 */
export async function partnerRevocation(chain: X509Certificate[], crls: StoredCrl[], o: RevocationOptions): Promise<string | null> {
  const last = o.mode === 'chain' ? chain.length - 1 : Math.min(1, chain.length - 1);
  for (let i = 0; i < last; i++) {
    const cert = chain[i]!;
    const issuer = chain[i + 1]!;
    const serial = normSerial(cert.serialNumber);
    const what = i === 0 ? `client certificate ${serial}` : `intermediate ${subjectOf(cert)} (${serial})`;
    const ku = new px.X509Certificate(issuer.raw).getExtension(px.KeyUsagesExtension);
    if (ku && !(ku.usages & px.KeyUsageFlags.cRLSign)) return `${what}: its issuer ${subjectOf(issuer)} may not sign CRLs (keyUsage without cRLSign), so its revocation cannot be checked`;
    const issuerName = new px.X509Certificate(cert.raw).issuerName.toString();
    const candidates = crls.filter((c) => c.issuerName === issuerName && c.thisUpdate.getTime() <= o.now.getTime() + SKEW_MS);
    let best: { crl: StoredCrl; checked: Checked } | undefined;
    const verified: Checked[] = [];
    const problems: string[] = [];
    for (const crl of candidates) {
      const checked = await check(crl, issuer);
      if (!checked.verified) {
        problems.push(`a CRL ${crl.source === 'url' ? `from ${crl.url}` : 'loaded from a file'} ${checked.why}`);
        continue;
      }
      verified.push(checked);
      if (!best || checked.thisUpdate! > best.checked.thisUpdate!) best = { crl, checked };
    }
    if (!best) return `${what}: no valid CRL from ${subjectOf(issuer)}${problems.length ? ` (${problems.join('; ')})` : ''}`;
    const next = best.checked.nextUpdate;
    if (!next) return `${what}: the CRL from ${subjectOf(issuer)} has no nextUpdate`;
    if (o.now.getTime() > next.getTime() + o.graceMs) return `${what}: the CRL from ${subjectOf(issuer)} is stale (nextUpdate ${next.toISOString()})`;
    // Revocation is for good: a certificate listed by any verified CRL of its issuer stays refused, so
    // neither the order CRLs were loaded in nor two CRLs with the same thisUpdate can un-revoke it.
    // Only a hold (certificateHold) ends when a strictly newer CRL no longer lists the certificate.
    const newest = best.checked;
    for (const c of verified) {
      const hit = c.revoked!.get(serial);
      if (!hit || hit.date.getTime() > o.now.getTime() + SKEW_MS) continue;
      if (hit.reason === 'certificateHold' && c.thisUpdate! < newest.thisUpdate! && !newest.revoked!.has(serial)) continue;
      return `${what} is revoked by ${subjectOf(issuer)} since ${hit.date.toISOString()}${hit.reason ? ` (${hit.reason})` : ''}`;
    }
  }
  return null;
}
