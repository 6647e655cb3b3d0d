import { Command, Option } from 'commander';
import { addCommonOptions, configFrom, type CommonOptions } from './common.js';
import { reportInitialised, startServer } from '../app/serve.js';
import { createCore } from '../app/core.js';
import { firstStartOnly, needsFirstStart, runFirstStart } from '../app/first-start.js';
import { isClusterWorker, runPrimary, runWorker, workerCount } from '../app/cluster.js';
import { createLogger } from '../log.js';
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
    .option('--ca-url <url>', 'remote CA signing API (enrollment nodes without the ca role); env OPENCES_CA_URL')
    .option('--ca-client-cert <file>', "this node's client certificate for the CA API (PEM); env OPENCES_CA_CLIENT_CERT")
    .option('--ca-client-key <file>', "this node's client key for the CA API (PEM); env OPENCES_CA_CLIENT_KEY")
    .option('--ca-bundle <file>', "CA certificates trusted for the CA node's TLS (default: the deployment's root); env OPENCES_CA_BUNDLE")
    .option('--ca-api-port <port>', 'port of the CA signing API on a node with the ca role (default 9443); env OPENCES_CA_API_PORT')
    .option('--workers <n>', 'HTTP worker processes: auto (one per core on PostgreSQL, 1 on the embedded database) or a number; env OPENCES_WORKERS')
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
          workers: opts.workers,
          'ca.url': opts.caUrl,
          'ca.clientCertFile': opts.caClientCert,
          'ca.clientKeyFile': opts.caClientKey,
          'ca.caBundleFile': opts.caBundle,
          'ca.apiPort': opts.caApiPort,
        });
        const workers = workerCount(config);
        const log = createLogger(config.logLevel);
        if (firstStartOnly()) {
          // The child of runFirstStart(): make the database, the CA and the templates, then leave.
          const core = await createCore(config, { log });
          reportInitialised(core, config, log);
          await core.close();
          process.exit(0);
        }
        // Signals are taken from the first moment: one that arrives while the node is still
        // starting stops it as soon as it has started, instead of killing it half-way.
        let server: { close(): Promise<void> } | null = null;
        let stopRequested: string | null = null;
        let stopping = false;
        const stop = (signal: string): void => {
          stopRequested ??= signal;
          if (!server || stopping) return; // not started yet: the line after the start finishes the job
          stopping = true;
          if (!isClusterWorker()) log.info({ signal }, 'shutting down');
          server.close().then(
            () => process.exit(0),
            () => process.exit(1),
          );
        };
        process.on('SIGTERM', () => stop('SIGTERM'));
        process.on('SIGINT', () => stop('SIGINT'));
        // A worker whose primary is gone stops too (the primary owns the listening sockets).
        if (isClusterWorker()) process.on('disconnect', () => stop('primary gone'));
        // The embedded database's first start in a child process: the idle server stays lean (src/app/first-start.ts).
        if (workers <= 1 && needsFirstStart(config)) await runFirstStart();
        server = workers <= 1 ? await startServer(config, { log }) : isClusterWorker() ? await runWorker(config, log) : await runPrimary(config, workers, log);
        if (stopRequested) stop(stopRequested);
      } catch (e) {
        fail(e);
      }
    });
}
