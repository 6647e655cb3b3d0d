import { accessSync, constants, readFileSync } from 'node:fs';
import { BoundedCache } from '../bounded-cache.js';
import { Client } from 'ldapts';
import type { AuditLog } from '../audit/log.js';
import { systemClock, type Clock } from '../clock.js';
import { OpencesError } from '../errors.js';

/**
 * Group lookup in a directory for principals authenticated elsewhere (Kerberos): the service binds
 * with its own DN, finds the principal's entry, and reads its groups — from an attribute on the
 * entry (memberOf) or by searching groupOfNames/groupOfUniqueNames entries naming it, and, with
 * `nestedGroups`, the groups enclosing those (expandNestedGroups). Results are cached briefly. Any failure (directory down, bad service credentials, ambiguous entry) yields
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
  /**
   * Nested groups: `false` (default) counts direct memberships only; `walk` searches, level by level,
   * for groups whose member attribute names a group found so far (any LDAP server); `in-chain` asks
   * Active Directory for the transitive closure in one search (LDAP_MATCHING_RULE_IN_CHAIN).
   */
  nestedGroups?: NestedGroupsMode;
  /** Where enclosing groups are searched (subtree). Default: `groupSearch.base`, else `searchBase`. */
  nestedGroupsBase?: string;
  /** Attribute of a group naming its members by DN. Default `member` (groupOfNames, AD); `uniqueMember` for groupOfUniqueNames. */
  groupMemberAttribute?: string;
  /** `walk`: levels followed above the direct groups. Default 8. */
  nestedGroupsMaxDepth?: number;
  /** At most this many directory groups in all; the expansion stops there (audited). Default 1000. */
  nestedGroupsMaxGroups?: number;
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

/** A DN's first RDN value, unescaped (RFC 4514 §3: `\,` and `\5C` alike; hex pairs are UTF-8 bytes). */
function firstRdnValue(v: string): string {
  const m = /^[A-Za-z0-9.-]+=((?:\\.|[^,])+)/.exec(v);
  if (!m) return v;
  return m[1]!.replace(/(?:\\[0-9A-Fa-f]{2})+|\\(.)/g, (run: string, c: string | undefined) => c ?? Buffer.from(run.replace(/\\/g, ''), 'hex').toString('utf8'));
}

const list = (v: unknown): string[] => (Array.isArray(v) ? v.map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x))) : v === undefined ? [] : [Buffer.isBuffer(v) ? v.toString('utf8') : String(v)]);

export type NestedGroupsMode = false | 'walk' | 'in-chain';

/** Active Directory's LDAP_MATCHING_RULE_IN_CHAIN: matches through any number of nesting levels. */
export const LDAP_MATCHING_RULE_IN_CHAIN = '1.2.840.113556.1.4.1941';

/** An attribute description (RFC 4512 §2.5: a name or an OID, no options); anything else could alter a filter. */
export function checkAttributeName(a: string, field: string): string {
  if (!/^(?:[A-Za-z][A-Za-z0-9-]{0,63}|\d+(?:\.\d+){0,31})$/.test(a)) throw new OpencesError('malformed', `${JSON.stringify(a)} is not an LDAP attribute name`, { field });
  return a;
}

/** `(member:1.2.840.113556.1.4.1941:=<dn>)`, the DN escaped (RFC 4515): AD's groups holding `dn` directly or through nesting. */
export function inChainFilter(dn: string, memberAttribute = 'member'): string {
  return `(${checkAttributeName(memberAttribute, 'groupMemberAttribute')}:${LDAP_MATCHING_RULE_IN_CHAIN}:=${escapeFilterValue(dn)})`;
}

/** Groups whose member attribute holds any of these DNs (each escaped, RFC 4515): `(member=a)` or `(|(member=a)(member=b)…)`. */
export function memberOfAnyFilter(dns: readonly string[], memberAttribute = 'member'): string {
  if (dns.length === 0) throw new Error('memberOfAnyFilter needs at least one DN');
  const a = checkAttributeName(memberAttribute, 'groupMemberAttribute');
  const terms = dns.map((dn) => `(${a}=${escapeFilterValue(dn)})`);
  return terms.length === 1 ? terms[0]! : `(|${terms.join('')})`;
}

export interface NestedGroupsOptions {
  mode: 'walk' | 'in-chain';
  /** Subtree searched for enclosing groups. */
  base: string;
  memberAttribute: string;
  /** A group's name is this attribute's values; without it, its DN's first RDN value. */
  nameAttribute?: string;
  maxDepth: number;
  /** Cap on all groups (direct ones included). */
  maxGroups: number;
}

export interface NestedGroupsResult {
  /** Names of the groups found beyond `directDns` (in-chain: all of them). */
  names: string[];
  /** Why the expansion stopped early, if it did: `depth` (groups remained above the last level followed) or `groups` (the cap). */
  stopped?: 'depth' | 'groups';
}

/** How two DNs are compared for cycle detection (AD and OpenLDAP compare the usual attributes case-insensitively). */
const dnKey = (dn: string): string => dn.toLowerCase();

const FILTER_CHUNK = 64;

/**
 * Expands direct memberships to enclosing groups on a bound client. `walk` is breadth first:
 * each level searches for groups whose member attribute names a group of the previous level, up
 * to `maxDepth` levels; a group seen before (a loop, a group containing itself, a diamond) is
 * not followed again. `in-chain` is one search with AD's matching rule. Either way at most
 * `maxGroups` groups (direct ones counted) come back. Search errors are thrown.
 */
export async function expandNestedGroups(client: Client, o: NestedGroupsOptions, start: { userDn: string; directDns: readonly string[] }): Promise<NestedGroupsResult> {
  const attributes = o.nameAttribute ? [o.nameAttribute] : ['1.1'];
  const namesOf = (e: { dn: string; [k: string]: unknown }): string[] => (o.nameAttribute ? list(e[o.nameAttribute]) : [firstRdnValue(e.dn)]);
  const search = async (filter: string, sizeLimit: number) =>
    (
      await client.search(o.base, { scope: 'sub', filter, attributes, sizeLimit }).catch((e: unknown) => {
        throw new Error(`nested group search ${filter.length > 200 ? `${filter.slice(0, 200)}…` : filter} failed (${e instanceof Error ? e.message : String(e)})`);
      })
    ).searchEntries;
  const seen = new Set<string>([dnKey(start.userDn), ...start.directDns.map(dnKey)]);
  let total = new Set(start.directDns.map(dnKey)).size;
  const names: string[] = [];
  if (o.mode === 'in-chain') {
    const found = await search(inChainFilter(start.userDn, o.memberAttribute), o.maxGroups + 1);
    total = 0;
    for (const e of found) {
      if (total >= o.maxGroups) return { names, stopped: 'groups' };
      total++;
      names.push(...namesOf(e));
    }
    return { names };
  }
  let frontier = [...new Map(start.directDns.map((d) => [dnKey(d), d])).values()];
  for (let depth = 1; depth <= o.maxDepth && frontier.length > 0; depth++) {
    const next: string[] = [];
    for (let i = 0; i < frontier.length; i += FILTER_CHUNK) {
      if (total >= o.maxGroups) return { names, stopped: 'groups' };
      const limit = o.maxGroups - total + 1;
      const found = await search(memberOfAnyFilter(frontier.slice(i, i + FILTER_CHUNK), o.memberAttribute), limit);
      for (const e of found) {
        const k = dnKey(e.dn);
        if (seen.has(k)) continue;
        if (total >= o.maxGroups) return { names, stopped: 'groups' };
        seen.add(k);
        total++;
        names.push(...namesOf(e));
        next.push(e.dn);
      }
      // The server stopped at the size limit: there may be more than the cap allows.
      if (found.length >= limit) return { names, stopped: 'groups' };
    }
    frontier = next;
  }
  return frontier.length > 0 ? { names, stopped: 'depth' } : { names };
}

/** Principals whose directory groups are kept per node. */
export const GROUP_CACHE_MAX = 10_000;

export class LdapGroupLookup {
  /** Groups per principal, bounded by count (GROUP_CACHE_MAX) and age (cacheSeconds). */
  private readonly cache: BoundedCache<string, string[]>;
  private readonly inflight = new Map<string, Promise<string[]>>();
  private readonly clock: Clock;
  /** Set after a failure: until `until`, lookups fail at once (a directory that is down must not add its timeout to every request). */
  private backoff: { until: number; reason: string } | null = null;

  constructor(
    private readonly cfg: LdapGroupLookupConfig,
    private readonly o: { audit?: AuditLog; clock?: Clock; cacheMaxEntries?: number } = {},
  ) {
    this.clock = o.clock ?? systemClock;
    this.cache = new BoundedCache(o.cacheMaxEntries ?? GROUP_CACHE_MAX, cfg.cacheSeconds * 1000, () => this.clock.now().getTime());
    if (!cfg.groupAttribute && !cfg.groupSearch) throw new OpencesError('malformed', 'the LDAP group lookup needs groupAttribute or groupSearch', { field: 'auth.kerberos.ldap' });
    if (cfg.nestedGroups) {
      checkAttributeName(cfg.groupMemberAttribute ?? 'member', 'auth.kerberos.ldap.groupMemberAttribute');
      if (cfg.groupSearch) checkAttributeName(cfg.groupSearch.nameAttribute, 'auth.kerberos.ldap.groupSearch.nameAttribute');
    }
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
    if (hit) return hit;
    if (this.backoff && this.backoff.until > now) {
      await this.audit(principal, `directory not asked for ${Math.ceil((this.backoff.until - now) / 1000)} s after a failure (${this.backoff.reason})`);
      return [];
    }
    let p = this.inflight.get(key);
    if (!p) {
      p = this.lookup(principal)
        .then((groups) => {
          this.backoff = null;
          this.cache.set(key, groups);
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

  /** Principals whose groups are cached (tests: stays within cacheMaxEntries). */
  get cacheSize(): number {
    return this.cache.size;
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
      /** DNs of the direct groups: where a nested walk starts. */
      const directDns: string[] = [];
      if (this.cfg.groupAttribute)
        for (const v of list(entry[this.cfg.groupAttribute])) {
          groups.add(firstRdnValue(v));
          directDns.push(v);
        }
      if (this.cfg.groupSearch) {
        const g = this.cfg.groupSearch;
        const gFilter = g.filter.replaceAll('{dn}', escapeFilterValue(entry.dn)).replaceAll('{user}', escapeFilterValue(user));
        const found = await client.search(g.base, { scope: 'sub', filter: gFilter, attributes: [g.nameAttribute], sizeLimit: 1000 }).catch((e: unknown) => {
          throw new Error(`group search ${gFilter} failed (${e instanceof Error ? e.message : String(e)})`);
        });
        for (const ge of found.searchEntries) {
          for (const v of list(ge[g.nameAttribute])) groups.add(v);
          directDns.push(ge.dn);
        }
      }
      if (this.cfg.nestedGroups) {
        const maxGroups = this.cfg.nestedGroupsMaxGroups ?? 1000;
        const nested = await expandNestedGroups(
          client,
          {
            mode: this.cfg.nestedGroups,
            base: this.cfg.nestedGroupsBase ?? this.cfg.groupSearch?.base ?? this.cfg.searchBase,
            memberAttribute: this.cfg.groupMemberAttribute ?? 'member',
            ...(this.cfg.groupSearch ? { nameAttribute: this.cfg.groupSearch.nameAttribute } : {}),
            maxDepth: this.cfg.nestedGroupsMaxDepth ?? 8,
            maxGroups,
          },
          { userDn: entry.dn, directDns },
        );
        for (const n of nested.names) groups.add(n);
        if (nested.stopped) {
          const why = nested.stopped === 'groups' ? `stopped at ${maxGroups} groups (nestedGroupsMaxGroups)` : `reached depth ${this.cfg.nestedGroupsMaxDepth ?? 8} (nestedGroupsMaxDepth); the groups at that level were not searched further`;
          await this.o.audit?.record({ type: 'auth.groups', outcome: 'info', method: 'kerberos', principal, reason: `nested group expansion ${why}; the groups found so far are granted` }).catch(() => undefined);
        }
      }
      const prefix = this.cfg.groupPrefix ?? '';
      return [...groups].filter((x) => /^[^\x00-\x1f]{1,256}$/.test(x)).map((x) => `${prefix}${x}`);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }
}
