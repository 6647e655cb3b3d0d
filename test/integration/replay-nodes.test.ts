import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, rmSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { Agent } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, tmp } from '../helpers/openssl.js';
import { signedRst } from '../helpers/wssec-sign.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { NS, PASSWORD_TEXT } from '../../src/protocol/soap/namespaces.js';
import { buildGetPoliciesRequest } from '../../src/protocol/xcep/index.js';
import { buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';

const iso = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, 'Z');

/** The Security header Windows sends: a wsu:Timestamp and a UsernameToken without Nonce or Created. */
function windowsHeader(o: { username: string; password: string; created?: Date; expires?: Date }): string {
  const created = o.created ?? new Date();
  return (
    `<o:Security s:mustUnderstand="1" xmlns:o="${NS.wsse}" xmlns:u="${NS.wsu}">` +
    `<u:Timestamp u:Id="_0"><u:Created>${iso(created)}</u:Created><u:Expires>${iso(o.expires ?? new Date(created.getTime() + 5 * 60_000))}</u:Expires></u:Timestamp>` +
    `<o:UsernameToken u:Id="uuid-${randomUUID()}-1"><o:Username>${o.username}</o:Username><o:Password Type="${PASSWORD_TEXT}">${o.password}</o:Password></o:UsernameToken></o:Security>`
  );
}

/**
 * Two nodes on one PostgreSQL schema (the same holds for the HTTP workers of one node: each is a
 * process on the shared database): a message accepted by one is refused by the other.
 */
describe('replayed messages are refused on another node', () => {
  let a: TestServer;
  let b: TestServer;
  let dirB = '';
  let agent: Agent;
  let alice: { certDer: Uint8Array; keyPem: string };
  const cep = (s: TestServer) => `${s.url}${cepPath('UsernamePassword')}`;
  const ces = (s: TestServer, auth: 'UsernamePassword' | 'Certificate' = 'UsernamePassword') => `${s.url}${cesPath('opences Issuing CA', auth)}`;
  const csr = () => makeCsr({ subject: 'CN=replay.example.test', sans: ['DNS:replay.example.test'], templateName: 'WebServer' });

  beforeAll(async () => {
    a = await startTestServer();
    // Node B: the same deployment (CA keys, database), its own process state and ports.
    dirB = tmp('opences-node-b-');
    cpSync(a.dataDir, dirB, { recursive: true, filter: (src) => !src.endsWith('.sock') });
    b = await startTestServer({ dataDir: dirB, config: { databaseUrl: a.config.databaseUrl } });
    agent = new Agent({ connect: { ca: a.rootPem } });
    await runOperation(a.core, 'user.add', { name: 'alice', password: 'S3cret-pass' }, 'test');
    const k = makeCsr({ key: 'rsa:2048', subject: 'CN=alice', templateName: 'User' });
    const r = await postSoap(ces(a), buildRstRequest({ to: ces(a), securityHeaderXml: usernameHeader({ username: 'alice', password: 'S3cret-pass' }), requestType: 'issue', token: { valueType: 'pkcs10', der: k.csrDer } }), agent);
    const out = parseRstrResponse(r.env!);
    if (out.disposition !== 'issued') throw new Error(r.body);
    alice = { certDer: out.certificateDer, keyPem: k.keyPem };
  }, 180_000);
  afterAll(async () => {
    await agent?.close();
    await b?.stop();
    await a?.stop();
    if (dirB) rmSync(dirB, { recursive: true, force: true });
  });

  const lastFailure = async (s: TestServer): Promise<string | undefined> => (await s.core.audit.list({ type: 'auth.failure', limit: 1 }))[0]?.reason;
  const refused = async (s: TestServer, url: string, xml: string, reason: RegExp): Promise<void> => {
    const r = await postSoap(url, xml, agent);
    expect(r.status, r.body).toBe(500);
    expect(parseFault(r.env!)?.reason).toBe('authentication failed');
    expect(await lastFailure(s)).toMatch(reason);
  };

  it('refuses a CES message (same MessageID) on node B that node A accepted, and issues nothing for it', async () => {
    const message = buildRstRequest({ to: ces(a), securityHeaderXml: usernameHeader({ username: 'alice', password: 'S3cret-pass' }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr().csrDer } });
    expect((await postSoap(ces(a), message, agent)).status).toBe(200);
    const certs = (await a.core.db.query('SELECT 1 FROM certificates')).rowCount;
    await refused(b, ces(b), message, /its MessageID was used before/);
    await refused(a, ces(a), message, /its MessageID was used before/);
    expect((await a.core.db.query('SELECT 1 FROM certificates')).rowCount).toBe(certs);
  });

  it('refuses a replayed GetPolicies on node B (every operation, not only enrollment)', async () => {
    const message = buildGetPoliciesRequest({ to: cep(a), securityHeaderXml: usernameHeader({ username: 'alice', password: 'S3cret-pass' }) });
    expect((await postSoap(cep(a), message, agent)).status).toBe(200);
    await refused(b, cep(b), message, /its MessageID was used before/);
  });

  it('refuses the same Nonce with a new Created and MessageID on node B, but lets one token carry a GetPolicies and an RST (cepces)', async () => {
    const nonce = randomBytes(16);
    const created = new Date();
    const header = usernameHeader({ username: 'alice', password: 'S3cret-pass', nonce, created });
    expect((await postSoap(cep(a), buildGetPoliciesRequest({ to: cep(a), securityHeaderXml: header }), agent)).status).toBe(200);
    const rst = await postSoap(ces(b), buildRstRequest({ to: ces(b), securityHeaderXml: header, requestType: 'issue', token: { valueType: 'pkcs10', der: csr().csrDer } }), agent);
    expect(rst.status, rst.body).toBe(200);
    const forged = usernameHeader({ username: 'alice', password: 'S3cret-pass', nonce, created: new Date(created.getTime() - 1000) });
    await refused(b, cep(b), buildGetPoliciesRequest({ to: cep(b), securityHeaderXml: forged }), /its Nonce was used before/);
  });

  it('accepts a Windows-shaped message (Timestamp, no Nonce) once: refused again on either node', async () => {
    const message = buildGetPoliciesRequest({ to: cep(a), securityHeaderXml: windowsHeader({ username: 'alice', password: 'S3cret-pass' }) });
    const first = await postSoap(cep(a), message, agent);
    expect(first.status, first.body).toBe(200);
    await refused(b, cep(b), message, /its MessageID was used before/);
    await refused(a, cep(a), message, /its MessageID was used before/);
  });

  it('refuses a stale Timestamp (even with Expires far ahead) and a message with no freshness at all', async () => {
    const year = 365 * 24 * 3600_000;
    await refused(b, cep(b), buildGetPoliciesRequest({ to: cep(b), securityHeaderXml: windowsHeader({ username: 'alice', password: 'S3cret-pass', created: new Date(Date.now() - year), expires: new Date(Date.now() + 10 * year) }) }), /Timestamp Created is too old/);
    const bare = `<wsse:Security s:mustUnderstand="1" xmlns:wsse="${NS.wsse}"><wsse:UsernameToken><wsse:Username>alice</wsse:Username><wsse:Password Type="${PASSWORD_TEXT}">S3cret-pass</wsse:Password></wsse:UsernameToken></wsse:Security>`;
    await refused(b, cep(b), buildGetPoliciesRequest({ to: cep(b), securityHeaderXml: bare }), /neither a Nonce and Created nor a Timestamp/);
  });

  it('refuses a signed message on node B that node A accepted, also with a new unsigned MessageID', async () => {
    const signed = signedRst({ to: ces(a, 'Certificate'), ...alice, tokenB64: Buffer.from(csr().csrDer).toString('base64') });
    const ok = await postSoap(ces(a, 'Certificate'), signed, agent);
    expect(ok.status, ok.body).toBe(200);
    const newId = signed.replace(/<a:MessageID>[^<]*<\/a:MessageID>/, `<a:MessageID>urn:uuid:${randomUUID()}</a:MessageID>`);
    await refused(b, ces(b, 'Certificate'), newId, /message signature refused: message replayed \(its signature was used before\)/);
    await refused(b, ces(b, 'Certificate'), signed, /message signature refused: message replayed/);
  });

  it('refuses a SHA-1 signed message on node B', async () => {
    const signed = signedRst({ to: ces(b, 'Certificate'), ...alice, tokenB64: Buffer.from(csr().csrDer).toString('base64'), sha1: true });
    await refused(b, ces(b, 'Certificate'), signed, /uses SHA-1/);
  });
});
