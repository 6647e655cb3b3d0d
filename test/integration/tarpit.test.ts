import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, refreshCapture, usernameHeader, type SoapReply } from '../helpers/soap-client.js';
import { hostileBodies } from '../helpers/hostile-xml.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { parseSoapFault } from '../../src/protocol/soap/index.js';
import { buildRstRequest } from '../../src/protocol/wstep/index.js';

const GETPOL = readFileSync(join(__dirname, '../fixtures/soap/cepces-getpolicies-request.xml'), 'utf8');

/**
 * The tarpit (src/http/tarpit.ts): a SOAP body refused before any credential was checked is
 * answered only after tarpit.delayMs, its connection unread, then closed; at most tarpit.maxHeld
 * connections are held at once. No wall-clock assertions: the tests look at what is held
 * (/metrics) and at the order in which answers arrive.
 */

/** A request whose settlement can be looked at without waiting for it. */
function track<T>(p: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const promise = p.finally(() => (done = true));
  return { promise, settled: () => done };
}

async function metric(s: TestServer, line: RegExp): Promise<number> {
  const text = await s.http.metrics.registry.metrics();
  const m = line.exec(text);
  return m ? Number(m[1]) : 0;
}
const held = (s: TestServer): Promise<number> => metric(s, /^opences_tarpit_held_connections (\d+)$/m);
const refusals = (s: TestServer, outcome: string): Promise<number> => metric(s, new RegExp(`^opences_tarpit_refusals_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm'));

/** Polls `cond` until it holds (every 20 ms, up to a generous ceiling). */
async function until(what: string, cond: () => Promise<boolean> | boolean, ceilingMs = 60_000): Promise<void> {
  const end = Date.now() + ceilingMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function expectLimitFault(r: SoapReply, limit: string): void {
  expect(r.status, r.body.slice(0, 300)).toBe(500);
  const f = r.env ? parseSoapFault(r.env) : null;
  expect(f?.code).toBe('Sender');
  expect(f?.reason).toContain(`soapLimits.${limit}`);
  expect(r.headers.connection).toBe('close');
}

const deep = hostileBodies((1 << 20) - 64).find((b) => b.name === 'deep')!;

describe('tarpit: a stranger’s hostile body is held while legitimate callers are served', () => {
  let s: TestServer;
  let agent: Agent;
  beforeAll(async () => {
    // A long delay, so "answered while the other is held" cannot depend on the machine's speed;
    // two free refusals per address, and a worker-wide refill too slow to matter here.
    s = await startTestServer({ config: { tarpit: { delayMs: 5000, freePerAddress: 2, freePerSecond: 0 } } });
    agent = new Agent({ connect: { ca: s.rootPem }, connections: 8 });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret' }, 'test');
  }, 120_000);
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  it('answers a source’s first hostile bodies at once (tarpit.freePerAddress), then holds the next one past the delay while a concurrent GetPolicies is answered', async () => {
    const cep = `${s.url}${cepPath('UsernamePassword')}`;
    const warm = await postSoap(cep, refreshCapture(GETPOL, { to: cep, username: 'alice' }), agent);
    expect(warm.status).toBe(200);

    // The first two come back at once: nothing is held while they are answered.
    for (let i = 0; i < 2; i++) {
      expectLimitFault(await postSoap(cep, deep.body, agent), 'maxDepth');
      expect(await held(s)).toBe(0);
    }
    expect(await refusals(s, 'free')).toBe(2);
    expect(await refusals(s, 'held')).toBe(0);

    const hostile = track(postSoap(cep, deep.body, agent));
    await until('the hostile request is held', async () => (await held(s)) === 1);
    const legit = await postSoap(cep, refreshCapture(GETPOL, { to: cep, username: 'alice' }), agent);
    expect(legit.status, legit.body.slice(0, 300)).toBe(200);
    expect(legit.env?.operation?.localName).toBe('GetPoliciesResponse');
    // The legitimate answer came while the hostile one was still held.
    expect(hostile.settled()).toBe(false);
    expect(await held(s)).toBe(1);

    expectLimitFault(await hostile.promise, 'maxDepth');
    expect(await held(s)).toBe(0);
    expect(await refusals(s, 'held')).toBe(1);
    // The same counters over HTTP, as Prometheus reads them.
    const text = await (await request(`${s.url}/metrics`, { dispatcher: agent })).body.text();
    expect(text).toMatch(/^opences_tarpit_refusals_total\{outcome="held"\} 1$/m);
  }, 120_000);

  it('does not hold faults after authentication: a wrong password or a refused request is answered at once, on a kept-alive connection', async () => {
    const outcomes = async (): Promise<number> => (await refusals(s, 'held')) + (await refusals(s, 'full')) + (await refusals(s, 'immediate')) + (await refusals(s, 'free'));
    const before = await outcomes();
    const cep = `${s.url}${cepPath('UsernamePassword')}`;
    const wrong = await postSoap(cep, refreshCapture(GETPOL, { to: cep, username: 'alice', password: 'wrong' }), agent);
    expect(wrong.status).toBe(500);
    expect(wrong.env ? parseSoapFault(wrong.env)?.reason : '').toBe('authentication failed');
    expect(wrong.headers.connection).not.toBe('close');

    const ces = `${s.url}${cesPath(s.core.ca.info().name, 'UsernamePassword')}`;
    const rst = buildRstRequest({ to: ces, requestType: 'issue', token: { valueType: 'pkcs10', der: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]) }, securityHeaderXml: usernameHeader({ username: 'alice', password: 'S3cret' }) });
    const denied = await postSoap(ces, rst, agent);
    expect(denied.status).toBe(500);
    expect(denied.headers.connection).not.toBe('close');
    expect(await outcomes()).toBe(before);
  }, 60_000);
});

describe('tarpit: bounded', () => {
  let s: TestServer;
  let agent: Agent;
  let stopped = false;
  beforeAll(async () => {
    s = await startTestServer({ config: { tarpit: { delayMs: 30_000, maxHeld: 2, freePerAddress: 0 } } });
    agent = new Agent({ connect: { ca: s.rootPem }, connections: 8 });
  }, 120_000);
  afterAll(async () => {
    await agent?.close();
    if (!stopped) await s?.stop();
  });

  it('beyond tarpit.maxHeld refuses at once, and a closing server sends what it holds and keeps nothing open', async () => {
    const ces = `${s.url}${cesPath(s.core.ca.info().name, 'UsernamePassword')}`;
    const first = [track(postSoap(ces, deep.body, agent)), track(postSoap(ces, deep.body, agent))];
    await until('two requests are held', async () => (await held(s)) === 2);

    // The third finds the tarpit full: its fault comes at once, while the two are still held.
    const third = await postSoap(ces, deep.body, agent);
    expectLimitFault(third, 'maxDepth');
    expect(first.every((r) => !r.settled())).toBe(true);
    expect(await refusals(s, 'full')).toBe(1);
    expect(await held(s)).toBe(2);

    // Shutting down releases the held refusals (long before their 30 s) and leaves no connection.
    stopped = true;
    await s.stop();
    for (const r of first) expectLimitFault(await r.promise, 'maxDepth');
    expect(await held(s)).toBe(0);
    const open = await new Promise<number>((res, rej) => s.http.httpsServer.getConnections((e, n) => (e ? rej(e) : res(n))));
    expect(open).toBe(0);
    expect(s.http.httpsServer.listening).toBe(false);
  }, 120_000);
});

describe('tarpit: off', () => {
  let s: TestServer;
  let agent: Agent;
  beforeAll(async () => {
    s = await startTestServer({ config: { tarpit: { delayMs: 0 } } });
    agent = new Agent({ connect: { ca: s.rootPem }, connections: 4 });
  }, 120_000);
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  it('with delayMs 0 answers at once, still closing the connection', async () => {
    const cep = `${s.url}${cepPath('Certificate')}`;
    expectLimitFault(await postSoap(cep, deep.body, agent), 'maxDepth');
    expect(await refusals(s, 'immediate')).toBe(1);
    expect(await refusals(s, 'held')).toBe(0);
    expect(await held(s)).toBe(0);
  }, 60_000);
});
