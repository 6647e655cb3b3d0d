import { OpencesError } from '../errors.js';
import type { Queryable } from '../store/db.js';
import type { Principal } from './principal.js';

/**
 * One canonical identity per person or thing (docs/authentication.md, "Who is who"). Principals are
 * compared by a canonical key, never by how a name was spelled:
 *
 * | kind | key | who |
 * |---|---|---|
 * | `account` | `account:alice` | the local account (names compare case-insensitively, as Windows account names do) |
 * | `directory` | `directory:alice` | an `auth.ldap` user without a local account |
 * | `kerberos` | `kerberos:alice@EXAMPLE.COM` | a Kerberos principal, realm-qualified (realm upper-case, name lower-case) |
 * | `partner` | `partner:acme/bob@acme.example` | a partner organisation's user, by the partner's mapped name |
 * | `service` | `service:backup-job` | a non-person API client (`token create --service`); never equals a person |
 * | `operator` | `operator:root` | the OS user at the server's console (CLI, control socket) |
 *
 * A Kerberos principal of a realm listed in `auth.accountRealms` IS the local account of the same
 * name (the deployment says so); otherwise `alice@EXAMPLE.COM` and the account `alice` are different
 * people (docs/kerberos.md).
 */
export type PrincipalKind = 'account' | 'directory' | 'kerberos' | 'partner' | 'service' | 'operator';

export interface PrincipalRef {
  kind: PrincipalKind;
  key: string;
}

export const PRINCIPAL_KINDS: readonly PrincipalKind[] = ['account', 'directory', 'kerberos', 'partner', 'service', 'operator'];

export interface IdentityOptions {
  /** `auth.domains`: domains accepted in `alice@domain` / `DOMAIN\alice` user names (empty: every domain). */
  domains: string[];
  /** `auth.accountRealms`: Kerberos realms whose users are the local accounts of the same name. */
  accountRealms: string[];
}

export const accountKey = (name: string): string => `account:${name.toLowerCase()}`;

/** The key of a Kerberos name (`user@REALM`, `host/fqdn@REALM`); an account key when the realm is mapped to local accounts. */
export function kerberosRef(name: string, o: Pick<IdentityOptions, 'accountRealms'>): PrincipalRef {
  const at = name.lastIndexOf('@');
  const local = at >= 0 ? name.slice(0, at) : name;
  const realm = at >= 0 ? name.slice(at + 1).toUpperCase() : '';
  const isUser = !local.includes('/') && !local.endsWith('$');
  if (isUser && realm && o.accountRealms.some((r) => r.toUpperCase() === realm)) return { kind: 'account', key: accountKey(local) };
  return { kind: 'kerberos', key: `kerberos:${local.toLowerCase()}${realm ? `@${realm}` : ''}` };
}

/** `partner:<partner>/<mapped name>` (partner names hold no `/`). */
export function partnerOfName(name: string): { partner: string; user: string } | null {
  const m = /^partner:([^/]+)\/(.+)$/s.exec(name);
  return m ? { partner: m[1]!, user: m[2]! } : null;
}

/** The canonical reference of an authenticated principal: what its authenticator set, else derived from how it signed in. */
export function principalRef(p: Principal, o: Pick<IdentityOptions, 'accountRealms'> = { accountRealms: [] }): PrincipalRef {
  if (p.ref) return p.ref;
  if (p.partner !== undefined) {
    const parsed = partnerOfName(p.name);
    return { kind: 'partner', key: `partner:${p.partner}/${(parsed?.user ?? p.name).toLowerCase()}` };
  }
  if (p.method === 'kerberos') return kerberosRef(p.name, o);
  if (p.name.startsWith('service:')) return { kind: 'service', key: p.name.toLowerCase() };
  return { kind: 'account', key: accountKey(p.name) };
}

/**
 * The recorded owner of a request made before requester_kind/requester_key existed (migration 011):
 * inferred from the recorded name and how the requester signed in — never from the certificate.
 */
export function inferredRef(requester: string, authMethod: string, o: Pick<IdentityOptions, 'accountRealms'>): PrincipalRef {
  const partner = partnerOfName(requester);
  if (partner) return { kind: 'partner', key: `partner:${partner.partner}/${partner.user.toLowerCase()}` };
  if (authMethod === 'kerberos') return kerberosRef(requester, o);
  return { kind: 'account', key: accountKey(requester) };
}

function acceptsDomain(domain: string, o: IdentityOptions): boolean {
  const list = o.domains.map((d) => d.toLowerCase());
  return list.length === 0 || list.includes(domain.toLowerCase());
}

/**
 * Every canonical key a name given by an operator may stand for — `alice`, `ALICE`,
 * `alice@EXAMPLE.COM`, `EXAMPLE\alice`, `local:alice` (the OS user at the console, taken as the
 * account of the same name too). Used where being wrong must err on refusing: separation of duties.
 */
export function candidateKeys(name: string, o: IdentityOptions): string[] {
  const s = name.trim();
  const out = new Set<string>();
  const lower = s.toLowerCase();
  if (lower.startsWith('service:')) return [lower];
  if (lower.startsWith('partner:')) {
    const p = partnerOfName(s);
    return p ? [`partner:${p.partner}/${p.user.toLowerCase()}`] : [lower];
  }
  if (lower.startsWith('operator:') || lower.startsWith('local:')) {
    const user = lower.slice(lower.indexOf(':') + 1);
    return [`operator:${user}`, accountKey(user), `directory:${user}`];
  }
  const person = (user: string): void => {
    out.add(accountKey(user));
    out.add(`directory:${user.toLowerCase()}`);
  };
  const bs = s.indexOf('\\');
  const at = s.lastIndexOf('@');
  if (bs > 0) {
    const domain = s.slice(0, bs);
    const user = s.slice(bs + 1);
    if (acceptsDomain(domain, o) || o.accountRealms.some((r) => r.split('.')[0]!.toLowerCase() === domain.toLowerCase())) person(user);
  } else if (at > 0) {
    const domain = s.slice(at + 1);
    const user = s.slice(0, at);
    if (acceptsDomain(domain, o)) person(user);
    const k = kerberosRef(s, o);
    out.add(k.key);
    if (k.kind === 'account') out.add(`directory:${user.toLowerCase()}`);
  } else {
    person(s);
  }
  out.add(lower.startsWith('account:') || lower.startsWith('kerberos:') || lower.startsWith('directory:') ? lower : `name:${lower}`);
  return [...out];
}

/** The account named so, exactly, else the one account whose name differs only in case. */
export async function findAccount(q: Queryable, name: string): Promise<{ name: string; disabled: boolean; groups: string[]; email: string | null } | null> {
  const r = await q.query<{ name: string; disabled: boolean; groups: string[]; email: string | null }>(
    'SELECT name, disabled, groups, email FROM accounts WHERE lower(name) = lower($1) ORDER BY (name = $1) DESC LIMIT 2',
    [name],
  );
  if (r.rows.length === 0) return null;
  if (r.rows[0]!.name === name || r.rows.length === 1) return r.rows[0]!;
  return null; // two accounts differing only in case (made before names were compared so): neither is meant
}

export interface ResolvedPrincipal extends PrincipalRef {
  /** The name to record (the account's own spelling, `user@REALM`, `partner:p/user`, `service:name`). */
  name: string;
}

/**
 * What `token create --for NAME` names: an existing local account (any spelling), a Kerberos principal
 * `user@REALM` when Kerberos is configured, an `auth.ldap` user, or `partner:NAME/USER` of a registered
 * partner. Throws `notFound` when the name resolves to none of them.
 */
export async function resolvePrincipalName(q: Queryable, given: string, o: IdentityOptions & { kerberos: boolean; ldap: boolean }): Promise<ResolvedPrincipal> {
  const s = given.trim();
  const fail = (): never => {
    throw new OpencesError('notFound', `"${given}" names no principal this deployment knows: give a local account, a Kerberos principal user@REALM (Kerberos configured), partner:NAME/USER of a registered partner, or --service NAME for a non-person client`, { field: 'principal' });
  };
  if (/^service:/i.test(s)) throw new OpencesError('malformed', 'use --service NAME for a service; --for names a person', { field: 'principal' });
  if (/^(operator|local|account|kerberos|directory|name):/i.test(s)) return fail();
  const partner = partnerOfName(s);
  if (partner) {
    const r = await q.query<{ name: string }>('SELECT name FROM partners WHERE name = $1', [partner.partner]);
    if (!r.rows[0]) return fail();
    return { kind: 'partner', key: `partner:${partner.partner}/${partner.user.toLowerCase()}`, name: `partner:${partner.partner}/${partner.user}` };
  }
  const bs = s.indexOf('\\');
  const at = s.lastIndexOf('@');
  let user = s;
  let domainOk = true;
  if (bs > 0) {
    user = s.slice(bs + 1);
    domainOk = acceptsDomain(s.slice(0, bs), o);
  } else if (at > 0) {
    const k = kerberosRef(s, o);
    user = s.slice(0, at);
    domainOk = acceptsDomain(s.slice(at + 1), o) || k.kind === 'account';
    if (!domainOk && o.kerberos) return { ...k, name: `${user}@${s.slice(at + 1).toUpperCase()}` };
  }
  if (!user || !domainOk) return fail();
  const account = await findAccount(q, user);
  if (account) return { kind: 'account', key: accountKey(account.name), name: account.name };
  if (at > 0 && o.kerberos) {
    const k = kerberosRef(s, o);
    if (k.kind === 'kerberos') return { ...k, name: `${user}@${s.slice(at + 1).toUpperCase()}` };
  }
  if (o.ldap) return { kind: 'directory', key: `directory:${user.toLowerCase()}`, name: user };
  return fail();
}

export function serviceName(name: string): ResolvedPrincipal {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) throw new OpencesError('malformed', `service name "${name}": letters, digits, _ . - (1–64)`, { field: 'service' });
  return { kind: 'service', key: `service:${name.toLowerCase()}`, name: `service:${name}` };
}
