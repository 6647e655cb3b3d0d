import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, refreshCapture } from '../helpers/soap-client.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath } from '../../src/http/endpoints.js';
import { parseSoapFault } from '../../src/protocol/soap/index.js';
import { fixedClock } from '../../src/clock.js';

const GETPOL = readFileSync(join(__dirname, '../fixtures/soap/cepces-getpolicies-request.xml'), 'utf8');

/**
 * Failed authentications at the enrollment endpoints are audited, but a stranger guessing
 * passwords must not write the audit log at network speed: at most 20 events per source address a
 * minute (src/audit/refusal-audit.ts), the rest counted and reported with the source's next event.
 */
describe('failed sign-ins at a SOAP endpoint: audited, bounded per source', () => {
  let s: TestServer;
  let agent: Agent;
  const clock = fixedClock(new Date());
  beforeAll(async () => {
    s = await startTestServer({ clock });
    agent = new Agent({ connect: { ca: s.rootPem }, connections: 8 });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret' }, 'test');
  }, 120_000);
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const failures = async () => (await s.core.audit.list({ type: 'auth.failure', limit: 1000 })).filter((e) => e.method === 'username');

  it('refuses every wrong password, writes 20 events in the minute, then says how many it left out', async () => {
    const cep = `${s.url}${cepPath('UsernamePassword')}`;
    for (let i = 0; i < 26; i++) {
      const r = await postSoap(cep, refreshCapture(GETPOL, { to: cep, username: i % 2 ? 'alice' : `guess${i}`, password: 'wrong' }), agent);
      expect(r.status).toBe(500);
      // alice's account reaches its own rate limit (10 failures) on the way.
      expect(['authentication failed', 'too many failed sign-ins; try again later']).toContain(r.env ? parseSoapFault(r.env)?.reason : '');
    }
    const first = await failures();
    expect(first).toHaveLength(20);
    expect(first.every((e) => e.address !== undefined && e.address !== '')).toBe(true);

    clock.advance(61_000);
    const r = await postSoap(cep, refreshCapture(GETPOL, { to: cep, username: 'mallory', password: 'wrong' }), agent);
    expect(r.status).toBe(500);
    const after = await failures();
    expect(after).toHaveLength(21);
    const newest = after[0]!;
    expect(newest.principal).toBe('mallory');
    expect(newest.details).toMatchObject({ suppressedBefore: 6 });
  }, 120_000);

  it('another account with its right password still signs in from the same source while that source’s failures are being counted', async () => {
    await runOperation(s.core, 'user.add', { name: 'bob', password: 'B0bsecret' }, 'test');
    const cep = `${s.url}${cepPath('UsernamePassword')}`;
    const r = await postSoap(cep, refreshCapture(GETPOL, { to: cep, username: 'bob', password: 'B0bsecret' }), agent);
    expect(r.status, r.body.slice(0, 300)).toBe(200);
    expect(r.env?.operation?.localName).toBe('GetPoliciesResponse');
  }, 60_000);
});
