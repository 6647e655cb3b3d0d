import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Core } from '../../app/core-types.js';
import type { Principal } from '../../auth/principal.js';
import { OpencesError } from '../../errors.js';
import { clientAddress } from '../ces.js';

/**
 * The three ways into /enroll, each the same check as its SOAP counterpart (src/http/services.ts),
 * each yielding the Principal a session is opened for. Failures are audited where they are
 * decided (the authenticators); here only the Kerberos refusal, as the Kerberos endpoints do.
 */

/** Account name and password: local accounts, else the LDAP directory (src/auth/username.ts). */
export function passwordPrincipal(core: Core, req: IncomingMessage, body: Record<string, unknown>): Promise<Principal> {
  const { username, password } = body;
  if (typeof username !== 'string' || typeof password !== 'string') throw new OpencesError('malformed', 'username and password are required', { field: 'body.username' });
  return core.usernameAuth.signIn(username, password, { address: clientAddress(req) });
}

/** The TLS client certificate of this connection: one this CA issued, valid, not revoked, its owner's account enabled. */
export async function certificatePrincipal(core: Core, req: IncomingMessage): Promise<Principal> {
  const p = await core.certificateAuth.fromTls(req.socket as TLSSocket, clientAddress(req));
  // Audited by the caller's refusal path (rate limited per address): no authenticator saw anything to refuse.
  if (!p) throw new OpencesError('unauthenticated', 'the browser presented no client certificate', { audit: { reason: 'certificate sign-in without a client certificate' } });
  return p;
}

/**
 * HTTP Negotiate: the principal, or null once a 401 challenge (`WWW-Authenticate: Negotiate`) is
 * sent — a browser configured for the site then retries with its Kerberos ticket.
 */
export async function kerberosPrincipal(core: Core, req: IncomingMessage, res: ServerResponse, onRefused?: () => void): Promise<Principal | null> {
  if (!core.kerberos) throw new OpencesError('notFound', 'Kerberos sign-in is not configured on this server');
  const local = (req.socket as TLSSocket).getCertificate?.();
  const tlsCertificate = local && 'raw' in local && local.raw ? new Uint8Array(local.raw) : undefined;
  try {
    const { principal, responseToken } = await core.kerberos.authenticate(req.headers.authorization, tlsCertificate ? { tlsCertificate } : {});
    if (responseToken) res.setHeader('www-authenticate', `Negotiate ${responseToken}`);
    return principal;
  } catch (e) {
    if (!(e instanceof OpencesError) || e.kind !== 'unauthenticated') throw e;
    // A refused token counts as a failed sign-in; a request without one is the normal first leg.
    if (req.headers.authorization) {
      onRefused?.();
      await core.authFailures.record({ type: 'auth.failure', outcome: 'failure', method: 'kerberos', address: clientAddress(req), reason: e.message });
    }
    res.writeHead(401, { 'www-authenticate': 'Negotiate', 'content-type': 'application/problem+json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ type: 'https://opences.dev/problems/unauthenticated', title: 'Authentication required', status: 401, detail: 'Kerberos authentication required: the browser must be allowed to send its ticket to this site' }));
    return null;
  }
}
