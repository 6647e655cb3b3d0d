import { OpencesError } from '../errors.js';
import { loadKerberosBinding, type KerberosBinding } from './negotiate.js';

/**
 * Client side of HTTP Negotiate for the requester CLI (`--kerberos`): a SPNEGO token for one
 * request, made from the caller's ticket cache (KRB5CCNAME, or the default cache after kinit).
 * Each call makes a fresh context, because servers refuse a replayed token.
 */
export async function negotiateToken(service: string, o: { load?: () => Promise<unknown> } = {}): Promise<string> {
  if (!/^[A-Za-z][A-Za-z0-9-]*@[^@\s]+$/.test(service)) throw new OpencesError('malformed', `a GSSAPI service name looks like HTTP@host.example, not "${service}"`, { field: 'service' });
  const krb: KerberosBinding = await loadKerberosBinding(o.load);
  try {
    const client = await krb.initializeClient(service, { mechOID: krb.GSS_MECH_OID_SPNEGO });
    const token = await client.step('');
    if (!token) throw new Error('GSSAPI produced an empty token');
    return token;
  } catch (e) {
    // Typically "No Kerberos credentials available" (no kinit) or "Server not found in Kerberos database" (no such SPN).
    throw new OpencesError('unauthenticated', `no Kerberos token for ${service} (is there a ticket? run kinit): ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The GSSAPI service for an https URL, as browsers and cepces derive it: HTTP@<host name>. */
export function negotiateServiceFor(url: string): string {
  return `HTTP@${new URL(url).hostname.replace(/^\[|\]$/g, '')}`;
}

/** The `Authorization` header value for one request to `url`. */
export async function negotiateAuthorization(url: string): Promise<string> {
  return `Negotiate ${await negotiateToken(negotiateServiceFor(url))}`;
}
