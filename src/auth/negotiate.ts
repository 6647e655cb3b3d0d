import { OpencesError } from '../errors.js';
import { AUTHENTICATED_GROUP, type Principal } from './principal.js';
import { kerberosRef } from './identity.js';

/**
 * HTTP Negotiate (RFC 4559) pieces that need no GSSAPI: reading the Authorization header,
 * turning an authenticated Kerberos name into our Principal, and loading the optional
 * `kerberos` binding. The GSSAPI work itself is in kerberos.ts (server) and
 * negotiate-client.ts (client).
 */

export const KERBEROS_PACKAGE_MISSING =
  'Kerberos endpoints need the optional "kerberos" package: apt-get install libkrb5-dev && npm install kerberos';

/** A variable, so that type-checking and building never need the package. */
const KERBEROS_PACKAGE: string = 'kerberos';

/** Tokens carrying an AD PAC run to ~12 KB, with many groups more; anything beyond this is not a ticket. */
export const MAX_NEGOTIATE_TOKEN_CHARS = 64 * 1024;

/** The base64 token of `Authorization: Negotiate <token>`; anything else is 'unauthenticated'. */
export function parseNegotiateHeader(authorization: string | undefined): string {
  if (!authorization) throw new OpencesError('unauthenticated', 'no Authorization: Negotiate header');
  const m = /^Negotiate[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(authorization);
  if (!m) throw new OpencesError('unauthenticated', 'the Authorization header holds no Negotiate token');
  const token = m[1]!;
  if (token.length > MAX_NEGOTIATE_TOKEN_CHARS) throw new OpencesError('unauthenticated', 'the Negotiate token is too long');
  // Raw NTLMSSP (what Windows sends when it cannot get a ticket) would need a second round trip
  // and an NTLM verifier we do not have; say so instead of a GSSAPI error.
  if (token.startsWith('TlRMTVNTUA')) throw new OpencesError('unauthenticated', 'NTLM is not supported; the client must use Kerberos');
  return token;
}

export interface KerberosNameOptions {
  /** `alice@REALM` or `@REALM` → extra groups. */
  groupMapping: Record<string, string[]>;
  /** Realm for names GSSAPI returns without one. */
  defaultRealm?: string;
  /** Realms whose users are the local accounts of the same name (`auth.accountRealms`, src/auth/identity.ts). */
  accountRealms?: string[];
}

/**
 * The Principal behind an authenticated Kerberos name. Users keep their name as UPN; machine
 * accounts (`host/fqdn@REALM`, or AD's `NAME$@REALM`) carry the computer's DNS name instead,
 * which machine templates put in the subject and SAN.
 */
export function kerberosPrincipal(kerberosName: string, o: KerberosNameOptions): Principal {
  const at = kerberosName.lastIndexOf('@');
  const local = at >= 0 ? kerberosName.slice(0, at) : kerberosName;
  const realm = at >= 0 ? kerberosName.slice(at + 1) : o.defaultRealm;
  if (!local) throw new OpencesError('unauthenticated', 'the Kerberos token named no principal');
  const name = realm ? `${local}@${realm}` : local;
  const groups = [AUTHENTICATED_GROUP, ...(o.groupMapping[name] ?? []), ...(realm ? (o.groupMapping[`@${realm}`] ?? []) : [])];
  const principal: Principal = { name, displayName: local, groups: [...new Set(groups)], method: 'kerberos', ...(realm ? { realm } : {}), ref: kerberosRef(name, { accountRealms: o.accountRealms ?? [] }) };
  const slash = local.indexOf('/');
  if (slash >= 0) {
    // A service principal: only host/<fqdn> names a computer; others (HTTP/…, ldap/…) get no identity attributes.
    if (local.slice(0, slash).toLowerCase() === 'host' && local.length > slash + 1) principal.dnsName = local.slice(slash + 1).toLowerCase();
  } else if (local.endsWith('$')) {
    // AD computer account: its dNSHostName is, by default, the account name under the domain's DNS name.
    if (realm && local.length > 1) principal.dnsName = `${local.slice(0, -1)}.${realm}`.toLowerCase();
  } else {
    principal.upn = name;
  }
  return principal;
}

/** The part of the `kerberos` package (mongodb-js/kerberos 7) we use; declared here so the build never needs it. */
export interface KerberosServerContext {
  step(token: string): Promise<string>;
  username: string;
  response: string;
  contextComplete: boolean;
}
export interface KerberosClientContext {
  step(challenge: string): Promise<string>;
  response: string;
  contextComplete: boolean;
}
export interface KerberosBinding {
  initializeServer(service: string): Promise<KerberosServerContext>;
  initializeClient(service: string, options?: { mechOID?: number; flags?: number; principal?: string }): Promise<KerberosClientContext>;
  GSS_MECH_OID_SPNEGO: number;
  GSS_C_MUTUAL_FLAG: number;
}

function isBinding(m: unknown): m is KerberosBinding {
  return typeof m === 'object' && m !== null && typeof (m as { initializeServer?: unknown }).initializeServer === 'function' && typeof (m as { initializeClient?: unknown }).initializeClient === 'function';
}

/**
 * Loads the optional binding on first use only: a server without Kerberos endpoints, or a
 * machine without libkrb5, never touches it. */
export async function loadKerberosBinding(load: () => Promise<unknown> = () => import(KERBEROS_PACKAGE)): Promise<KerberosBinding> {
  let m: unknown;
  try {
    m = await load();
  } catch (e) {
    throw new OpencesError('unavailable', KERBEROS_PACKAGE_MISSING, { cause: e instanceof Error ? e.message : String(e) });
  }
  const candidate = typeof m === 'object' && m !== null && 'default' in m ? (m as { default: unknown }).default : m;
  if (isBinding(candidate)) return candidate;
  if (isBinding(m)) return m;
  throw new OpencesError('unavailable', KERBEROS_PACKAGE_MISSING, { cause: 'the module found is not the kerberos binding' });
}
