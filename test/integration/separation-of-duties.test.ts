import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userInfo } from 'node:os';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr } from '../helpers/openssl.js';
import { runCli } from '../helpers/cli.js';
import { runOperation } from '../../src/ops/operations.js';
import { callControlSocket } from '../../src/ops/control-socket.js';
import { cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { getRequest } from '../../src/store/request-repo.js';

/**
 * One canonical identity for separation of duties (issue #16 item 2), on a real server in
 * PostgreSQL mode with `auth.domains: [example.com, EXAMPLE]`: `alice`, `ALICE`,
 * `alice@example.com` and `EXAMPLE\alice` are one person — in the admin API, the CLI and the
 * control socket.
 */
describe('a certificate manager cannot approve, deny or revoke their own requests under any spelling', () => {
  let s: TestServer;
  let agent: Agent;
  const SPELLINGS = ['ALICE', 'alice@example.com', 'EXAMPLE\\alice', 'Alice@EXAMPLE.COM'];
  const osUser = userInfo().username;
  beforeAll(async () => {
    s = await startTestServer({ config: { 'auth.domains': ['example.com', 'EXAMPLE'] } });
    agent = new Agent({ connect: { ca: s.rootPem } });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'Al1ce-pass' }, 'test');
    await runOperation(s.core, 'user.add', { name: 'carol', password: 'Car0l-pass' }, 'test');
    // the OS user running these tests (the CLI's actor is local:<them>) also has an account of that name
    await runOperation(s.core, 'user.add', { name: osUser, password: 'Op3rator-pass' }, 'test');
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const ces = () => `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
  async function submit(user: string, password: string, template: 'WebServerApproval' | 'WebServer'): Promise<{ requestId: string; serial?: string }> {
    const csr = makeCsr({ subject: 'CN=sod.example.test', sans: ['DNS:sod.example.test'], templateName: template });
    const r = await postSoap(ces(), buildRstRequest({ to: ces(), securityHeaderXml: usernameHeader({ username: user, password }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
    const out = parseRstrResponse(r.env!);
    if (out.disposition !== 'issued' && out.disposition !== 'pending') throw new Error(r.body);
    return { requestId: out.requestId!, ...(out.disposition === 'issued' ? { serial: (await getRequest(s.core.db, out.requestId!))!.serial! } : {}) };
  }
  const api = async (token: string, method: 'POST', path: string, body?: unknown) => {
    const r = await request(`${s.url}/api/v1${path}`, { method, dispatcher: agent, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
  };
  const tokenFor = async (principal: string) => (await runOperation(s.core, 'token.create', { role: 'cert-manager', principal }, 'test')) as { token: string; principal: string; kind: string };

  it('tokens for ALICE, alice@example.com, EXAMPLE\\alice resolve to the account alice and are refused on her requests and certificates (admin API), audited', async () => {
    const pending = await submit('alice', 'Al1ce-pass', 'WebServerApproval');
    const issued = await submit('alice', 'Al1ce-pass', 'WebServer');
    for (const spelling of SPELLINGS) {
      const t = await tokenFor(spelling);
      expect([t.principal, t.kind], spelling).toEqual(['alice', 'account']);
      const approve = await api(t.token, 'POST', `/requests/${pending.requestId}/approve`);
      expect([approve.status, approve.json.detail], spelling).toEqual([403, 'a certificate manager cannot approve their own request']);
      const deny = await api(t.token, 'POST', `/requests/${pending.requestId}/deny`, { reason: 'mine' });
      expect([deny.status, deny.json.detail], spelling).toEqual([403, 'a certificate manager cannot deny their own request']);
      const revoke = await api(t.token, 'POST', `/certificates/${issued.serial}/revoke`, { reason: 'superseded' });
      expect([revoke.status, revoke.json.detail], spelling).toEqual([403, 'a certificate manager cannot revoke their own certificate']);
    }
    expect((await getRequest(s.core.db, pending.requestId))?.status).toBe('pending');
    // nor can a second account ALICE be made to stand beside alice
    await expect(runOperation(s.core, 'user.add', { name: 'ALICE', password: 'An0ther-pass' }, 'test')).rejects.toThrow(/already exists/);
    const denied = (await s.core.audit.list({ type: 'request.approve', limit: 50 })).filter((e) => e.requestId === pending.requestId && e.outcome === 'denied');
    expect(denied.length).toBe(SPELLINGS.length);
    expect((await s.core.audit.list({ type: 'certificate.revoke', limit: 50 })).filter((e) => e.outcome === 'denied' && e.serial === issued.serial).length).toBe(SPELLINGS.length);
    // someone else may
    const carol = await tokenFor('carol');
    expect((await api(carol.token, 'POST', `/requests/${pending.requestId}/approve`)).status).toBe(200);
  });

  it('token create --for must name a principal that resolves (CLI); --service names a non-person, never equal to a person', async () => {
    const dd = ['--data-dir', s.dataDir];
    const nobody = await runCli(['token', 'create', '--role', 'cert-manager', '--for', 'nobody', ...dd]);
    expect(nobody.code).not.toBe(0);
    expect(nobody.err).toMatch(/"nobody" names no principal/);
    const otherDomain = await runCli(['token', 'create', '--role', 'cert-manager', '--for', 'alice@elsewhere.example', ...dd]);
    expect(otherDomain.code).not.toBe(0);
    const refusals = (await s.core.audit.list({ type: 'token.create', limit: 20 })).filter((e) => e.outcome === 'denied').map((e) => e.principal);
    expect(refusals).toEqual(expect.arrayContaining(['nobody', 'alice@elsewhere.example']));

    const spelled = await runCli(['token', 'create', '--role', 'cert-manager', '--for', 'EXAMPLE\\ALICE', '--json', ...dd]);
    expect(spelled.code, spelled.err).toBe(0);
    expect(JSON.parse(spelled.out)).toMatchObject({ principal: 'alice', kind: 'account' });

    const svc = await runCli(['token', 'create', '--role', 'cert-manager', '--service', 'alice', '--json', ...dd]);
    expect(svc.code, svc.err).toBe(0);
    const made = JSON.parse(svc.out) as { principal: string; kind: string; token: string };
    expect(made).toMatchObject({ principal: 'service:alice', kind: 'service' });
    // a service named like a person is still not that person: it may approve alice's request
    const pending = await submit('alice', 'Al1ce-pass', 'WebServerApproval');
    expect((await api(made.token, 'POST', `/requests/${pending.requestId}/approve`)).status).toBe(200);
  });

  it('the control socket refuses an actor approving or denying their own request under every spelling', async () => {
    const pending = await submit('alice', 'Al1ce-pass', 'WebServerApproval');
    for (const actor of ['alice', ...SPELLINGS, 'local:alice']) {
      await expect(callControlSocket(s.dataDir, 'request.approve', { id: pending.requestId }, actor), actor).rejects.toMatchObject({ kind: 'forbidden' });
      await expect(callControlSocket(s.dataDir, 'request.deny', { id: pending.requestId, reason: 'mine' }, actor), actor).rejects.toMatchObject({ kind: 'forbidden' });
    }
    expect((await getRequest(s.core.db, pending.requestId))?.status).toBe('pending');
    await expect(callControlSocket(s.dataDir, 'request.deny', { id: pending.requestId, reason: 'not mine' }, 'carol')).resolves.toMatchObject({ status: 'denied' });
  });

  it('the CLI operator is the account of the same name: `opences request approve` of their own request is refused', async () => {
    const pending = await submit(osUser, 'Op3rator-pass', 'WebServerApproval');
    const r = await runCli(['request', 'approve', pending.requestId, '--data-dir', s.dataDir]);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/cannot approve their own request/);
    expect((await getRequest(s.core.db, pending.requestId))?.status).toBe('pending');
    const ev = (await s.core.audit.list({ type: 'request.approve', limit: 20 })).find((e) => e.requestId === pending.requestId);
    expect(ev).toMatchObject({ outcome: 'denied', actor: `local:${osUser}` });
  });
});
