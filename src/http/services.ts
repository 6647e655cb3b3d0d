import type { Express, Request, Response } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Core } from '../app/core-types.js';
import { OpencesError } from '../errors.js';
import type { SoapEnvelope } from '../protocol/soap/envelope.js';
import { cepOperation } from './cep.js';
import { cesOperation, clientAddress } from './ces.js';
import { cepPath, cesPath, type EndpointAuth } from './endpoints.js';
import type { Metrics } from './metrics.js';
import type { Tarpit } from './tarpit.js';
import { soapEndpoint, type EndpointAuthenticator, type SoapHandler } from './soap-endpoint.js';
import { authenticateWith, createAuthenticator } from '../auth/passport.js';
import { mountAdmin } from './admin/index.js';
import { mountConsole } from './console/index.js';
import { mountEnroll } from './enroll/index.js';
import { wsdlDocuments, type WsdlDocuments } from './wsdl.js';

const WSDL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'wsdl');

/**
 * The SOAP request being authenticated (message-level strategies read its WS-Security header).
 * Entries are deleted as soon as the strategy has run, not left for the request to be collected:
 * V8's young-generation collector keeps alive what an entry of a long-lived WeakMap points to, so
 * every request's envelope, tree and body survived two scavenges and was promoted to the old
 * generation (~2.7 MB per scavenge, nearly all a request allocates), to be freed only by the next
 * full collection — costing CPU and tens of MB of RSS per worker (docs/benchmarks.md, the eighth
 * session).
 */
const envelopes = new WeakMap<IncomingMessage, SoapEnvelope>();
/** The mutual-authentication token GSSAPI produced, returned in WWW-Authenticate (deleted once read, as above). */
const negotiateTokens = new WeakMap<IncomingMessage, string | undefined>();

/**
 * The SOAP authentication strategies, registered with passport: UsernameToken (message level),
 * TLS client certificate (transport) and WS-Security X.509 signature (message level).
 */
function soapPassport(core: Core) {
  return createAuthenticator({
    'username-token': async (req) => {
      const env = envelopes.get(req);
      const t = env?.header.security?.usernameToken;
      if (!env || !t) return null;
      // Every message, GetPolicies included, is fresh and new on every node (src/auth/replay.ts).
      const ts = env.header.security?.timestamp;
      return core.usernameAuth.authenticate({ username: t.username, password: t.password, nonce: t.nonce, created: t.created, messageId: env.header.messageId, timestamp: ts && { created: ts.created, expires: ts.expires } }, { address: clientAddress(req) });
    },
    'tls-certificate': (req) => core.certificateAuth.fromTls(req.socket as TLSSocket, clientAddress(req)),
    negotiate: async (req) => {
      if (!core.kerberos) return null;
      const local = (req.socket as TLSSocket).getCertificate?.();
      const tlsCertificate = local && 'raw' in local && local.raw ? new Uint8Array(local.raw) : undefined;
      const { principal, responseToken } = await core.kerberos.authenticate(req.headers.authorization, tlsCertificate ? { tlsCertificate } : {});
      negotiateTokens.set(req, responseToken);
      return principal;
    },
    'x509-signature': async (req) => {
      const env = envelopes.get(req);
      return env ? core.certificateAuth.fromMessage(env, clientAddress(req)) : null;
    },
  });
}

function authenticatorFor(core: Core, p: ReturnType<typeof soapPassport>, auth: EndpointAuth): EndpointAuthenticator | null {
  const message = (strategy: string, missing: string) => async (env: SoapEnvelope, req: IncomingMessage, res: ServerResponse) => {
    envelopes.set(req, env);
    let principal: Awaited<ReturnType<typeof authenticateWith>>;
    try {
      principal = await authenticateWith(p, strategy, req, res);
    } finally {
      envelopes.delete(req);
    }
    if (!principal) throw new OpencesError('unauthenticated', missing);
    return principal;
  };
  switch (auth) {
    case 'UsernamePassword':
      return { message: message('username-token', 'no UsernameToken in the WS-Security header') };
    case 'Certificate':
      // A TLS client certificate (checked before the body is read), or else a WS-Security X.509
      // signature over Body and Timestamp, as Windows clients send it.
      return { transport: (req, res) => authenticateWith(p, 'tls-certificate', req, res), message: message('x509-signature', 'no client certificate and no message signature') };
    case 'Kerberos':
      // HTTP Negotiate on the transport: without a valid token, a 401 challenge (clients such as
      // cepces may send the token straight away, without waiting for it).
      return {
        transport: async (req, res) => {
          if (!core.kerberos) throw new OpencesError('unavailable', 'Kerberos is not configured');
          try {
            const principal = await authenticateWith(p, 'negotiate', req, res);
            const token = negotiateTokens.get(req);
            negotiateTokens.delete(req);
            if (token) res.setHeader('www-authenticate', `Negotiate ${token}`);
            return principal;
          } catch (e) {
            if (!(e instanceof OpencesError) || e.kind !== 'unauthenticated') throw e;
            if (req.headers.authorization) await core.authFailures.record({ type: 'auth.failure', outcome: 'failure', method: 'kerberos', address: clientAddress(req), reason: e.message });
            // The body is drained so the client can retry on this connection — unless it is
            // larger than every message (or of unknown length): a stranger's gigabyte is not read.
            const declared = Number(req.headers['content-length'] ?? NaN);
            if (Number.isFinite(declared) && declared <= core.config.maxBodyBytes) req.resume();
            else res.setHeader('connection', 'close');
            res.writeHead(401, { 'www-authenticate': 'Negotiate', 'content-type': 'text/plain; charset=utf-8' }).end('Kerberos authentication required\n');
            return null;
          }
        },
      };
    default:
      return null;
  }
}

/**
 * Serves the service description as WCF does: `?wsdl` (schemas imported from `?xsd=xsdN` on this
 * endpoint), `?singleWsdl` (self-contained), `?xsd=xsdN`. See src/http/wsdl.ts.
 */
function wsdlHandler(file: string, address: string) {
  let docs: WsdlDocuments | undefined;
  return (req: Request, res: Response, next: () => void): void => {
    if (req.method !== 'GET') return next();
    const q = req.query;
    const single = 'singleWsdl' in q || 'singlewsdl' in q;
    const xsdName = typeof q.xsd === 'string' ? q.xsd : undefined;
    if (!single && !('wsdl' in q) && xsdName === undefined) return next();
    docs ??= wsdlDocuments(WSDL_DIR, file, address);
    if (xsdName !== undefined) {
      const xsd = docs.xsd.get(xsdName);
      if (xsd === undefined) {
        res.status(404).type('text/plain; charset=utf-8').send(`no schema ${xsdName.slice(0, 16)} here\n`);
        return;
      }
      res.type('text/xml; charset=utf-8').send(xsd);
      return;
    }
    res.type('text/xml; charset=utf-8').send(single ? docs.singleWsdl : docs.wsdl);
  };
}

/**
 * Mounts CEP and CES on the ADCS-compatible paths for the node's roles (conventions.md). Each SOAP
 * POST handler also goes into `direct` under its exact path, for the HTTPS server to call without
 * express's routing (src/http/server.ts); express keeps them for other spellings of the path.
 */
export function mountServices(app: Express, core: Core, metrics: Metrics, direct?: Map<string, SoapHandler>, tarpit?: Tarpit): void {
  const { config } = core;
  const passport = soapPassport(core);
  // Kerberos endpoints exist when Kerberos is configured; the others as policy.cesAuth says.
  const wanted = [...new Set([...config.policy.cesAuth.filter((a) => a !== 'Kerberos' || core.kerberos), ...(core.kerberos ? (['Kerberos'] as const) : [])])];
  const auths = wanted.filter((a) => authenticatorFor(core, passport, a) !== null);
  const common = { maxBodyBytes: config.maxBodyBytes, xmlLimits: config.soapLimits, log: core.log, metrics, ...(tarpit ? { tarpit } : {}) };

  if (config.roles.includes('cep')) {
    const op = cepOperation(core, auths);
    for (const auth of auths) {
      const path = cepPath(auth);
      const handler = soapEndpoint({ ...common, auth, authenticator: authenticatorFor(core, passport, auth)!, operation: op });
      const wsdl = wsdlHandler('xcep.wsdl', `${config.publicUrl}${path}`);
      for (const p of [path, `${path}/`]) {
        app.get(p, wsdl);
        app.post(p, handler);
        direct?.set(p, handler);
      }
    }
  }
  if (config.roles.includes('admin')) mountAdmin(app, core, { sessionAuth: mountConsole(app, core).sessionAuth });
  if (config.roles.includes('ces')) {
    mountEnroll(app, core);
    const caName = core.ca.info().name;
    for (const auth of auths) {
      const path = cesPath(caName, auth);
      const op = cesOperation(core, { endpointUrl: `${config.publicUrl}${path}`, renewalOnly: config.policy.renewalOnly.includes(auth), maxTokenBytes: config.maxBodyBytes });
      const handler = soapEndpoint({ ...common, auth, authenticator: authenticatorFor(core, passport, auth)!, operation: op });
      const wsdl = wsdlHandler('wstep.wsdl', `${config.publicUrl}${path}`);
      for (const p of [path, `${path}/`]) {
        app.get(p, wsdl);
        app.post(p, handler);
        direct?.set(p, handler);
      }
    }
  }
}
