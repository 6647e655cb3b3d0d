import type { Server } from 'node:http';
import { rmSync } from 'node:fs';
import type { Express } from 'express';
import type { Config } from '../config.js';
import { createLogger } from '../log.js';
import { listen, type HttpFrontEnds } from '../http/server.js';
import type { Metrics } from '../http/metrics.js';
import { controlSocketPath, startControlSocket } from '../ops/control-socket.js';
import { runOperation } from '../ops/operations.js';
import { createCore, type CoreOptions, type CoreWithPki } from './core.js';
import { ensureTlsCertificate } from './tls.js';
import { mountServices } from '../http/services.js';
import { LocalCa } from '../ca/engine.js';
import { CrlScheduler } from '../ca/crl-scheduler.js';

export interface RunningServer {
  core: CoreWithPki;
  http: HttpFrontEnds;
  /** https://host:port as clients should use it. */
  url: string;
  pkiUrl: string;
  close(): Promise<void>;
}

/** `opences serve`: core + TLS + front ends for the configured roles + control socket. */
export async function startServer(config: Config, opts: CoreOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? createLogger(config.logLevel);
  const core = await createCore(config, { ...opts, log });
  let http: HttpFrontEnds | undefined;
  let control: Server | undefined;
  try {
    const tls = await ensureTlsCertificate({ dataDir: config.dataDir, hostname: config.hostname, db: core.db, ca: core.ca, clock: core.clock });
    http = await listen({
      core,
      tls: { cert: tls.cert, key: tls.key },
      pki: core.pki,
      mount: (app: Express, metrics: Metrics) => mountServices(app, core, metrics),
    });
    control = await startControlSocket(config.dataDir, (op, args, actor) => runOperation(core, op, args, actor));
    // Full and delta CRLs on their schedule (src/ca/crl-scheduler.ts), on nodes that hold the CA key.
    const crlScheduler =
      core.ca instanceof LocalCa && config.roles.includes('ca')
        ? new CrlScheduler({ ca: core.ca, fullPeriodMs: config.ca.crlPeriodHours * 3600_000, deltaPeriodMs: config.ca.deltaCrlPeriodHours * 3600_000, checkEveryMs: config.ca.crlScheduleCheckSeconds * 1000, audit: core.audit, log })
        : null;
    crlScheduler?.start();
    const url = `https://${config.hostname}:${http.httpsPort}`;
    const pkiUrl = `http://${config.hostname}:${http.pkiPort}`;
    if (core.initialised.ca) log.info({ root: `${config.dataDir}/certs/root_ca.crt` }, 'initialised a new root CA and issuing CA');
    if (core.initialised.templates) log.info('created the default templates User, Machine, WebServer, WebServerApproval');
    if (tls.created) log.info({ cert: `${config.dataDir}/certs/tls.crt` }, 'issued the TLS server certificate');
    log.info({ https: url, pki: pkiUrl, roles: config.roles, database: core.db.engine, rootCertificate: `${config.dataDir}/certs/root_ca.crt` }, 'opences is serving');
    const front = http;
    const ctl = control;
    return {
      core,
      http: front,
      url,
      pkiUrl,
      async close() {
        await crlScheduler?.stop();
        await new Promise<void>((r) => ctl.close(() => r()));
        rmSync(controlSocketPath(config.dataDir), { force: true });
        await front.close();
        await core.close();
      },
    };
  } catch (e) {
    if (control) control.close();
    await http?.close().catch(() => undefined);
    await core.close().catch(() => undefined);
    throw e;
  }
}
