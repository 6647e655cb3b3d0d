import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, openssl, tmp, writeTmp } from '../helpers/openssl.js';
import { browserMissing, launchBrowser, overflowsViewport, screenshot, seriousAxeViolations } from '../helpers/browser.js';
import { runOperation } from '../../src/ops/operations.js';
import { cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { ensureWebBuilt } from '../../src/web/build.js';

const missing = browserMissing();
if (missing) console.warn(`console-browser.test.ts skipped: ${missing}`);
const suite = missing ? describe.skip : describe;

/**
 * Issue #22, the operator console in a real Chromium (playwright-core, Debian's chromium): the
 * approval flow across roles, revocation onto the CRL, template editing with errors at the field,
 * CSRF refusals from the browser, and every page at 1280 and 390 px with a screenshot
 * (test-artifacts/console/) and an axe-core pass.
 */
suite('operator console in Chromium', () => {
  let s: TestServer;
  let agent: Agent;
  let browser: Browser;
  let attacker: Server;
  const tokens: Record<string, string> = {};
  const contexts: Record<string, { context: BrowserContext; page: Page; cspErrors: string[] }> = {};
  let pendingId = '';
  let serial = '';

  const ces = () => `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
  async function pendingRequest(): Promise<string> {
    const csr = makeCsr({ subject: 'CN=console.example.test', sans: ['DNS:console.example.test', 'email:dropme@example.test'], templateName: 'WebServerApproval' });
    const r = await postSoap(ces(), buildRstRequest({ to: ces(), securityHeaderXml: usernameHeader({ username: 'alice', password: 'Alice-pass-1' }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
    const rstr = parseRstrResponse(r.env!);
    expect(rstr.disposition).toBe('pending');
    return rstr.requestId!;
  }

  /** One browser context per role (its own cookie jar), signed in through the form. */
  async function as(who: 'manager' | 'auditor' | 'admin' | 'self'): Promise<Page> {
    if (contexts[who]) return contexts[who].page;
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const cspErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) cspErrors.push(m.text());
    });
    page.on('pageerror', (e) => cspErrors.push(`page error: ${e.message}`));
    await page.goto(`${s.url}/console/`);
    await page.getByLabel('API token', { exact: true }).fill(tokens[who]!);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('navigation', { name: 'Console sections' }).waitFor();
    contexts[who] = { context, page, cspErrors };
    return page;
  }
  const go = async (page: Page, path: string, heading: string | RegExp) => {
    await page.goto(`${s.url}/console${path}`);
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  };

  beforeAll(async () => {
    await ensureWebBuilt();
    s = await startTestServer();
    agent = new Agent({ connect: { ca: s.rootPem } });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'Alice-pass-1' }, 'test');
    for (const [k, role, who] of [['manager', 'cert-manager', 'carol'], ['auditor', 'auditor', 'dave'], ['admin', 'ca-admin', 'erin']] as const) {
      await runOperation(s.core, 'user.add', { name: who }, 'test');
      tokens[k] = ((await runOperation(s.core, 'token.create', { role, principal: who }, 'test')) as { token: string }).token;
    }
    // alice is also a certificate manager: she may not approve her own requests.
    tokens.self = ((await runOperation(s.core, 'token.create', { role: 'cert-manager', principal: 'alice' }, 'test')) as { token: string }).token;
    pendingId = await pendingRequest();
    browser = await launchBrowser();
    // Another site (http://127.0.0.1:… is not https://localhost:…) with a form aimed at the console.
    attacker = createServer((req, res) => {
      const target = new URL(req.url ?? '/', 'http://x').searchParams.get('target') ?? '';
      res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>evil</title><form method="post" action="${target}"><input name="_csrf" value="guess"><button>go</button></form>`);
    });
    await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
  }, 180_000);
  afterAll(async () => {
    for (const c of Object.values(contexts)) await c.context.close().catch(() => undefined);
    await browser?.close();
    await new Promise((r) => attacker?.close(r));
    await agent?.close();
    await s?.stop();
  });

  it('shows the pending request to an auditor, who cannot approve it (no button, and the API refuses)', async () => {
    const page = await as('auditor');
    await go(page, '/requests', 'Requests');
    const row = page.locator(`tr[data-request-id="${pendingId}"]`);
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.innerText()).toContain('alice');
    await expect.poll(() => row.getByRole('button', { name: /Approve/ }).count()).toBe(0);
    // The page's own script, with the session's CSRF token, still meets the role check.
    const status = await page.evaluate(async (id) => {
      const me = (await (await fetch('/console/session')).json()) as { csrf: string };
      return (await fetch(`/api/v1/requests/${id}/approve`, { method: 'POST', headers: { 'x-csrf-token': me.csrf } })).status;
    }, pendingId);
    expect(status).toBe(403);
    const denied = (await s.core.audit.list({ type: 'authz.denied', limit: 20 })).find((e) => e.actor === 'dave');
    expect(denied).toMatchObject({ reason: 'auditor may not approveRequest', details: { channel: 'console' } });
  });

  it('refuses a cross-site form post and a request without the CSRF token', async () => {
    const page = await as('manager');
    await go(page, '/requests', 'Requests');
    // Without the token: the signed-in page's fetch is refused.
    const noToken = await page.evaluate(async (id) => {
      const r = await fetch(`/api/v1/requests/${id}/approve`, { method: 'POST' });
      return { status: r.status, body: (await r.json()) as { detail: string } };
    }, pendingId);
    expect(noToken.status).toBe(403);
    expect(noToken.body.detail).toMatch(/CSRF token is missing/);
    // A form on another site, posted in the same browser (which holds the manager's session).
    const evil = await page.context().newPage();
    for (const target of [`${s.url}/api/v1/requests/${pendingId}/approve`, `${s.url}/console/session/end`]) {
      await evil.goto(`http://127.0.0.1:${(attacker.address() as AddressInfo).port}/?target=${encodeURIComponent(target)}`);
      const [response] = await Promise.all([evil.waitForResponse((r) => r.url() === target), evil.getByRole('button', { name: 'go' }).click()]);
      expect(response.status()).toBe(403);
    }
    await evil.close();
    expect(((await runOperation(s.core, 'request.show', { id: pendingId }, 'test')) as { status: string }).status).toBe('pending');
    expect((await page.evaluate(async () => (await fetch('/console/session')).status))).toBe(200); // still signed in
  });

  it('lets a certificate manager approve it; the requester collects the certificate with QueryTokenStatus', async () => {
    const page = await as('manager');
    await go(page, '/requests', 'Requests');
    const row = page.locator(`tr[data-request-id="${pendingId}"]`);
    await expect.poll(() => row.count()).toBe(1);
    const text = await row.innerText();
    expect(text).toContain('WebServerApproval');
    expect(text).toContain('CN=console.example.test');
    expect(text).toContain('dns:console.example.test');
    expect(text).toMatch(/EC 256|EC prime256v1|EC P-256/);
    expect(text).toContain('dropme@example.test'); // the e-mail SAN the template does not take
    await row.getByRole('button', { name: `Approve request ${pendingId}` }).click();
    await page.getByRole('status').filter({ hasText: `Request ${pendingId} approved.` }).waitFor();
    const got = parseRstrResponse((await postSoap(ces(), buildRstRequest({ to: ces(), securityHeaderXml: usernameHeader({ username: 'alice', password: 'Alice-pass-1' }), requestType: 'queryTokenStatus', requestId: pendingId }), agent)).env!);
    expect(got.disposition).toBe('issued');
    const approve = (await s.core.audit.list({ type: 'request.approve', limit: 20 })).find((e) => e.requestId === pendingId && e.outcome === 'success');
    expect(approve).toMatchObject({ actor: 'carol', details: { channel: 'console' } });
    serial = ((await runOperation(s.core, 'request.show', { id: pendingId }, 'test')) as { serial: string }).serial;
    expect(serial).toMatch(/^[0-9a-f]+$/);
  });

  it("refuses a manager's approval of their own request; another manager denies it with a reason the requester sees", async () => {
    const id = await pendingRequest();
    const self = await as('self');
    await go(self, '/requests', 'Requests');
    const row = self.locator(`tr[data-request-id="${id}"]`);
    await row.getByRole('button', { name: `Approve request ${id}` }).click();
    await row.getByRole('alert').filter({ hasText: 'cannot approve their own request' }).waitFor();
    const manager = await as('manager');
    await go(manager, '/requests', 'Requests');
    const theirs = manager.locator(`tr[data-request-id="${id}"]`);
    await theirs.getByLabel(`Reason for denying request ${id}`).fill('not a server we run');
    await theirs.getByRole('button', { name: `Deny request ${id}` }).click();
    await manager.getByRole('status').filter({ hasText: `Request ${id} denied.` }).waitFor();
    // A denied request is answered with a fault that carries the reason (MS-WSTEP).
    const denied = await postSoap(ces(), buildRstRequest({ to: ces(), securityHeaderXml: usernameHeader({ username: 'alice', password: 'Alice-pass-1' }), requestType: 'queryTokenStatus', requestId: id }), agent);
    expect(denied.status).toBe(500);
    expect(denied.body).toContain('not a server we run');
    const deny = (await s.core.audit.list({ type: 'request.deny', limit: 20 })).find((e) => e.requestId === id);
    expect(deny).toMatchObject({ actor: 'carol', reason: expect.stringContaining('not a server we run'), details: { channel: 'console' } });
  });

  it('revokes from the certificate page; the serial is on the next CRL', async () => {
    const page = await as('manager');
    await go(page, `/certificates?search=${serial}`, 'Certificates');
    await page.getByRole('link', { name: serial }).click();
    await page.getByRole('heading', { level: 1, name: `Certificate ${serial}` }).waitFor();
    expect(await page.locator('#cert-status').innerText()).toBe('valid');
    await page.getByLabel('Revocation reason').selectOption('keyCompromise');
    await page.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('status').filter({ hasText: 'revoked (keyCompromise)' }).waitFor();
    await expect.poll(() => page.locator('#cert-status').innerText()).toContain('revoked');
    await runOperation(s.core, 'crl.publish', {}, 'test');
    const crl = await fetch(`${s.pkiUrl}/pki/${s.core.ca.info().slug}.crl`);
    const text = openssl(['crl', '-inform', 'DER', '-noout', '-text', '-in', writeTmp(tmp(), 'c.crl', Buffer.from(await crl.arrayBuffer()))]);
    expect(text.toUpperCase()).toContain(serial.toUpperCase());
    expect(text).toContain('Key Compromise');
    const ev = (await s.core.audit.list({ type: 'certificate.revoke', limit: 20 })).find((e) => e.serial === serial && e.outcome === 'success');
    expect(ev).toMatchObject({ actor: 'carol', details: { channel: 'console' } });
  });

  it('edits a template as YAML with the import checks, the error shown at the field; disables and enables it', async () => {
    const page = await as('admin');
    await go(page, '/templates/WebServer', 'Template WebServer');
    const editor = page.getByLabel(/Template \(YAML/);
    const yaml = await editor.inputValue();
    expect(yaml).toMatch(/name: WebServer/);
    await editor.fill(yaml.replace(/validityPeriodSeconds: .*\n/, 'validityPeriodSeconds: forever\n'));
    await page.getByRole('button', { name: 'Save' }).click();
    const err = page.locator('#template-error');
    await err.waitFor();
    expect(await err.innerText()).toMatch(/validityPeriodSeconds/);
    expect(await editor.getAttribute('aria-invalid')).toBe('true');
    await screenshot(page, 'console', 'template-error-1280');
    await editor.fill(yaml.replace(/displayName: .*\n/, 'displayName: Web Server (edited in the console)\n'));
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    expect(((await runOperation(s.core, 'template.show', { name: 'WebServer' }, 'test')) as { template: { displayName: string } }).template.displayName).toBe('Web Server (edited in the console)');
    await go(page, '/templates', 'Templates');
    await page.getByRole('button', { name: 'Disable template WebServer', exact: true }).click();
    await page.getByRole('button', { name: 'Enable template WebServer', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Enable template WebServer', exact: true }).click();
    await page.getByRole('button', { name: 'Disable template WebServer', exact: true }).waitFor();
    const changes = (await s.core.audit.list({ limit: 50 })).filter((e) => e.template === 'WebServer' && e.actor === 'erin').map((e) => e.type);
    expect(changes).toEqual(expect.arrayContaining(['template.updated', 'template.disabled', 'template.enabled']));
  });

  it('adds and disables a local account (ca-admin)', async () => {
    const page = await as('admin');
    await go(page, '/accounts', 'Accounts');
    await page.getByLabel('Name', { exact: true }).fill('frank');
    await page.getByLabel('Groups (comma-separated)').fill('web-admins, ops');
    await page.getByLabel('Password', { exact: true }).fill('Frank-pass-123');
    await page.getByRole('button', { name: 'Add account' }).click();
    await page.getByRole('status').filter({ hasText: 'Account frank added.' }).waitFor();
    await page.getByRole('button', { name: 'Disable account frank' }).click();
    await page.getByRole('button', { name: 'Enable account frank' }).waitFor();
    const accounts = (await runOperation(s.core, 'user.list', {}, 'test')) as { name: string; groups: string[]; disabled: boolean }[];
    expect(accounts.find((a) => a.name === 'frank')).toMatchObject({ groups: ['web-admins', 'ops'], disabled: true });
    const add = (await s.core.audit.list({ type: 'account.add', limit: 20 })).find((e) => e.principal === 'frank');
    expect(add).toMatchObject({ actor: 'erin', details: { channel: 'console' } });
    expect(JSON.stringify(add)).not.toContain('Frank-pass-123');
  });

  it('renders every page at 1280 and 390 px without sideways scrolling, CSP errors or serious accessibility violations', async () => {
    const pages: [who: 'manager' | 'auditor' | 'admin', path: string, heading: string | RegExp, name: string][] = [
      ['admin', '/', 'Overview', 'overview'],
      ['manager', '/requests', 'Requests', 'requests'],
      ['manager', '/certificates', 'Certificates', 'certificates'],
      ['manager', `/certificates/${serial}`, `Certificate ${serial}`, 'certificate'],
      ['admin', '/templates', 'Templates', 'templates'],
      ['admin', '/templates/WebServer', 'Template WebServer', 'template'],
      ['admin', '/partners', 'Partners', 'partners'],
      ['admin', '/accounts', 'Accounts', 'accounts'],
      ['auditor', '/audit', 'Audit log', 'audit'],
      ['auditor', '/', 'Overview', 'overview-auditor'],
    ];
    await pendingRequest(); // the queue shows a row (with its buttons) in the screenshots and the axe pass
    const problems: string[] = [];
    for (const [who, path, heading, name] of pages) {
      const page = await as(who);
      for (const width of [1280, 390]) {
        await page.setViewportSize({ width, height: width > 600 ? 900 : 844 });
        await go(page, path, heading);
        if (name.startsWith('overview')) await page.locator('canvas').first().waitFor();
        if (name === 'audit') await page.locator('tbody tr').first().waitFor();
        await screenshot(page, 'console', `${name}-${width}`);
        if (await overflowsViewport(page)) problems.push(`${name} at ${width} px scrolls sideways`);
        for (const v of await seriousAxeViolations(page)) problems.push(`${name} at ${width} px: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.slice(0, 3).join(' ')}`);
      }
    }
    // The sign-in page, signed out (a fresh context).
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 844 });
      await page.goto(`${s.url}/console/`);
      await page.getByRole('heading', { name: 'opences console' }).waitFor();
      await screenshot(page, 'console', `sign-in-${width}`);
      if (await overflowsViewport(page)) problems.push(`sign-in at ${width} px scrolls sideways`);
      for (const v of await seriousAxeViolations(page)) problems.push(`sign-in at ${width} px: ${v.impact} ${v.id} (${v.help})`);
    }
    await context.close();
    for (const c of Object.values(contexts)) problems.push(...c.cspErrors);
    expect(problems).toEqual([]);
  });

  it('returns to sign-in, saying why, when the API token behind the session is revoked', async () => {
    const page = await as('admin');
    await go(page, '/', 'Overview');
    await runOperation(s.core, 'token.revoke', { id: /^oc_([0-9a-f]{12})_/.exec(tokens.admin!)![1] }, 'test');
    await page.getByRole('link', { name: 'Accounts' }).click();
    await page.getByRole('status').filter({ hasText: 'Your session has ended; sign in again.' }).waitFor();
    await page.getByLabel('API token', { exact: true }).waitFor();
  });

  it('signs out: the cookie is gone and the API refuses the old session', async () => {
    const page = await as('auditor');
    await go(page, '/', 'Overview');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token', { exact: true }).waitFor();
    const cookies = await page.context().cookies();
    expect(cookies.filter((c) => c.name === '__Host-opences-console')).toEqual([]);
    expect(await page.evaluate(async () => (await fetch('/api/v1/overview')).status)).toBe(401);
  });
});
