import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { runOperation } from '../../src/ops/operations.js';
import { fixedClock } from '../../src/clock.js';
import { ensureWebBuilt } from '../../src/web/build.js';
import { CONTENT_SECURITY_POLICY } from '../../src/http/web/headers.js';

/**
 * Issue #22, the shared web infrastructure (docs/web.md) without a browser: console sign-in and
 * its cookie, sessions in the database (hashed, bound to the TLS endpoint, idle and absolute
 * expiry, ended with their token), CSRF and origin checks on /api/v1 and /console, security and
 * cache headers, and the audit channel.
 */
describe('web sessions, CSRF and headers (/console, /api/v1 with a session)', () => {
  let s: TestServer;
  let agent: Agent;
  const clock = fixedClock(new Date());
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    await ensureWebBuilt();
    s = await startTestServer({ clock });
    agent = new Agent({ connect: { ca: s.rootPem } });
    for (const [k, role, who] of [['manager', 'cert-manager', 'carol'], ['auditor', 'auditor', 'dave']] as const) {
      await runOperation(s.core, 'user.add', { name: who }, 'test');
      tokens[k] = ((await runOperation(s.core, 'token.create', { role, principal: who }, 'test')) as { token: string }).token;
    }
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const http = async (method: string, path: string, o: { headers?: Record<string, string>; body?: string } = {}) => {
    const r = await request(`${s.url}${path}`, { method: method as 'GET', dispatcher: agent, headers: o.headers ?? {}, body: o.body });
    const text = await r.body.text();
    const ct = String(r.headers['content-type'] ?? '');
    return { status: r.statusCode, headers: r.headers, text, json: ct.includes('json') && text ? (JSON.parse(text) as Record<string, unknown>) : null };
  };
  const signIn = async (token: string) => {
    const r = await http('POST', '/console/session', { headers: { 'content-type': 'application/json', origin: s.url, 'sec-fetch-site': 'same-origin' }, body: JSON.stringify({ token }) });
    expect(r.status).toBe(201);
    const setCookie = String(r.headers['set-cookie']);
    const cookie = /^(__Host-opences-console=[A-Za-z0-9_-]{43});/.exec(setCookie)![1]!;
    return { cookie, csrf: String(r.json!.csrf), setCookie };
  };
  /** Events of one type, oldest first. */
  const events = async (type: string) => (await s.core.audit.list({ type, limit: 100 })).filter((e) => e.type === type).sort((x, y) => x.seq - y.seq);

  it('serves the console page with the strict CSP, no caching, and hashed assets cached immutable', async () => {
    const page = await http('GET', '/console/');
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect(page.headers['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(String(page.headers['permissions-policy'])).toContain('camera=()');
    expect(page.headers['cache-control']).toBe('no-store');
    // No inline code: the only script element with content is the JSON data block.
    expect(page.text).not.toMatch(/<script(?![^>]*(src=|type="application\/json"))/);
    const js = /src="(\/web\/assets\/console-[A-Z0-9]+\.js)"/.exec(page.text)![1]!;
    const css = /href="(\/web\/assets\/console-[A-Z0-9]+\.css)"/.exec(page.text)![1]!;
    for (const [path, type] of [[js, 'text/javascript'], [css, 'text/css']] as const) {
      const a = await http('GET', path);
      expect(a.status).toBe(200);
      expect(String(a.headers['content-type'])).toContain(type);
      expect(a.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(a.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    }
    expect((await http('GET', '/web/assets/..%2Fmanifest.json')).status).toBe(404);
    expect((await http('GET', '/web/assets/nothing-ABC.js')).status).toBe(404);
  });

  it('exchanges an API token for a __Host- cookie (HttpOnly, Secure, SameSite=Strict, Path=/) whose secret is stored hashed', async () => {
    const bad = await http('POST', '/console/session', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'oc_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }) });
    expect(bad.status).toBe(401);
    expect(bad.headers['content-type']).toContain('application/problem+json');
    expect((await events('auth.failure')).some((e) => e.details?.channel === 'console' && /invalid, expired or revoked API token/.test(e.reason ?? ''))).toBe(true);

    const { cookie, setCookie, csrf } = await signIn(tokens.manager!);
    expect(setCookie).toMatch(/; Path=\/; Secure; HttpOnly; SameSite=Strict$/);
    expect(setCookie).not.toMatch(/Domain=/i);
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const secret = cookie.split('=')[1]!;
    const rows = await s.core.db.query<{ id_hash: string; channel: string; role: string; principal: string }>('SELECT id_hash, channel, role, principal FROM web_sessions');
    expect(rows.rows.some((r) => r.id_hash === secret)).toBe(false);
    expect(rows.rows.map((r) => [r.channel, r.role, JSON.parse(r.principal).name])).toContainEqual(['console', 'cert-manager', 'carol']);
    const start = (await events('web.session.start')).at(-1)!;
    expect(start).toMatchObject({ actor: 'carol', method: 'token', details: { channel: 'console', role: 'cert-manager' } });

    const me = await http('GET', '/console/session', { headers: { cookie } });
    expect(me.json).toMatchObject({ principal: 'carol', role: 'cert-manager', csrf });
    // The page shell carries the session for the script (and nothing executable).
    expect((await http('GET', '/console/requests', { headers: { cookie } })).text).toContain('"principal":"carol"');
  });

  it('lets the session call /api/v1 under its role; state changes need the CSRF token and the same origin, refusals are audited', async () => {
    const { cookie, csrf } = await signIn(tokens.manager!);
    expect((await http('GET', '/api/v1/requests', { headers: { cookie } })).status).toBe(200);
    const post = (headers: Record<string, string>) => http('POST', '/api/v1/crl/publish', { headers: { cookie, 'content-type': 'application/json', ...headers }, body: '{}' });

    const noToken = await post({ origin: s.url, 'sec-fetch-site': 'same-origin' });
    expect(noToken.status).toBe(403);
    expect(noToken.json!.detail).toMatch(/CSRF token is missing/);
    expect((await post({ 'x-csrf-token': 'x'.repeat(43) })).status).toBe(403);
    const crossSite = await post({ 'x-csrf-token': csrf, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' });
    expect(crossSite.status).toBe(403);
    expect(crossSite.json!.detail).toMatch(/cross-site/);
    // A cross-site HTML form post (no token possible, urlencoded body) to the console's own routes.
    const form = await http('POST', '/console/session/end', { headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, body: '_csrf=guess' });
    expect(form.status).toBe(403);
    expect((await http('GET', '/console/session', { headers: { cookie } })).status).toBe(200); // still signed in
    const refusals = (await events('auth.failure')).concat(await events('web.refused'));
    expect(refusals.some((e) => /CSRF token/.test(e.reason ?? '') && e.details?.channel === 'console')).toBe(true);
    expect(refusals.some((e) => /cross-site/.test(e.reason ?? ''))).toBe(true);

    const ok = await post({ 'x-csrf-token': csrf, origin: s.url, 'sec-fetch-site': 'same-origin' });
    expect(ok.status).toBe(200);
    const publish = (await events('crl.publish')).at(-1)!;
    expect(publish).toMatchObject({ actor: 'carol', details: { channel: 'console' } });

    // The same route with a bearer token (no cookie) is no console action.
    const api = await http('POST', '/api/v1/crl/publish', { headers: { authorization: `Bearer ${tokens.manager}`, 'content-type': 'application/json' }, body: '{}' });
    expect(api.status).toBe(200);
    expect((await events('crl.publish')).at(-1)!.details?.channel).toBeUndefined();

    // The role still decides: an auditor's session may not publish.
    const aud = await signIn(tokens.auditor!);
    expect((await http('POST', '/api/v1/crl/publish', { headers: { cookie: aud.cookie, 'x-csrf-token': aud.csrf, 'content-type': 'application/json' }, body: '{}' })).status).toBe(403);
  });

  it('refuses a session presented on another TLS endpoint, or after its token is revoked', async () => {
    const a = await signIn(tokens.manager!);
    await s.core.db.query("UPDATE web_sessions SET endpoint = 'another-endpoint:443' WHERE channel = 'console'");
    expect((await http('GET', '/console/session', { headers: { cookie: a.cookie } })).status).toBe(401);
    expect((await http('GET', '/api/v1/requests', { headers: { cookie: a.cookie } })).status).toBe(401);

    const b = await signIn(tokens.auditor!);
    expect((await http('GET', '/api/v1/audit', { headers: { cookie: b.cookie } })).status).toBe(200);
    const id = /^oc_([0-9a-f]{12})_/.exec(tokens.auditor!)![1]!;
    await runOperation(s.core, 'token.revoke', { id }, 'test');
    const r = await http('GET', '/api/v1/audit', { headers: { cookie: b.cookie } });
    expect(r.status).toBe(401);
    expect(r.json!.detail).toMatch(/revoked or expired/);
  });

  it('limits failed sign-ins per address like the account-password sign-in (429 after 50 in 5 minutes)', async () => {
    const bad = () => http('POST', '/console/session', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'oc_000000000000_' + 'B'.repeat(43) }) });
    clock.advance(5 * 60_000 + 1); // past the window of the earlier tests' failure
    for (let i = 0; i < 50; i++) expect((await bad()).status).toBe(401);
    const limited = await bad();
    expect(limited.status).toBe(429);
    // A good token from that address waits too, until the window has passed.
    const good = http('POST', '/console/session', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: tokens.manager }) });
    expect((await good).status).toBe(429);
    clock.advance(5 * 60_000 + 1);
    await signIn(tokens.manager!);
  });

  it('ends sessions at sign-out and after the idle timeout', async () => {
    const a = await signIn(tokens.manager!);
    const out = await http('POST', '/console/session/end', { headers: { cookie: a.cookie, 'x-csrf-token': a.csrf } });
    expect(out.status).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/^__Host-opences-console=; Max-Age=0;/);
    expect((await http('GET', '/console/session', { headers: { cookie: a.cookie } })).status).toBe(401);
    expect((await events('web.session.end')).at(-1)).toMatchObject({ actor: 'carol', details: { channel: 'console' } });

    const b = await signIn(tokens.manager!);
    clock.advance((s.config.web.sessionIdleMinutes - 1) * 60_000);
    expect((await http('GET', '/console/session', { headers: { cookie: b.cookie } })).status).toBe(200);
    clock.advance((s.config.web.sessionIdleMinutes - 1) * 60_000);
    expect((await http('GET', '/console/session', { headers: { cookie: b.cookie } })).status).toBe(200); // used: idle clock restarted
    clock.advance(s.config.web.sessionIdleMinutes * 60_000 + 1);
    expect((await http('GET', '/console/session', { headers: { cookie: b.cookie } })).status).toBe(401);
  });
});
