import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { checkCsrf, checkOrigin } from '../../../src/http/web/csrf.js';
import { isOpencesError } from '../../../src/errors.js';

const TOKEN = 'a'.repeat(43);
const req = (o: { method?: string; headers?: Record<string, string>; body?: unknown }) => ({ method: o.method ?? 'POST', headers: { host: 'ca.example.test:8443', ...(o.headers ?? {}) }, body: o.body }) as unknown as IncomingMessage & { body?: unknown };
const refusal = (f: () => void): string | null => {
  try {
    f();
    return null;
  } catch (e) {
    expect(isOpencesError(e) && e.kind).toBe('forbidden');
    return (e as Error).message;
  }
};

describe('web CSRF and origin checks (src/http/web/csrf.ts)', () => {
  it('lets safe methods through whatever their origin', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS']) expect(refusal(() => checkCsrf(req({ method, headers: { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' } }), TOKEN))).toBeNull();
  });

  it('refuses state changes a browser marks as coming from elsewhere', () => {
    for (const site of ['cross-site', 'same-site', 'none']) expect(refusal(() => checkOrigin(req({ headers: { 'sec-fetch-site': site } })))).toMatch(/cross-site request refused/);
    expect(refusal(() => checkOrigin(req({ headers: { origin: 'https://evil.example' } })))).toMatch(/Origin does not match/);
    expect(refusal(() => checkOrigin(req({ headers: { origin: 'http://ca.example.test:8443' } })))).toMatch(/Origin does not match/);
    expect(refusal(() => checkOrigin(req({ headers: { origin: 'https://ca.example.test:8443', 'sec-fetch-site': 'same-origin' } })))).toBeNull();
    expect(refusal(() => checkOrigin(req({})))).toBeNull(); // no browser headers: not a page's request
  });

  it('wants the session token as header or form field, exactly', () => {
    const same = { origin: 'https://ca.example.test:8443', 'sec-fetch-site': 'same-origin' };
    expect(refusal(() => checkCsrf(req({ headers: same }), TOKEN))).toMatch(/missing/);
    expect(refusal(() => checkCsrf(req({ headers: { ...same, 'x-csrf-token': TOKEN } }), TOKEN))).toBeNull();
    expect(refusal(() => checkCsrf(req({ headers: same, body: { _csrf: TOKEN } }), TOKEN))).toBeNull();
    expect(refusal(() => checkCsrf(req({ headers: { ...same, 'x-csrf-token': TOKEN.slice(1) + 'b' } }), TOKEN))).toMatch(/does not match/);
    expect(refusal(() => checkCsrf(req({ headers: { ...same, 'x-csrf-token': TOKEN.slice(1) } }), TOKEN))).toMatch(/does not match/);
    expect(refusal(() => checkCsrf(req({ headers: same, body: { _csrf: [TOKEN] } }), TOKEN))).toMatch(/missing/);
    // The right token from another site is still refused: the origin check comes first.
    expect(refusal(() => checkCsrf(req({ headers: { 'x-csrf-token': TOKEN, 'sec-fetch-site': 'cross-site' } }), TOKEN))).toMatch(/cross-site/);
  });
});
