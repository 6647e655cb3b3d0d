import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Config } from '../config.js';
import { OpencesError } from '../errors.js';
import { systemClock } from '../clock.js';
import type { Db } from '../store/db.js';
import { openDb } from '../store/open.js';
import { installIssuingCa, pemCertificates, prepareIssuingCa } from '../ca/external.js';
import { initCa, loadHierarchy, pem, writeCaCertificates } from '../ca/init.js';
import { openKeyStore } from '../ca/keys/open.js';
import { Pkcs11KeyStore } from '../ca/keys/pkcs11.js';
import type { KeyStore } from '../ca/types.js';
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
  addCommonOptions(ca.command('install').description('install the issuing CA certificate another root signed for the key of opences ca init --issuing-only'))
    .requiredOption('--cert <file>', 'the issuing CA certificate (PEM)')
    .requiredOption('--chain <file>', 'the root certificate (PEM)')
    .option('--json', 'machine-readable output')
    .action(async (opts: CommonOptions & Record<string, unknown> & { cert: string; chain: string }) => {
      try {
        const config = configFrom(opts);
        const [certificate] = pemCertificates(readFileSync(opts.cert, 'utf8'));
        if (!certificate) throw new OpencesError('malformed', `${opts.cert} holds no PEM certificate`);
        const chain = pemCertificates(readFileSync(opts.chain, 'utf8'));
        await withCaStore(config, async (db, keyStore) => {
          const r = await installIssuingCa({ db, dataDir: config.dataDir, keyStore, certificate, chain });
          const h = await loadHierarchy(db);
          const paths = h ? writeCaCertificates(config.dataDir, h.info) : null;
          print(opts.json, { name: r.name, root: r.root, ...(paths ?? {}) }, () => `installed "${r.name}" under "${r.root}"${paths ? `\n  ${paths.root}\n  ${paths.issuing}` : ''}`);
        });
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
