import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { runOperation } from '../../src/ops/operations.js';
import { fixedClock } from '../../src/clock.js';
import { RefusalAudit } from '../../src/audit/refusal-audit.js';
import type { AuditEvent } from '../../src/audit/event.js';
import type { AuditLog } from '../../src/audit/log.js';

/** Issue #16 item 7: every 401 and 403 of the admin API is audited, a flood is not written in full. */
describe('admin API refusals are audited, rate limited per source', () => {
  let s: TestServer;
  let agent: Agent;
  let auditor = '';
  const clock = fixedClock(new Date());
  beforeAll(async () => {
    s = await startTestServer({ clock });
    // Few connections: 120 TLS handshakes at once timed out (10 s) on a machine at load 20.
    agent = new Agent({ connect: { ca: s.rootPem }, connections: 16 });
    await runOperation(s.core, 'user.add', { name: 'dave' }, 'test'); // token create --for names an existing principal
    auditor = ((await runOperation(s.core, 'token.create', { role: 'auditor', principal: 'dave' }, 'test')) as { token: string }).token;
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const api = async (method: 'GET' | 'POST', path: string, token?: string): Promise<number> => {
    const r = await request(`${s.url}/api/v1${path}`, { method, dispatcher: agent, headers: token ? { authorization: token } : {} });
    await r.body.dump();
    return r.statusCode;
  };
  const events = async (type: string) => s.core.audit.list({ type, limit: 500 });

  it('writes auth.failure for a request without credentials, with a non-bearer header, and with a bad token (one event each)', async () => {
    const before = (await events('auth.failure')).length;
    expect(await api('GET', '/requests')).toBe(401);
    expect(await api('GET', '/requests', 'Basic YWxpY2U6eA==')).toBe(401);
    expect(await api('GET', '/requests', 'Bearer not-a-token')).toBe(401);
    const after = await events('auth.failure');
    expect(after.length - before).toBe(3);
    const reasons = after.slice(0, 3).map((e) => `${e.method}|${e.reason}`);
    expect(reasons).toContain('none|admin API listRequests (401): no credentials');
    expect(reasons).toContain('none|admin API listRequests (401): an Authorization header that is no bearer token');
    expect(reasons).toContain('token|admin API listRequests (401): invalid, expired or revoked API token');
    expect(after.every((e) => e.address !== undefined)).toBe(true);
  });

  it('writes one event for a 403: authz.denied when the role may not call the operation', async () => {
    const failures = (await events('auth.failure')).length;
    const denied = (await events('authz.denied')).length;
    expect(await api('POST', '/requests/1/approve', `Bearer ${auditor}`)).toBe(403);
    expect((await events('authz.denied')).length).toBe(denied + 1);
    expect((await events('auth.failure')).length).toBe(failures);
  });

  it('writes at most 20 refusal events per source a minute, then says how many it left out', async () => {
    clock.advance(61_000); // a new window for this source
    const before = (await events('auth.failure')).length;
    const statuses = await Promise.all(Array.from({ length: 120 }, () => api('GET', '/requests')));
    expect(statuses.every((x) => x === 401)).toBe(true);
    expect((await events('auth.failure')).length - before).toBe(20);
    clock.advance(61_000);
    expect(await api('GET', '/requests')).toBe(401);
    const latest = (await events('auth.failure'))[0]!;
    expect(latest.details).toMatchObject({ suppressedBefore: 100 });
  });
});

describe('RefusalAudit bounds', () => {
  it('tracks at most maxSources addresses and counts per window', async () => {
    const written: AuditEvent[] = [];
    const audit = { record: async (e: AuditEvent) => void written.push(e) } as unknown as AuditLog;
    const clock = fixedClock(new Date('2026-06-01T00:00:00Z'));
    const r = new RefusalAudit(audit, clock, 2, 60_000, 100);
    for (let i = 0; i < 1000; i++) await r.record({ type: 'auth.failure', outcome: 'failure', address: `198.51.100.${i % 250}/${i}` });
    expect(r.size).toBe(100);
    for (let i = 0; i < 5; i++) await r.record({ type: 'auth.failure', outcome: 'failure', address: '203.0.113.1' });
    expect(written.filter((e) => e.address === '203.0.113.1')).toHaveLength(2);
  });
});
