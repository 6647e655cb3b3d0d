import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { debuglog } from 'node:util';
import { Agent, request } from 'undici';
import { OpencesError } from '../errors.js';
import { parseEnvelope, type SoapEnvelope } from '../protocol/soap/envelope.js';
import { DEFAULT_XML_LIMITS, type XmlLimits } from '../protocol/soap/xml-limits.js';
import { NS, PASSWORD_TEXT } from '../protocol/soap/namespaces.js';
import { esc } from '../protocol/soap/xml.js';
import { parseFault } from '../protocol/wstep/index.js';
import { KERBEROS_PACKAGE_MISSING } from '../auth/negotiate.js';
import { NegotiateExchange, negotiateServiceFor } from '../auth/negotiate-client.js';
import { EnrollmentDenied } from './errors.js';

/** What to install when `--kerberos` cannot load the GSSAPI binding. */
/**
 * A policy answer lists every template with its attributes (thousands of elements for a large
 * deployment) and the client chose the server: the structural limits are wide, but still bound
 * what a hostile or broken server can make the requester's parser do.
 */
const RESPONSE_LIMITS: XmlLimits = { ...DEFAULT_XML_LIMITS, maxElements: 1_000_000, maxNamespaceDeclarations: 100_000, maxTextBytes: 16 * 1024 * 1024, maxAttributeValueBytes: 1024 * 1024 };

export const KERBEROS_CLIENT_MISSING =
  'Kerberos authentication (--kerberos) needs the optional npm package "kerberos" (the GSSAPI binding): apt-get install libkrb5-dev make g++ python3 && npm install kerberos';

export type ClientAuth =
  | { kind: 'username'; username: string; password: string }
  | { kind: 'certificate'; certPem: string; keyPem: string }
  /**
   * HTTP Negotiate from the caller's ticket cache (KRB5CCNAME or the default); a fresh token per
   * request, and the server's mutual-authentication token in the response checked against it.
   */
  | { kind: 'kerberos' };

/** MS-XCEP clientAuthentication value of each client auth kind (2 Kerberos, 4 username/password, 8 certificate). */
export const CLIENT_AUTH_VALUE: Record<ClientAuth['kind'], number> = { kerberos: 2, username: 4, certificate: 8 };
export const CLIENT_AUTH_LABEL: Record<ClientAuth['kind'], string> = { kerberos: 'Kerberos', username: 'username/password', certificate: 'certificate' };

export interface TransportOptions {
  auth: ClientAuth;
  /** PEM bundle trusted for the server's TLS certificate (default: the system store). */
  caBundlePem?: string;
  timeoutMs?: number;
  /** Clock for the UsernameToken's Created (tests pin it; default the wall clock). */
  now?: () => Date;
  /** Loads the `kerberos` binding (tests replace it to see the message when it is missing). */
  loadKerberos?: () => Promise<unknown>;
  /**
   * Debug lines about Kerberos mutual authentication (default: Node's debuglog, shown with
   * NODE_DEBUG=opences). Tests pass a function to see them.
   */
  debug?: (message: string) => void;
}

const debugKerberos = debuglog('opences');

/** SOAP 1.2 over HTTPS for the enrollment client: security header, TLS, fault → typed error. */
export class SoapTransport {
  private readonly agent: Agent;

  constructor(private readonly o: TransportOptions) {
    this.agent = new Agent({
      connect: {
        ...(o.caBundlePem ? { ca: o.caBundlePem } : {}),
        ...(o.auth.kind === 'certificate' ? { cert: o.auth.certPem, key: o.auth.keyPem } : {}),
      },
      headersTimeout: o.timeoutMs ?? 30_000,
      bodyTimeout: o.timeoutMs ?? 30_000,
    });
  }

  get authKind(): ClientAuth['kind'] {
    return this.o.auth.kind;
  }

  static fromFiles(o: { username?: string; passwordFile?: string; certFile?: string; keyFile?: string; caBundle?: string; kerberos?: boolean }): SoapTransport {
    const caBundlePem = o.caBundle ? readFileSync(o.caBundle, 'utf8') : undefined;
    if (o.kerberos) {
      if (o.username || o.passwordFile || o.certFile || o.keyFile) throw new OpencesError('malformed', '--kerberos authenticates with your Kerberos ticket: do not combine it with --username/--password-file or --cert/--key');
      return new SoapTransport({ auth: { kind: 'kerberos' }, caBundlePem });
    }
    if (o.certFile || o.keyFile) {
      if (!o.certFile || !o.keyFile) throw new OpencesError('malformed', '--cert and --key go together');
      return new SoapTransport({ auth: { kind: 'certificate', certPem: readFileSync(o.certFile, 'utf8'), keyPem: readFileSync(o.keyFile, 'utf8') }, caBundlePem });
    }
    if (!o.username || !o.passwordFile) throw new OpencesError('malformed', 'give --username with --password-file, --cert with --key, or --kerberos');
    const password = readFileSync(o.passwordFile, 'utf8').split(/\r?\n/)[0] ?? '';
    return new SoapTransport({ auth: { kind: 'username', username: o.username, password }, caBundlePem });
  }

  /** The WS-Security header for message-level credentials (none for TLS client certificates). */
  securityHeader(): string | undefined {
    if (this.o.auth.kind !== 'username') return undefined;
    return (
      `<wsse:Security s:mustUnderstand="1" xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}"><wsse:UsernameToken>` +
      `<wsse:Username>${esc(this.o.auth.username)}</wsse:Username><wsse:Password Type="${PASSWORD_TEXT}">${esc(this.o.auth.password)}</wsse:Password>` +
      `<wsse:Nonce>${randomBytes(16).toString('base64')}</wsse:Nonce><wsu:Created>${(this.o.now ?? (() => new Date()))().toISOString().replace(/\.\d+Z$/, 'Z')}</wsu:Created>` +
      `</wsse:UsernameToken></wsse:Security>`
    );
  }

  /**
   * The Negotiate exchange for one request to `url`: a new GSSAPI context each time (the server's
   * replay cache refuses a token it has seen), kept until the response is checked.
   */
  private async negotiate(url: string): Promise<NegotiateExchange> {
    if (!/_(CEP|CES)_Kerberos\/service\.svc\//i.test(new URL(url).pathname)) {
      throw new OpencesError('malformed', `--kerberos needs a _Kerberos endpoint (…/ADPolicyProvider_CEP_Kerberos/service.svc/CEP or …_CES_Kerberos/service.svc/CES); ${url} is not one`);
    }
    const service = negotiateServiceFor(url);
    try {
      return await NegotiateExchange.start(service, this.o.loadKerberos ? { load: this.o.loadKerberos } : {});
    } catch (e) {
      if (e instanceof OpencesError && e.message === KERBEROS_PACKAGE_MISSING) throw new OpencesError('unavailable', KERBEROS_CLIENT_MISSING);
      if (e instanceof OpencesError && e.kind === 'unauthenticated') {
        throw new OpencesError('unauthenticated', `cannot authenticate to ${url} with Kerberos: ${e.message}. Get a ticket with kinit (or point KRB5CCNAME at a ticket cache) and try again`);
      }
      throw e;
    }
  }

  /**
   * Mutual authentication: the server's `WWW-Authenticate: Negotiate <token>` must complete the
   * request's context, or the response is refused unread. A response without a token is accepted
   * (proxies may strip the header; TLS has authenticated the server) and noted in debug output.
   */
  private async verifyNegotiate(url: string, exchange: NegotiateExchange, header: string | string[] | undefined): Promise<void> {
    const debug = this.o.debug ?? debugKerberos;
    let outcome: 'verified' | 'absent';
    try {
      outcome = await exchange.verifyResponse(header);
    } catch (e) {
      if (e instanceof OpencesError && e.kind === 'unauthenticated') {
        debug(`Kerberos: ${url}: ${e.message}; response ignored`);
        throw new OpencesError('unauthenticated', `${url}: ${e.message}; its response was not used`);
      }
      throw e;
    }
    if (outcome === 'verified') debug(`Kerberos: ${url}: the server proved it holds the ${exchange.service} key (mutual authentication complete)`);
    else debug(`Kerberos: ${url}: the response carried no WWW-Authenticate: Negotiate token, so the server was not mutually authenticated (accepted: TLS authenticated it; a proxy may strip the header)`);
  }

  async post(url: string, xml: string): Promise<SoapEnvelope> {
    let status: number;
    let body: string;
    let wwwAuthenticate: string | string[] | undefined;
    const exchange = this.o.auth.kind === 'kerberos' ? await this.negotiate(url) : undefined;
    try {
      const r = await request(url, { method: 'POST', body: xml, dispatcher: this.agent, headers: { 'content-type': 'application/soap+xml; charset=utf-8', ...(exchange ? { authorization: exchange.authorization } : {}) } });
      status = r.statusCode;
      wwwAuthenticate = r.headers['www-authenticate'];
      body = await r.body.text();
    } catch (e) {
      throw new OpencesError('unavailable', `cannot reach ${url}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (status === 401) {
      throw new OpencesError('unauthenticated', this.o.auth.kind === 'kerberos'
        ? `${url} refused the Kerberos ticket (HTTP 401): check that the server's keytab holds ${negotiateServiceFor(url).replace('@', '/')}, that the clocks agree, and that your ticket is current (klist)`
        : `${url} refused the credentials (HTTP 401)`);
    }
    if (exchange) await this.verifyNegotiate(url, exchange, wwwAuthenticate);
    let env: SoapEnvelope;
    try {
      env = parseEnvelope(body, { maxBytes: 16 * 1024 * 1024, limits: RESPONSE_LIMITS });
    } catch {
      throw new OpencesError('unavailable', `${url} answered HTTP ${status} without a SOAP message`);
    }
    const fault = parseFault(env);
    if (fault) {
      if (/authentication failed/i.test(fault.reason)) throw new OpencesError('unauthenticated', `${url}: the server refused the credentials`);
      // A Receiver fault whose request was not refused (InvalidRequest false: the CA unreachable,
      // an internal error) is the server's failure, not a denial: certreq reports it as an error
      // (exit 1), and the request may be sent again.
      if (fault.code === 'Receiver' && fault.detail?.invalidRequest !== true) {
        throw new OpencesError('unavailable', `${url}: the server could not process the request: ${fault.reason}`, { hresult: fault.detail?.errorCode });
      }
      throw new EnrollmentDenied(fault.reason, fault.detail?.errorCode, fault.detail?.requestId, fault.detail?.invalidRequest ?? false);
    }
    return env;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
