import { mkdirSync, writeFileSync } from 'node:fs';
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

