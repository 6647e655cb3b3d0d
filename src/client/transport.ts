import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { OpencesError } from '../errors.js';
import { parseEnvelope, type SoapEnvelope } from '../protocol/soap/envelope.js';
import { NS, PASSWORD_TEXT } from '../protocol/soap/namespaces.js';
import { esc } from '../protocol/soap/xml.js';
import { parseFault } from '../protocol/wstep/index.js';
import { EnrollmentDenied } from './errors.js';

export type ClientAuth =
  | { kind: 'username'; username: string; password: string }
  | { kind: 'certificate'; certPem: string; keyPem: string };

export interface TransportOptions {
  auth: ClientAuth;
  /** PEM bundle trusted for the server's TLS certificate (default: the system store). */
  caBundlePem?: string;
  timeoutMs?: number;
  /** Clock for the UsernameToken's Created (tests pin it; default the wall clock). */
  now?: () => Date;
}

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

  static fromFiles(o: { username?: string; passwordFile?: string; certFile?: string; keyFile?: string; caBundle?: string }): SoapTransport {
    const caBundlePem = o.caBundle ? readFileSync(o.caBundle, 'utf8') : undefined;
    if (o.certFile || o.keyFile) {
      if (!o.certFile || !o.keyFile) throw new OpencesError('malformed', '--cert and --key go together');
      return new SoapTransport({ auth: { kind: 'certificate', certPem: readFileSync(o.certFile, 'utf8'), keyPem: readFileSync(o.keyFile, 'utf8') }, caBundlePem });
    }
    if (!o.username || !o.passwordFile) throw new OpencesError('malformed', 'give --username with --password-file, or --cert with --key');
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

  async post(url: string, xml: string): Promise<SoapEnvelope> {
    let status: number;
    let body: string;
    try {
      const r = await request(url, { method: 'POST', body: xml, dispatcher: this.agent, headers: { 'content-type': 'application/soap+xml; charset=utf-8' } });
      status = r.statusCode;
      body = await r.body.text();
    } catch (e) {
      throw new OpencesError('unavailable', `cannot reach ${url}: ${e instanceof Error ? e.message : String(e)}`);
    }
    let env: SoapEnvelope;
    try {
      env = parseEnvelope(body, { maxBytes: 16 * 1024 * 1024 });
    } catch {
      throw new OpencesError('unavailable', `${url} answered HTTP ${status} without a SOAP message`);
    }
    const fault = parseFault(env);
    if (fault) {
      if (/authentication failed/i.test(fault.reason)) throw new OpencesError('unauthenticated', `${url}: the server refused the credentials`);
      throw new EnrollmentDenied(fault.reason, fault.detail?.errorCode, fault.detail?.requestId, fault.detail?.invalidRequest ?? false);
    }
    return env;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
