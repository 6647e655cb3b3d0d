import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { createCore } from '../app/core.js';
import { issueCaClientCertificate } from '../ca/backends/client-cert.js';
import { LocalCa } from '../ca/engine.js';
import { parseSan, parseSubject } from '../client/request-builder.js';
import { OpencesError } from '../errors.js';
import { createLogger } from '../log.js';
import { addCommonOptions, configFrom, print, type CommonOptions } from './common.js';
import { fail } from './exit.js';
import { localActor } from './operator.js';

/**
 * `opences ca client-cert issue`: the client certificate an enrollment node (ces, cep, admin)
 * presents to the CA signing API. Runs where the CA key is (the ca node's data directory, with
 * its database); the key is made here and written 0600, never sent anywhere.
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
        const core = await createCore(config, { log: createLogger('warn') });
        try {
          if (!(core.ca instanceof LocalCa)) throw new OpencesError('unsupported', 'this node has no CA key: run `opences ca client-cert issue` on the ca node');
          const r = await issueCaClientCertificate(
            { ca: core.ca, db: core.db, audit: core.audit, clock: core.clock },
            { subject: parseSubject(opts.subject), sans: opts.san.map(parseSan), days: Number(opts.days), actor: localActor() },
          );
          for (const f of [opts.certOut, opts.keyOut]) mkdirSync(dirname(f), { recursive: true });
          writeFileSync(opts.keyOut, r.keyPem, { mode: 0o600 });
          writeFileSync(opts.certOut, r.certPem, { mode: 0o644 });
          const out = { serial: r.serial, sha256: r.fingerprint, notAfter: r.notAfter.toISOString(), cert: opts.certOut, key: opts.keyOut };
          print(opts.json, out, () => `issued CA client certificate ${r.serial} (sha256 ${r.fingerprint}), valid until ${out.notAfter}\n  ${opts.certOut}\n  ${opts.keyOut}\nallow it on the ca node: ca.clients.allowedSubjects: ["${opts.subject}"]`);
        } finally {
          await core.close();
        }
      } catch (e) {
        fail(e);
      }
    });
}
