import { X509Certificate } from 'node:crypto';
import { OpencesError } from '../errors.js';
import type { Db, Queryable } from '../store/db.js';
import { AUTHENTICATED_GROUP, type Principal } from './principal.js';

export type PartnerMapping = 'upn' | 'email' | 'dns' | 'cn';

export interface Partner {
  name: string;
  roots: Uint8Array[];
  mapFrom: PartnerMapping;
  templates: string[];
  enabled: boolean;
}

const NAME = /^[a-z0-9][a-z0-9.-]{0,62}$/;

export async function addPartner(q: Queryable, p: Omit<Partner, 'enabled'>): Promise<void> {
  if (!NAME.test(p.name)) throw new OpencesError('malformed', `partner name "${p.name}": lower-case letters, digits, . and -`, { field: 'name' });
  if (p.roots.length === 0) throw new OpencesError('malformed', 'a partner needs at least one trust root', { field: 'roots' });
  for (const r of p.roots) {
    let c: X509Certificate;
    try {
      c = new X509Certificate(Buffer.from(r));
    } catch {
      throw new OpencesError('malformed', 'a partner root is not a certificate', { field: 'roots' });
    }
    if (!c.ca) throw new OpencesError('malformed', `${c.subject.replace(/\n/g, ', ')} is not a CA certificate`, { field: 'roots' });
  }
  const r = await q.query('INSERT INTO partners (name, roots, map_from, templates) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING', [p.name, p.roots.map((x) => Buffer.from(x)), p.mapFrom, p.templates]);
  if (r.rowCount === 0) throw new OpencesError('conflict', `partner ${p.name} already exists`);
}

export async function removePartner(q: Queryable, name: string): Promise<void> {
  const r = await q.query('DELETE FROM partners WHERE name = $1', [name]);
  if (r.rowCount === 0) throw new OpencesError('notFound', `no partner ${name}`);
}

export async function listPartners(q: Queryable): Promise<Partner[]> {
  const r = await q.query<{ name: string; roots: Uint8Array[]; map_from: PartnerMapping; templates: string[]; enabled: boolean }>('SELECT name, roots, map_from, templates, enabled FROM partners ORDER BY name');
  return r.rows.map((x) => ({ name: x.name, roots: x.roots.map((b) => new Uint8Array(b)), mapFrom: x.map_from, templates: x.templates, enabled: x.enabled }));
}

/**
 * Partner trust: a certificate issued by one of a partner's roots (directly, or through the
 * intermediates the client presented) becomes `partner:<name>/<mapped name>`, confined to the
 * partner's templates. Re-read every few seconds so `opences partner` changes reach every node.
 */
export class PartnerRegistry {
  private cache: { at: number; partners: Partner[] } | null = null;

  constructor(
    private readonly db: Db,
    private readonly ttlMs = 5_000,
  ) {}

  invalidate(): void {
    this.cache = null;
  }

  async all(): Promise<Partner[]> {
    if (!this.cache || Date.now() - this.cache.at > this.ttlMs) this.cache = { at: Date.now(), partners: (await listPartners(this.db)).filter((p) => p.enabled) };
    return this.cache.partners;
  }

  scope(name: string): string[] | undefined {
    return this.cache?.partners.find((p) => p.name === name)?.templates;
  }

  /** The partner and principal for a certificate, or null when no partner vouches for it. */
  async match(cert: X509Certificate, intermediates: X509Certificate[]): Promise<{ partner: Partner; principal: Principal } | null> {
    for (const partner of await this.all()) {
      const roots = partner.roots.map((r) => new X509Certificate(Buffer.from(r)));
      if (!chainsTo(cert, intermediates, roots)) continue;
      const value = mapped(cert, partner.mapFrom);
      if (!value) return null;
      return {
        partner,
        principal: { name: `partner:${partner.name}/${value}`, displayName: value, groups: [AUTHENTICATED_GROUP, `partner:${partner.name}`], method: 'certificate', partner: partner.name },
      };
    }
    return null;
  }
}

function chainsTo(cert: X509Certificate, intermediates: X509Certificate[], roots: X509Certificate[], depth = 0): boolean {
  if (depth > 4) return false;
  if (roots.some((r) => cert.checkIssued(r) && cert.verify(r.publicKey))) return true;
  const now = Date.now();
  return intermediates.some((i) => i.ca && now < new Date(i.validTo).getTime() && cert.checkIssued(i) && cert.verify(i.publicKey) && chainsTo(i, intermediates.filter((x) => x !== i), roots, depth + 1));
}

function mapped(cert: X509Certificate, from: PartnerMapping): string | undefined {
  const san = cert.subjectAltName ?? '';
  switch (from) {
    case 'upn':
      return /othername:\s*UPN::?([^,\s]+)/i.exec(san)?.[1];
    case 'email':
      return /email:([^,\s]+)/i.exec(san)?.[1];
    case 'dns':
      return /DNS:([^,\s]+)/.exec(san)?.[1];
    case 'cn':
      return /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  }
}
