import { readFileSync } from 'node:fs';
import { Client, InvalidCredentialsError } from 'ldapts';
import { OpencesError } from '../errors.js';

export interface LdapConfig {
  /** ldap://… or ldaps://… */
  url: string;
  /** Bind DN with `{user}` for the escaped user name, e.g. `uid={user},ou=people,dc=example,dc=com`. */
  bindDnTemplate: string;
  /** Attribute on the user's entry listing groups (values may be DNs: their first RDN value is used). */
  groupAttribute?: string;
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

function firstRdnValue(v: string): string {
  const m = /^[A-Za-z0-9.-]+=((?:\\.|[^,])+)/.exec(v);
  return m ? m[1]!.replace(/\\(.)/g, '$1') : v;
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
    const groups = cfg.groupAttribute ? list(entry[cfg.groupAttribute]).map(firstRdnValue) : [];
    const email = list(entry.mail)[0];
    return { dn, groups, ...(email ? { email } : {}) };
  } finally {
    await client.unbind().catch(() => undefined);
  }
}
