import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createCore, type CoreWithPki } from '../../src/app/core.js';
import { createLogger } from '../../src/log.js';
import { runOperation } from '../../src/ops/operations.js';
import { until } from '../helpers/wait.js';

/**
 * Two processes on one database (cluster workers, or nodes): a change made in one reaches the
 * other's caches at once, not when they expire (credentials are cached 30 s, templates 5 s).
 */
describe('cache invalidation across processes (PostgreSQL NOTIFY)', () => {
  let s: TestServer;
  let other: CoreWithPki;
  beforeAll(async () => {
    s = await startTestServer();
    other = await createCore(s.config, { log: createLogger('silent') });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret-pass', groups: ['staff'] }, 'test');
  });
  afterAll(async () => {
    await other?.close();
    await s?.stop();
  });
  const tok = () => ({ username: 'alice', password: 'S3cret-pass', nonce: randomBytes(16), created: new Date(), messageId: `urn:uuid:${randomBytes(8).toString('hex')}` });
  const within = (ms: number, check: () => Promise<boolean>): Promise<boolean> => until(ms, check, 20);

  it('drops a cached sign-in on the other process when the account is disabled here', async () => {
    await expect(other.usernameAuth.authenticate(tok(), { address: '192.0.2.10' })).resolves.toMatchObject({ name: 'alice' });
    await runOperation(s.core, 'user.disable', { name: 'alice' }, 'test');
    const refused = await within(10_000, async () => other.usernameAuth.authenticate(tok(), { address: '192.0.2.10' }).then(() => false, () => true));
    expect(refused).toBe(true);
  });

  it('shows a template disabled here on the other process at once', async () => {
    expect((await other.templates.get('WebServer'))?.enabled).toBe(true);
    await runOperation(s.core, 'template.disable', { name: 'WebServer' }, 'test');
    expect(await within(4_000, async () => (await other.templates.list()).find((t) => t.name === 'WebServer')?.enabled === false)).toBe(true);
    await runOperation(other, 'template.enable', { name: 'WebServer' }, 'test');
    expect(await within(4_000, async () => (await s.core.templates.list()).find((t) => t.name === 'WebServer')?.enabled === true)).toBe(true);
  });
});
