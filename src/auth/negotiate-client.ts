import { OpencesError } from '../errors.js';
import { loadKerberosBinding, type KerberosBinding, type KerberosClientContext } from './negotiate.js';

/** GSSAPI request flags (RFC 2744 values, as the kerberos package exports them). */
const GSS_C_MUTUAL_FLAG = 2;
const GSS_C_SEQUENCE_FLAG = 8;

/** How the server's answer settled mutual authentication: its token verified, or it sent none. */
export type MutualOutcome = 'verified' | 'absent';

/**
 * One HTTP Negotiate exchange, from the caller's ticket cache: the token for one request, and
 * the GSSAPI context kept open so the server's answer (`WWW-Authenticate: Negotiate <token>`,
 * the Kerberos AP-REP) can be checked against it. Mutual authentication is requested
 * (GSS_C_MUTUAL_FLAG): only the holder of the HTTP/<host> key can produce a token that completes
 * the context.
 */
export class NegotiateExchange {
  private outcome: MutualOutcome | undefined;

  private constructor(
    readonly service: string,
    readonly token: string,
    private readonly context: KerberosClientContext,
  ) {}

  /** Starts the exchange: a fresh context and its first token (servers refuse a replayed token). */
  static async start(service: string, o: { load?: () => Promise<unknown> } = {}): Promise<NegotiateExchange> {
    if (!/^[A-Za-z][A-Za-z0-9-]*@[^@\s]+$/.test(service)) throw new OpencesError('malformed', `a GSSAPI service name looks like HTTP@host.example, not "${service}"`, { field: 'service' });
    const krb: KerberosBinding = await loadKerberosBinding(o.load);
    try {
      const flags = (krb.GSS_C_MUTUAL_FLAG ?? GSS_C_MUTUAL_FLAG) | GSS_C_SEQUENCE_FLAG;
      const context = await krb.initializeClient(service, { mechOID: krb.GSS_MECH_OID_SPNEGO, flags });
      const token = await context.step('');
      if (!token) throw new Error('GSSAPI produced an empty token');
      return new NegotiateExchange(service, token, context);
    } catch (e) {
      // Typically "No Kerberos credentials available" (no kinit) or "Server not found in Kerberos database" (no such SPN).
      throw new OpencesError('unauthenticated', `no Kerberos token for ${service} (is there a ticket? run kinit): ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** The `Authorization` header value for the request. */
  get authorization(): string {
    return `Negotiate ${this.token}`;
  }

  /** True once the server's token has completed the GSSAPI context (mutual authentication done). */
  get contextComplete(): boolean {
    return this.context.contextComplete;
  }

  /**
   * Checks the response's `WWW-Authenticate` header(s). A `Negotiate <token>` is fed to the same
   * context (`step(token)`); a token GSSAPI rejects (garbage, made for another service or
   * another context) or one that leaves the context incomplete is an 'unauthenticated' error,
   * and the caller must not use the response. No token at all is 'absent': accepted, because some
   * proxies strip the header, and TLS has already authenticated the server.
   */
  async verifyResponse(header: string | string[] | undefined): Promise<MutualOutcome> {
    if (this.outcome) throw new OpencesError('malformed', 'this Negotiate exchange has already checked its response');
    const values = (Array.isArray(header) ? header : header === undefined ? [] : [header]).flatMap((h) => h.split(/,(?=\s*[A-Za-z][A-Za-z0-9-]*(?:\s|$))/));
    const tokens = values.map((v) => /^\s*Negotiate\s+(\S+)\s*$/i.exec(v)?.[1]).filter((t): t is string => t !== undefined);
    if (tokens.length === 0) return (this.outcome = 'absent');
    const fail = (why: string): OpencesError => new OpencesError('unauthenticated', `the server failed Kerberos mutual authentication for ${this.service} (${why})`);
    if (tokens.length > 1) throw fail('more than one Negotiate token in the response');
    const token = tokens[0]!;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token) || token.length % 4 !== 0) throw fail('its Negotiate token is not base64');
    let next: string;
    try {
      next = await this.context.step(token);
    } catch (e) {
      throw fail(`GSSAPI rejected its token: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!this.context.contextComplete) throw fail(next ? 'its token asks for another round, which HTTP Negotiate here does not do' : 'its token did not complete the GSSAPI context');
    return (this.outcome = 'verified');
  }
}

/**
 * A SPNEGO token for one request, made from the caller's ticket cache (KRB5CCNAME, or the
 * default cache after kinit), without keeping the context. Each call makes a fresh context,
 * because servers refuse a replayed token. Clients that read the response use
 * `NegotiateExchange.start` instead, to check the server's mutual-authentication token.
 */
export async function negotiateToken(service: string, o: { load?: () => Promise<unknown> } = {}): Promise<string> {
  return (await NegotiateExchange.start(service, o)).token;
}

/** The GSSAPI service for an https URL, as browsers and cepces derive it: HTTP@<host name>. */
export function negotiateServiceFor(url: string): string {
  return `HTTP@${new URL(url).hostname.replace(/^\[|\]$/g, '')}`;
}

/** The `Authorization` header value for one request to `url` (no mutual authentication check). */
export async function negotiateAuthorization(url: string): Promise<string> {
  return `Negotiate ${await negotiateToken(negotiateServiceFor(url))}`;
}
