import { accessSync, constants, readFileSync } from 'node:fs';
import { Client } from 'ldapts';
import type { AuditLog } from '../audit/log.js';
import { systemClock, type Clock } from '../clock.js';
import { OpencesError } from '../errors.js';

/**
 * Group lookup in a directory for principals authenticated elsewhere (Kerberos): the service binds
 * with its own DN, finds the principal's entry, and reads its groups — from an attribute on the
 * entry (memberOf) or by searching groupOfNames/groupOfUniqueNames entries naming it. Results are
 * cached briefly. Any failure (directory down, bad service credentials, ambiguous entry) yields
 * no directory groups — never more rights — and writes an `auth.groups` failure audit event.
 */
export interface LdapGroupLookupConfig {
  /** ldap://… or ldaps://… */
  url: string;
  /** The service account's DN. */
  bindDn: string;
  /** File holding the service account's password (one line; read at each bind, so it can be rotated). */
  bindPasswordFile: string;
  /** Where principals' entries are searched (subtree). */
  searchBase: string;
  /**
   * Filter for the principal's entry; `{principal}` (alice@EXAMPLE.COM), `{user}` (alice) and
   * `{realm}` are replaced with RFC 4515-escaped values. E.g. `(userPrincipalName={principal})`
   * (Active Directory), `(krb5PrincipalName={principal})` (MIT LDAP schema), `(uid={user})`.
   */
  filter: string;
  /** Attribute on the entry listing its groups (memberOf); values that are DNs count by their first RDN value. */
  groupAttribute?: string;
  /** Or search groups naming the entry: `filter` gets `{dn}` (the entry's DN, escaped) and `{user}`. */
  groupSearch?: { base: string; filter: string; nameAttribute: string };
  /** Prefix for directory group names (e.g. `ldap:`), so a directory group cannot pose as a local one. */
  groupPrefix?: string;
  cacheSeconds: number;
  /** After a failed lookup, the directory is not asked again for this long (every lookup meanwhile gets no directory groups at once). Default 10. */
  retrySeconds?: number;
  tlsCaFile?: string;
  timeoutMs?: number;
}

/** RFC 4515 §3: escape a value for use inside a search filter. */
export function escapeFilterValue(v: string): string {
  return v.replace(/[\\*()\x00]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function firstRdnValue(v: string): string {
  const m = /^[A-Za-z0-9.-]+=((?:\\.|[^,])+)/.exec(v);
  return m ? m[1]!.replace(/\\(.)/g, '$1') : v;
}

const list = (v: unknown): string[] => (Array.isArray(v) ? v.map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x))) : v === undefined ? [] : [Buffer.isBuffer(v) ? v.toString('utf8') : String(v)]);

export class LdapGroupLookup {
  private readonly cache = new Map<string, { groups: string[]; expires: number }>();
  private readonly inflight = new Map<string, Promise<string[]>>();
  private readonly clock: Clock;
  /** Set after a failure: until `until`, lookups fail at once (a directory that is down must not add its timeout to every request). */
  private backoff: { until: number; reason: string } | null = null;

  constructor(
    private readonly cfg: LdapGroupLookupConfig,
    private readonly o: { audit?: AuditLog; clock?: Clock } = {},
  ) {
    this.clock = o.clock ?? systemClock;
    if (!cfg.groupAttribute && !cfg.groupSearch) throw new OpencesError('malformed', 'the LDAP group lookup needs groupAttribute or groupSearch', { field: 'auth.kerberos.ldap' });
    if (!/\{(principal|user)\}/.test(cfg.filter)) throw new OpencesError('malformed', 'the LDAP filter must contain {principal} or {user}', { field: 'auth.kerberos.ldap.filter' });
    try {
      accessSync(cfg.bindPasswordFile, constants.R_OK);
    } catch {
      throw new OpencesError('unavailable', `the LDAP bind password file ${cfg.bindPasswordFile} is not readable`, { field: 'auth.kerberos.ldap.bindPasswordFile' });
    }
  }

  /** The directory groups of a principal; [] when it has none, is not found, or the lookup failed. */
  async groups(principal: string): Promise<string[]> {
    const now = this.clock.now().getTime();
    // Exact name: Kerberos names are case-sensitive, and Bob@R must never get bob@R's groups.
    const key = principal;
    const hit = this.cache.get(key);
    if (hit && hit.expires > now) return hit.groups;
    if (this.backoff && this.backoff.until > now) {
      await this.audit(principal, `directory not asked for ${Math.ceil((this.backoff.until - now) / 1000)} s after a failure (${this.backoff.reason})`);
      return [];
    }
    let p = this.inflight.get(key);
    if (!p) {
      p = this.lookup(principal)
        .then((groups) => {
          this.backoff = null;
          if (this.cache.size > 10_000) this.cache.clear();
          this.cache.set(key, { groups, expires: this.clock.now().getTime() + this.cfg.cacheSeconds * 1000 });
          return groups;
        })
        .catch(async (e: unknown) => {
          // Failures are not cached as results: after the retry interval the directory is asked again.
          const reason = e instanceof Error ? e.message : String(e);
          this.backoff = { until: this.clock.now().getTime() + (this.cfg.retrySeconds ?? 10) * 1000, reason };
          await this.audit(principal, reason);
          return [];
        })
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  invalidate(): void {
    this.cache.clear();
    this.backoff = null;
  }

  private async audit(principal: string, reason: string): Promise<void> {
    await this.o.audit?.record({ type: 'auth.groups', outcome: 'failure', method: 'kerberos', principal, reason: `LDAP group lookup failed, no directory groups granted: ${reason}` }).catch(() => undefined);
  }

  private async lookup(principal: string): Promise<string[]> {
    const at = principal.lastIndexOf('@');
    const user = at >= 0 ? principal.slice(0, at) : principal;
    const realm = at >= 0 ? principal.slice(at + 1) : '';
    const filter = this.cfg.filter.replaceAll('{principal}', escapeFilterValue(principal)).replaceAll('{user}', escapeFilterValue(user)).replaceAll('{realm}', escapeFilterValue(realm));
    const password = readFileSync(this.cfg.bindPasswordFile, 'utf8').replace(/\r?\n$/, '');
    // An empty password would be an unauthenticated bind (RFC 4513 §5.1.2), which many servers accept.
    if (!password) throw new Error('the bind password file is empty');
    const timeout = this.cfg.timeoutMs ?? 5_000;
    const client = new Client({ url: this.cfg.url, timeout, connectTimeout: timeout, ...(this.cfg.tlsCaFile ? { tlsOptions: { ca: [readFileSync(this.cfg.tlsCaFile)] } } : {}) });
    try {
      try {
        await client.bind(this.cfg.bindDn, password);
      } catch (e) {
        // The message names neither the password nor the server's reply beyond its class.
        throw new Error(`service bind as ${this.cfg.bindDn} failed (${e instanceof Error ? e.name : 'error'})`);
      }
      const attrs = this.cfg.groupAttribute ? [this.cfg.groupAttribute] : ['1.1'];
      const { searchEntries } = await client.search(this.cfg.searchBase, { scope: 'sub', filter, attributes: attrs, sizeLimit: 2 }).catch((e: unknown) => {
        throw new Error(`search for ${filter} failed (${e instanceof Error ? e.message : String(e)})`);
      });
      if (searchEntries.length === 0) return [];
      if (searchEntries.length > 1) throw new Error(`${filter} matches more than one entry`);
      const entry = searchEntries[0]!;
      const groups = new Set<string>();
      if (this.cfg.groupAttribute) for (const v of list(entry[this.cfg.groupAttribute])) groups.add(firstRdnValue(v));
      if (this.cfg.groupSearch) {
        const g = this.cfg.groupSearch;
        const gFilter = g.filter.replaceAll('{dn}', escapeFilterValue(entry.dn)).replaceAll('{user}', escapeFilterValue(user));
        const found = await client.search(g.base, { scope: 'sub', filter: gFilter, attributes: [g.nameAttribute], sizeLimit: 1000 }).catch((e: unknown) => {
          throw new Error(`group search ${gFilter} failed (${e instanceof Error ? e.message : String(e)})`);
        });
        for (const ge of found.searchEntries) for (const v of list(ge[g.nameAttribute])) groups.add(v);
      }
      const prefix = this.cfg.groupPrefix ?? '';
      return [...groups].filter((x) => /^[^\x00-\x1f]{1,256}$/.test(x)).map((x) => `${prefix}${x}`);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }
}
