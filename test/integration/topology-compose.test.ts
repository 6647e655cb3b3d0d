import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.js';
import { CaClientGrants } from '../../src/http/ca-api-access.js';
import { tmp, writeTmp } from '../helpers/openssl.js';

const ROOT = join(__dirname, '../..');
const FILE = join(ROOT, 'docker-compose.yml');

interface Service {
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  networks?: string[];
  volumes?: string[];
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
}
interface Compose {
  services: Record<string, Service>;
  networks: Record<string, { internal?: boolean }>;
  volumes: Record<string, unknown>;
}

const compose = parse(readFileSync(FILE, 'utf8'), { merge: true }) as Compose;
/** ${VAR:-default} as compose substitutes it with nothing set. */
const subst = (v: string): string => v.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
const env = (s: Service): Record<string, string> => Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, subst(String(v))]));
/** The flags of a `serve` command line, as loadConfig takes them. */
function flags(command: string[]): { flags: Record<string, unknown> } {
  expect(command[0]).toBe('serve');
  const out: Record<string, unknown> = {};
  for (let i = 1; i < command.length; i += 2) {
    const [k, v] = [command[i]!, command[i + 1]!];
    if (k === '--hostname') out.hostname = v;
    else throw new Error(`unexpected flag ${k} in the compose file`);
  }
  return { flags: out };
}

/** The Compose implementation here: the v2 plugin (`docker compose`) or v1 (`docker-compose`, Debian's package). */
function composeCommand(): { cmd: string; args: string[] } | undefined {
  for (const c of [{ cmd: 'docker', args: ['compose'] }, { cmd: 'docker-compose', args: [] }]) {
    if (spawnSync(c.cmd, [...c.args, 'version'], { encoding: 'utf8' }).status === 0) return c;
  }
  return undefined;
}

/**
 * docker-compose.yml: `docker compose config` (or v1's `docker-compose config`), required under CI
 * (.ci/run installs Debian's docker-compose) and with OPENCES_REQUIRE_DOCKER_COMPOSE=1; everywhere,
 * the wiring checked by hand and every node's settings through our own configuration validation.
 */
describe('docker-compose.yml', () => {
  it('validates with docker compose config', (ctx) => {
    const compose = composeCommand();
    const required = process.env.OPENCES_REQUIRE_DOCKER_COMPOSE === '1' || (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false');
    if (required) expect(compose, 'docker compose (v2 plugin) or docker-compose (v1) is required here').toBeDefined();
    // Outside CI a missing tool is reported as a skip with the reason, never as a pass.
    if (!compose) return ctx.skip('neither `docker compose` nor `docker-compose` is installed (Debian: docker-compose); required under CI');
    const r = spawnSync(compose.cmd, [...compose.args, '-f', FILE, 'config', '--quiet'], { encoding: 'utf8', cwd: ROOT });
    expect(r.status, r.stderr).toBe(0);
    // Compose v1 accepts a top-level `configs:` but ignores it outside a swarm: the CA's settings must not depend on it.
    expect(r.stderr).not.toMatch(/will be ignored/);
  });

  it('has postgres, ca, ces, cep and admin services with health checks on /readyz and volumes', () => {
    for (const name of ['postgres', 'ca', 'ces', 'cep', 'admin']) expect(compose.services[name], name).toBeDefined();
    expect(compose.services.postgres!.healthcheck!.test!.join(' ')).toContain('pg_isready');
    for (const name of ['ca', 'ces', 'cep', 'admin']) {
      const s = compose.services[name]!;
      expect(s.healthcheck!.test!.join(' '), name).toContain("path:'/readyz'");
      expect(s.volumes!.some((v) => v.endsWith(':/var/lib/opences')), name).toBe(true);
      expect(s.depends_on?.[name === 'ca' ? 'postgres' : 'ca']?.condition, name).toBe('service_healthy');
    }
    // Named volumes are declared; bind mounts (./…) name files in this repository.
    for (const v of Object.values(compose.services).flatMap((s) => s.volumes ?? [])) {
      const source = v.split(':')[0]!;
      if (source.startsWith('./')) expect(existsSync(join(ROOT, source)), v).toBe(true);
      else expect(compose.volumes).toHaveProperty(source);
    }
  });

  it('the image carries what the code reads beside dist/ at run time (migrations, WSDLs, the OpenAPI file)', () => {
    const docker = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    for (const dir of ['migrations', 'wsdl', 'openapi']) expect(docker, dir).toMatch(new RegExp(`^COPY ${dir} \\./${dir}$`, 'm'));
    expect(docker).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect(docker).toMatch(/^ENTRYPOINT \["node", "dist\/cli\/main\.js"\]$/m);
    expect(readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n')).not.toContain('openapi');
  });

  it('keeps the CA off the edge: no published ports, only the internal network, its data volume on no other node', () => {
    const ca = compose.services.ca!;
    expect(ca.ports ?? []).toEqual([]);
    expect(ca.networks).toEqual(['internal']);
    expect(compose.networks.internal!.internal).toBe(true);
    expect(compose.services.postgres!.networks).toEqual(['internal']);
    const caVolume = ca.volumes!.find((v) => v.endsWith(':/var/lib/opences'))!.split(':')[0];
    for (const name of ['ces', 'cep', 'admin']) expect(compose.services[name]!.volumes!.some((v) => v.startsWith(`${caVolume}:`)), name).toBe(false);
    expect(compose.services.admin!.ports).toEqual(['127.0.0.1:9444:8443']);
  });

  it("every node's settings pass opences' own validation, and the enrollment nodes' client certificates are the ones the CA allows", () => {
    const dir = tmp('opences-compose-');
    const caSvc = compose.services.ca!;
    // As in the container: the config file named by OPENCES_CONFIG is the one bind-mounted there.
    const mount = caSvc.volumes!.map((v) => v.split(':')).find(([, target]) => target === env(caSvc).OPENCES_CONFIG);
    expect(mount, 'the CA config file is mounted where OPENCES_CONFIG points').toBeDefined();
    const ca = loadConfig({ env: { ...env(caSvc), OPENCES_CONFIG: writeTmp(dir, 'ca.yaml', readFileSync(join(ROOT, mount![0]!), 'utf8')) }, flags: flags(caSvc.command!).flags });
    expect(ca.roles).toEqual(['ca']);
    expect(ca.ca.url).toBeUndefined();
    // The subjects ca-bootstrap issues are exactly the allowed ones.
    const boot = compose.services['ca-bootstrap']!.command!.join('\n');
    const issued = [...boot.matchAll(/for n in ([a-z ]+);/g)][0]![1]!.split(' ').map((n) => `CN=opences-${n}`);
    expect(ca.ca.clients.allowedSubjects.map((e) => (typeof e === 'string' ? e : e.subject)).sort()).toEqual(issued.sort());
    // Least privilege: only the admin node may revoke or publish CRLs.
    const grants = new CaClientGrants(ca.ca.clients.allowedSubjects);
    expect(Object.fromEntries(['ces', 'cep', 'admin'].map((n) => [n, [...grants.of(`CN=opences-${n}`)!].sort()]))).toEqual({ ces: ['sign'], cep: ['sign'], admin: ['crl', 'revoke', 'sign'] });
    for (const name of ['ces', 'cep', 'admin']) {
      const s = compose.services[name]!;
      const c = loadConfig({ env: env(s), flags: flags(s.command!).flags });
      // Roles come from the environment, so `docker compose exec <node> … user add` loads the same settings as serve.
      expect(c.roles, name).toEqual([name]);
      expect(env(s).OPENCES_ROLE, name).toBe(name);
      expect(c.ca.url, name).toBe(`https://ca:${ca.ca.apiPort}`);
      // The CA's TLS certificate names the host the enrollment nodes dial.
      expect(ca.hostname).toBe(new URL(c.ca.url!).hostname);
      expect(c.ca.clientCertFile, name).toBe(`/var/lib/opences-clients/${name}.crt`);
      expect(s.volumes!.some((v) => v.startsWith('client-certs:/var/lib/opences-clients')), name).toBe(true);
    }
    // The policy node points clients at the enrollment node's published port.
    // Each serving node on its own least-privilege database role; the owner only in the one-shot jobs.
    for (const name of ['ca', 'ces', 'cep', 'admin']) {
      const c = name === 'ca' ? ca : loadConfig({ env: env(compose.services[name]!), flags: flags(compose.services[name]!.command!).flags });
      expect(decodeURIComponent(new URL(c.databaseUrl!).username), name).toBe(`opences_${name}`);
      expect(c.databaseAllowExcessPrivileges, name).toBe(false);
    }
    const init = compose.services['db-init']!;
    expect(init.command!.join('\n')).toMatch(/db migrate[\s\S]*db roles (?=.*--password-file ca=)(?=.*--password-file ces=)(?=.*--password-file cep=)(?=.*--password-file admin=)/);
    expect(new URL(env(init).DATABASE_URL!).username).toBe('opences');
    for (const name of ['ca-bootstrap', 'ca']) expect(compose.services[name]!.depends_on?.['db-init']?.condition, name).toBe('service_completed_successfully');
    const cep = loadConfig({ env: env(compose.services.cep!), flags: flags(compose.services.cep!.command!).flags });
    const cesPort = compose.services.ces!.ports![0]!.split(':')[0];
    expect(new URL(cep.publicUrl).port).toBe(cesPort);
  });
});
