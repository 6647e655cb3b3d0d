import { firstSan } from './certificate-names.js';
import { X509Certificate } from 'node:crypto';
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
    for (const partner of snap.partners) {
      const roots = partner.roots.map((r) => new X509Certificate(Buffer.from(r)));
      const known = partner.intermediates.map((r) => new X509Certificate(Buffer.from(r)));
      const chain = pathTo(cert, [...intermediates, ...known], roots, now.getTime());
      if (!chain) continue;
      const value = mapped(cert, partner.mapFrom);
      if (!value) return { partner, refused: `partner ${partner.name}: the certificate has no ${partner.mapFrom} to name the principal` };
      const revoked = await this.revocation(partner, chain, now);
      if (revoked) return { partner, refused: `partner ${partner.name}: ${revoked}` };
      return {
        partner,
        principal: { name: `partner:${partner.name}/${value}`, displayName: value, groups: [AUTHENTICATED_GROUP, `partner:${partner.name}`], method: 'certificate', partner: partner.name },
      };
    }
    return null;
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

/** The path from the certificate up to one of the roots (leaf first, root last), or null. */
function pathTo(cert: X509Certificate, intermediates: X509Certificate[], roots: X509Certificate[], now: number, depth = 0): X509Certificate[] | null {
  if (depth > 4) return null;
  const root = roots.find((r) => cert.checkIssued(r) && cert.verify(r.publicKey));
  if (root) return [cert, root];
  for (const i of intermediates) {
    if (!(i.ca && now >= new Date(i.validFrom).getTime() && now < new Date(i.validTo).getTime() && cert.checkIssued(i) && cert.verify(i.publicKey))) continue;
    const rest = pathTo(i, intermediates.filter((x) => x.fingerprint256 !== i.fingerprint256), roots, now, depth + 1);
    if (rest) return [cert, ...rest];
  }
  return null;
}

function chainsTo(cert: X509Certificate, intermediates: X509Certificate[], roots: X509Certificate[], now: number): boolean {
  return pathTo(cert, intermediates, roots, now) !== null;
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
