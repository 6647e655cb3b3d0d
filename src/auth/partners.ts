import { firstSan } from './certificate-names.js';
import { BoundedCache } from '../bounded-cache.js';
import { X509Certificate } from 'node:crypto';
import { checkDer, contents, elements, oidString, smallInteger, text } from '../protocol/der-reader.js';
import type { AuditLog } from '../audit/log.js';
import { systemClock, type Clock } from '../clock.js';
import { OpencesError } from '../errors.js';
import type { Db, Queryable } from '../store/db.js';
import { MAX_CRL_BYTES, parseCrls, partnerRevocation, verifyCrlAgainst, type ParsedCrl, type StoredCrl } from './partner-crl.js';
import { AUTHENTICATED_GROUP, type Principal } from './principal.js';

export type PartnerMapping = 'upn' | 'email' | 'dns' | 'cn';
export type CrlCheck = 'leaf' | 'chain';

export interface Partner {
  name: string;
  roots: Uint8Array[];
  /** The partner's issuing CAs, for clients that send only their own certificate (WS-Security signatures do). */
  intermediates: Uint8Array[];
  mapFrom: PartnerMapping;
  templates: string[];
  enabled: boolean;
  /** CRL distribution URLs (http/https) fetched and cached with their nextUpdate. */
  crlUrls: string[];
  /** How long past nextUpdate a CRL is still used; afterwards the partner's certificates are refused. */
  crlGraceSeconds: number;
  crlCheck: CrlCheck;
}

export interface NewPartner {
  name: string;
  roots: Uint8Array[];
  intermediates?: Uint8Array[];
  mapFrom: PartnerMapping;
  templates: string[];
  /** CRL files' contents (DER or PEM). */
  crls?: Uint8Array[];
  crlUrls?: string[];
  crlGraceSeconds?: number;
  crlCheck?: CrlCheck;
}

const NAME = /^[a-z0-9][a-z0-9.-]{0,62}$/;

function caCertificates(list: Uint8Array[], field: string): X509Certificate[] {
  return list.map((r) => {
    let c: X509Certificate;
    try {
      c = new X509Certificate(Buffer.from(r));
    } catch {
      throw new OpencesError('malformed', `a partner ${field === 'roots' ? 'root' : 'intermediate'} is not a certificate`, { field });
    }
    if (!c.ca) throw new OpencesError('malformed', `${c.subject.replace(/\n/g, ', ')} is not a CA certificate`, { field });
    return c;
  });
}

function checkCrlUrls(urls: string[]): void {
  for (const u of urls) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new OpencesError('malformed', `CRL URL "${u}" is not a URL`, { field: 'crlUrls' });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OpencesError('malformed', `CRL URL "${u}": only http and https distribution points are supported`, { field: 'crlUrls' });
  }
}

export async function addPartner(q: Queryable, p: NewPartner): Promise<void> {
  if (!NAME.test(p.name)) throw new OpencesError('malformed', `partner name "${p.name}": lower-case letters, digits, . and -`, { field: 'name' });
  if (p.roots.length === 0) throw new OpencesError('malformed', 'a partner needs at least one trust root', { field: 'roots' });
  caCertificates(p.roots, 'roots');
  const intermediates = p.intermediates ?? [];
  const rootCerts = p.roots.map((r) => new X509Certificate(Buffer.from(r)));
  for (const i of caCertificates(intermediates, 'intermediates')) {
    if (!chainsTo(i, caCertificates(intermediates, 'intermediates').filter((x) => x.fingerprint256 !== i.fingerprint256), rootCerts, Date.now())) {
      throw new OpencesError('malformed', `intermediate ${i.subject.replace(/\n/g, ', ')} does not chain to the partner's roots`, { field: 'intermediates' });
    }
  }
  const crlUrls = p.crlUrls ?? [];
  checkCrlUrls(crlUrls);
  const crls = (p.crls ?? []).flatMap((b, i) => parseCrls(b, `CRL file ${i + 1}`));
  await checkCrls(crls, [...rootCerts, ...caCertificates(intermediates, 'intermediates')]);
  const r = await q.query('INSERT INTO partners (name, roots, intermediates, map_from, templates, crl_urls, crl_grace_seconds, crl_check) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING', [
    p.name,
    p.roots.map((x) => Buffer.from(x)),
    intermediates.map((x) => Buffer.from(x)),
    p.mapFrom,
    p.templates,
    crlUrls,
    Math.round(p.crlGraceSeconds ?? 0),
    p.crlCheck ?? 'leaf',
  ]);
  if (r.rowCount === 0) throw new OpencesError('conflict', `partner ${p.name} already exists`);
  for (const c of crls) await storeFileCrl(q, p.name, c);
}

/** An operator loads newer CRLs for a partner; each replaces the file-loaded CRL of the same issuer. */
export async function addPartnerCrls(q: Queryable, name: string, files: Uint8Array[]): Promise<{ issuer: string; thisUpdate: Date; nextUpdate: Date | null }[]> {
  const partner = (await listPartners(q)).find((p) => p.name === name);
  if (!partner) throw new OpencesError('notFound', `no partner ${name}`);
  const crls = files.flatMap((b, i) => parseCrls(b, `CRL file ${i + 1}`));
  if (crls.length === 0) throw new OpencesError('malformed', 'no CRL given', { field: 'crls' });
  await checkCrls(crls, [...partner.roots, ...partner.intermediates].map((d) => new X509Certificate(Buffer.from(d))));
  for (const c of crls) await storeFileCrl(q, name, c);
  return crls.map((c) => ({ issuer: c.issuerName, thisUpdate: c.thisUpdate, nextUpdate: c.nextUpdate }));
}

/** A CRL whose issuer is one of the partner's known CA certificates must verify with it. */
async function checkCrls(crls: ParsedCrl[], cas: X509Certificate[]): Promise<void> {
  for (const c of crls) {
    const r = await verifyCrlAgainst(c, cas);
    if (r !== 'verified' && r !== 'unknown issuer') throw new OpencesError('badSignature', `the CRL from ${c.issuerName} is not usable: ${r}`, { field: 'crls' });
  }
}

async function storeFileCrl(q: Queryable, partner: string, c: ParsedCrl): Promise<void> {
  // Never go back to an older CRL: that would un-revoke whatever the newer one added.
  const older = await q.query<{ this_update: Date }>(`SELECT this_update FROM partner_crls WHERE partner = $1 AND source = 'file' AND issuer_name = $2 AND this_update > $3`, [partner, c.issuerName, c.thisUpdate]);
  if (older.rowCount) throw new OpencesError('conflict', `partner ${partner} already has a newer CRL from ${c.issuerName} (thisUpdate ${new Date(older.rows[0]!.this_update).toISOString()})`);
  await q.query(`DELETE FROM partner_crls WHERE partner = $1 AND source = 'file' AND issuer_name = $2`, [partner, c.issuerName]);
  await q.query(`INSERT INTO partner_crls (partner, source, issuer_name, der, this_update, next_update) VALUES ($1, 'file', $2, $3, $4, $5)`, [partner, c.issuerName, Buffer.from(c.der), c.thisUpdate, c.nextUpdate]);
}

export async function removePartner(q: Queryable, name: string): Promise<void> {
  const r = await q.query('DELETE FROM partners WHERE name = $1', [name]);
  if (r.rowCount === 0) throw new OpencesError('notFound', `no partner ${name}`);
}

interface PartnerRow {
  name: string;
  roots: Uint8Array[];
  intermediates: Uint8Array[];
  map_from: PartnerMapping;
  templates: string[];
  enabled: boolean;
  crl_urls: string[];
  crl_grace_seconds: number;
  crl_check: CrlCheck;
}

export async function listPartners(q: Queryable): Promise<Partner[]> {
  const r = await q.query<PartnerRow>('SELECT name, roots, intermediates, map_from, templates, enabled, crl_urls, crl_grace_seconds, crl_check FROM partners ORDER BY name');
  return r.rows.map((x) => ({
    name: x.name,
    roots: x.roots.map((b) => new Uint8Array(b)),
    intermediates: x.intermediates.map((b) => new Uint8Array(b)),
    mapFrom: x.map_from,
    templates: x.templates,
    enabled: x.enabled,
    crlUrls: x.crl_urls,
    crlGraceSeconds: x.crl_grace_seconds,
    crlCheck: x.crl_check,
  }));
}

interface CrlRow {
  partner: string;
  source: 'file' | 'url';
  url: string | null;
  issuer_name: string;
  der: Uint8Array;
  this_update: Date | string;
  next_update: Date | string | null;
  fetched_at: Date | string;
}

export async function listPartnerCrls(q: Queryable): Promise<(StoredCrl & { partner: string; fetchedAt: Date })[]> {
  const r = await q.query<CrlRow>('SELECT partner, source, url, issuer_name, der, this_update, next_update, fetched_at FROM partner_crls ORDER BY partner, id');
  return r.rows.map((x) => ({
    partner: x.partner,
    source: x.source,
    ...(x.url ? { url: x.url } : {}),
    issuerName: x.issuer_name,
    der: new Uint8Array(x.der),
    thisUpdate: new Date(x.this_update),
    nextUpdate: x.next_update ? new Date(x.next_update) : null,
    fetchedAt: new Date(x.fetched_at),
  }));
}

/** What match() found: a principal, or a partner vouching for the issuer but refusing this certificate. */
export type PartnerMatch = { partner: Partner; principal: Principal } | { partner: Partner; refused: string };

export interface PartnerRegistryOptions {
  clock?: Clock;
  audit?: AuditLog;
  /** How long the partner list and stored CRLs are cached (changes reach every node within it). */
  ttlMs?: number;
  /** A URL CRL is fetched again after this long even before its nextUpdate. */
  crlRefreshMs?: number;
  /** After a failed fetch, the URL is not tried again for this long. */
  crlRetryMs?: number;
  crlFetchTimeoutMs?: number;
}

interface Snapshot {
  at: number;
  partners: Partner[];
  crls: Map<string, (StoredCrl & { fetchedAt: Date })[]>;
}

/**
 * Partner trust: a certificate issued by one of a partner's roots (directly, or through the
 * intermediates the client presented or the partner registered) becomes
 * `partner:<name>/<mapped name>`, confined to the partner's templates — unless the partner's CRLs
 * say it is revoked, or the partner has CRLs but none current for the issuer (fail closed).
 * Re-read every few seconds so `opences partner` changes reach every node.
 */
export class PartnerRegistry {
  private cache: Snapshot | null = null;
  private readonly clock: Clock;
  private readonly ttlMs: number;
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly failedAt = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly o: PartnerRegistryOptions = {},
  ) {
    this.clock = o.clock ?? systemClock;
    this.ttlMs = o.ttlMs ?? 5_000;
  }

  invalidate(): void {
    this.cache = null;
  }

  private async snapshot(): Promise<Snapshot> {
    if (!this.cache || Date.now() - this.cache.at > this.ttlMs) {
      const partners = (await listPartners(this.db)).filter((p) => p.enabled);
      const crls = new Map<string, (StoredCrl & { fetchedAt: Date })[]>();
      for (const c of await listPartnerCrls(this.db)) crls.set(c.partner, [...(crls.get(c.partner) ?? []), c]);
      this.cache = { at: Date.now(), partners, crls };
    }
    return this.cache;
  }

  async all(): Promise<Partner[]> {
    return (await this.snapshot()).partners;
  }

  scope(name: string): string[] | undefined {
    return this.cache?.partners.find((p) => p.name === name)?.templates;
  }

  /** The partner and principal for a certificate, a refusal by the partner that vouches for its issuer, or null when no partner does. */
  async match(cert: X509Certificate, intermediates: X509Certificate[]): Promise<PartnerMatch | null> {
    const now = this.clock.now();
    const snap = await this.snapshot();
    // A path refused by one partner's checks is reported only when no partner accepts the certificate.
    let refusal: PartnerMatch | null = null;
    for (const partner of snap.partners) {
      const roots = partner.roots.map((r) => new X509Certificate(Buffer.from(r)));
      const known = partner.intermediates.map((r) => new X509Certificate(Buffer.from(r)));
      const found = pathTo(cert, [...intermediates, ...known], roots, now.getTime());
      if (!found) continue;
      if ('refused' in found) {
        refusal ??= { partner, refused: `partner ${partner.name}: ${found.refused}` };
        continue;
      }
      const chain = found.path;
      const value = mapped(cert, partner.mapFrom);
      if (!value) return { partner, refused: `partner ${partner.name}: the certificate has no ${partner.mapFrom} to name the principal` };
      const revoked = await this.revocation(partner, chain, now);
      if (revoked) return { partner, refused: `partner ${partner.name}: ${revoked}` };
      return {
        partner,
        principal: { name: `partner:${partner.name}/${value}`, displayName: value, groups: [AUTHENTICATED_GROUP, `partner:${partner.name}`], method: 'certificate', partner: partner.name, ref: { kind: 'partner', key: `partner:${partner.name}/${value.toLowerCase()}` } },
      };
    }
    return refusal;
  }

  /** Null when the certificate is not revoked as far as the partner's CRLs tell; a partner without CRLs is not checked. */
  private async revocation(partner: Partner, chain: X509Certificate[], now: Date): Promise<string | null> {
    if (partner.crlUrls.length) await Promise.all(partner.crlUrls.map((u) => this.refreshUrl(partner, u, now)));
    // The snapshot again: an operator change during a fetch reloads it, fetched CRL included.
    const crls = ((await this.snapshot()).crls.get(partner.name) ?? []).filter((c) => c.source === 'file' || partner.crlUrls.includes(c.url ?? ''));
    if (crls.length === 0 && partner.crlUrls.length === 0) return null;
    return partnerRevocation(chain, crls, { now, graceMs: partner.crlGraceSeconds * 1000, mode: partner.crlCheck });
  }

  /** Fetches a URL CRL when none is cached, the cached one is due (nextUpdate) or older than the refresh interval. */
  private async refreshUrl(partner: Partner, url: string, now: Date): Promise<void> {
    const cached = this.cache?.crls.get(partner.name)?.find((c) => c.source === 'url' && c.url === url);
    const due = !cached || (cached.nextUpdate !== null && now.getTime() >= cached.nextUpdate.getTime()) || now.getTime() - cached.fetchedAt.getTime() >= (this.o.crlRefreshMs ?? 3_600_000);
    if (!due) return;
    const key = `${partner.name}|${url}`;
    const failed = this.failedAt.get(key);
    if (failed !== undefined && Date.now() - failed < (this.o.crlRetryMs ?? 30_000)) return;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.fetchUrl(partner, url, cached).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    await p;
  }

  private async fetchUrl(partner: Partner, url: string, cached: StoredCrl | undefined): Promise<void> {
    const key = `${partner.name}|${url}`;
    let crl: ParsedCrl;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.o.crlFetchTimeoutMs ?? 5_000), redirect: 'error' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = await readLimited(res, MAX_CRL_BYTES);
      const parsed = parseCrls(body, url);
      if (parsed.length !== 1) throw new Error(`${parsed.length} CRLs at one URL`);
      crl = parsed[0]!;
    } catch (e) {
      this.failedAt.set(key, Date.now());
      const reason = e instanceof OpencesError || e instanceof Error ? e.message : String(e);
      await this.o.audit?.record({ type: 'partner.crl.fetch', outcome: 'failure', reason, details: { partner: partner.name, url } }).catch(() => undefined);
      return;
    }
    this.failedAt.delete(key);
    // A fetched CRL older than the cached one is a rollback (an old file on a mirror, or an attacker on plain HTTP): keep ours.
    if (cached && crl.thisUpdate.getTime() < cached.thisUpdate.getTime()) {
      await this.o.audit?.record({ type: 'partner.crl.fetch', outcome: 'failure', reason: `served CRL (thisUpdate ${crl.thisUpdate.toISOString()}) is older than the cached one`, details: { partner: partner.name, url } }).catch(() => undefined);
      return;
    }
    const fetchedAt = this.clock.now();
    await this.db.query(
      `INSERT INTO partner_crls (partner, source, url, issuer_name, der, this_update, next_update, fetched_at) VALUES ($1, 'url', $2, $3, $4, $5, $6, $7)
       ON CONFLICT (partner, url) WHERE source = 'url' DO UPDATE SET issuer_name = EXCLUDED.issuer_name, der = EXCLUDED.der, this_update = EXCLUDED.this_update, next_update = EXCLUDED.next_update, fetched_at = EXCLUDED.fetched_at`,
      [partner.name, url, crl.issuerName, Buffer.from(crl.der), crl.thisUpdate, crl.nextUpdate, fetchedAt],
    );
    if (this.cache) {
      const list = (this.cache.crls.get(partner.name) ?? []).filter((c) => !(c.source === 'url' && c.url === url));
      this.cache.crls.set(partner.name, [...list, { ...crl, source: 'url', url, fetchedAt }]);
    }
  }
}

/** The response body, refusing (and abandoning the transfer) beyond `limit` bytes. */
async function readLimited(res: Response, limit: number): Promise<Uint8Array> {
  if (Number(res.headers.get('content-length') ?? '0') > limit) throw new Error('larger than the CRL size limit');
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new Error('larger than the CRL size limit');
    }
    parts.push(value);
  }
  return new Uint8Array(Buffer.concat(parts));
}

/** What the path search found: an accepted path (leaf first, root last), refusals of every path that chains to a root, or null when none does. */
export type PathResult = { path: X509Certificate[] } | { refused: string } | null;

const MAX_DEPTH = 5;
const MAX_CANDIDATES = 16;

/**
 * The path from the certificate up to one of the roots, with RFC 5280 path checks (below): every
 * candidate path (a partner may have an expired and a renewed root, a client may send extra
 * certificates) is tried until one passes; when some chain but none passes, the reasons.
 */
export function pathTo(cert: X509Certificate, intermediates: X509Certificate[], roots: X509Certificate[], now: number): PathResult {
  const refusals: string[] = [];
  for (const path of candidatePaths(cert, intermediates, roots)) {
    const why = pathRefusal(path, now);
    if (why === null) return { path };
    const msg = `the path to ${dn(path[path.length - 1]!)} is refused: ${why}`;
    if (!refusals.includes(msg)) refusals.push(msg);
  }
  return refusals.length ? { refused: refusals.slice(0, 3).join('; ') + (refusals.length > 3 ? ` (and ${refusals.length - 3} more)` : '') } : null;
}

/** Every chain of issuer names and signatures from the certificate to a root, through distinct intermediates (no policy checks). */
function* candidatePaths(cert: X509Certificate, intermediates: X509Certificate[], roots: X509Certificate[]): Generator<X509Certificate[]> {
  const rootFps = new Set(roots.map((r) => r.fingerprint256));
  const seen = new Set<string>();
  const pool = intermediates.filter((i) => {
    const fp = i.fingerprint256;
    if (rootFps.has(fp) || seen.has(fp)) return false;
    seen.add(fp);
    return true;
  });
  let count = 0;
  function* walk(c: X509Certificate, avail: X509Certificate[], depth: number): Generator<X509Certificate[]> {
    for (const r of roots) if (issuedBy(c, r)) yield [c, r];
    if (depth >= MAX_DEPTH - 1) return;
    for (const i of avail) {
      if (i.fingerprint256 === c.fingerprint256 || !issuedBy(c, i)) continue;
      for (const rest of walk(i, avail.filter((x) => x !== i), depth + 1)) yield [c, ...rest];
    }
  }
  for (const p of walk(cert, pool, 0)) {
    yield p;
    if (++count >= MAX_CANDIDATES) return;
  }
}

/** Bound of each path-building memo (certificates and issuer links seen; a chain comes back request after request). */
export const FACTS_MAX = 2_000;
const issuedCache = new BoundedCache<string, boolean>(FACTS_MAX);

/** The issuer's subject is the child's issuer name and its key verifies the child's signature (memoised: the same chains come back request after request). */
function issuedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  const key = `${child.fingerprint256}>${issuer.fingerprint256}`;
  const hit = issuedCache.get(key);
  if (hit !== undefined) return hit;
  const cf = certFacts(child);
  const f = certFacts(issuer);
  let ok = false;
  if (cf.issuerDer === f.subjectDer || child.issuer === issuer.subject) {
    try {
      ok = child.verify(issuer.publicKey);
    } catch {
      ok = false;
    }
  }
  remember(issuedCache, key, ok);
  return ok;
}

/**
 * Why a path (leaf first, root last) is refused, or null. RFC 5280 §6.1 as far as a trust decision
 * for a partner needs it: the root and every intermediate within validity, intermediates CA:TRUE,
 * keyCertSign on every CA certificate that has a keyUsage, each CA's pathLenConstraint over the
 * non-self-issued intermediates below it, and each CA's nameConstraints over every certificate below
 * it (self-issued intermediates excepted).
 */
export function pathRefusal(path: X509Certificate[], now: number): string | null {
  const facts = path.map(certFacts);
  // A leaf we cannot read is not one we vouch for, constrained or not.
  if (facts[0]!.unreadable) return `${dn(path[0]!)} cannot be read (${facts[0]!.unreadable})`;
  for (let k = path.length - 1; k >= 1; k--) {
    const ca = path[k]!;
    const f = facts[k]!;
    const name = dn(ca);
    if (f.unreadable) return `${name} cannot be read (${f.unreadable})`;
    const from = new Date(ca.validFrom).getTime();
    const to = new Date(ca.validTo).getTime();
    if (!(now >= from)) return `${name} is not valid before ${new Date(from).toISOString()}`;
    if (!(now < to)) return `${name} expired on ${new Date(to).toISOString()}`;
    if (k < path.length - 1 && !f.ca) return `${name} is not a CA certificate (no basicConstraints CA:TRUE)`;
    if (f.keyCertSign === false) return `${name} has a keyUsage without keyCertSign`;
    if (f.pathLen !== null) {
      let below = 0;
      for (let j = 1; j < k; j++) if (!facts[j]!.selfIssued) below++;
      if (below > f.pathLen) return `${name} allows ${f.pathLen} intermediate CA${f.pathLen === 1 ? '' : 's'} below it (pathLenConstraint), the path has ${below}`;
    }
    if (f.nameConstraints) {
      for (let j = k - 1; j >= 0; j--) {
        if (j > 0 && facts[j]!.selfIssued) continue;
        const fj = facts[j]!;
        if (fj.unreadable) return `${dn(path[j]!)} cannot be read (${fj.unreadable})`;
        const why = nameConstraintRefusal(fj, f.nameConstraints);
        if (why) return `${dn(path[j]!)} ${why} of ${name} (nameConstraints)`;
      }
    }
  }
  return null;
}

// ---- Extension facts, read from the DER (the small DER reader) and cached by fingerprint ----

type Atv = { type: string; value: string };
type GName = { form: 'dns' | 'email' | 'uri'; value: string } | { form: 'dir'; value: Atv[] } | { form: 'ip'; value: Uint8Array } | { form: 'other'; tag: number };
interface NameConstraints {
  permitted: GName[];
  excluded: GName[];
}
interface CertFacts {
  subjectDer: string;
  issuerDer: string;
  selfIssued: boolean;
  /** basicConstraints cA (node's `ca` is also false for a CA without keyCertSign, a separate reason here). */
  ca: boolean;
  /** Undefined when the certificate has no keyUsage. */
  keyCertSign: boolean | undefined;
  pathLen: number | null;
  nameConstraints: NameConstraints | null;
  subject: Atv[];
  sans: GName[];
  unreadable?: string;
}

const factsCache = new BoundedCache<string, CertFacts>(FACTS_MAX);
/** Entries held by the two path-building memos (tests: each stays within FACTS_MAX). */
export const pathMemoSizes = (): { issued: number; facts: number } => ({ issued: issuedCache.size, facts: factsCache.size });
const OID = { keyUsage: '2.5.29.15', san: '2.5.29.17', basicConstraints: '2.5.29.19', nameConstraints: '2.5.29.30', email: '1.2.840.113549.1.9.1' };

function remember<V>(m: BoundedCache<string, V>, key: string, v: V): void {
  m.set(key, v);
}

function certFacts(cert: X509Certificate): CertFacts {
  const key = cert.fingerprint256;
  const hit = factsCache.get(key);
  if (hit) return hit;
  let f: CertFacts;
  try {
    f = readFacts(new Uint8Array(cert.raw));
  } catch (e) {
    f = { subjectDer: '', issuerDer: '', selfIssued: false, ca: false, keyCertSign: undefined, pathLen: null, nameConstraints: null, subject: [], sans: [], unreadable: e instanceof Error ? e.message : String(e) };
  }
  remember(factsCache, key, f);
  return f;
}

/**
 * What path building needs of a certificate, read with the small DER reader (src/protocol/der-reader.ts):
 * the certificate is a stranger's until its path is found (a TLS client certificate or a
 * WS-Security token, before the caller is authenticated), and pkijs spends ~200 µs of CPU on each RDN
 * and each GeneralName — a name of 1,000 RDNs (26 KB) held the event loop 240–330 ms.
 */
function readFacts(der: Uint8Array): CertFacts {
  checkDer(der, 32);
  const top = der[0] === 0x30 ? elements(der) : [];
  const tbs = top[0]?.[0] === 0x30 ? elements(top[0]) : [];
  // TBSCertificate: [0] version (optional), serialNumber, signature, issuer, validity, subject, spki, [1], [2], [3] extensions
  const rest = tbs[0]?.[0] === 0xa0 ? tbs.slice(1) : tbs;
  const [, , issuer, , subject] = rest;
  if (top.length !== 3 || !issuer || !subject || issuer[0] !== 0x30 || subject[0] !== 0x30) throw new Error('malformed certificate');
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  const subjectDer = hex(subject);
  const issuerDer = hex(issuer);
  const f: CertFacts = { subjectDer, issuerDer, selfIssued: subjectDer === issuerDer, ca: false, keyCertSign: undefined, pathLen: null, nameConstraints: null, subject: atvsFromDer(subject), sans: [] };
  const extensions = rest.slice(6).find((e) => e[0] === 0xa3);
  const list = extensions ? elements(extensions) : [];
  if (extensions && (list.length !== 1 || list[0]![0] !== 0x30)) throw new Error('malformed extensions');
  for (const e of list.length ? elements(list[0]!) : []) {
    const parts = e[0] === 0x30 ? elements(e) : [];
    const value = parts[parts.length - 1];
    if (parts.length < 2 || parts.length > 3 || parts[0]![0] !== 0x06 || value?.[0] !== 0x04) throw new Error('malformed extension');
    const id = oidString(parts[0]!);
    const body = contents(value);
    if (id === OID.keyUsage) {
      if (body[0] !== 0x03) throw new Error('malformed keyUsage');
      // BIT STRING contents: the count of unused bits, then the bits; keyCertSign is bit 5.
      const bits = contents(body);
      f.keyCertSign = bits.length > 1 && (bits[1]! & 0x04) !== 0;
    } else if (id === OID.basicConstraints) {
      if (body[0] !== 0x30) throw new Error('malformed basicConstraints');
      const items = elements(body);
      let i = 0;
      if (items[0]?.[0] === 0x01) f.ca = contents(items[i++]!)[0] !== 0;
      const p = items[i];
      if (p && p[0] !== 0x02) throw new Error('malformed basicConstraints');
      if (f.ca && p) f.pathLen = smallInteger(p);
    } else if (id === OID.nameConstraints) {
      f.nameConstraints = nameConstraintsFromDer(body);
    } else if (id === OID.san) {
      f.sans = generalNamesFromDer(body, 'subjectAltName');
    }
  }
  return f;
}

/** The most GeneralNames read from one SAN extension or one list of name constraints. */
export const MAX_GENERAL_NAMES = 1024;

/**
 * GeneralNames (a SAN extension's value, or the bases of GeneralSubtrees) read with the small DER
 * reader: pkijs spends 100–200 µs of CPU on each GeneralName (its schema is a CHOICE it tries
 * alternative by alternative), so a stranger's certificate of 1,500 dNSNames held the event loop
 * ~300 ms before its path was even looked for.
 */
function generalNamesFromDer(der: Uint8Array, what: string): GName[] {
  checkDer(der, 16);
  if (der[0] !== 0x30) throw new Error(`malformed ${what}`);
  const names = elements(der);
  if (names.length > MAX_GENERAL_NAMES) throw new Error(`${what} holds more than ${MAX_GENERAL_NAMES} names`);
  return names.map(generalName);
}

function generalName(gn: Uint8Array): GName {
  const tag = gn[0]!;
  const n = tag & 0x1f;
  const constructed = (tag & 0x20) !== 0;
  if ((tag & 0xc0) !== 0x80) return { form: 'other', tag: -1 };
  switch (n) {
    case 1:
    case 2:
    case 6:
      if (constructed) return { form: 'other', tag: n };
      return { form: n === 1 ? 'email' : n === 2 ? 'dns' : 'uri', value: Buffer.from(contents(gn)).toString('latin1') };
    case 4: {
      // [4] EXPLICIT Name
      const inner = constructed ? elements(gn) : [];
      const name = inner.length === 1 && inner[0]![0] === 0x30 ? inner[0]! : null;
      return name ? { form: 'dir', value: atvsFromDer(name) } : { form: 'other', tag: 4 };
    }
    case 7:
      return constructed ? { form: 'other', tag: 7 } : { form: 'ip', value: new Uint8Array(contents(gn)) };
    default:
      return { form: 'other', tag: n };
  }
}

/** A Name's attributes in order: the type's dotted OID and the value's text (hex when not a string). */
function atvsFromDer(name: Uint8Array): Atv[] {
  const out: Atv[] = [];
  for (const rdn of elements(name)) {
    if (rdn[0] !== 0x31) throw new Error('malformed Name: an RDN is not a SET');
    for (const atv of elements(rdn)) {
      const parts = atv[0] === 0x30 ? elements(atv) : [];
      if (parts.length !== 2) throw new Error('malformed Name: an attribute is not {type, value}');
      out.push({ type: oidString(parts[0]!), value: text(parts[1]) ?? Buffer.from(contents(parts[1]!)).toString('hex') });
    }
  }
  return out;
}

/** NameConstraints ::= SEQUENCE { permittedSubtrees [0] GeneralSubtrees OPTIONAL, excludedSubtrees [1] … }, each subtree's base. */
function nameConstraintsFromDer(der: Uint8Array): NameConstraints {
  checkDer(der, 16);
  if (der[0] !== 0x30) throw new Error('malformed nameConstraints');
  const out: NameConstraints = { permitted: [], excluded: [] };
  for (const part of elements(der)) {
    const list = part[0] === 0xa0 ? out.permitted : part[0] === 0xa1 ? out.excluded : null;
    if (!list) throw new Error('malformed nameConstraints: neither permitted nor excluded subtrees');
    const subtrees = elements(part);
    if (list.length + subtrees.length > MAX_GENERAL_NAMES) throw new Error(`nameConstraints holds more than ${MAX_GENERAL_NAMES} subtrees`);
    for (const st of subtrees) {
      const base = st[0] === 0x30 ? elements(st)[0] : undefined;
      if (!base) throw new Error('malformed nameConstraints: a subtree without a base');
      list.push(generalName(base));
    }
  }
  return out;
}

// ---- Name constraints (RFC 5280 §4.2.1.10) ----

const FORM_NAME: Record<GName['form'], string> = { dns: 'dNSName', email: 'rfc822Name', dir: 'directoryName', ip: 'iPAddress', uri: 'uniformResourceIdentifier', other: 'name' };
const tagOf = (n: GName): number => (n.form === 'other' ? n.tag : { email: 1, dns: 2, dir: 4, uri: 6, ip: 7 }[n.form]);

function show(n: GName): string {
  switch (n.form) {
    case 'dns':
    case 'email':
    case 'uri':
      return `the ${FORM_NAME[n.form]} ${n.value}`;
    case 'dir':
      return `the directoryName ${n.value.map((a) => `${ATTR[a.type] ?? a.type}=${a.value}`).join(', ')}`;
    case 'ip':
      return `the iPAddress ${n.value.length === 4 ? n.value.join('.') : Buffer.from(n.value).toString('hex')}`;
    case 'other':
      return `a name of GeneralName type [${n.tag}]`;
  }
}

const ATTR: Record<string, string> = { '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.10': 'O', '2.5.4.11': 'OU', '0.9.2342.19200300.100.1.25': 'DC', [OID.email]: 'emailAddress' };

/** The names a constraint applies to: the subject DN (when not empty), its emailAddress attributes as rfc822Names, and every SAN. */
function constrainedNames(f: CertFacts): GName[] {
  const out: GName[] = [];
  if (f.subject.length) out.push({ form: 'dir', value: f.subject });
  for (const a of f.subject) if (a.type === OID.email) out.push({ form: 'email', value: a.value });
  return [...out, ...f.sans];
}

/** Why the certificate's names break the constraints ("has … outside the permitted subtrees"), or null. */
function nameConstraintRefusal(f: CertFacts, nc: NameConstraints): string | null {
  for (const n of constrainedNames(f)) {
    const tag = tagOf(n);
    const permitted = nc.permitted.filter((b) => tagOf(b) === tag);
    const excluded = nc.excluded.filter((b) => tagOf(b) === tag);
    if (permitted.length === 0 && excluded.length === 0) continue;
    const checkable = n.form === 'dns' || n.form === 'email' || n.form === 'dir' || n.form === 'ip';
    if (!checkable) return `has ${show(n)}, a name form whose constraints opences does not check, under the constraints`;
    const hit = excluded.find((b) => within(n, b));
    if (hit) return `has ${show(n)} within the excluded subtree ${subtree(hit)}`;
    if (permitted.length && !permitted.some((b) => within(n, b))) return `has ${show(n)} outside the permitted subtrees (${permitted.map(subtree).join(', ')})`;
  }
  return null;
}

function subtree(b: GName): string {
  switch (b.form) {
    case 'dns':
    case 'email':
    case 'uri':
      return b.value;
    case 'dir':
      return b.value.map((a) => `${ATTR[a.type] ?? a.type}=${a.value}`).join(', ');
    case 'ip':
      return Buffer.from(b.value).toString('hex');
    case 'other':
      return `[${b.tag}]`;
  }
}

const norm = (s: string): string => s.trim().replace(/\s+/g, ' ').toLowerCase();

function within(n: GName, b: GName): boolean {
  if (n.form === 'dns' && b.form === 'dns') {
    const name = n.value.toLowerCase().replace(/\.$/, '');
    const base = b.value.toLowerCase().replace(/\.$/, '');
    if (base === '') return true;
    if (base.startsWith('.')) return name.endsWith(base);
    return name === base || name.endsWith(`.${base}`);
  }
  if (n.form === 'email' && b.form === 'email') {
    const at = n.value.lastIndexOf('@');
    if (at <= 0) return false;
    const local = n.value.slice(0, at);
    const host = n.value.slice(at + 1).toLowerCase();
    const base = b.value;
    if (base.includes('@')) {
      const bat = base.lastIndexOf('@');
      return local === base.slice(0, bat) && host === base.slice(bat + 1).toLowerCase();
    }
    const bh = base.toLowerCase();
    return bh.startsWith('.') ? host.endsWith(bh) : host === bh;
  }
  if (n.form === 'dir' && b.form === 'dir') {
    if (b.value.length > n.value.length) return false;
    return b.value.every((a, i) => a.type === n.value[i]!.type && norm(a.value) === norm(n.value[i]!.value));
  }
  if (n.form === 'ip' && b.form === 'ip') {
    const len = n.value.length;
    if (b.value.length !== len * 2) return false;
    for (let i = 0; i < len; i++) if ((n.value[i]! & b.value[len + i]!) !== (b.value[i]! & b.value[len + i]!)) return false;
    return true;
  }
  return false;
}

const dn = (c: X509Certificate): string => c.subject.replace(/\n/g, ', ');

/** A structural path (names and signatures) whose intermediates are CA certificates within validity: what `partner add` asks of a registered intermediate. */
function chainsTo(cert: X509Certificate, intermediates: X509Certificate[], roots: X509Certificate[], now: number): boolean {
  for (const p of candidatePaths(cert, intermediates, roots)) {
    if (p.slice(1, -1).every((i) => i.ca && now >= new Date(i.validFrom).getTime() && now < new Date(i.validTo).getTime())) return true;
  }
  return false;
}

function mapped(cert: X509Certificate, from: PartnerMapping): string | undefined {
  // SANs come from the DER (src/auth/certificate-names.ts), never from node's printable text.
  switch (from) {
    case 'upn':
      return firstSan(cert, 'upn');
    case 'email':
      return firstSan(cert, 'email');
    case 'dns':
      return firstSan(cert, 'dns');
    case 'cn':
      return /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  }
}
