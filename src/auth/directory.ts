import { readFileSync } from 'node:fs';
import { Client } from 'ldapts';
import { systemClock, type Clock } from '../clock.js';
import { OpencesError } from '../errors.js';
import { escapeFilterValue } from './ldap-groups.js';
import { sidToString } from './sid.js';

/**
 * Active Directory identity for Kerberos principals: the account the ticket names, looked up in
 * the domain the way a Windows CA does (sAMAccountName, `NAME$` for computers, servicePrincipalName
 * for `host/…`, userPrincipalName for other realms), with its SID, its security groups from the
 * constructed `tokenGroups` attribute (nested groups and the primary group included, as in a logon
 * token), the attributes names are built from, and its state: a disabled, locked-out or expired
 * account is refused — a service ticket obtained before the account was disabled still works
 * until it expires, so the KDC alone is not enough.
 *
 * The service binds with its own account over LDAPS or StartTLS, certificates verified (Node's
 * default): the password never crosses in cleartext. Failures fail closed ('unavailable').
 */
export interface DirectoryConfig {
  url: string;
  startTls?: boolean;
  tlsCaFile?: string;
  bindDn: string;
  bindPasswordFile: string;
  baseDn: string;
  realm: string;
  groupNames?: boolean;
  cacheSeconds?: number;
  timeoutMs?: number;
}

export interface DirectoryAccount {
  dn: string;
  sid: string;
  /** Group SIDs from tokenGroups, and (groupNames) their sAMAccountNames. */
  groups: string[];
  groupSids: string[];
  computer: boolean;
  samAccountName: string;
  upn?: string;
  email?: string;
  dnsName?: string;
  cn?: string;
}

/** userAccountControl bits (MS-ADTS §2.2.16). */
export const UAC = { ACCOUNTDISABLE: 0x2, LOCKOUT: 0x10, WORKSTATION_TRUST_ACCOUNT: 0x1000, SERVER_TRUST_ACCOUNT: 0x2000 } as const;

/** accountExpires values meaning "never" (MS-ADA1). */
const NEVER = new Set(['0', '9223372036854775807']);
/** 100-ns intervals between 1601-01-01 and 1970-01-01. */
const FILETIME_UNIX_OFFSET = 116444736000000000n;

export function filetimeToDate(v: string): Date {
  return new Date(Number((BigInt(v) - FILETIME_UNIX_OFFSET) / 10000n));
}

/** Why the account may not enroll now, or null when it may (pure: tests feed it attribute values). */
export function accountRefusal(e: { userAccountControl?: string; computedUac?: string; accountExpires?: string; lockoutTime?: string }, now: Date): string | null {
  const uac = Number(e.userAccountControl ?? '0');
  if (uac & UAC.ACCOUNTDISABLE) return 'the directory account is disabled';
  // The constructed attribute knows the domain's lockout duration; lockoutTime alone does not.
  if (e.computedUac !== undefined) {
    if (Number(e.computedUac) & UAC.LOCKOUT) return 'the directory account is locked out';
  } else if (e.lockoutTime && e.lockoutTime !== '0') return 'the directory account is locked out';
  const exp = e.accountExpires;
  if (exp && !NEVER.has(exp) && /^\d+$/.test(exp) && filetimeToDate(exp).getTime() <= now.getTime()) return `the directory account expired on ${filetimeToDate(exp).toISOString()}`;
  return null;
}

/** The LDAP filter finding the account a Kerberos principal names, or null when the directory does not hold it. */
export function accountFilter(principal: string, realm: string): string | null {
  const at = principal.lastIndexOf('@');
  if (at <= 0) return null;
  const local = principal.slice(0, at);
  const pRealm = principal.slice(at + 1);
  if (pRealm.toUpperCase() !== realm.toUpperCase()) return `(&(objectClass=user)(userPrincipalName=${escapeFilterValue(principal)}))`;
  if (/^host\/[^/]+$/i.test(local)) return `(&(objectClass=computer)(servicePrincipalName=${escapeFilterValue(local)}))`;
  if (local.includes('/')) return null;
  if (local.endsWith('$')) return `(&(objectClass=computer)(sAMAccountName=${escapeFilterValue(local)}))`;
  return `(&(objectClass=user)(sAMAccountName=${escapeFilterValue(local)}))`;
}

const first = (v: unknown): string | undefined => {
  const x = Array.isArray(v) ? v[0] : v;
  if (x === undefined || x === null) return undefined;
  return Buffer.isBuffer(x) ? x.toString('utf8') : String(x);
};
const buffers = (v: unknown): Buffer[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((x): x is Buffer => Buffer.isBuffer(x));

export class DirectoryLookup {
  private readonly cache = new Map<string, { account: DirectoryAccount | null; expires: number }>();
  private readonly inflight = new Map<string, Promise<DirectoryAccount | null>>();
  private readonly clock: Clock;

  constructor(
    private readonly cfg: DirectoryConfig,
    o: { clock?: Clock } = {},
  ) {
    this.clock = o.clock ?? systemClock;
    if (!cfg.url.startsWith('ldaps://') && !cfg.startTls) throw new OpencesError('malformed', 'auth.kerberos.directory: ldap:// needs startTls: true', { field: 'auth.kerberos.directory.startTls' });
  }

  /**
   * The principal's account; null when the principal is of another realm and no account has it as
   * userPrincipalName. Throws 'unauthenticated' for a refused account (unknown in the domain's own
   * realm, disabled, locked out, expired) and 'unavailable' when the directory cannot answer.
   */
  async account(principal: string): Promise<DirectoryAccount | null> {
    const now = this.clock.now().getTime();
    const hit = this.cache.get(principal);
    let account: DirectoryAccount | null;
    if (hit && hit.expires > now) account = hit.account;
    else {
      let p = this.inflight.get(principal);
      if (!p) {
        p = this.lookup(principal).finally(() => this.inflight.delete(principal));
        this.inflight.set(principal, p);
      }
      account = await p;
    }
    return account;
  }

  invalidate(): void {
    this.cache.clear();
  }

  private async lookup(principal: string): Promise<DirectoryAccount | null> {
    const filter = accountFilter(principal, this.cfg.realm);
    const ownRealm = principal.slice(principal.lastIndexOf('@') + 1).toUpperCase() === this.cfg.realm.toUpperCase();
    if (!filter) {
      if (ownRealm) throw new OpencesError('unauthenticated', `${principal} names no account of the directory`, { principal });
      return null;
    }
    const client = await this.connect();
    try {
      const { searchEntries } = await client
        .search(this.cfg.baseDn, {
          scope: 'sub',
          filter,
          sizeLimit: 2,
          attributes: ['objectSid', 'sAMAccountName', 'userPrincipalName', 'mail', 'dNSHostName', 'cn', 'userAccountControl', 'msDS-User-Account-Control-Computed', 'accountExpires', 'lockoutTime', 'objectClass'],
          explicitBufferAttributes: ['objectSid'],
        })
        .catch((e: unknown) => {
          throw new OpencesError('unavailable', 'the directory account search failed', { reason: e instanceof Error ? e.message : String(e) });
        });
      if (searchEntries.length > 1) throw new OpencesError('unauthenticated', `${principal} matches more than one directory account`, { principal });
      const e = searchEntries[0];
      if (!e) {
        if (ownRealm) throw new OpencesError('unauthenticated', `${principal} has no account in the directory`, { principal });
        this.remember(principal, null);
        return null;
      }
      const sidBytes = buffers(e.objectSid)[0];
      if (!sidBytes) throw new OpencesError('unavailable', `the directory returned no objectSid for ${principal}`);
      const sid = sidToString(sidBytes);
      const computedUac = first(e['msDS-User-Account-Control-Computed']);
      const lockoutTime = first(e.lockoutTime);
      const accountExpires = first(e.accountExpires);
      const userAccountControl = first(e.userAccountControl);
      const refusal = accountRefusal(
        { ...(userAccountControl !== undefined ? { userAccountControl } : {}), ...(computedUac !== undefined ? { computedUac } : {}), ...(lockoutTime !== undefined ? { lockoutTime } : {}), ...(accountExpires !== undefined ? { accountExpires } : {}) },
        this.clock.now(),
      );
      // A refused account is not cached: re-enabling it takes effect at once.
      if (refusal) throw new OpencesError('unauthenticated', `${principal}: ${refusal}`, { principal, sid });
      // tokenGroups is constructed: it is only returned by a base-scope search of the entry itself.
      const tg = await client.search(e.dn, { scope: 'base', filter: '(objectClass=*)', attributes: ['tokenGroups'], explicitBufferAttributes: ['tokenGroups'] }).catch((err: unknown) => {
        throw new OpencesError('unavailable', 'the directory tokenGroups search failed', { reason: err instanceof Error ? err.message : String(err) });
      });
      const groupSids = buffers(tg.searchEntries[0]?.tokenGroups).map(sidToString);
      const groups = [...groupSids];
      if (this.cfg.groupNames !== false && groupSids.length) {
        for (let i = 0; i < groupSids.length; i += 64) {
          // The string form (AD and Samba both match it): ldapts re-encodes `\xx` escapes above 0x7f as UTF-8, which breaks binary values.
          const chunk = groupSids.slice(i, i + 64).map((s) => `(objectSid=${s})`);
          const names = await client.search(this.cfg.baseDn, { scope: 'sub', filter: `(|${chunk.join('')})`, attributes: ['sAMAccountName'], sizeLimit: 1000 }).catch((err: unknown) => {
            throw new OpencesError('unavailable', 'the directory group name search failed', { reason: err instanceof Error ? err.message : String(err) });
          });
          for (const g of names.searchEntries) {
            const n = first(g.sAMAccountName);
            if (n && /^[^\x00-\x1f]{1,256}$/.test(n)) groups.push(n);
          }
        }
      }
      const classes = (Array.isArray(e.objectClass) ? e.objectClass : [e.objectClass]).map((c) => String(c).toLowerCase());
      const upn = first(e.userPrincipalName);
      const email = first(e.mail);
      const dnsName = first(e.dNSHostName)?.toLowerCase();
      const cn = first(e.cn);
      const account: DirectoryAccount = {
        dn: e.dn,
        sid,
        groups: [...new Set(groups)],
        groupSids,
        computer: classes.includes('computer'),
        samAccountName: first(e.sAMAccountName) ?? '',
        ...(upn ? { upn } : {}),
        ...(email ? { email } : {}),
        ...(dnsName ? { dnsName } : {}),
        ...(cn ? { cn } : {}),
      };
      this.remember(principal, account);
      return account;
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }

  private remember(principal: string, account: DirectoryAccount | null): void {
    const ttl = (this.cfg.cacheSeconds ?? 60) * 1000;
    if (ttl <= 0) return;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(principal, { account, expires: this.clock.now().getTime() + ttl });
  }

  private async connect(): Promise<Client> {
    const timeout = this.cfg.timeoutMs ?? 5_000;
    const tlsOptions = this.cfg.tlsCaFile ? { ca: [readFileSync(this.cfg.tlsCaFile)] } : {};
    const client = new Client({ url: this.cfg.url, timeout, connectTimeout: timeout, ...(this.cfg.url.startsWith('ldaps://') ? { tlsOptions } : {}) });
    try {
      if (this.cfg.startTls) await client.startTLS({ ...tlsOptions, servername: new URL(this.cfg.url).hostname });
      const password = readFileSync(this.cfg.bindPasswordFile, 'utf8').replace(/\r?\n$/, '');
      // An empty password would be an unauthenticated bind (RFC 4513 §5.1.2).
      if (!password) throw new Error('the bind password file is empty');
      await client.bind(this.cfg.bindDn, password);
      return client;
    } catch (e) {
      await client.unbind().catch(() => undefined);
      // Neither the password nor the server's words beyond the error class.
      throw new OpencesError('unavailable', 'the directory cannot be reached or refused the service bind', { reason: e instanceof Error ? `${e.name}: ${e.message}`.slice(0, 300) : 'error' });
    }
  }
}
