import { randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openssl, tmp } from './openssl.js';

/**
 * A partner's CA run with `openssl ca` (its own index.txt, serials and CRL numbers), the way a
 * small organisation runs one: certificates, revocations and CRLs nobody in this repository wrote.
 */
export interface OpensslCa {
  name: string;
  dir: string;
  certPem: string;
  /** Issues an end-entity certificate with clientAuth and the given SAN. `startDate`/`endDate` are openssl times (YYYYMMDDHHMMSSZ). */
  issue(cn: string, o?: { san?: string; key?: 'rsa' | 'ec'; days?: number; startDate?: string; endDate?: string }): { certPem: string; keyPem: string; certFile: string; serial: string };
  /** A subordinate CA signed by this one, with its own `openssl ca` database. */
  subordinate(name: string): OpensslCa;
  revoke(certFile: string, reason?: string): void;
  /** A CRL over this CA's revocations; by default valid for a day. Returns PEM and DER. */
  crl(o?: { hours?: number; seconds?: number; lastUpdate?: string; nextUpdate?: string; extensions?: string[] }): { pem: string; der: Buffer };
}

/** openssl's time format for a Date. */
export const osslTime = (d: Date): string => d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');

function caDir(name: string): string {
  const dir = tmp(`ca-${name.replace(/\W/g, '')}-`);
  mkdirSync(join(dir, 'newcerts'));
  writeFileSync(join(dir, 'index.txt'), '');
  // openssl wants an even number of hex digits: always eight.
  writeFileSync(join(dir, 'serial'), `${randomInt(0x10000000, 0x7fffffff).toString(16).toUpperCase()}\n`);
  writeFileSync(join(dir, 'crlnumber'), '1000\n');
  writeFileSync(
    join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = CA_default',
      '[CA_default]',
      `dir = ${dir}`,
      'database = $dir/index.txt',
      'new_certs_dir = $dir/newcerts',
      'certificate = $dir/ca.pem',
      'private_key = $dir/ca.key',
      'serial = $dir/serial',
      'crlnumber = $dir/crlnumber',
      'default_md = sha256',
      'default_days = 30',
      'default_crl_days = 1',
      'policy = policy_any',
      'unique_subject = no',
      'email_in_dn = no',
      'crl_extensions = crl_ext',
      '[policy_any]',
      'commonName = supplied',
      '[crl_ext]',
      'authorityKeyIdentifier = keyid:always',
      '',
    ].join('\n'),
  );
  return dir;
}

function makeCa(name: string, dir: string): OpensslCa {
  const cnf = join(dir, 'ca.cnf');
  let n = 0;
  return {
    name,
    dir,
    certPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    issue(cn, o = {}) {
      const id = `leaf${++n}`;
      const key = join(dir, `${id}.key`);
      if (o.key === 'ec') openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
      else openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key]);
      openssl(['req', '-new', '-key', key, '-subj', `/CN=${cn}`, '-out', join(dir, `${id}.csr`)]);
      writeFileSync(join(dir, `${id}.ext`), `[ext]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n${o.san ? `subjectAltName=${o.san}\n` : ''}`);
      const certFile = join(dir, `${id}.pem`);
      openssl(['ca', '-batch', '-notext', '-config', cnf, '-in', join(dir, `${id}.csr`), '-out', certFile, '-extfile', join(dir, `${id}.ext`), '-extensions', 'ext',
        ...(o.startDate ? ['-startdate', o.startDate] : []), ...(o.endDate ? ['-enddate', o.endDate] : ['-days', String(o.days ?? 10)])]);
      const serial = openssl(['x509', '-in', certFile, '-noout', '-serial']).trim().split('=')[1]!.toLowerCase();
      return { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(key, 'utf8'), certFile, serial };
    },
    subordinate(subName) {
      const sub = caDir(subName);
      openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', join(sub, 'ca.key')]);
      openssl(['req', '-new', '-key', join(sub, 'ca.key'), '-subj', `/CN=${subName}`, '-out', join(sub, 'ca.csr')]);
      writeFileSync(join(sub, 'ca.ext'), '[ext]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n');
      openssl(['ca', '-batch', '-notext', '-config', cnf, '-in', join(sub, 'ca.csr'), '-out', join(sub, 'ca.pem'), '-extfile', join(sub, 'ca.ext'), '-extensions', 'ext', '-days', '30']);
      return makeCa(subName, sub);
    },
    revoke(certFile, reason = 'keyCompromise') {
      openssl(['ca', '-config', cnf, '-revoke', certFile, '-crl_reason', reason]);
    },
    crl(o = {}) {
      const out = join(dir, `crl${++n}.pem`);
      const timing = o.nextUpdate ? ['-crl_lastupdate', o.lastUpdate ?? osslTime(new Date(Date.now() - 60_000)), '-crl_nextupdate', o.nextUpdate] : o.seconds !== undefined ? ['-crlsec', String(o.seconds)] : ['-crlhours', String(o.hours ?? 24)];
      let exts: string[] = [];
      if (o.extensions) {
        // An extension section of its own (the lines may name further sections, appended with it).
        const section = `crl_x${n}`;
        writeFileSync(cnf, `${readFileSync(cnf, 'utf8')}\n[${section}]\nauthorityKeyIdentifier = keyid:always\n${o.extensions.join('\n')}\n`);
        exts = ['-crlexts', section];
      }
      openssl(['ca', '-config', cnf, '-gencrl', '-out', out, ...timing, ...exts]);
      const pem = readFileSync(out, 'utf8');
      openssl(['crl', '-in', out, '-outform', 'DER', '-out', `${out}.der`]);
      return { pem, der: readFileSync(`${out}.der`) };
    },
  };
}

/** A partner's root CA (self-signed, P-256) with an `openssl ca` database. */
export function opensslRootCa(name: string): OpensslCa {
  const dir = caDir(name);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'), '-subj', `/CN=${name}`, '-days', '60',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'subjectKeyIdentifier=hash']);
  return makeCa(name, dir);
}

/**
 * A CA with chosen extensions and validity, for path-validation tests: self-signed (a root, via
 * `openssl ca -selfsign`, so its dates can lie in the past) or signed by `parent`. `ext` lines go
 * into the certificate's extension section (further sections may follow in `sections`); `keyFrom`
 * reuses another CA's key and name (a renewed root).
 */
export function opensslCustomCa(name: string, o: { parent?: OpensslCa; ext?: string[]; sections?: string; startDate?: string; endDate?: string; days?: number; keyFrom?: OpensslCa } = {}): OpensslCa {
  const dir = caDir(name);
  const key = join(dir, 'ca.key');
  if (o.keyFrom) writeFileSync(key, readFileSync(join(o.keyFrom.dir, 'ca.key')));
  else openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  openssl(['req', '-new', '-key', key, '-subj', `/CN=${name}`, '-out', join(dir, 'ca.csr')]);
  const ext = o.ext ?? ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'];
  writeFileSync(join(dir, 'ca.ext'), `[ext]\n${[...ext, 'subjectKeyIdentifier=hash', ...(o.parent ? ['authorityKeyIdentifier=keyid:always'] : [])].join('\n')}\n${o.sections ?? ''}\n`);
  const validity = [...(o.startDate ? ['-startdate', o.startDate] : []), ...(o.endDate ? ['-enddate', o.endDate] : ['-days', String(o.days ?? 30)])];
  const signer = o.parent ? ['-config', join(o.parent.dir, 'ca.cnf')] : ['-config', join(dir, 'ca.cnf'), '-selfsign', '-keyfile', key];
  openssl(['ca', '-batch', '-notext', ...signer, '-in', join(dir, 'ca.csr'), '-out', join(dir, 'ca.pem'), '-extfile', join(dir, 'ca.ext'), '-extensions', 'ext', ...validity]);
  return makeCa(name, dir);
}
