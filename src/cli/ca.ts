import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Config } from '../config.js';
import { OpencesError } from '../errors.js';
import { systemClock } from '../clock.js';
import type { Db } from '../store/db.js';
import { openDb } from '../store/open.js';
import { installIssuingCa, pemCertificates, prepareIssuingCa } from '../ca/external.js';
import { pendingRenewal } from '../ca/renew.js';
import { initCa, loadHierarchy, pem, writeCaCertificates } from '../ca/init.js';
import { openKeyStore } from '../ca/keys/open.js';
import { Pkcs11KeyStore } from '../ca/keys/pkcs11.js';
import type { CaKeyType, KeyStore } from '../ca/types.js';
import { importRootCrl, rootCrl, rootInit, rootSign } from '../ca/offline-root.js';
import { loadConfig } from '../config.js';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { newKeyAndCsr } from '../ca/local-request.js';
import { parseSan, parseSubject } from '../client/request-builder.js';
import { addCommonOptions, configFrom, print, type CommonOptions } from './common.js';
import { fail } from './exit.js';
import { operate } from './operator.js';

/**
 * `opences ca client-cert issue`: the client certificate an enrollment node (ces, cep, admin)
 * presents to the CA signing API. Runs where the CA key is (the ca node's data directory, with
 * its database): through the running server's control socket when one listens there, directly
 * otherwise. The key is made here and written 0600, never sent anywhere (not even to the server).
 */
export function registerCaCommands(program: Command): void {
  const ca = program.command('ca').description('the CA node');
  addCommonOptions(ca.command('init').description('create the CA: a root and an issuing CA (default), or with --issuing-only an issuing CA key and its CSR for another root to sign'))
    .option('--issuing-only', 'make the issuing CA key (ca.keyStore: file or pkcs11) and write its CSR; then opences ca install')
    .option('--csr-out <file>', 'where the CSR goes (with --issuing-only)')
    .option('--json', 'machine-readable output')
    .action(async (opts: CommonOptions & Record<string, unknown> & { issuingOnly?: boolean; csrOut?: string }) => {
      try {
        const config = configFrom(opts);
        await withCaStore(config, async (db, keyStore) => {
          if (opts.issuingOnly) {
            if (!opts.csrOut) throw new OpencesError('malformed', '--csr-out is required with --issuing-only');
            const r = await prepareIssuingCa({ db, dataDir: config.dataDir, keyStore, keyType: config.ca.keyType, caName: config.ca.name });
            mkdirSync(dirname(opts.csrOut), { recursive: true });
            writeFileSync(opts.csrOut, pem(r.csrDer, 'CERTIFICATE REQUEST'), { mode: 0o644 });
            print(opts.json, { csr: opts.csrOut, keyRef: r.keyRef }, () => `issuing CA key ${r.keyRef} made; CSR in ${opts.csrOut}\nhave the root sign it, then: opences ca install --cert ISSUING.pem --chain ROOT.pem`);
            return;
          }
          const h = await initCa({ db, keyStore, keyType: config.ca.keyType, caName: config.ca.name, rootName: config.ca.rootName, pkiBaseUrl: config.pkiBaseUrl, clock: systemClock });
          const paths = writeCaCertificates(config.dataDir, h.info);
          print(opts.json, { created: h.created, root: paths.root, issuing: paths.issuing }, () => `${h.created ? 'created' : 'already present'}: ${h.root.name} and ${h.issuing.name}\n  ${paths.root}\n  ${paths.issuing}`);
        });
      } catch (e) {
        fail(e);
      }
    });
  const root = ca.command('root').description('an offline root kept by opences on a machine that never serves (docs/ca-ceremonies.md)');
  const rootStore = (opts: { config?: string; dir: string }): { config: Config; keyStore: KeyStore } => {
    // The root's own directory stands in for a data directory: key files under <dir>/secrets, or ca.pkcs11 from --config.
    const config = loadConfig({ file: opts.config, flags: { dataDir: opts.dir } });
    return { config, keyStore: openKeyStore(config) };
  };
  const closeStore = (k: KeyStore): void => {
    if (k instanceof Pkcs11KeyStore) k.close();
  };
  root.command('init').description('make the root key and its self-signed certificate in --dir')
    .requiredOption('--dir <dir>', "the root's directory (root.crt, root.json; secrets/ with the file key store)")
    .option('--config <file>', 'configuration (ca.keyStore, ca.pkcs11, ca.keyType) when the root key goes into a token')
    .option('--name <cn>', 'root CA common name', 'opences Offline Root CA')
    .option('--key-type <type>', 'RSA-2048/3072/4096, P-256, P-384 (default ca.keyType)')
    .option('--years <n>', 'validity in years', '20')
    .action(async (opts: { dir: string; config?: string; name: string; keyType?: string; years: string }) => {
      try {
        const { config, keyStore } = rootStore(opts);
        try {
          const keyType = (opts.keyType ?? config.ca.keyType) as CaKeyType;
          const r = await rootInit({ dir: opts.dir, keyStore, keyType, name: opts.name, years: Number(opts.years), clock: systemClock });
          process.stdout.write(`root "${opts.name}" made: ${r.path}\n`);
        } finally {
          closeStore(keyStore);
        }
      } catch (e) {
        fail(e);
      }
    });
  root.command('sign <csr>').description('sign an issuing CA CSR (PEM or DER) as a CA certificate')
    .requiredOption('--dir <dir>', "the root's directory")
    .requiredOption('--out <file>', 'the issuing CA certificate (PEM)')
    .option('--config <file>', 'configuration naming the token, when the root key is in one')
    .option('--days <n>', 'validity in days', '1825')
    .option('--crl-url <url>', "the root's CRL distribution point, put in the certificate")
    .option('--aia-url <url>', "where the root certificate is published, put in the certificate's AIA")
    .action(async (csrFile: string, opts: { dir: string; out: string; config?: string; days: string; crlUrl?: string; aiaUrl?: string }) => {
      try {
        const raw = readFileSync(csrFile);
        const text = raw.toString('latin1');
        const m = /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]*?)-----END/.exec(text);
        const csrDer = new Uint8Array(m ? Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64') : raw);
        const { keyStore } = rootStore(opts);
        try {
          const der = await rootSign({ dir: opts.dir, keyStore, csrDer, days: Number(opts.days), ...(opts.crlUrl ? { crlUrl: opts.crlUrl } : {}), ...(opts.aiaUrl ? { aiaUrl: opts.aiaUrl } : {}), clock: systemClock });
          writeFileSync(opts.out, pem(der), { mode: 0o644 });
          process.stdout.write(`signed: ${opts.out}\n`);
        } finally {
          closeStore(keyStore);
        }
      } catch (e) {
        fail(e);
      }
    });
  root.command('crl').description("sign the root's CRL, for the server to publish (opences ca import-crl)")
    .requiredOption('--dir <dir>', "the root's directory")
    .requiredOption('--out <file>', 'the CRL (DER)')
    .option('--config <file>', 'configuration naming the token, when the root key is in one')
    .option('--days <n>', 'nextUpdate in days', '180')
    .action(async (opts: { dir: string; out: string; config?: string; days: string }) => {
      try {
        const { keyStore } = rootStore(opts);
        try {
          writeFileSync(opts.out, await rootCrl({ dir: opts.dir, keyStore, days: Number(opts.days), clock: systemClock }), { mode: 0o644 });
          process.stdout.write(`CRL signed: ${opts.out}\n`);
        } finally {
          closeStore(keyStore);
        }
      } catch (e) {
        fail(e);
      }
    });
  addCommonOptions(ca.command('import-crl <file>').description("import the offline root's CRL (DER or PEM) for publication under /pki/ (run with no server on an embedded database)"))
    .action(async (file: string, opts: CommonOptions & Record<string, unknown>) => {
      try {
        const config = configFrom(opts);
        const raw = readFileSync(file);
        const m = /-----BEGIN X509 CRL-----([\s\S]*?)-----END/.exec(raw.toString('latin1'));
        const der = new Uint8Array(m ? Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64') : raw);
        mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
        const db = await openDb({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: 1, prepare: config.databasePreparedStatements });
        try {
          const r = await importRootCrl(db, der);
          process.stdout.write(`imported CRL ${r.number} of "${r.ca}" (next update ${r.nextUpdate.toISOString()})\n`);
        } finally {
          await db.close();
        }
      } catch (e) {
        fail(e);
      }
    });
  addCommonOptions(ca.command('install').description('install the issuing CA certificate another root signed: for the key of opences ca init --issuing-only, or of opences ca renew --csr-out (the next generation)'))
    .requiredOption('--cert <file>', 'the issuing CA certificate (PEM)')
    .option('--chain <file>', 'the root certificate and any intermediate CA certificates between it and the issuing CA (PEM); required for a first installation')
    .option('--json', 'machine-readable output')
    .action(async (opts: CommonOptions & Record<string, unknown> & { cert: string; chain?: string }) => {
      try {
        const config = configFrom(opts);
        const [certificate] = pemCertificates(readFileSync(opts.cert, 'utf8'));
        if (!certificate) throw new OpencesError('malformed', `${opts.cert} holds no PEM certificate`);
        const chain = opts.chain ? pemCertificates(readFileSync(opts.chain, 'utf8')) : [];
        if (pendingRenewal(config.dataDir)) {
          // A renewal: through the running server when there is one, which switches to it at once.
          const r = (await operate(config, 'ca.installRenewal', { cert: certificate.toString('base64'), chain: chain.map((c) => c.toString('base64')) })) as RenewedAnswer;
          print(opts.json, r, () => renewedText(r));
          return;
        }
        if (!opts.chain) throw new OpencesError('malformed', '--chain ROOT.pem is required to install an issuing CA');
        await withCaStore(config, async (db, keyStore) => {
          const r = await installIssuingCa({ db, dataDir: config.dataDir, keyStore, certificate, chain });
          const h = await loadHierarchy(db);
          const paths = h ? writeCaCertificates(config.dataDir, h.info) : null;
          print(opts.json, { name: r.name, root: r.root, intermediates: r.intermediates, ...(paths ? { files: paths } : {}) }, () => `installed "${r.name}" under ${[...[...r.intermediates].reverse(), r.root].map((n) => `"${n}"`).join(' under ')}${paths ? `\n  ${paths.root}\n  ${paths.issuing}` : ''}`);
        });
      } catch (e) {
        fail(e);
      }
    });
  addCommonOptions(ca.command('renew').description('a new certificate for the issuing CA, with its key or a new one (--new-key); issuance switches to it, earlier keys keep signing their CRLs (docs/ca-ceremonies.md)'))
    .option('--new-key', 'make a new key (in the same key store: file, or the same PKCS#11 token)')
    .option('--csr-out <file>', 'write a CSR for the root to sign (required when the root key is not on this node); then opences ca install --cert NEW.pem')
    .option('--years <n>', 'validity of the new certificate when our root signs it (default 10, never past the root)')
    .option('--json', 'machine-readable output')
    .action(async (opts: CommonOptions & Record<string, unknown> & { newKey?: boolean; csrOut?: string; years?: string }) => {
      try {
        const config = configFrom(opts);
        const args = { newKey: opts.newKey === true, csr: opts.csrOut !== undefined, ...(opts.years ? { years: Number(opts.years) } : {}) };
        const r = (await operate(config, 'ca.renew', args)) as RenewedAnswer | { status: 'csr'; name: string; keyRef: string; newKey: boolean; csrPem: string };
        if (r.status === 'csr') {
          mkdirSync(dirname(opts.csrOut!), { recursive: true });
          writeFileSync(opts.csrOut!, r.csrPem, { mode: 0o644 });
          print(opts.json, { status: r.status, name: r.name, keyRef: r.keyRef, newKey: r.newKey, csr: opts.csrOut }, () => `renewal of "${r.name}" ${r.newKey ? `with the new key ${r.keyRef}` : 'with its key'}: CSR in ${opts.csrOut}\nhave the root sign it, then: opences ca install --cert NEW.pem`);
          return;
        }
        print(opts.json, r, () => renewedText(r));
      } catch (e) {
        fail(e);
      }
    });
  const clientCert = ca.command('client-cert').description("enrollment nodes' client certificates for the CA signing API");
  addCommonOptions(clientCert.command('issue').description('issue a client certificate for an enrollment node (run on the ca node)'))
    .requiredOption('--subject <dn>', 'e.g. "CN=ces-1,O=Example"; list it in ca.clients.allowedSubjects on the ca node')
    .option('--san <type:value>', 'dns:NAME, ip:ADDR … (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--days <n>', 'validity in days (default 365)', '365')
    .requiredOption('--cert-out <file>', 'certificate and issuing CA (PEM)')
    .requiredOption('--key-out <file>', 'private key (PEM, written 0600)')
    .option('--json', 'machine-readable output')
    .action(async (opts: CommonOptions & Record<string, unknown> & { subject: string; san: string[]; days: string; certOut: string; keyOut: string }) => {
      try {
        const config = configFrom(opts);
        const subject = parseSubject(opts.subject);
        const sans = opts.san.map(parseSan);
        // The key is made here and stays here; the CA (this process's, or the running server's) sees only the CSR.
        const { privateKey, csrDer } = await newKeyAndCsr('opences CA client');
        const args = { csr: Buffer.from(csrDer).toString('base64'), subject, sans, days: Number(opts.days) };
        // Through the running server's control socket when one listens on this data directory: a
        // certificate signed with a second copy of an embedded database would be one the server
        // never recorded (and its CA API refuses). Without a server, directly (src/cli/operator.ts).
        const r = (await operate(config, 'ca.clientCert.issue', args)) as { serial: string; certPem: string; fingerprint: string; notAfter: string };
        for (const f of [opts.certOut, opts.keyOut]) mkdirSync(dirname(f), { recursive: true });
        writeFileSync(opts.keyOut, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
        writeFileSync(opts.certOut, r.certPem, { mode: 0o644 });
        const out = { serial: r.serial, sha256: r.fingerprint, notAfter: r.notAfter, cert: opts.certOut, key: opts.keyOut };
        print(opts.json, out, () => `issued CA client certificate ${r.serial} (sha256 ${r.fingerprint}), valid until ${out.notAfter}\n  ${opts.certOut}\n  ${opts.keyOut}\nallow it on the ca node: ca.clients.allowedSubjects: ["${opts.subject}"]`);
      } catch (e) {
        fail(e);
      }
    });
}

interface RenewedAnswer {
  status: 'installed';
  name: string;
  generation: number;
  keyIndex: number;
  newKey: boolean;
  sha256: string;
  notAfter: string;
  certificateUrl: string;
  crlUrl: string;
}

const renewedText = (r: RenewedAnswer): string =>
  `renewed "${r.name}": generation ${r.generation} (key index ${r.keyIndex}${r.newKey ? ', new key' : ''}), valid until ${r.notAfter}\n  certificate ${r.certificateUrl}\n  CRL         ${r.crlUrl}\nissuance uses it now; earlier keys keep signing the CRLs of what they issued`;

/** The database and key store of this node, opened directly: CA set-up runs before any server does. */
async function withCaStore(config: Config, f: (db: Db, keyStore: KeyStore) => Promise<void>): Promise<void> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const db = await openDb({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: 1, prepare: config.databasePreparedStatements });
  let keyStore: KeyStore | null = null;
  try {
    keyStore = openKeyStore(config);
    await f(db, keyStore);
  } finally {
    if (keyStore instanceof Pkcs11KeyStore) keyStore.close();
    await db.close();
  }
}
