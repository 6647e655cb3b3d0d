import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './server.js';

export interface Slapd {
  url: string;
  suffix: string;
  addUser(uid: string, password: string, o?: { mail?: string; groups?: string[] }): void;
  stop(): Promise<void>;
}

/** A throwaway OpenLDAP server (Debian's slapd) on a free loopback port, with an mdb database in a temp dir. */
export async function startSlapd(): Promise<Slapd> {
  if (!existsSync('/usr/sbin/slapd') || !existsSync('/usr/bin/ldapadd')) throw new Error('slapd is not installed: apt-get install slapd ldap-utils');
  const dir = mkdtempSync(join(tmpdir(), 'slapd-'));
  mkdirSync(join(dir, 'db'));
  const suffix = 'dc=example,dc=test';
  const rootdn = `cn=admin,${suffix}`;
  writeFileSync(
    join(dir, 'slapd.conf'),
    [
      'include /etc/ldap/schema/core.schema',
      'include /etc/ldap/schema/cosine.schema',
      'include /etc/ldap/schema/inetorgperson.schema',
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      `pidfile ${join(dir, 'slapd.pid')}`,
      'database mdb',
      `suffix "${suffix}"`,
      `rootdn "${rootdn}"`,
      'rootpw admin-secret',
      `directory ${join(dir, 'db')}`,
      'maxsize 10485760',
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const child: ChildProcess = spawn('/usr/sbin/slapd', ['-f', join(dir, 'slapd.conf'), '-h', `${url}/`, '-d', '0'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => {
        s.end();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const ldapadd = (ldif: string): void => {
    const r = spawnSync('/usr/bin/ldapadd', ['-x', '-H', url, '-D', rootdn, '-w', 'admin-secret'], { input: ldif, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ldapadd failed: ${r.stderr}`);
  };
  ldapadd(`dn: ${suffix}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\ndn: ou=people,${suffix}\nobjectClass: organizationalUnit\nou: people\n`);
  return {
    url,
    suffix,
    addUser(uid, password, o = {}) {
      ldapadd(
        `dn: uid=${uid},ou=people,${suffix}\nobjectClass: inetOrgPerson\nuid: ${uid}\ncn: ${uid}\nsn: ${uid}\nuserPassword: ${password}\n` +
          (o.mail ? `mail: ${o.mail}\n` : '') +
          (o.groups ?? []).map((g) => `businessCategory: cn=${g},ou=groups,${suffix}\n`).join(''),
      );
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
