import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, openssl, opensslStatus, pemOf, tmp, writeTmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { fixedClock } from '../../src/clock.js';
import { latestCrl } from '../../src/store/crl-repo.js';
import { CrlScheduler, type Timers } from '../../src/ca/crl-scheduler.js';
import { createLogger } from '../../src/log.js';

const HOUR = 3600_000;

/** Polls `fn` every 20 ms until it returns a value (the schedule runs on real 50 ms timers; the CA's clock is injected). */
async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('delta CRLs and the CRL schedule', () => {
  let s: TestServer;
  let agent: Agent;
  let token: string;
  let auditorToken: string;
  const clock = fixedClock(new Date(Math.floor(Date.now() / 1000) * 1000));
  let caId: number;
  beforeAll(async () => {
    s = await startTestServer({ clock, config: { ca: { crlPeriodHours: 24, deltaCrlPeriodHours: 1, crlScheduleCheckSeconds: 0.05 } } });
    agent = new Agent({ connect: { ca: s.rootPem } });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret-alice' }, 'test');
    await runOperation(s.core, 'user.add', { name: 'carol' }, 'test').catch(() => undefined); // token create --for names an existing principal
    token = ((await runOperation(s.core, 'token.create', { role: 'cert-manager', principal: 'carol' }, 'test')) as { token: string }).token;
    await runOperation(s.core, 'user.add', { name: 'dave' }, 'test').catch(() => undefined); // token create --for names an existing principal
    auditorToken = ((await runOperation(s.core, 'token.create', { role: 'auditor', principal: 'dave' }, 'test')) as { token: string }).token;
    caId = (await s.core.db.query<{ id: number }>(`SELECT id FROM cas WHERE kind = 'issuing'`)).rows[0]!.id;
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const api = async (method: 'GET' | 'POST', path: string, body?: unknown, t = token) => {
    const r = await request(`${s.url}/api/v1${path}`, { method, dispatcher: agent, headers: { authorization: `Bearer ${t}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body !== undefined ? JSON.stringify(body) : undefined });
    return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
  };
  const pki = async (path: string): Promise<Buffer> => {
    const r = await fetch(`${s.pkiUrl}${path}`);
    expect(r.status, path).toBe(200);
    return Buffer.from(await r.arrayBuffer());
  };
  const crlText = (der: Buffer): string => openssl(['crl', '-inform', 'DER', '-noout', '-text'], der);
  const crlNumber = (t: string): number => Number(/X509v3 CRL Number: *\n\s+(\d+)/.exec(t)![1]);
  const slug = () => s.core.ca.info().slug;
  const newest = async (delta: boolean) => (await latestCrl(s.core.db, caId, delta))?.number ?? 0;

  async function issue(cn: string): Promise<{ serial: string; pem: string }> {
    const csr = makeCsr({ subject: `CN=${cn}`, sans: [`DNS:${cn}`], templateName: 'WebServer' });
    const url = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const r = await postSoap(url, buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'alice', password: 'S3cret-alice' }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
    const out = parseRstrResponse(r.env!);
    if (out.disposition !== 'issued') throw new Error(`not issued: ${r.body.slice(0, 300)}`);
    const pem = pemOf(out.certificateDer);
    return { serial: openssl(['x509', '-noout', '-serial'], pem).trim().split('=')[1]!, pem };
  }

  it('serving starts the schedule: a full CRL with a Freshest CRL pointer, and a delta on top of it', async () => {
    const full = await until('the first scheduled full CRL', async () => latestCrl(s.core.db, caId, false));
    const delta = await until('the first scheduled delta CRL', async () => latestCrl(s.core.db, caId, true));
    expect(delta.number).toBeGreaterThan(full.number);
    const base = crlText(await pki(`/pki/${slug()}.crl`));
    expect(base).toContain('X509v3 Freshest CRL');
    expect(base).toContain(`URI:${s.config.pkiBaseUrl}/pki/${slug()}-delta.crl`);
    expect(base).not.toContain('Delta CRL Indicator');
    const d = crlText(await pki(`/pki/${slug()}-delta.crl`));
    expect(d).toMatch(new RegExp(`X509v3 Delta CRL Indicator: critical\\s*\\n\\s+${full.number}\\b`));
    expect(d).not.toContain('Freshest CRL'); // RFC 5280 §5.2.6: never in a delta
    expect(d).toContain('No Revoked Certificates');
  });

  it('revoke + delta publish: openssl shows the delta indicator and the serial; openssl verify -use_deltas refuses the certificate', async () => {
    const cert = await issue('revoked.example.test');
    const kept = await issue('kept.example.test');
    const r = await api('POST', `/certificates/${cert.serial}/revoke`, { reason: 'keyCompromise' });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const baseNumber = await newest(false);
    const pub = await api('POST', '/crl/publish', { delta: true });
    expect(pub.status, JSON.stringify(pub.json)).toBe(200);
    expect(pub.json).toMatchObject({ delta: true, url: `${s.config.pkiBaseUrl}/pki/${slug()}-delta.crl` });

    const deltaDer = await pki(`/pki/${slug()}-delta.crl`);
    const d = crlText(deltaDer);
    expect(d).toMatch(new RegExp(`X509v3 Delta CRL Indicator: critical\\s*\\n\\s+${baseNumber}\\b`));
    expect(d).toContain(`Serial Number: ${cert.serial.toUpperCase()}`);
    expect(d).toMatch(/CRL Reason Code: *\n\s+Key Compromise/);
    expect(d).not.toContain(kept.serial.toUpperCase());
    const baseDer = await pki(`/pki/${slug()}.crl`);
    expect(crlText(baseDer)).not.toContain(cert.serial.toUpperCase()); // the full CRL predates the revocation

    const dir = tmp();
    const issuing = writeTmp(dir, 'issuing.pem', pemOf(s.core.ca.info().issuingCertificate));
    const chain = writeTmp(dir, 'chain.pem', pemOf(s.core.ca.info().issuingCertificate) + s.rootPem);
    // Both CRLs are signed by the issuing CA.
    for (const [n, der] of [['base', baseDer], ['delta', deltaDer]] as const) {
      expect(opensslStatus(['crl', '-inform', 'DER', '-in', writeTmp(dir, `${n}.der`, der), '-noout', '-CAfile', issuing]).out, n).toMatch(/verify OK/i);
    }
    const basePem = writeTmp(dir, 'base.pem', openssl(['crl', '-inform', 'DER', '-outform', 'PEM'], baseDer));
    const deltaPem = writeTmp(dir, 'delta.pem', openssl(['crl', '-inform', 'DER', '-outform', 'PEM'], deltaDer));
    const verify = (pem: string, crls: string[], deltas: boolean) =>
      opensslStatus(['verify', '-CAfile', chain, '-crl_check', ...(deltas ? ['-use_deltas'] : []), ...crls.flatMap((c) => ['-CRLfile', c]), writeTmp(dir, `c${Math.random()}.pem`, pem)]);
    const baseOnly = verify(cert.pem, [basePem], false);
    expect(baseOnly.code, baseOnly.out).toBe(0); // the base alone does not know yet
    const withDelta = verify(cert.pem, [basePem, deltaPem], true);
    expect(withDelta.code).not.toBe(0);
    expect(withDelta.out).toMatch(/certificate revoked/);
    const other = verify(kept.pem, [basePem, deltaPem], true);
    expect(other.code, other.out).toBe(0);
  });

  it('publish now (full) is followed by a delta on top of the new base, both in the audit log', async () => {
    const pub = await api('POST', '/crl/publish', {});
    expect(pub.status).toBe(200);
    expect(pub.json).toMatchObject({ delta: false, url: `${s.config.pkiBaseUrl}/pki/${slug()}.crl`, deltaUrl: `${s.config.pkiBaseUrl}/pki/${slug()}-delta.crl` });
    const full = (await latestCrl(s.core.db, caId, false))!;
    const delta = (await latestCrl(s.core.db, caId, true))!;
    expect(delta.number).toBeGreaterThan(full.number); // by this call or by the schedule, never twice
    const d = crlText(Buffer.from(delta.der));
    expect(d).toMatch(new RegExp(`Delta CRL Indicator: critical\\s*\\n\\s+${full.number}\\b`));
    expect(d).toContain('No Revoked Certificates'); // the revocation is in the new base now
    expect(crlText(Buffer.from(full.der))).toMatch(/Key Compromise/);
    const events = (await s.core.audit.list({ type: 'crl.publish', limit: 50 })).filter((e) => e.actor === 'carol');
    expect(events.some((e) => (e.details as { delta: boolean }).delta === false)).toBe(true);
    expect(await s.core.db.query<{ n: number }>('SELECT count(*)::int AS n FROM crls WHERE ca_id = $1 AND delta AND number > $2', [caId, full.number]).then((r) => r.rows[0]!.n)).toBe(1);
  });

  it('the schedule follows the injected clock: a delta after the delta period, a full CRL (and a delta) after the full period', async () => {
    const full0 = await newest(false);
    const delta0 = await newest(true);
    clock.advance(HOUR / 2);
    await new Promise((r) => setTimeout(r, 200)); // several checks, nothing due yet
    expect([await newest(false), await newest(true)]).toEqual([full0, delta0]);

    clock.advance(HOUR / 2 + 1000);
    const delta1 = await until('a scheduled delta CRL', async () => ((await newest(true)) > delta0 ? newest(true) : null));
    expect(await newest(false)).toBe(full0);
    const dt = crlText(Buffer.from((await latestCrl(s.core.db, caId, true))!.der));
    expect(dt).toMatch(new RegExp(`Delta CRL Indicator: critical\\s*\\n\\s+${full0}\\b`));

    clock.advance(24 * HOUR);
    const full1 = await until('a scheduled full CRL', async () => ((await newest(false)) > full0 ? newest(false) : null));
    const delta2 = await until('a delta on the new base', async () => ((await newest(true)) > full1 ? newest(true) : null));
    expect(delta2).toBeGreaterThan(delta1);
    const scheduled = (await s.core.audit.list({ type: 'crl.publish', limit: 100 })).filter((e) => e.actor === 'opences' && (e.details as { scheduled?: boolean }).scheduled);
    expect(scheduled.length).toBeGreaterThanOrEqual(5); // first full + delta, one delta, then full + delta

    const schedule = await api('GET', '/crl', undefined, auditorToken);
    expect(schedule.json).toMatchObject({
      periodHours: 24,
      url: `${s.config.pkiBaseUrl}/pki/${slug()}.crl`,
      latest: { number: full1 },
      delta: { periodHours: 1, url: `${s.config.pkiBaseUrl}/pki/${slug()}-delta.crl`, latest: { number: delta2 } },
    });
    // Delta lifetime: twice the delta period by default.
    const latestDelta = (await latestCrl(s.core.db, caId, true))!;
    expect(latestDelta.nextUpdate.getTime() - latestDelta.thisUpdate.getTime()).toBe(2 * HOUR);
    expect(latestDelta.thisUpdate.getTime()).toBe(clock.now().getTime());
  });

  it('the scheduler on injected timers: a failing publication is audited and does not stop the schedule; stop() ends it', async () => {
    const ticks: (() => void)[] = [];
    const timers: Timers = { setInterval: (fn) => ticks.push(fn), clearInterval: () => ticks.splice(0) };
    let calls = 0;
    // The real CA behind a gate that fails the first call (a database outage, say).
    const ca = s.core.ca as unknown as { publishCrlIfDue(kind: 'full' | 'delta', ms: number): Promise<Uint8Array | null> };
    const flaky = {
      publishCrlIfDue: async (kind: 'full' | 'delta', ms: number) => {
        calls++;
        if (calls === 1) throw new Error('database unreachable (test)');
        return ca.publishCrlIfDue(kind, ms);
      },
    };
    const sched = new CrlScheduler({ ca: flaky, fullPeriodMs: 24 * HOUR, deltaPeriodMs: HOUR, checkEveryMs: 1000, audit: s.core.audit, log: createLogger('silent'), timers });
    sched.start(); // runs a first check at once: it fails
    await expect(sched.tick()).rejects.toThrow(/database unreachable/);
    const failed = (await s.core.audit.list({ type: 'crl.publish', limit: 20 })).find((e) => e.outcome === 'failure');
    expect(failed).toMatchObject({ actor: 'opences', reason: 'database unreachable (test)', details: { scheduled: true } });
    expect(ticks).toHaveLength(1);
    const delta0 = await newest(true);
    clock.advance(HOUR);
    ticks[0]!();
    const r = await sched.tick(); // joins the check the timer started
    expect(r.full).toBe(false);
    expect(calls).toBe(3); // the failed check, then full (not due) and delta (due: by it or by the server's own schedule)
    expect(await newest(true)).toBeGreaterThan(delta0);
    await sched.stop();
    expect(ticks).toHaveLength(0);
  });

  it('what is due is decided under the CRL lock: concurrent publishers (other nodes, the schedule) publish one full CRL', async () => {
    const count = async () => (await s.core.db.query<{ n: number }>('SELECT count(*)::int AS n FROM crls WHERE ca_id = $1 AND NOT delta', [caId])).rows[0]!.n;
    const before = await count();
    clock.advance(25 * HOUR);
    const ca = s.core.ca as unknown as { publishCrlIfDue(kind: 'full' | 'delta', ms: number): Promise<Uint8Array | null> };
    const results = await Promise.all(Array.from({ length: 4 }, () => ca.publishCrlIfDue('full', 24 * HOUR)));
    await new Promise((r) => setTimeout(r, 150)); // let the schedule's own checks run too
    expect(await count()).toBe(before + 1);
    expect(results.filter((r) => r !== null).length).toBeLessThanOrEqual(1);
    // With more than nine CRLs the newest is still the one served (CRL numbers compare as numbers, not text).
    while ((await newest(false)) < 12) await s.core.ca.publishCrl!();
    expect(crlNumber(crlText(await pki(`/pki/${slug()}.crl`)))).toBe(await newest(false));
  });
});
