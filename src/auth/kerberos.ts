import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { OpencesError } from '../errors.js';
import type { AuditLog } from '../audit/log.js';
import type { Clock } from '../clock.js';
import { LdapGroupLookup, type LdapGroupLookupConfig } from './ldap-groups.js';
import type { Principal } from './principal.js';
import { kerberosPrincipal, loadKerberosBinding, parseNegotiateHeader, type KerberosBinding } from './negotiate.js';
import { checkBindings, expectedBindings, tokenBindings, type ChannelBindingMode } from './channel-binding.js';
import { parseKeytab, type KeytabEntry } from './keytab.js';
import { DirectoryLookup, type DirectoryAccount, type DirectoryConfig } from './directory.js';

/** What the authenticator asks of the directory (src/auth/directory.ts). */
export interface AccountDirectory {
  account(principal: string): Promise<DirectoryAccount | null>;
}

export interface KerberosAuthenticatorOptions {
  /** Keytab with the HTTP/<host> key. GSSAPI reads it from the process-wide KRB5_KTNAME, set here before the first call. */
  keytab?: string;
  /** GSSAPI service name, `HTTP@<host>`; default `HTTP@<this host's name>`. */
  servicePrincipal?: string;
  /** `alice@REALM` or `@REALM` → extra groups. */
  groupMapping: Record<string, string[]>;
  /** Realm for names GSSAPI returns without one. */
  defaultRealm?: string;
  /** `auth.accountRealms`: realms whose users are the local accounts of the same name (src/auth/identity.ts). */
  accountRealms?: string[];
  /** Loads the `kerberos` package (tests replace it). */
  load?: () => Promise<unknown>;
  /** Directory groups for authenticated principals (added to the mapping's). */
  groupLookup?: { groups(principal: string): Promise<string[]> };
  /** Extended Protection: check the token's TLS channel bindings (default when-present). */
  channelBinding?: ChannelBindingMode;
  /** Active Directory accounts: SID, tokenGroups, names, account state. */
  directory?: AccountDirectory;
}

/** The config file's shape (auth.kerberos in src/config.ts). */
export interface KerberosConfig {
  keytab?: string;
  servicePrincipal?: string;
  groups: Record<string, string[]>;
  /** `auth.accountRealms` (a setting of `auth`, handed in by the composition root). */
  accountRealms?: string[];
  /** Optional group lookup in LDAP (src/auth/ldap-groups.ts). */
  ldap?: LdapGroupLookupConfig;
  channelBinding?: ChannelBindingMode;
  /** Active Directory identity (src/auth/directory.ts). */
  directory?: DirectoryConfig;
}

/**
 * The service keys, read from the keytab file GSSAPI uses, to read a token's channel bindings
 * (src/auth/channel-binding.ts). Read again when the file changes (a key rotation).
 */
class KeytabKeys {
  private keys: KeytabEntry[] = [];
  private stamp = '';
  constructor(readonly path: string) {
    this.load();
  }
  load(): KeytabEntry[] {
    let st;
    try {
      st = statSync(this.path);
    } catch {
      throw new OpencesError('unavailable', `the Kerberos keytab ${this.path} is not readable (auth.kerberos.channelBinding needs it)`, { field: 'auth.kerberos.keytab' });
    }
    const stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (stamp !== this.stamp) {
      this.keys = parseKeytab(readFileSync(this.path));
      this.stamp = stamp;
    }
    return this.keys;
  }
}

export interface NegotiateResult {
  principal: Principal;
  /** The mutual-authentication token for `WWW-Authenticate: Negotiate <token>` on the response. */
  responseToken?: string;
}

/**
 * Server side of HTTP Negotiate (SPNEGO/Kerberos) with the `kerberos` binding to MIT GSSAPI.
 * One accept context per request; GSSAPI refuses replays (its replay cache), expired tickets,
 * tickets for another service and tokens it cannot parse — all of which become
 * 'unauthenticated', which the HTTP layer answers with 401 and `WWW-Authenticate: Negotiate`.
 */
export class KerberosAuthenticator {
  private constructor(
    private readonly krb: KerberosBinding,
    readonly service: string,
    private readonly names: { groupMapping: Record<string, string[]>; defaultRealm?: string; accountRealms?: string[] },
    private readonly groupLookup?: { groups(principal: string): Promise<string[]> },
    private readonly binding: { mode: ChannelBindingMode; keytab?: KeytabKeys } = { mode: 'off' },
    private readonly directory?: AccountDirectory,
  ) {}

  /** The composition root's entry (src/app/core.ts): the config section plus the configured host name. */
  static create(cfg: KerberosConfig, hostname: string, deps: { audit?: AuditLog; clock?: Clock } = {}): Promise<KerberosAuthenticator> {
    const groupLookup = cfg.ldap ? new LdapGroupLookup(cfg.ldap, deps) : undefined;
    const directory = cfg.directory ? new DirectoryLookup(cfg.directory, deps.clock ? { clock: deps.clock } : {}) : undefined;
    return createKerberosAuthenticator({
      keytab: cfg.keytab,
      servicePrincipal: cfg.servicePrincipal ?? `HTTP@${hostname}`,
      groupMapping: cfg.groups,
      accountRealms: cfg.accountRealms ?? [],
      channelBinding: cfg.channelBinding ?? 'when-present',
      ...(groupLookup ? { groupLookup } : {}),
      ...(directory ? { directory } : {}),
    });
  }

  /** @internal use createKerberosAuthenticator */
  static fromBinding(
    krb: KerberosBinding,
    service: string,
    names: { groupMapping: Record<string, string[]>; defaultRealm?: string; accountRealms?: string[] },
    groupLookup?: { groups(principal: string): Promise<string[]> },
    binding?: { mode: ChannelBindingMode; keytabPath?: string },
    directory?: AccountDirectory,
  ): KerberosAuthenticator {
    const mode = binding?.mode ?? 'off';
    return new KerberosAuthenticator(krb, service, names, groupLookup, { mode, ...(mode !== 'off' ? { keytab: new KeytabKeys(binding?.keytabPath ?? defaultKeytabPath()) } : {}) }, directory);
  }

  /**
   * `tlsCertificate`: DER of the certificate this connection's TLS server presented, for the
   * channel-binding check (absent on a connection that is not TLS).
   */
  async authenticate(authorization: string | undefined, o: { tlsCertificate?: Uint8Array } = {}): Promise<NegotiateResult> {
    const token = parseNegotiateHeader(authorization);
    let username: string;
    let response: string;
    try {
      const ctx = await this.krb.initializeServer(this.service);
      await ctx.step(token);
      // Kerberos in SPNEGO completes in one leg; anything wanting a second leg is not a ticket we accept.
      if (!ctx.contextComplete) throw new Error('the Negotiate exchange needs more legs');
      username = ctx.username;
      response = ctx.response;
    } catch (e) {
      // GSSAPI's own words (e.g. "Request is a replay", "Ticket expired", "Wrong principal in request") stay in details
      // for the audit log; the client only learns that it was refused.
      // The message reaches only the audit log (the client gets a bare 401 challenge), so it carries GSSAPI's reason.
      const reason = e instanceof Error ? e.message : String(e);
      throw new OpencesError('unauthenticated', `the Kerberos token was refused: ${reason.slice(0, 300)}`, { reason });
    }
    if (this.binding.mode !== 'off') {
      // GSSAPI accepted the token (authentic, fresh, for this service): now its channel bindings.
      let got: Buffer | null;
      try {
        got = tokenBindings(Buffer.from(token, 'base64'), this.binding.keytab!.load());
      } catch (e) {
        const reason = e instanceof Error ? e.message : String(e);
        throw new OpencesError('unauthenticated', `the Kerberos token was refused: ${reason.slice(0, 300)}`, { reason, principal: username });
      }
      const why = checkBindings(this.binding.mode, got, o.tlsCertificate ? expectedBindings(o.tlsCertificate) : null);
      if (why) throw new OpencesError('unauthenticated', `the Kerberos token was refused: ${why}`, { reason: why, principal: username });
    }
    const principal = kerberosPrincipal(username, this.names);
    if (this.groupLookup) {
      // Never throws: a failed lookup adds nothing (and is audited by the lookup).
      const extra = await this.groupLookup.groups(principal.name);
      principal.groups = [...new Set([...principal.groups, ...extra])];
    }
    if (this.directory) {
      // Throws for a refused account (disabled, locked out, expired, unknown in the domain's realm)
      // and when the directory cannot answer: without it the SID and the account state are unknown.
      const a = await this.directory.account(principal.name);
      if (a) applyDirectoryAccount(principal, a);
    }
    return { principal, ...(response ? { responseToken: response } : {}) };
  }
}

/**
 * Loads the optional binding (only now: a server without Kerberos never needs libkrb5), points
 * GSSAPI at the keytab and checks it is readable, so a misconfiguration fails at start, not on
 * the first client.
 */
export async function createKerberosAuthenticator(o: KerberosAuthenticatorOptions): Promise<KerberosAuthenticator> {
  const service = o.servicePrincipal ?? `HTTP@${osHostname()}`;
  if (!/^[A-Za-z][A-Za-z0-9-]*@[^@\s]+$/.test(service)) {
    throw new OpencesError('malformed', `auth.kerberos.servicePrincipal must look like HTTP@host.example, not "${service}"`, { field: 'auth.kerberos.servicePrincipal' });
  }
  if (o.keytab) {
    const path = o.keytab.replace(/^FILE:/, '');
    try {
      accessSync(path, constants.R_OK);
    } catch {
      throw new OpencesError('unavailable', `the Kerberos keytab ${path} is not readable`, { field: 'auth.kerberos.keytab' });
    }
    // MIT GSSAPI takes the acceptor keytab from the environment: one keytab per process, the last one configured wins.
    process.env.KRB5_KTNAME = o.keytab;
  }
  const krb = await loadKerberosBinding(o.load);
  return KerberosAuthenticator.fromBinding(
    krb,
    service,
    { groupMapping: o.groupMapping, accountRealms: o.accountRealms ?? [], ...(o.defaultRealm ? { defaultRealm: o.defaultRealm } : {}) },
    o.groupLookup,
    {
      mode: o.channelBinding ?? 'off',
      ...(o.keytab ? { keytabPath: o.keytab.replace(/^FILE:/, '') } : {}),
    },
    o.directory,
  );
}

/**
 * The account's identity on the principal: SID, groups (SIDs and names), and the attributes
 * ADCS builds names from — userPrincipalName, mail, dNSHostName for computers. The principal's
 * name stays the Kerberos one (what requests are recorded under).
 */
export function applyDirectoryAccount(p: Principal, a: DirectoryAccount): void {
  p.sid = a.sid;
  p.groups = [...new Set([...p.groups, ...a.groups])];
  if (a.upn) p.upn = a.upn;
  if (a.email) p.email = a.email;
  if (a.computer && a.dnsName) p.dnsName = a.dnsName;
}

/** The keytab GSSAPI accepts with when none is configured: KRB5_KTNAME, else MIT's default. */
function defaultKeytabPath(): string {
  const env = process.env.KRB5_KTNAME;
  return env ? env.replace(/^(FILE|WRFILE):/, '') : '/etc/krb5.keytab';
}
