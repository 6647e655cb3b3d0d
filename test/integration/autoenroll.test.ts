import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { stringify } from 'yaml';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tmp, writeTmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath } from '../../src/http/endpoints.js';
import { AutoenrollAgent } from '../../src/autoenroll/agent.js';
import { autoenrollSchema, type AutoenrollConfig } from '../../src/autoenroll/config.js';
import { SoapTransport } from '../../src/client/transport.js';
import { fixedClock } from '../../src/clock.js';
import { listTemplates } from '../../src/store/template-repo.js';
import { templatesToYaml } from '../../src/policy/template-yaml.js';

describe('opences autoenroll (Linux auto-enrollment agent)', () => {
  let s: TestServer;
  const clock = fixedClock(new Date());
  const dir = tmp('opences-auto-');
  let config: AutoenrollConfig;
  let agent: AutoenrollAgent;
  const hook = join(dir, 'reloaded');

  beforeAll(async () => {
    s = await startTestServer({ clock });
    await runOperation(s.core, 'user.add', { name: 'host1', password: 'H0st-pass' }, 'test');
    const web = (await listTemplates(s.core.db)).find((t) => t.name === 'WebServer')!;
    const short = { ...structuredClone(web), name: 'ShortWeb', displayName: 'Short web', oid: `${web.oid}.90`, validityPeriodSeconds: 10 * 86400, renewalPeriodSeconds: 3 * 86400 };
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([short]) }, 'test');
    config = autoenrollSchema.parse({
      cep: `${s.url}${cepPath('UsernamePassword')}`,
      auth: { username: 'host1', passwordFile: writeTmp(dir, 'pw', 'H0st-pass\n') },
      stateDir: join(dir, 'state'),
      certificates: [
        { template: 'ShortWeb', subject: 'CN=host1.example.test', sans: ['dns:host1.example.test'], key: join(dir, 'tls/host1.key'), cert: join(dir, 'tls/host1.crt'), chain: join(dir, 'tls/chain.crt'), postRenew: `touch ${hook}` },
      ],
    });
    agent = new AutoenrollAgent(config, new SoapTransport({ auth: { kind: 'username', username: 'host1', password: 'H0st-pass' }, caBundlePem: s.rootPem, now: () => clock.now() }), clock);
  });
  afterAll(async () => s?.stop());

  it('enrolls what is missing, then does nothing on the next pass', async () => {
    const first = await agent.runOnce();
    expect(first.map((r) => r.action)).toEqual(['enrolled']);
    expect(statSync(join(dir, 'tls/host1.key')).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(readFileSync(join(dir, 'tls/host1.crt')));
    expect(cert.subject).toContain('CN=host1.example.test');
    expect(readFileSync(join(dir, 'tls/chain.crt'), 'utf8')).toContain('BEGIN CERTIFICATE');
    expect(existsSync(hook)).toBe(true);
    const second = await agent.runOnce();
    expect(second.map((r) => r.action)).toEqual(['none']);
  });

  it('renews with the old certificate inside the renewal window and runs the post-renew command', async () => {
    const before = new X509Certificate(readFileSync(join(dir, 'tls/host1.crt')));
    const oldKey = readFileSync(join(dir, 'tls/host1.key'), 'utf8');
    (await import('node:fs')).rmSync(hook);
    clock.advance(8 * 86400_000);
    const r = await agent.runOnce();
    expect(r.map((x) => x.action)).toEqual(['renewed']);
    const after = new X509Certificate(readFileSync(join(dir, 'tls/host1.crt')));
    expect(after.serialNumber).not.toBe(before.serialNumber);
    expect(after.subject).toBe(before.subject);
    expect(readFileSync(join(dir, 'tls/host1.key'), 'utf8')).not.toBe(oldKey);
    expect(existsSync(hook)).toBe(true);
    const row = (await s.core.db.query<{ renewal_of: string }>('SELECT renewal_of FROM requests WHERE serial = $1', [after.serialNumber.toLowerCase().replace(/^(00)+/, '')])).rows[0];
    expect(row?.renewal_of).toBe(before.serialNumber.toLowerCase().replace(/^(00)+/, ''));
  });

  it('keeps a pending request and installs it after approval', async () => {
    const pendingConfig = { ...config, certificates: [{ ...config.certificates[0]!, template: 'WebServerApproval', key: join(dir, 'p/app.key'), cert: join(dir, 'p/app.crt'), chain: undefined, postRenew: undefined }] };
    const a = new AutoenrollAgent(pendingConfig, new SoapTransport({ auth: { kind: 'username', username: 'host1', password: 'H0st-pass' }, caBundlePem: s.rootPem, now: () => clock.now() }), clock);
    expect((await a.runOnce()).map((r) => r.action)).toEqual(['pending']);
    expect(existsSync(join(dir, 'p/app.crt'))).toBe(false);
    expect((await a.runOnce()).map((r) => r.action)).toEqual(['still-pending']);
    const pending = (await runOperation(s.core, 'request.list', { status: 'pending' }, 't')) as { id: string; template: string }[];
    await runOperation(s.core, 'request.approve', { id: pending.find((p) => p.template === 'WebServerApproval')!.id }, 'local:manager');
    expect((await a.runOnce()).map((r) => r.action)).toEqual(['enrolled']);
    expect(existsSync(join(dir, 'p/app.crt'))).toBe(true);
  });

  it('when the server is down: fails with a clear message and leaves the files untouched', async () => {
    const hash = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
    const before = [hash(join(dir, 'tls/host1.crt')), hash(join(dir, 'tls/host1.key'))];
    clock.advance(2 * 86400_000); // inside the window again: it would renew if it could
    const down = new AutoenrollAgent({ ...config, cep: 'https://127.0.0.1:1/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP' }, new SoapTransport({ auth: { kind: 'username', username: 'host1', password: 'H0st-pass' }, caBundlePem: s.rootPem }), clock);
    await expect(down.runOnce()).rejects.toThrow(/cannot read the enrollment policy from https:\/\/127\.0\.0\.1:1.*nothing was changed/);
    expect([hash(join(dir, 'tls/host1.crt')), hash(join(dir, 'tls/host1.key'))]).toEqual(before);
    // the command says so and exits non-zero
    const cfg = writeTmp(dir, 'down.yaml', stringify({ ...config, cep: 'https://127.0.0.1:1/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP' }));
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, '../../src/cli/main.ts'), 'autoenroll', '--config', cfg, '--once'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/opences autoenroll: cannot read the enrollment policy .* nothing was changed/);
    expect([hash(join(dir, 'tls/host1.crt')), hash(join(dir, 'tls/host1.key'))]).toEqual(before);
  });
});
