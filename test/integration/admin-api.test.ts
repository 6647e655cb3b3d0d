import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, openssl, tmp, writeTmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { OPENAPI_PATH, loadOpenApi } from '../../src/http/admin/openapi.js';
import { ROUTES } from '../../src/http/admin/routes.js';

describe('admin REST API (/api/v1)', () => {
  let s: TestServer;
  let agent: Agent;
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    s = await startTestServer();
    agent = new Agent({ connect: { ca: s.rootPem } });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret' }, 'test');
    for (const [k, role, who] of [['manager', 'cert-manager', 'carol'], ['auditor', 'auditor', 'dave'], ['self', 'cert-manager', 'alice'], ['admin', 'ca-admin', 'erin']] as const) {
      await runOperation(s.core, 'user.add', { name: who }, 'test').catch(() => undefined); // token create --for names an existing principal
      tokens[k] = ((await runOperation(s.core, 'token.create', { role, principal: who }, 'test')) as { token: string }).token;
    }
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const api = async (method: 'GET' | 'POST', path: string, o: { token?: string; body?: unknown; raw?: string } = {}) => {
    const r = await request(`${s.url}/api/v1${path}`, {
      method,
      dispatcher: agent,
      headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(o.body !== undefined || o.raw ? { 'content-type': 'application/json' } : {}) },
      body: o.raw ?? (o.body !== undefined ? JSON.stringify(o.body) : undefined),
    });
    const text = Buffer.from(await r.body.arrayBuffer());
    const ct = String(r.headers['content-type'] ?? '');
    return { status: r.statusCode, ct, raw: text, json: ct.includes('json') ? (JSON.parse(text.toString()) as Record<string, unknown> & unknown[]) : null };
  };

  async function pendingRequest(user: string, password: string): Promise<string> {
    const csr = makeCsr({ subject: 'CN=api.example.test', sans: ['DNS:api.example.test'], templateName: 'WebServerApproval' });
    const url = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const r = await postSoap(url, buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: user, password }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
    return parseRstrResponse(r.env!).requestId!;
  }

  it('the OpenAPI document is valid and lists exactly the routes the server serves', async () => {
    await SwaggerParser.validate(OPENAPI_PATH);
    const ops = loadOpenApi().operations.map((o) => o.operationId).sort();
    expect(ops).toEqual(Object.keys(ROUTES).sort());
  });

  it('approval flow: pending from CES → certificate manager approves → requester retrieves', async () => {
    const id = await pendingRequest('alice', 'S3cret');
    const list = await api('GET', '/requests?status=pending', { token: tokens.manager });
    expect(list.status).toBe(200);
    expect((list.json as unknown as { id: string }[]).map((r) => r.id)).toContain(id);
    expect((await api('POST', `/requests/${id}/approve`, { token: tokens.auditor })).status).toBe(403);
    const self = await api('POST', `/requests/${id}/approve`, { token: tokens.self });
    expect(self.status).toBe(403);
    expect(self.json?.detail).toMatch(/cannot approve their own request/);
    const ok = await api('POST', `/requests/${id}/approve`, { token: tokens.manager });
    expect(ok.status, ok.raw.toString()).toBe(200);
    const again = await api('POST', `/requests/${id}/approve`, { token: tokens.manager });
    expect(again.status).toBe(409);
    const url = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const got = parseRstrResponse((await postSoap(url, buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'alice', password: 'S3cret' }), requestType: 'queryTokenStatus', requestId: id }), agent)).env!);
    expect(got.disposition).toBe('issued');
    const ev = (await s.core.audit.list({ type: 'request.approve' })).find((e) => e.requestId === id && e.outcome === 'success');
    expect(ev?.actor).toBe('carol');
  });

  it('revoke via the API → the serial is in the next CRL with its reason', async () => {
    const certs = await api('GET', '/certificates?template=WebServerApproval', { token: tokens.manager });
    const serial = (certs.json as unknown as { serial: string }[])[0]!.serial;
    const r = await api('POST', `/certificates/${serial}/revoke`, { token: tokens.manager, body: { reason: 'keyCompromise' } });
    expect(r.status, r.raw.toString()).toBe(200);
    expect((await api('POST', '/crl/publish', { token: tokens.manager, body: {} })).status).toBe(200);
    const crl = await fetch(`${s.pkiUrl}/pki/${s.core.ca.info().slug}.crl`);
    const text = openssl(['crl', '-inform', 'DER', '-noout', '-text', '-in', writeTmp(tmp(), 'c.crl', Buffer.from(await crl.arrayBuffer()))]);
    expect(text.toUpperCase()).toContain(serial.toUpperCase());
    expect(text).toContain('Key Compromise');
    const dl = await api('GET', `/certificates/${serial}/download?format=p7b`, { token: tokens.auditor });
    expect(dl.status).toBe(200);
    expect(openssl(['pkcs7', '-inform', 'DER', '-print_certs', '-noout'], dl.raw)).toContain('opences Root CA');
  });

  it('separates duties: only auditors read the audit log; 401 and 403 are distinct', async () => {
    expect((await api('GET', '/audit/verify', { token: tokens.auditor })).json).toMatchObject({ ok: true });
    expect((await api('GET', '/audit', { token: tokens.manager })).status).toBe(403);
    expect((await api('GET', '/audit?limit=5', { token: tokens.auditor })).status).toBe(200);
    const none = await api('GET', '/requests');
    expect(none.status).toBe(401);
    expect(none.ct).toContain('application/problem+json');
    expect((await api('GET', '/requests', { token: 'oc_000000000000_' + 'A'.repeat(43) })).status).toBe(401);
  });

  it('bad input: schema violations name the field; oversized JSON, SQL meta characters, traversal → clear 4xx', async () => {
    const wrongType = await api('GET', '/requests?limit=lots', { token: tokens.manager });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json?.field).toBe('query.limit');
    const badReason = await api('POST', '/certificates/abcd/revoke', { token: tokens.manager, body: { reason: 'because' } });
    expect(badReason.status).toBe(400);
    expect(badReason.json?.field).toBe('body.reason');
    const extra = await api('POST', '/certificates/abcd/revoke', { token: tokens.manager, body: { reason: 'superseded', hack: 1 } });
    expect(extra.json?.field).toBe('body.hack');
    expect((await api('POST', '/crl/publish', { token: tokens.manager, raw: '{not json' })).status).toBe(400);
    expect((await api('POST', '/requests/1/deny', { token: tokens.manager, raw: JSON.stringify({ reason: 'x'.repeat(100_000) }) })).status).toBe(413);
    const sqlish = await api('GET', `/certificates?search=${encodeURIComponent("' OR 1=1; DROP TABLE certificates; --")}`, { token: tokens.manager });
    expect(sqlish.status).toBe(200);
    expect(sqlish.json).toEqual([]);
    expect((await api('GET', '/certificates/..%2F..%2Fsecrets%2Ftls.key/download', { token: tokens.manager })).status).toBe(400);
    expect((await api('GET', '/certificates/deadbeef/download', { token: tokens.manager })).status).toBe(404);
    expect((await api('GET', '/nope', { token: tokens.manager })).status).toBe(404);
  });
});
