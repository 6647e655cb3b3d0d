import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startKdc, type Kdc } from '../helpers/kdc.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tmp, writeTmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath } from '../../src/http/endpoints.js';
import { listTemplates } from '../../src/store/template-repo.js';
import { templatesToYaml } from '../../src/policy/template-yaml.js';

const CLI = join(__dirname, '../../src/cli/main.ts');

function autoenroll(config: string, env: Record<string, string>): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CLI, 'autoenroll', '--config', config, '--once', '--json'], { env: { ...process.env, OPENCES_LOG_LEVEL: 'silent', ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ status: code ?? 1, stdout, stderr }));
  });
}

// Each test runs the CLI several times as separate processes: give a loaded machine room.
describe('opences autoenroll with auth: kerberos, against a real MIT KDC', { timeout: 180_000 }, () => {
  let kdc: Kdc;
  let s: TestServer;
  let hostKeytab: string;
  const dir = tmp('opences-auto-krb-');

  beforeAll(async () => {
    kdc = await startKdc();
    kdc.addUser('alice', 'Al1ce-pass');
    const httpKeytab = kdc.addService('HTTP/localhost');
    // The host's own keys, as a joined Linux machine has them in /etc/krb5.keytab.
    hostKeytab = kdc.addService('host/web1.opences.test');
    process.env.KRB5_CONFIG = kdc.env.KRB5_CONFIG;
    s = await startTestServer({ config: { 'auth.kerberos': { keytab: httpKeytab, servicePrincipal: 'HTTP@localhost' } } });
    // A Machine-like template the host may autoenroll for.
    const machine = (await listTemplates(s.core.db)).find((t) => t.name === 'Machine')!;
    const auto = { ...structuredClone(machine), name: 'AutoMachine', displayName: 'Auto machine', oid: `${machine.oid}.77`, enrollment: { ...machine.enrollment, autoEnrollment: true }, permissions: [{ principal: 'user:host/web1.opences.test@OPENCES.TEST', read: true, enroll: true, autoenroll: true }] };
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([auto]) }, 'test');
  });
  afterAll(async () => {
    await s?.stop();
    await kdc?.stop();
  });

  const base = () => ({ cep: `${s.url}${cepPath('Kerberos')}`, caBundle: join(s.dataDir, 'certs/root_ca.crt') });

  it("a user's ticket cache (auth.kerberos.ccache): enrolls a User certificate named after the Kerberos identity", async () => {
    const ccache = kdc.kinit('alice', 'Al1ce-pass', join(dir, 'alice.ccache'));
    const cfg = writeTmp(dir, 'alice.yaml', stringify({ ...base(), auth: { kerberos: { ccache } }, stateDir: join(dir, 'state-alice'), certificates: [{ template: 'User', key: join(dir, 'alice/user.key'), cert: join(dir, 'alice/user.crt') }] }));
    const r = await autoenroll(cfg, { KRB5_CONFIG: kdc.env.KRB5_CONFIG, KRB5CCNAME: `FILE:${join(dir, 'not-this-one')}` });
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { action: string }[]).map((x) => x.action)).toEqual(['enrolled']);
    const c = new X509Certificate(readFileSync(join(dir, 'alice/user.crt')));
    expect(c.subject).toBe('CN=alice');
    expect(c.subjectAltName).toMatch(/alice@OPENCES\.TEST/);
  });

  it("a host's keytab (auth.kerberos.clientKeytab) with allAutoenroll: the machine certificate for its autoenroll template", async () => {
    const cfg = writeTmp(dir, 'host.yaml', stringify({ ...base(), auth: { kerberos: { clientKeytab: hostKeytab } }, stateDir: join(dir, 'state-host'), allAutoenroll: { dir: join(dir, 'host') } }));
    // No ticket yet: GSSAPI gets one from the keytab into this (empty) cache.
    const r = await autoenroll(cfg, { KRB5_CONFIG: kdc.env.KRB5_CONFIG, KRB5CCNAME: `FILE:${join(dir, 'host.ccache')}` });
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { template: string; action: string }[]).map((x) => [x.template, x.action])).toEqual([['AutoMachine', 'enrolled']]);
    const c = new X509Certificate(readFileSync(join(dir, 'host/AutoMachine.crt')));
    expect(c.subject).toBe('CN=web1.opences.test');
    expect(c.subjectAltName).toBe('DNS:web1.opences.test');
    expect(statSync(join(dir, 'host/AutoMachine.key')).mode & 0o777).toBe(0o600);
  });

  it('without any ticket: exit 1 naming the server and saying to kinit', async () => {
    const cfg = writeTmp(dir, 'none.yaml', stringify({ ...base(), auth: { kerberos: true }, stateDir: join(dir, 'state-none'), certificates: [{ template: 'User', key: join(dir, 'none/user.key'), cert: join(dir, 'none/user.crt') }] }));
    const r = await autoenroll(cfg, { KRB5_CONFIG: kdc.env.KRB5_CONFIG, KRB5CCNAME: `FILE:${join(dir, 'empty.ccache')}` });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`cannot read the enrollment policy from ${base().cep}`);
    expect(r.stderr).toMatch(/kinit/);
  });
});
