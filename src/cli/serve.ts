import { Command, Option } from 'commander';
import { addCommonOptions, configFrom, type CommonOptions } from './common.js';
import { startServer } from '../app/serve.js';
import { fail } from './exit.js';

export function serveCommand(program: Command): void {
  addCommonOptions(program.command('serve').description('run the enrollment services (CEP, CES, CA, admin) over HTTPS'))
    .option('--port <port>', 'HTTPS port (default 8443); env OPENCES_PORT')
    .option('--pki-port <port>', 'plain-HTTP port for /pki/ CA certificates and CRLs (default 8080); env OPENCES_PKI_PORT')
    .option('--host <address>', 'bind address (default 0.0.0.0)')
    .option('--hostname <name>', 'host name for the TLS certificate and default URLs')
    .option('--public-url <url>', 'base URL clients use (e.g. the load balancer)')
    .option('--role <roles>', 'all | comma list of cep, ces, ca, admin (default all); env OPENCES_ROLE')
    .addOption(new Option('--ca-key-type <type>', 'CA key type on first start').choices(['RSA-2048', 'RSA-3072', 'RSA-4096', 'P-256', 'P-384']))
    .option('--log-level <level>', 'fatal|error|warn|info|debug')
    .action(async (opts: CommonOptions & Record<string, string | undefined>) => {
      try {
        const config = configFrom(opts, {
          port: opts.port,
          pkiPort: opts.pkiPort,
          host: opts.host,
          hostname: opts.hostname,
          publicUrl: opts.publicUrl,
          roles: opts.role,
          logLevel: opts.logLevel,
          'ca.keyType': opts.caKeyType,
        });
        const server = await startServer(config);
        let stopping = false;
        const stop = (signal: string): void => {
          if (stopping) return;
          stopping = true;
          server.core.log.info({ signal }, 'shutting down');
          server.close().then(
            () => process.exit(0),
            () => process.exit(1),
          );
        };
        process.on('SIGTERM', () => stop('SIGTERM'));
        process.on('SIGINT', () => stop('SIGINT'));
      } catch (e) {
        fail(e);
      }
    });
}
