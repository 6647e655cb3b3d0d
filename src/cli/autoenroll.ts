import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { AutoenrollAgent } from '../autoenroll/agent.js';
import { loadAutoenrollConfig, type AutoenrollConfig } from '../autoenroll/config.js';
import { SoapTransport } from '../client/transport.js';
import { systemClock } from '../clock.js';
import { EXIT } from './exit.js';

/** The transport for the config's auth; for Kerberos, points GSSAPI at the configured cache or keytab first. */
function transportFor(config: AutoenrollConfig): SoapTransport {
  const caBundlePem = config.caBundle ? readFileSync(config.caBundle, 'utf8') : undefined;
  const a = config.auth;
  if ('username' in a) return new SoapTransport({ auth: { kind: 'username', username: a.username, password: readFileSync(a.passwordFile, 'utf8').split(/\r?\n/)[0] ?? '' }, caBundlePem });
  if ('cert' in a) return new SoapTransport({ auth: { kind: 'certificate', certPem: readFileSync(a.cert, 'utf8'), keyPem: readFileSync(a.key, 'utf8') }, caBundlePem });
  // MIT krb5 reads these from the environment at the first GSSAPI call.
  if (a.kerberos !== true) {
    if (a.kerberos.ccache) process.env.KRB5CCNAME = a.kerberos.ccache.includes(':') ? a.kerberos.ccache : `FILE:${a.kerberos.ccache}`;
    if (a.kerberos.clientKeytab) process.env.KRB5_CLIENT_KTNAME = a.kerberos.clientKeytab;
  }
  return new SoapTransport({ auth: { kind: 'kerberos' }, caBundlePem });
}

export function registerAutoenroll(program: Command): void {
  program
    .command('autoenroll')
    .description('keep the certificates listed in a config file enrolled and renewed (Linux auto-enrollment)')
    .requiredOption('--config <file>', 'autoenroll YAML (see docs/autoenroll.md)')
    .option('--once', 'one pass, then exit (for a systemd timer or cron)')
    .option('--json', 'machine-readable output')
    .action(async (o: { config: string; once?: boolean; json?: boolean }) => {
      const log = (line: string): void => {
        if (!o.json) process.stdout.write(`${new Date().toISOString()} ${line}\n`);
      };
      try {
        const config = loadAutoenrollConfig(o.config);
        const transport = transportFor(config);
        const agent = new AutoenrollAgent(config, transport, systemClock, log);
        for (;;) {
          const results = await agent.runOnce();
          if (o.json) process.stdout.write(`${JSON.stringify(results)}\n`);
          if (o.once) {
            process.exitCode = results.some((r) => r.action === 'denied') ? EXIT.denied : results.some((r) => r.action === 'pending' || r.action === 'still-pending') ? EXIT.pending : EXIT.ok;
            await transport.close();
            return;
          }
          // Jitter keeps a fleet from renewing in lockstep.
          await new Promise((r) => setTimeout(r, config.intervalSeconds * 1000 * (0.9 + Math.random() * 0.2)));
        }
      } catch (e) {
        process.stderr.write(`opences autoenroll: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = EXIT.error;
      }
    });
}
