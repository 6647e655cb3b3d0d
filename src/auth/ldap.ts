import { readFileSync } from 'node:fs';
import { Client, InvalidCredentialsError } from 'ldapts';
import { OpencesError } from '../errors.js';
import { checkAttributeName, expandNestedGroups, type NestedGroupsMode } from './ldap-groups.js';

export interface LdapConfig {
  /** ldap://… or ldaps://… */
  url: string;
  /** Bind DN with `{user}` for the escaped user name, e.g. `uid={user},ou=people,dc=example,dc=com`. */
  bindDnTemplate: string;
  /** Attribute on the user's entry listing groups (values may be DNs: their first RDN value is used). */
  groupAttribute?: string;
  /** Count groups enclosing the `groupAttribute` groups too (as `auth.kerberos.ldap.nestedGroups`; searched with the user's own bind). */
  nestedGroups?: NestedGroupsMode;
  /** Where enclosing groups are searched (subtree); required with `nestedGroups`. */
  nestedGroupsBase?: string;
  /** Default `member`. */
  groupMemberAttribute?: string;
  /** Default 8. */
  nestedGroupsMaxDepth?: number;
  /** Default 1000. */
  nestedGroupsMaxGroups?: number;
  tlsCaFile?: string;
}

/** RFC 4514 §2.4: escape a value for use inside a DN. */
export function escapeDnValue(v: string): string {
  return v
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ')
    .replace(/[\x00-\x1f]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** A DN's first RDN value, unescaped (RFC 4514 §3: `\,` and `\5C` alike; hex pairs are UTF-8 bytes). */
function firstRdnValue(v: string): string {
  const m = /^[A-Za-z0-9.-]+=((?:\\.|[^,])+)/.exec(v);
  if (!m) return v;
  return m[1]!.replace(/(?:\\[0-9A-Fa-f]{2})+|\\(.)/g, (run: string, c: string | undefined) => c ?? Buffer.from(run.replace(/\\/g, ''), 'hex').toString('utf8'));
}

/**
 * LDAP simple bind as the user. Returns the user's groups and e-mail, or null for wrong
 * credentials; a server that cannot be reached is 'unavailable'. An empty password is never sent:
 * RFC 4513 §5.1.2 makes it an unauthenticated bind that many servers accept.
 */
export async function ldapAuthenticate(cfg: LdapConfig, user: string, password: string): Promise<{ dn: string; groups: string[]; email?: string } | null> {
  if (!password) return null;
  const dn = cfg.bindDnTemplate.replace('{user}', escapeDnValue(user));
  const client = new Client({
    url: cfg.url,
    timeout: 5_000,
    connectTimeout: 5_000,
    ...(cfg.tlsCaFile ? { tlsOptions: { ca: [readFileSync(cfg.tlsCaFile)] } } : {}),
  });
  try {
    await client.bind(dn, password);
  } catch (e) {
    await client.unbind().catch(() => undefined);
    if (e instanceof InvalidCredentialsError) return null;
    const msg = e instanceof Error ? e.message : String(e);
    if (/no such object|invalid dn/i.test(msg)) return null;
    // The URL stays out of the message: it reaches SOAP clients as the fault reason.
    throw new OpencesError('unavailable', 'the user directory cannot be reached', { url: cfg.url });
  }
  try {
    const attrs = [...(cfg.groupAttribute ? [cfg.groupAttribute] : []), 'mail'];
    const { searchEntries } = await client.search(dn, { scope: 'base', attributes: attrs });
    const entry = searchEntries[0] ?? {};
    const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : v === undefined ? [] : [String(v)]);
    const direct = cfg.groupAttribute ? list(entry[cfg.groupAttribute]) : [];
    const groups = new Set(direct.map(firstRdnValue));
    if (cfg.nestedGroups && (cfg.groupAttribute || cfg.nestedGroups === 'in-chain')) {
      if (!cfg.nestedGroupsBase) throw new OpencesError('malformed', 'auth.ldap.nestedGroups needs nestedGroupsBase', { field: 'auth.ldap.nestedGroupsBase' });
      const memberAttribute = checkAttributeName(cfg.groupMemberAttribute ?? 'member', 'auth.ldap.groupMemberAttribute');
      // Fail closed: a group search that fails refuses the login as a directory outage does, rather than granting a partial set.
      const nested = await expandNestedGroups(
        client,
        { mode: cfg.nestedGroups, base: cfg.nestedGroupsBase, memberAttribute, maxDepth: cfg.nestedGroupsMaxDepth ?? 8, maxGroups: cfg.nestedGroupsMaxGroups ?? 1000 },
        { userDn: dn, directDns: direct },
      ).catch(() => {
        throw new OpencesError('unavailable', 'the user directory group search failed', { url: cfg.url });
      });
      for (const n of nested.names) groups.add(n);
    }
    const email = list(entry.mail)[0];
    return { dn, groups: [...groups], ...(email ? { email } : {}) };
  } finally {
    await client.unbind().catch(() => undefined);
  }
}
