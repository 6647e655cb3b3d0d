import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './server.js';

export interface Slapd {
  url: string;
  suffix: string;
  /** `upn` / `krb5Principal` set userPrincipalName / krb5PrincipalName; `groups` go into businessCategory, as DNs. */
  addUser(uid: string, password: string, o?: { mail?: string; groups?: string[]; upn?: string; krb5Principal?: string }): void;
  /** A groupOfNames under ou=groups with these uids as members (with `memberOf`, the overlay maintains their memberOf). */
  addGroup(cn: string, memberUids: string[]): void;
  /**
   * A groupOfNames `cn=<cn>,ou=groups,<suffix>` (cn DN-escaped, so it may hold `*`, `(`, `)`, `\`) whose
   * members are these DNs (users or other groups: nesting); returns its DN. With no members it names the manager.
   */
  addGroupWithMembers(cn: string, memberDns: string[]): string;
  /** The DN addGroupWithMembers gives the group `cn`. */
  groupDn(cn: string): string;
  /** A service account `cn=<cn>,ou=services,<suffix>` that can bind with this password; returns its DN. */
  addService(cn: string, password: string): string;
  /** Runs ldapmodify as the directory manager. */
  modify(ldif: string): void;
  userDn(uid: string): string;
  stop(): Promise<void>;
}

export interface SlapdOptions {
  /** Load the memberof overlay (groupOfNames membership shows as memberOf on the member), as AD has it. */
  memberOf?: boolean;
  /**
   * Principal-name attributes as directories carry them: AD's userPrincipalName (case-insensitive)
   * and MIT's krb5PrincipalName (case-exact), on an auxiliary class. (Debian's msuser.schema has
   * userPrincipalName without an EQUALITY rule, so no filter would ever match it.)
   */
  principalSchema?: boolean;
}

/** A throwaway OpenLDAP server (Debian's slapd) on a free loopback port, with an mdb database in a temp dir. */
export async function startSlapd(o: SlapdOptions = {}): Promise<Slapd> {
  if (!existsSync('/usr/sbin/slapd') || !existsSync('/usr/bin/ldapadd')) throw new Error('slapd is not installed: apt-get install slapd ldap-utils');
  const dir = mkdtempSync(join(tmpdir(), 'slapd-'));
  mkdirSync(join(dir, 'db'));
  const suffix = 'dc=example,dc=test';
  const rootdn = `cn=admin,${suffix}`;
  writeFileSync(
    join(dir, 'principal.schema'),
    [
      "attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )",
      "attributetype ( 2.16.840.1.113719.1.301.6.8.1 NAME 'krb5PrincipalName' EQUALITY caseExactIA5Match SUBSTR caseExactSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )",
      "objectclass ( 1.3.6.1.4.1.99999.424242.1 NAME 'opencesTestPrincipal' AUXILIARY MAY ( userPrincipalName $ krb5PrincipalName ) )",
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'slapd.conf'),
    [
      'include /etc/ldap/schema/core.schema',
      'include /etc/ldap/schema/cosine.schema',
      'include /etc/ldap/schema/inetorgperson.schema',
      ...(o.principalSchema ? [`include ${join(dir, 'principal.schema')}`] : []),
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      ...(o.memberOf ? ['moduleload memberof'] : []),
      `pidfile ${join(dir, 'slapd.pid')}`,
      'database mdb',
      `suffix "${suffix}"`,
      `rootdn "${rootdn}"`,
      'rootpw admin-secret',
      `directory ${join(dir, 'db')}`,
      'maxsize 10485760',
      ...(o.memberOf ? ['overlay memberof'] : []),
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
  ldapadd(
    `dn: ${suffix}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n` +
      ['people', 'groups', 'services'].map((ou) => `dn: ou=${ou},${suffix}\nobjectClass: organizationalUnit\nou: ${ou}\n`).join('\n'),
  );
  const userDn = (uid: string): string => `uid=${uid},ou=people,${suffix}`;
  // RFC 4514 §2.4 escaping of the cn value.
  const groupDnOf = (cn: string): string => `cn=${cn.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`).replace(/^[ #]/, (c) => `\\${c}`).replace(/ $/, '\\ ')},ou=groups,${suffix}`;
  return {
    url,
    suffix,
    userDn,
    addUser(uid, password, u = {}) {
      ldapadd(
        `dn: ${userDn(uid)}\nobjectClass: inetOrgPerson\n${u.upn || u.krb5Principal ? 'objectClass: opencesTestPrincipal\n' : ''}uid: ${uid}\ncn: ${uid}\nsn: ${uid}\nuserPassword: ${password}\n` +
          (u.mail ? `mail: ${u.mail}\n` : '') +
          (u.upn ? `userPrincipalName: ${u.upn}\n` : '') +
          (u.krb5Principal ? `krb5PrincipalName: ${u.krb5Principal}\n` : '') +
          (u.groups ?? []).map((g) => `businessCategory: cn=${g},ou=groups,${suffix}\n`).join(''),
      );
    },
    addGroup(cn, memberUids) {
      // groupOfNames needs at least one member; an empty group names the manager, as directories usually do.
      const members = memberUids.length ? memberUids.map(userDn) : [rootdn];
      ldapadd(`dn: cn=${cn},ou=groups,${suffix}\nobjectClass: groupOfNames\ncn: ${cn}\n${members.map((m) => `member: ${m}\n`).join('')}`);
    },
    addGroupWithMembers(cn, memberDns) {
      const dn = groupDnOf(cn);
      const members = memberDns.length ? memberDns : [rootdn];
      // Values that are not safe LDIF strings (here: a leading space or ':' or '<', or a backslash) travel base64-encoded.
      const line = (attr: string, v: string): string => (/^[ :<]|[\\\x00-\x1f\x7f-\uffff]/.test(v) ? `${attr}:: ${Buffer.from(v, 'utf8').toString('base64')}\n` : `${attr}: ${v}\n`);
      ldapadd(`${line('dn', dn)}objectClass: groupOfNames\n${line('cn', cn)}${members.map((m) => line('member', m)).join('')}`);
      return dn;
    },
    groupDn: (cn) => groupDnOf(cn),
    addService(cn, password) {
      const dn = `cn=${cn},ou=services,${suffix}`;
      ldapadd(`dn: ${dn}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: ${cn}\nuserPassword: ${password}\n`);
      return dn;
    },
    modify(ldif) {
      const r = spawnSync('/usr/bin/ldapmodify', ['-x', '-H', url, '-D', rootdn, '-w', 'admin-secret'], { input: ldif, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ldapmodify failed: ${r.stderr}`);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
