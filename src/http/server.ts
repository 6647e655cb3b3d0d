import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { constants } from 'node:crypto';
import express, { type Express } from 'express';
import type { Core } from '../app/core-types.js';
import { mountHealth } from './health.js';
import { Metrics } from './metrics.js';
import { mountPki, type PkiSource } from './pki.js';
import type { SoapHandler } from './soap-endpoint.js';
import { Tarpit } from './tarpit.js';

export interface HttpFrontEnds {
  httpsServer: HttpsServer;
  pkiServer: HttpServer;
  httpsPort: number;
  pkiPort: number;
  /** The plain-HTTP SCEP listener's port, when scep.httpPort is set. */
  scepHttpPort?: number;
  metrics: Metrics;
  close(): Promise<void>;
}

export interface ListenOptions {
  core: Core;
  tls: { cert: string; key: string; ca?: string[] };
  pki: PkiSource;
  /**
   * Mounts the role-specific routes (CEP, CES, admin) on the HTTPS app, and puts the SOAP POST
   * handlers into `direct` by exact path; they hold refusals of strangers' hostile bodies in `tarpit`.
   */
  mount: (app: Express, metrics: Metrics, direct: Map<string, SoapHandler>, tarpit: Tarpit) => void | Promise<void>;
  /** SCEP on plain HTTP as well (scep.httpPort, off by default): NDES serves it so; the messages are signed and encrypted. */
  plainScep?: { port: number; mount: (app: Express, metrics: Metrics) => void };
}

/**
 * HTTPS for the services and plain HTTP for /pki/. The TLS server asks for a client certificate
 * but does not require one: the `_Certificate` endpoints check it, the others ignore it.
 */
export async function listen(o: ListenOptions): Promise<HttpFrontEnds> {
  const { config } = o.core;
  const metrics = new Metrics();
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  // No automatic ETag: it hashes every response body (a GetPolicies answer is tens of KB) for
  // POSTed SOAP that no client revalidates. The plain-HTTP /pki/ server below keeps them.
  app.set('etag', false);
  mountHealth(app, o.core.db, metrics, o.core.keyHealth);
  mountPki(app, o.pki);
  const direct = new Map<string, SoapHandler>();
  const tarpit = new Tarpit(config.tarpit, metrics, o.core.log);
  await o.mount(app, metrics, direct, tarpit);
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('not found\n');
  });

  const httpsServer = createHttpsServer(
    {
      cert: o.tls.cert,
      key: o.tls.key,
      requestCert: true,
      rejectUnauthorized: false,
      ...(o.tls.ca ? { ca: o.tls.ca } : {}),
      minVersion: 'TLSv1.2',
      // No session tickets: a resumed session does not carry the client's intermediate
      // certificates, which partner authentication needs on every connection.
      secureOptions: constants.SSL_OP_NO_TICKET,
    },
    // SOAP POSTs to their exact paths skip express: its routing and request/response decoration
    // cost more than the cached GetPolicies answer itself. The handlers need only Node's request
    // and response; everything else (and any other spelling of a path) goes through express.
    (req, res) => {
      const url = req.url ?? '';
      const q = url.indexOf('?');
      const handler = req.method === 'POST' ? direct.get(q < 0 ? url : url.slice(0, q)) : undefined;
      if (!handler) return void app(req, res);
      // The handler answers every failure with a fault; this only catches a bug in doing so.
      handler(req, res).catch((err: unknown) => {
        o.core.log.error({ err }, 'SOAP handler failed');
        res.destroy();
      });
    },
  );
  httpsServer.keepAliveTimeout = 65_000;
  httpsServer.headersTimeout = 30_000;
  httpsServer.requestTimeout = 60_000;

  const pkiApp = express();
  pkiApp.disable('x-powered-by');
  mountPki(pkiApp, o.pki);
  pkiApp.get('/healthz', (_req, res) => {
    res.type('application/json').send({ status: 'ok' });
  });
  pkiApp.use((_req, res) => {
    res.status(404).type('text/plain').send('not found\n');
  });
  const pkiServer = createHttpServer(pkiApp);

  let scepServer: HttpServer | undefined;
  if (o.plainScep) {
    const scepApp = express();
    scepApp.disable('x-powered-by');
    scepApp.set('etag', false);
    o.plainScep.mount(scepApp, metrics);
    scepApp.use((_req, res) => {
      res.status(404).type('text/plain').send('not found\n');
    });
    scepServer = createHttpServer(scepApp);
    scepServer.headersTimeout = 30_000;
    scepServer.requestTimeout = 60_000;
  }

  await listenOn(httpsServer, config.port, config.host);
  await listenOn(pkiServer, config.pkiPort, config.host);
  if (scepServer) await listenOn(scepServer, o.plainScep!.port, config.host);

  return {
    httpsServer,
    pkiServer,
    httpsPort: (httpsServer.address() as AddressInfo).port,
    pkiPort: (pkiServer.address() as AddressInfo).port,
    ...(scepServer ? { scepHttpPort: (scepServer.address() as AddressInfo).port } : {}),
    metrics,
    async close() {
      // Held refusals go out now: their connections close, and no timer outlives the server.
      tarpit.close();
      await Promise.all([closeServer(httpsServer), closeServer(pkiServer), ...(scepServer ? [closeServer(scepServer)] : [])]);
    },
  };
}

function listenOn(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    // In-flight requests get a moment to finish; then connections are cut.
    setTimeout(() => server.closeAllConnections(), 2_000).unref();
  });
}
