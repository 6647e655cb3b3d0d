import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway Active Directory domain: Samba 4 as a DC (Debian `samba samba-ad-dc winbind
 * ldb-tools krb5-user`) on the standard ports 88/389/636 of the loopback interface, in a temp
 * dir. One domain per machine at a time: a lock file serialises test files that need one; stop()
 * stops samba, removes its dir and releases the lock. Its LDAPS certificate is ours (CN=localhost,
 * IP 127.0.0.1, `tlsCaFile`), so clients verify it.
 */
export interface SambaDc {
  realm: string;
  domain: string;
  baseDn: string;
  dir: string;
  /** krb5.conf naming this KDC (127.0.0.1:88). */
  krb5Conf: string;
  /** CA certificate of the DC's LDAPS certificate (for `tlsCaFile`). */
  tlsCaFile: string;
  ldapsUrl: string;
  /** samba-tool with this DC's smb.conf; throws with its output on failure. */
  tool(args: string[]): string;
  /** ldbsearch on the DC's database: the attribute's first value, e.g. objectSid. */
  attribute(filter: string, attribute: string): string | undefined;
  /** Applies an LDIF to the DC's database. */
  modify(ldif: string): void;
  addUser(name: string, password: string, o?: { mail?: string }): void;
  /** A computer account NAME$ with dNSHostName and HOST SPNs; returns a keytab of its keys. */
  addComputer(name: string): { keytab: string; dnsName: string; principal: string };
  /** A keytab with the keys of a service principal (e.g. HTTP/localhost) owned by `account`. */
  serviceKeytab(spn: string, account: string): string;
  /** kinit into a credential cache file; returns its path. */
  kinit(principal: string, o: { password?: string; keytab?: string }): string;
  /** Gets a service ticket into a credential cache now (kvno), e.g. before the account is disabled. */
  serviceTicket(ccache: string, spn: string): void;
  stop(): Promise<void>;
}

const BINS = ['/usr/sbin/samba', '/usr/bin/samba-tool', '/usr/bin/ldbsearch', '/usr/bin/ldbmodify', '/usr/bin/kinit'];
export const SAMBA_PACKAGES = 'samba samba-ad-dc winbind ldb-tools krb5-user';
const LOCK = join(tmpdir(), 'opences-samba-dc.lock');

/** Whether Samba is installed here; why not, when it is not. */
export function sambaMissing(): string | null {
  const missing = BINS.filter((b) => !existsSync(b));
  return missing.length ? `Samba AD DC is not installed (${missing.join(', ')} missing): apt-get install ${SAMBA_PACKAGES}` : null;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Takes the machine-wide DC lock, waiting for another holder (a stale lock of a dead process is taken over). */
async function lock(timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch {
      const holder = Number(readFileSync(LOCK, 'utf8').trim() || '0');
      if (!holder || !alive(holder)) {
        rmSync(LOCK, { force: true });
        continue;
      }
      if (Date.now() > until) throw new Error(`another test holds the Samba DC lock ${LOCK} (pid ${holder})`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function unlock(): void {
  try {
    if (readFileSync(LOCK, 'utf8').trim() === String(process.pid)) rmSync(LOCK, { force: true });
  } catch {
    // already gone
  }
}

function run(cmd: string, args: string[], env: Record<string, string> = {}, input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, input, timeout: 180_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

export async function startSambaDc(o: { realm?: string; domain?: string; adminPassword?: string } = {}): Promise<SambaDc> {
  const why = sambaMissing();
  if (why) throw new Error(why);
  const realm = o.realm ?? 'AD.TEST';
  const domain = o.domain ?? 'ADTEST';
  const baseDn = realm
    .toLowerCase()
    .split('.')
    .map((p) => `DC=${p}`)
    .join(',');
  await lock(15 * 60_000);
  let proc: ChildProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'opences-samba-'));
  const cleanup = async (): Promise<void> => {
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc!.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
    unlock();
  };
  try {
    // Our own TLS certificate for LDAPS, so clients verify the DC by name (localhost).
    const tlsKey = join(dir, 'tls-key.pem');
    const tlsCert = join(dir, 'tls-cert.pem');
    run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', tlsKey, '-out', tlsCert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
    run('chmod', ['600', tlsKey]);
    const target = join(dir, 'dc');
    run('samba-tool', [
      'domain',
      'provision',
      `--targetdir=${target}`,
      `--realm=${realm}`,
      `--domain=${domain}`,
      '--server-role=dc',
      '--dns-backend=NONE',
      `--adminpass=${o.adminPassword ?? 'Adm1n-Pass-x!'}`,
      '--option=interfaces=lo',
      '--option=bind interfaces only=yes',
      `--option=tls certfile=${tlsCert}`,
      `--option=tls keyfile=${tlsKey}`,
      `--option=tls cafile=${tlsCert}`,
    ]);
    const smbConf = join(target, 'etc', 'smb.conf');
    const sam = join(target, 'private', 'sam.ldb');
    const krb5Conf = join(dir, 'krb5.conf');
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
        '',
        '[realms]',
        `  ${realm} = {`,
        '    kdc = 127.0.0.1:88',
        '  }',
        '',
        '[domain_realm]',
        `  localhost = ${realm}`,
        `  .${realm.toLowerCase()} = ${realm}`,
        '',
      ].join('\n'),
    );
    proc = spawn('samba', ['-s', smbConf, '-i', '-M', 'single'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    const until = Date.now() + 120_000;
    while (!((await portOpen(636)) && (await portOpen(88)))) {
      if (proc.exitCode !== null) throw new Error(`samba exited (${proc.exitCode}): ${err}`);
      if (Date.now() > until) throw new Error(`samba did not open ports 88 and 636 in 120 s: ${err}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    const S = ['-s', smbConf];
    const krbEnv = { KRB5_CONFIG: krb5Conf };
    let n = 0;
    const dc: SambaDc = {
      realm,
      domain,
      baseDn,
      dir,
      krb5Conf,
      tlsCaFile: tlsCert,
      ldapsUrl: 'ldaps://localhost:636',
      tool: (args) => run('samba-tool', [...args, ...S]),
      attribute(filter, attribute) {
        const out = run('ldbsearch', ['-H', sam, filter, attribute]);
        const m = new RegExp(`^${attribute}: (.*)$`, 'mi').exec(out);
        return m?.[1]?.trim();
      },
      modify(ldif) {
        const f = join(dir, `mod-${n++}.ldif`);
        writeFileSync(f, ldif);
        run('ldbmodify', ['-H', sam, f]);
      },
      addUser(name, password, u = {}) {
        dc.tool(['user', 'create', name, password, ...(u.mail ? [`--mail-address=${u.mail}`] : [])]);
      },
      addComputer(name) {
        const host = `${name.toLowerCase()}.${realm.toLowerCase()}`;
        dc.tool(['computer', 'create', name]);
        // A joined host's password and names, as `net ads join` sets them.
        dc.tool(['user', 'setpassword', `${name}$`, `--newpassword=Mach-${Math.random().toString(36).slice(2)}-Pw1!`]);
        dc.modify(`dn: CN=${name},CN=Computers,${baseDn}\nchangetype: modify\nadd: dNSHostName\ndNSHostName: ${host}\n-\nadd: servicePrincipalName\nservicePrincipalName: HOST/${host}\nservicePrincipalName: HOST/${name}\n`);
        const keytab = join(dir, `${name.toLowerCase()}.keytab`);
        dc.tool(['domain', 'exportkeytab', keytab, `--principal=${name}$`]);
        return { keytab, dnsName: host, principal: `${name}$@${realm}` };
      },
      serviceKeytab(spn, account) {
        dc.tool(['spn', 'add', spn, account]);
        const keytab = join(dir, `${spn.replace(/[^A-Za-z0-9]/g, '_')}.keytab`);
        dc.tool(['domain', 'exportkeytab', keytab, `--principal=${spn}`]);
        return keytab;
      },
      kinit(principal, k) {
        const cc = join(dir, `cc-${principal.replace(/[^A-Za-z0-9]/g, '_')}-${n++}`);
        if (k.keytab) run('kinit', ['-k', '-t', k.keytab, '-c', `FILE:${cc}`, principal], krbEnv);
        else run('kinit', ['-c', `FILE:${cc}`, principal], krbEnv, `${k.password ?? ''}\n`);
        return cc;
      },
      serviceTicket(ccache, spn) {
        run('kvno', ['-c', `FILE:${ccache}`, spn], krbEnv);
      },
      stop: cleanup,
    };
    return dc;
  } catch (e) {
    await cleanup();
    throw e;
  }
}
