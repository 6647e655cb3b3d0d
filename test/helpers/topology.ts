import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './server.js';
import { tmp } from './openssl.js';
import { until } from './wait.js';

export const CLI = join(__dirname, '../../src/cli/main.ts');

export { until };

/** Runs the opences CLI to completion (operator commands), with the node's database. */
export function cli(args: string[], o: { databaseUrl: string; input?: string; env?: NodeJS.ProcessEnv }): string {
  return execFileSync(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, DATABASE_URL: o.databaseUrl, OPENCES_LOG_LEVEL: 'silent', ...(o.env ?? {}) }, input: o.input ?? '', encoding: 'utf8' });
}

/** cli() without blocking the test's event loop (several commands at once). */
export function cliAsync(args: string[], o: { databaseUrl: string; env?: NodeJS.ProcessEnv }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, DATABASE_URL: o.databaseUrl, OPENCES_LOG_LEVEL: 'silent', ...(o.env ?? {}) }, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`opences ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * One `opences serve` process of a split deployment: its own data dir, ports and config file,
 * on a shared PostgreSQL. `start()` may be called again after `kill()` (same dir, same ports).
 */
export class NodeProcess {
  readonly dataDir = tmp('opences-node-');
  proc: ChildProcess | null = null;
  out = '';
  port = 0;
  pkiPort = 0;
  caApiPort = 0;
  private readonly configFile = join(this.dataDir, '..', `${this.dataDir.split('/').pop()}.yaml`);

  constructor(
    readonly name: string,
    private readonly o: { databaseUrl: string; roles: string; config?: Record<string, unknown>; args?: string[] },
  ) {}

  get url(): string {
    return `https://localhost:${this.port}`;
  }

  /** Chooses the node's ports (kept across restarts); start() does it when needed. */
  async allocate(): Promise<this> {
    if (!this.port) {
      this.port = await freePort();
      this.pkiPort = await freePort();
      this.caApiPort = await freePort();
    }
    return this;
  }

  async start(o: { waitMs?: number; config?: Record<string, unknown> } = {}): Promise<void> {
    await this.allocate();
    const extra = { ...(this.o.config ?? {}), ...(o.config ?? {}) };
    const ca = typeof extra.ca === 'object' && extra.ca !== null ? extra.ca : {};
    // Nodes on the superuser start anyway; per-role users (dbRoleUrls) set this false.
    writeFileSync(this.configFile, stringify({ databaseAllowExcessPrivileges: true, ...extra, ca: { ...ca, apiPort: this.caApiPort } }));
    this.out = '';
    const args = ['--import', 'tsx', CLI, 'serve', '--role', this.o.roles, '--workers', '1', '--config', this.configFile, '--data-dir', this.dataDir, '--port', String(this.port), '--pki-port', String(this.pkiPort), '--host', '127.0.0.1', '--hostname', 'localhost', ...(this.o.args ?? [])];
    // The config file says whether excess database rights are allowed, not the test runner's environment.
    const { OPENCES_DATABASE_ALLOW_EXCESS_PRIVILEGES: _allow, ...env } = process.env;
    const p = spawn(process.execPath, args, { env: { ...env, DATABASE_URL: this.o.databaseUrl, OPENCES_LOG_LEVEL: process.env.OPENCES_TEST_LOG ?? 'info' } });
    this.proc = p;
    p.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    const ok = await until(o.waitMs ?? 60_000, () => this.out.includes('opences is serving') || p.exitCode !== null);
    if (!ok || p.exitCode !== null) throw new Error(`${this.name} did not start (exit ${p.exitCode}):\n${this.out.slice(-4000)}`);
  }

  /** `kill -9`: no shutdown code runs. */
  async kill9(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await gone;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  }
}

export type NodeRole = 'cep' | 'ces' | 'ca' | 'admin';

/**
 * Least-privilege PostgreSQL users for a split deployment on one test schema: `opences db roles`
 * run as the owner (the superuser here), with a prefix of its own (roles belong to the whole
 * cluster, and test files run in parallel). `urls[role]` connects as that node role's user;
 * `drop()` removes the roles (after the schema is gone).
 */
export async function dbRoleUrls(ownerUrl: string): Promise<{ prefix: string; urls: Record<NodeRole, string>; loginFor(roles: NodeRole[]): Promise<string>; drop(): Promise<void> }> {
  const prefix = `t_${randomBytes(4).toString('hex')}_`;
  await cliAsync(['db', 'roles', '--prefix', prefix], { databaseUrl: ownerUrl });
  const url = (user: string): string => {
    const u = new URL(ownerUrl);
    u.username = user;
    u.password = '';
    return u.toString();
  };
  const owner = (): pg.Client => {
    const u = new URL(ownerUrl);
    u.search = '';
    return new pg.Client({ connectionString: u.toString() });
  };
  const extra: string[] = [];
  return {
    prefix,
    urls: { cep: url(`${prefix}cep`), ces: url(`${prefix}ces`), ca: url(`${prefix}ca`), admin: url(`${prefix}admin`) },
    /** A login role that is a member of each node role's role: a node with several roles (docs/deployment.md). */
    async loginFor(roles) {
      const name = `${prefix}${roles.join('_')}`;
      const c = owner();
      await c.connect();
      try {
        await c.query(`CREATE ROLE "${name}" LOGIN`);
        for (const r of roles) await c.query(`GRANT "${prefix}${r}" TO "${name}"`);
      } finally {
        await c.end();
      }
      extra.push(name);
      return url(name);
    },
    async drop() {
      const c = owner();
      await c.connect();
      try {
        for (const name of extra) await c.query(`DROP ROLE IF EXISTS "${name}"`);
        for (const r of ['cep', 'ces', 'ca', 'admin']) {
          // DROP OWNED removes what grants remain elsewhere (none expected once the schema is gone).
          await c.query(`DROP OWNED BY "${prefix}${r}"`).catch(() => undefined);
          await c.query(`DROP ROLE IF EXISTS "${prefix}${r}"`);
        }
      } finally {
        await c.end();
      }
    },
  };
}
