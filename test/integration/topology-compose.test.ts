import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.js';
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
  configs?: { source: string; target: string }[];
}
interface Compose {
  services: Record<string, Service>;
  networks: Record<string, { internal?: boolean }>;
  volumes: Record<string, unknown>;
  configs: Record<string, { content: string }>;
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

/**
 * docker-compose.yml: `docker compose config` where the compose plugin exists (required when
 * OPENCES_REQUIRE_DOCKER_COMPOSE=1, as on a CI runner with docker); everywhere, the wiring checked
 * by hand and every node's settings through our own configuration validation.
 */
describe('docker-compose.yml', () => {
  it('validates with docker compose config (when the compose plugin is installed)', () => {
    const v = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
    const present = v.status === 0;
    if (process.env.OPENCES_REQUIRE_DOCKER_COMPOSE === '1') expect(present, `docker compose is required here: ${v.stderr ?? v.error?.message}`).toBe(true);
    if (!present) return;
    const r = spawnSync('docker', ['compose', '-f', FILE, 'config', '--quiet'], { encoding: 'utf8', cwd: ROOT });
    expect(r.status, r.stderr).toBe(0);
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
    for (const v of Object.values(compose.services).flatMap((s) => s.volumes ?? [])) expect(compose.volumes).toHaveProperty(v.split(':')[0]!);
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
    const caConf = compose.configs[caSvc.configs![0]!.source]!;
    expect(env(caSvc).OPENCES_CONFIG).toBe(caSvc.configs![0]!.target);
    // As in the container: the config file named by OPENCES_CONFIG (here a copy of the inline config).
    const ca = loadConfig({ env: { ...env(caSvc), OPENCES_CONFIG: writeTmp(dir, 'ca.yaml', caConf.content) }, flags: flags(caSvc.command!).flags });
    expect(ca.roles).toEqual(['ca']);
    expect(ca.ca.url).toBeUndefined();
    // The subjects ca-bootstrap issues are exactly the allowed ones.
    const boot = compose.services['ca-bootstrap']!.command!.join('\n');
    const issued = [...boot.matchAll(/for n in ([a-z ]+);/g)][0]![1]!.split(' ').map((n) => `CN=opences-${n}`);
    expect([...ca.ca.clients.allowedSubjects].sort()).toEqual(issued.sort());
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
    const cep = loadConfig({ env: env(compose.services.cep!), flags: flags(compose.services.cep!.command!).flags });
    const cesPort = compose.services.ces!.ports![0]!.split(':')[0];
    expect(new URL(cep.publicUrl).port).toBe(cesPort);
  });
});
