import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { opensslStatus, tmp, writeTmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath } from '../../src/http/endpoints.js';
import { AutoenrollAgent } from '../../src/autoenroll/agent.js';
import { autoenrollSchema } from '../../src/autoenroll/config.js';
import { SoapTransport } from '../../src/client/transport.js';
import { EnrollmentClient } from '../../src/client/enrollment-client.js';
import { systemClock } from '../../src/clock.js';
import { listTemplates } from '../../src/store/template-repo.js';
import { templatesToYaml } from '../../src/policy/template-yaml.js';
import { runCli } from '../helpers/cli.js';

/** The command as its own process; asynchronous, because the server it talks to runs in this one. */
const cli = async (args: string[]) => {
  const r = await runCli(args);
  return { status: r.code, stdout: r.out, stderr: r.err };
};

// Each test runs the CLI several times as separate processes: give a loaded machine room.
describe('opences autoenroll allAutoenroll: every template the caller has Autoenroll permission on', { timeout: 180_000 }, () => {
  let s: TestServer;
  const dir = tmp('opences-auto-all-');
  const certDir = join(dir, 'certs');
  let transport: SoapTransport;

  beforeAll(async () => {
    s = await startTestServer();
    await runOperation(s.core, 'user.add', { name: 'host2', password: 'H0st2-pass', email: 'host2@example.test' }, 'test');
    const user = (await listTemplates(s.core.db)).find((t) => t.name === 'User')!;
    const clone = (name: string, n: number, autoenroll: boolean, flag = autoenroll) => ({
      ...structuredClone(user),
      name,
      displayName: name,
      oid: `${user.oid}.${n}`,
      enrollment: { ...user.enrollment, autoEnrollment: flag },
      permissions: [{ principal: 'user:host2', read: true, enroll: true, autoenroll }],
    });
    // host2 may autoenroll for AutoUser; for EnrollOnly (and the defaults) it may only enroll; PermOnly
    // grants Autoenroll but is not flagged for auto-enrollment, which Windows requires too.
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([clone('AutoUser', 91, true), clone('EnrollOnly', 92, false), clone('PermOnly', 94, true, false)]) }, 'test');
    transport = new SoapTransport({ auth: { kind: 'username', username: 'host2', password: 'H0st2-pass' }, caBundlePem: s.rootPem });
  });
  afterAll(async () => {
    await transport?.close();
    await s?.stop();
  });

  const cep = () => `${s.url}${cepPath('UsernamePassword')}`;

  it('GetPolicies grants the caller Autoenroll on AutoUser and PermOnly, and only AutoUser is flagged for auto-enrollment', async () => {
    const { templates } = await new EnrollmentClient(transport).getPolicies(cep());
    expect(templates.filter((t) => t.autoEnroll).map((t) => t.name).sort()).toEqual(['AutoUser', 'PermOnly']);
    expect(templates.filter((t) => t.autoEnroll && t.autoEnrollmentFlag).map((t) => t.name)).toEqual(['AutoUser']);
    expect(templates.find((t) => t.name === 'EnrollOnly')?.enroll).toBe(true);
  });

  it('enrolls only the autoenroll template, under the configured directory, then leaves it alone', async () => {
    const config = autoenrollSchema.parse({ cep: cep(), auth: { username: 'host2', passwordFile: writeTmp(dir, 'pw', 'H0st2-pass\n') }, stateDir: join(dir, 'state'), allAutoenroll: { dir: certDir } });
    const agent = new AutoenrollAgent(config, transport, systemClock);
    const first = await agent.runOnce();
    expect(first.map((r) => [r.template, r.action])).toEqual([['AutoUser', 'enrolled']]);
    expect(readdirSync(certDir).sort()).toEqual(['AutoUser-chain.crt', 'AutoUser.crt', 'AutoUser.key']);
    expect(statSync(join(certDir, 'AutoUser.key')).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(readFileSync(join(certDir, 'AutoUser.crt')));
    expect(cert.subject).toContain('CN=host2');
    const v = opensslStatus(['verify', '-CAfile', join(s.dataDir, 'certs/root_ca.crt'), '-untrusted', join(certDir, 'AutoUser-chain.crt'), join(certDir, 'AutoUser.crt')]);
    expect(v.code, v.out).toBe(0);
    const rows = await s.core.db.query<{ template: string }>("SELECT template FROM requests WHERE requester = 'host2'");
    expect(rows.rows.map((r) => r.template)).toEqual(['AutoUser']);
    expect((await agent.runOnce()).map((r) => [r.template, r.action])).toEqual([['AutoUser', 'none']]);
  });

  it('from a config file on the command line; a template listed under certificates is left to that entry', async () => {
    const explicitKey = join(dir, 'mine/auto.key');
    const cfg = writeTmp(
      dir,
      'all.yaml',
      stringify({
        cep: cep(),
        auth: { username: 'host2', passwordFile: join(dir, 'pw') },
        caBundle: join(s.dataDir, 'certs/root_ca.crt'),
        stateDir: join(dir, 'state2'),
        certificates: [{ template: 'AutoUser', key: explicitKey, cert: join(dir, 'mine/auto.crt') }],
        allAutoenroll: { dir: join(dir, 'certs2'), keyType: 'RSA-2048' },
      }),
    );
    const r = await cli(['autoenroll', '--config', cfg, '--once', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { template: string; cert: string; action: string }[]).map((x) => [x.template, x.action])).toEqual([['AutoUser', 'enrolled']]);
    expect(existsSync(explicitKey)).toBe(true);
    expect(existsSync(join(dir, 'certs2'))).toBe(false);
  });

  it('a template that needs an enrollee-supplied subject is reported denied with the reason, and nothing is written', async () => {
    await runOperation(s.core, 'user.add', { name: 'host3', password: 'H0st3-pass' }, 'test');
    const web = (await listTemplates(s.core.db)).find((t) => t.name === 'WebServer')!;
    const autoWeb = { ...structuredClone(web), name: 'AutoWeb', displayName: 'AutoWeb', oid: `${web.oid}.93`, enrollment: { ...web.enrollment, autoEnrollment: true }, permissions: [{ principal: 'user:host3', read: true, enroll: true, autoenroll: true }] };
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([autoWeb]) }, 'test');
    const t3 = new SoapTransport({ auth: { kind: 'username', username: 'host3', password: 'H0st3-pass' }, caBundlePem: s.rootPem });
    try {
      const config = autoenrollSchema.parse({ cep: cep(), auth: { username: 'host3', passwordFile: writeTmp(dir, 'pw3', 'H0st3-pass\n') }, stateDir: join(dir, 'state-web'), allAutoenroll: { dir: join(dir, 'web') } });
      const r = await new AutoenrollAgent(config, t3, systemClock).runOnce();
      expect(r.map((x) => [x.template, x.action])).toEqual([['AutoWeb', 'denied']]);
      expect(r[0]!.message).toMatch(/subject/i);
      expect(existsSync(join(dir, 'web/AutoWeb.key'))).toBe(false);
    } finally {
      await t3.close();
    }
  });

  it('a config with neither certificates nor allAutoenroll is refused with the reason', async () => {
    const cfg = writeTmp(dir, 'empty.yaml', stringify({ cep: cep(), auth: { username: 'host2', passwordFile: join(dir, 'pw') }, stateDir: join(dir, 'state3') }));
    const r = await cli(['autoenroll', '--config', cfg, '--once']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('certificates: list at least one entry under certificates, or set allAutoenroll');
  });
});
