import type { Server } from 'node:http';
import { collectGarbage } from '../gc.js';
import { readFileSync, rmSync } from 'node:fs';
import type { Express } from 'express';
import { checkpointFile, type Config } from '../config.js';
import { AuditCheckpointer } from '../audit/checkpointer.js';
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
import { pem } from '../ca/init.js';
import { OpencesError } from '../errors.js';
import { startCaApi, type CaApiServer } from '../http/ca-api.js';
import { createScepEndpoint, keepScepRa, scepEnabled, type ScepEndpoint } from '../http/scep.js';

export interface RunningServer {
  core: CoreWithPki;
  http: HttpFrontEnds;
  /** https://host:port as clients should use it. */
  url: string;
  pkiUrl: string;
  /** http://host:port of the plain-HTTP SCEP listener (scep.httpPort). */
  scepHttpUrl?: string;
  /** Signs audit checkpoints (nodes with the ca role that hold the keys). */
  checkpointer?: AuditCheckpointer;
  close(): Promise<void>;
}

/** Which parts of `serve` a process runs (src/app/cluster.ts splits them between processes). */
export interface ServeParts {
  /** HTTPS services and the /pki/ HTTP port. */
  http: boolean;
  /** The operator control socket (one per data dir). */
  control: boolean;
  /** Scheduled work: CRL publication. */
  schedules: boolean;
}

export interface RunningNode {
  core: CoreWithPki;
  http?: HttpFrontEnds;
  url?: string;
  pkiUrl?: string;
  /** Port of the CA signing API, on nodes that serve it. */
  caApiPort?: number;
  /** http://host:port of the plain-HTTP SCEP listener (scep.httpPort). */
  scepHttpUrl?: string;
  /** Signs audit checkpoints, on the node that holds the keys. */
  checkpointer?: AuditCheckpointer;
  close(): Promise<void>;
}

function readConfigFile(file: string, field: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new OpencesError('malformed', `configuration: ${field}: cannot read ${file}: ${(e as Error).message}`, { field });
  }
}

/** Says what this start made (a first start): the CA and the default templates. */
export function reportInitialised(core: Pick<CoreWithPki, 'initialised'>, config: Pick<Config, 'dataDir'>, log: Pick<CoreWithPki['log'], 'info'>): void {
  if (core.initialised.ca) log.info({ root: `${config.dataDir}/certs/root_ca.crt` }, 'initialised a new root CA and issuing CA');
  if (core.initialised.templates) log.info('created the default templates User, Machine, WebServer, WebServerApproval');
}

/** When the embedded server collects its start's garbage a second time, once the first moments of serving are over. */
const IDLE_COLLECTION_MS = 10_000;

/** `opences serve`: core + TLS + front ends for the configured roles + control socket. */
export async function startServer(config: Config, opts: CoreOptions = {}): Promise<RunningServer> {
  const node = await startNode(config, opts, { http: true, control: true, schedules: true });
  // The embedded server goes idle holding its start's garbage (templates, CA, migrations): collect it once.
  if (node.core.db.engine === 'pglite') {
    collectGarbage();
    // The first moments of serving allocate too (the scheduled CRLs, the first audit checkpoint),
    // and an idle server never collects that: two full collections once they are over took an
    // idle embedded server from 186–197 MB to 163–166 MB RSS (docs/benchmarks.md).
    setTimeout(() => {
      collectGarbage();
      collectGarbage();
    }, IDLE_COLLECTION_MS).unref();
  }
  node.core.log.info({ https: node.url, pki: node.pkiUrl, ...(node.caApiPort !== undefined ? { caApiPort: node.caApiPort } : {}), roles: config.roles, database: node.core.db.engine, rootCertificate: `${config.dataDir}/certs/root_ca.crt` }, 'opences is serving');
  return { ...node, http: node.http!, url: node.url!, pkiUrl: node.pkiUrl! };
}

/** The parts of `serve` one process runs; every part shares the one core. */
export async function startNode(config: Config, opts: CoreOptions, parts: ServeParts): Promise<RunningNode> {
  const log = opts.log ?? createLogger(config.logLevel);
  const core = await createCore(config, { ...opts, log, checkPrivileges: true });
  let http: HttpFrontEnds | undefined;
  let control: Server | undefined;
  let caApi: CaApiServer | undefined;
  let scep: ScepEndpoint | null = null;
  let scepRa: { stop(): void } | undefined;
  try {
    // tls.certFile + tls.keyFile: the operator's own server certificate (say, one whose key must stay out of
    // the data directory); otherwise one from our CA, made and renewed here.
    const tls = config.tls.certFile && config.tls.keyFile
      ? { cert: readFileSync(config.tls.certFile, 'utf8'), key: readFileSync(config.tls.keyFile, 'utf8'), created: false }
      : await ensureTlsCertificate({ dataDir: config.dataDir, hostname: config.hostname, db: core.db, ca: core.ca, clock: core.clock });
    if (parts.http) {
      // SCEP (scep.profiles, on ces nodes): its RA certificates are made before the first request.
      // A cluster's workers (no schedules) load the RA certificates the primary made.
      scep = await createScepEndpoint(core, { issue: parts.schedules });
      const s = scep;
      http = await listen({
        core,
        tls: { cert: tls.cert, key: tls.key },
        pki: core.pki,
        mount: (app: Express, metrics: Metrics, direct, tarpit) => {
          mountServices(app, core, metrics, direct, tarpit);
          s?.mount(app, metrics);
        },
        ...(s && config.scep.httpPort !== undefined ? { plainScep: { port: config.scep.httpPort, mount: (app: Express, metrics: Metrics) => s.mount(app, metrics) } } : {}),
      });
    }
    // The signing API for enrollment nodes (mutual TLS, its own port), on nodes with the ca role.
    if (parts.http && core.ca instanceof LocalCa && config.roles.includes('ca') && config.ca.clients.allowedSubjects.length > 0) {
      caApi = await startCaApi({
        ca: core.ca,
        db: core.db,
        audit: core.audit,
        log,
        tls: { cert: tls.cert, key: tls.key },
        clientRoots: [pem(core.ca.info().rootCertificate), ...config.ca.clients.trustRoots.map((f, i) => readConfigFile(f, `ca.clients.trustRoots[${i}]`))],
        allowedSubjects: config.ca.clients.allowedSubjects,
        host: config.host,
        port: config.ca.apiPort,
      });
    }
    // A cluster's primary serves no HTTP but makes and renews the SCEP RA certificates its workers load.
    if (!parts.http && parts.schedules && scepEnabled(config)) scepRa = await keepScepRa(core, { issue: true });
    if (parts.control) control = await startControlSocket(config.dataDir, (op, args, actor) => runOperation(core, op, args, actor));
    // Full and delta CRLs on their schedule (src/ca/crl-scheduler.ts), on nodes that hold the CA key.
    const crlScheduler =
      parts.schedules && core.ca instanceof LocalCa && config.roles.includes('ca')
        ? new CrlScheduler({ ca: core.ca, fullPeriodMs: config.ca.crlPeriodHours * 3600_000, deltaPeriodMs: config.ca.deltaCrlPeriodHours * 3600_000, checkEveryMs: config.ca.crlScheduleCheckSeconds * 1000, audit: core.audit, log })
        : null;
    crlScheduler?.start();
    // Signed checkpoints of the audit chain head, where the audit signing key is (docs/audit.md).
    const checkpointer =
      parts.schedules && core.auditSigner && config.roles.includes('ca')
        ? new AuditCheckpointer({ db: core.db, audit: core.audit, signer: core.auditSigner, clock: core.clock, log, everyEvents: config.audit.checkpoints.everyEvents, everySeconds: config.audit.checkpoints.everySeconds, file: checkpointFile(config) })
        : null;
    checkpointer?.start();
    reportInitialised(core, config, log);
    if (tls.created) log.info({ cert: `${config.dataDir}/certs/tls.crt` }, 'issued the TLS server certificate');
    const front = http;
    const ctl = control;
    const signing = caApi;
    return {
      core,
      http: front,
      url: front ? `https://${config.hostname}:${front.httpsPort}` : undefined,
      pkiUrl: front ? `http://${config.hostname}:${front.pkiPort}` : undefined,
      ...(front?.scepHttpPort !== undefined ? { scepHttpUrl: `http://${config.hostname}:${front.scepHttpPort}` } : {}),
      caApiPort: signing?.port,
      ...(checkpointer ? { checkpointer } : {}),
      async close() {
        await crlScheduler?.stop();
        await checkpointer?.stop();
        await signing?.close();
        if (ctl) {
          await new Promise<void>((r) => ctl.close(() => r()));
          rmSync(controlSocketPath(config.dataDir), { force: true });
        }
        await front?.close();
        scep?.close();
        scepRa?.stop();
        await core.close();
      },
    };
  } catch (e) {
    if (control) control.close();
    await caApi?.close().catch(() => undefined);
    await http?.close().catch(() => undefined);
    scep?.close();
    scepRa?.stop();
    await core.close().catch(() => undefined);
    throw e;
  }
}
