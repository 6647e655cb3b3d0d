import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface Kdc {
  realm: string;
  dir: string;
  port: number;
  /** krb5.conf for clients and servers of this realm (also in env.KRB5_CONFIG). */
  krb5Conf: string;
  env: { KRB5_CONFIG: string; KRB5_KDC_PROFILE: string };
  addUser(name: string, password: string): void;
  /**
   * Adds a service principal (`HTTP/localhost`) and returns the path of a keytab holding its keys
   * (`keytab`: add them to that file instead; `enctypes`: only keys of these, e.g. `aes128-cts-hmac-sha256-128`).
   */
  addService(spn: string, o?: { keytab?: string; enctypes?: string[] }): string;
  /** kinit into a credential cache file (default: one per user in the realm's dir); returns its path. */
  kinit(user: string, password: string, ccachePath?: string, o?: { lifetime?: string }): string;
  /** Runs a Kerberos client tool (klist, kvno, …) against this realm; throws with its output on failure. */
  run(cmd: string, args: string[], extraEnv?: Record<string, string>, input?: string): string;
  stop(): Promise<void>;
}

export interface KdcOptions {
  realm?: string;
  /** libdefaults clockskew (s) for everyone using this krb5.conf; small values let tests see tickets expire. */
  clockSkew?: number;
  /** Extra `[libdefaults]` settings, e.g. { permitted_enctypes: 'DEFAULT arcfour-hmac' }. */
  libdefaults?: Record<string, string>;
}

const BINS = ['/usr/sbin/kdb5_util', '/usr/sbin/kadmin.local', '/usr/sbin/krb5kdc', '/usr/bin/kinit', '/usr/bin/klist', '/usr/bin/kvno'];
const INSTALL = 'apt-get install krb5-kdc krb5-user krb5-admin-server libkrb5-dev';

/**
 * A throwaway MIT Kerberos realm (Debian's krb5-kdc) on a free loopback port, in a temp dir.
 * Missing binaries are an error naming the packages, never a skipped test.
 */
export async function startKdc(o: KdcOptions | string = {}): Promise<Kdc> {
  const opts: KdcOptions = typeof o === 'string' ? { realm: o } : o;
  const realm = opts.realm ?? 'OPENCES.TEST';
  const missing = BINS.filter((b) => !existsSync(b));
  if (missing.length) throw new Error(`MIT Kerberos is not installed (${missing.join(', ')} missing): ${INSTALL}`);
  const dir = mkdtempSync(join(tmpdir(), 'opences-kdc-'));
  const port = await freeTcpUdpPort();
  const krb5Conf = join(dir, 'krb5.conf');
  const kdcConf = join(dir, 'kdc.conf');
  // The [realms] block must be multi-line: MIT's profile parser ignores `R = { kdc = … }` on one line.
  // rdns=false and explicit localhost mapping keep `HTTP@localhost` from becoming HTTP/<reverse DNS name>.
  writeFileSync(
    krb5Conf,
    [
      '[libdefaults]',
      `  default_realm = ${realm}`,
      '  dns_lookup_kdc = false',
      '  dns_lookup_realm = false',
      '  dns_canonicalize_hostname = false',
      '  rdns = false',
      '  udp_preference_limit = 1',
      `  default_ccache_name = FILE:${join(dir, 'ccache_default')}`,
      `  default_keytab_name = FILE:${join(dir, 'default.keytab')}`,
      ...(opts.clockSkew !== undefined ? [`  clockskew = ${opts.clockSkew}`] : []),
      ...Object.entries(opts.libdefaults ?? {}).map(([k, v]) => `  ${k} = ${v}`),
      '',
      '[realms]',
      `  ${realm} = {`,
      `    kdc = 127.0.0.1:${port}`,
      '  }',
      '',
      '[domain_realm]',
      `  localhost = ${realm}`,
      `  .opences.test = ${realm}`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    kdcConf,
    [
      '[kdcdefaults]',
      `  kdc_listen = 127.0.0.1:${port}`,
      `  kdc_tcp_listen = 127.0.0.1:${port}`,
      '',
      '[realms]',
      `  ${realm} = {`,
      `    database_name = ${join(dir, 'principal')}`,
      `    key_stash_file = ${join(dir, 'stash')}`,
      `    acl_file = ${join(dir, 'kadm5.acl')}`,
      '    max_life = 10h 0m 0s',
      '  }',
      '',
      '[logging]',
      `  kdc = FILE:${join(dir, 'kdc.log')}`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'kadm5.acl'), '');
  const env = { KRB5_CONFIG: krb5Conf, KRB5_KDC_PROFILE: kdcConf };
  const run = (cmd: string, args: string[], extraEnv: Record<string, string> = {}, input?: string): string => {
    const r = spawnSync(cmd, args, { env: { ...process.env, ...env, ...extraEnv }, input, encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  const admin = (q: string): void => {
    const out = run('/usr/sbin/kadmin.local', ['-r', realm, '-q', q]);
    // kadmin.local exits 0 even when the query fails; it reports on stdout/stderr instead.
    if (/error|failed|not found/i.test(out)) throw new Error(`kadmin.local ${q}: ${out}`);
  };
  run('/usr/sbin/kdb5_util', ['create', '-s', '-r', realm, '-P', randomBytes(18).toString('base64url')]);
  const kdc: ChildProcess = spawn('/usr/sbin/krb5kdc', ['-n', '-r', realm], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  kdc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitForPort(port, kdc, () => stderr);
  const stop = async (): Promise<void> => {
    if (kdc.exitCode === null && kdc.signalCode === null) {
      const exited = new Promise((r) => kdc.once('exit', r));
      kdc.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    realm,
    dir,
    port,
    krb5Conf,
    env,
    addUser(name, password) {
      // The password goes through kadmin's own query parser: keep test passwords free of quotes and spaces.
      if (/["\s]/.test(password)) throw new Error('test passwords must not contain quotes or spaces');
      admin(`addprinc -pw "${password}" ${name}`);
    },
    addService(spn, so = {}) {
      const keytab = so.keytab ?? join(dir, `${spn.replace(/[^A-Za-z0-9.-]/g, '_')}.keytab`);
      const e = so.enctypes?.length ? ` -e "${so.enctypes.map((x) => `${x}:normal`).join(' ')}"` : '';
      admin(`addprinc -randkey${e} ${spn}`);
      // The KDC picks the session key's type on its own (aes256 by default); make it these too.
      if (so.enctypes?.length) admin(`setstr ${spn} session_enctypes "${so.enctypes.join(' ')}"`);
      admin(`ktadd -k ${keytab}${e} ${spn}`);
      return keytab;
    },
    kinit(user, password, ccachePath, ko = {}) {
      const ccache = ccachePath ?? join(dir, `ccache_${user.replace(/[^A-Za-z0-9.-]/g, '_')}`);
      run('/usr/bin/kinit', ['-c', `FILE:${ccache}`, ...(ko.lifetime ? ['-l', ko.lifetime] : []), user], {}, `${password}\n`);
      return ccache;
    },
    run,
    stop,
  };
}

/** The KDC is ready when its TCP listener accepts; give up (and say why) after 5 s. */
async function waitForPort(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`krb5kdc exited with ${child.exitCode}: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`krb5kdc did not listen on 127.0.0.1:${port} within 5 s: ${stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A loopback port free for both TCP and UDP (the KDC listens on both); no dependency on the server helpers. */
async function freeTcpUdpPort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const a = srv.address();
        srv.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no loopback port free for both TCP and UDP');
}

/** The client half of the optional `kerberos` binding that the tests use to make SPNEGO tokens. */
export interface KerberosClientModule {
  initializeClient(service: string, o: { mechOID: unknown }): Promise<{ step(challenge: string): Promise<string> }>;
  GSS_MECH_OID_SPNEGO: unknown;
}

/** The `kerberos` binding, whichever way its CommonJS module comes through the ESM loader. */
export async function loadKerberosClient(): Promise<KerberosClientModule> {
  const m = (await import('kerberos')) as unknown as { default?: KerberosClientModule } & KerberosClientModule;
  return m.default ?? m;
}
