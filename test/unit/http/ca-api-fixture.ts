/** What the CA API tests share: the API's TLS identity, CA client certificates, and one HTTPS call. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import type { AuditLog } from '../../../src/audit/log.js';
import { issueCaClientCertificate } from '../../../src/ca/backends/client-cert.js';
import { newKeyAndCsr } from '../../../src/ca/local-request.js';
import { systemClock } from '../../../src/clock.js';
import { openssl, tmp } from '../../helpers/openssl.js';
import type { CaFixture } from '../ca/ca-fixture.js';

export interface Credential {
  cert: string;
  key: string;
}

export interface Answer {
  status: number;
  type: string;
  body: string;
  json: Record<string, unknown>;
}

/** The API's own TLS identity (the CA node's tls.crt in production): a server certificate the clients trust. */
export function serverIdentity(): Credential {
  const d = tmp();
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(d, 'k.pem'), '-out', join(d, 'c.pem'), '-subj', '/CN=localhost', '-days', '1', '-addext', 'subjectAltName=DNS:localhost']);
  return { cert: readFileSync(join(d, 'c.pem'), 'utf8'), key: readFileSync(join(d, 'k.pem'), 'utf8') };
}

/** A CA client certificate made the proper way (`opences ca client-cert issue`'s code: recorded under the CA client profile). */
export async function caClientCert(f: CaFixture, audit: AuditLog, subject: { type: string; value: string }[]): Promise<Credential> {
  const { privateKey, csrDer } = await newKeyAndCsr('ignored');
  const r = await issueCaClientCertificate({ ca: f.ca, db: f.db, audit, clock: systemClock }, { csrDer, subject, actor: 'test' });
  return { cert: r.certPem, key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** One request on a connection of its own, with `client`'s certificate. */
export async function callApi(port: number, serverCa: string, client: Credential, method: 'GET' | 'POST', path: string, body?: string | Buffer, contentType = 'application/json'): Promise<Answer> {
  const agent = new Agent({ connect: { ca: serverCa, cert: client.cert, key: client.key, servername: 'localhost' } });
  try {
    const r = await request(`https://localhost:${port}${path}`, { method, dispatcher: agent, ...(body !== undefined ? { body, headers: { 'content-type': contentType } } : {}) });
    const text = await r.body.text();
    let json: Record<string, unknown> = {};
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // not JSON: the assertions on `body` say so
    }
    return { status: r.statusCode, type: String(r.headers['content-type'] ?? ''), body: text, json };
  } finally {
    await agent.close();
  }
}
