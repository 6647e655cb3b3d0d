import { randomBytes, randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import { NS, PASSWORD_TEXT } from '../../src/protocol/soap/namespaces.js';
import { parseEnvelope, type SoapEnvelope } from '../../src/protocol/soap/envelope.js';
import { esc } from '../../src/protocol/soap/xml.js';

export function usernameHeader(o: { username: string; password: string; nonce?: Buffer; created?: Date }): string {
  return (
    `<wsse:Security s:mustUnderstand="1" xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}"><wsse:UsernameToken>` +
    `<wsse:Username>${esc(o.username)}</wsse:Username><wsse:Password Type="${PASSWORD_TEXT}">${esc(o.password)}</wsse:Password>` +
    `<wsse:Nonce>${(o.nonce ?? randomBytes(16)).toString('base64')}</wsse:Nonce><wsu:Created>${(o.created ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z')}</wsu:Created>` +
    `</wsse:UsernameToken></wsse:Security>`
  );
}

/** The captured cepces request with a fresh Nonce, Created, MessageID, and our endpoint and credentials. */
export function refreshCapture(xml: string, o: { to: string; username?: string; password?: string }): string {
  return xml
    .replace(/<ns2:Nonce>[^<]*<\/ns2:Nonce>/, `<ns2:Nonce>${randomBytes(16).toString('base64')}</ns2:Nonce>`)
    .replace(/<ns3:Created>[^<]*<\/ns3:Created>/, `<ns3:Created>${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}</ns3:Created>`)
    .replace(/<ns1:MessageID>[^<]*<\/ns1:MessageID>/, `<ns1:MessageID>urn:uuid:${randomUUID()}</ns1:MessageID>`)
    .replace(/<ns1:To ns0:mustUnderstand="1">[^<]*<\/ns1:To>/, `<ns1:To ns0:mustUnderstand="1">${esc(o.to)}</ns1:To>`)
    .replace(/<ns2:Username>[^<]*<\/ns2:Username>/, `<ns2:Username>${esc(o.username ?? 'alice@example.test')}</ns2:Username>`)
    .replace(/(<ns2:Password [^>]*>)[^<]*(<\/ns2:Password>)/, `$1${esc(o.password ?? 'S3cret')}$2`);
}

export interface SoapReply {
  status: number;
  body: string;
  env: SoapEnvelope | null;
  ms: number;
  headers: Record<string, string | string[] | undefined>;
}

export async function postSoap(url: string, xml: string | Buffer, agent: Agent, headers: Record<string, string> = {}): Promise<SoapReply> {
  const t = performance.now();
  const r = await request(url, { method: 'POST', body: xml, dispatcher: agent, headers: { 'content-type': 'application/soap+xml; charset=utf-8', ...headers } });
  const body = await r.body.text();
  let env: SoapEnvelope | null = null;
  try {
    env = parseEnvelope(body, { maxBytes: 50 * 1024 * 1024 });
  } catch {
    env = null;
  }
  return { status: r.statusCode, headers: r.headers, body, env, ms: performance.now() - t };
}
