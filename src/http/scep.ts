import type { Express, Request, Response } from 'express';
import type { Core } from '../app/core-types.js';
import { ensureScepRa, type ScepRaCredentials } from '../app/scep-ra.js';
import { OpencesError, isOpencesError } from '../errors.js';
import { withAuditChannel } from '../audit/channel.js';
import { ScepService, type ScepRaKeys } from '../enrollment/scep-service.js';
import { scepProfiles } from '../enrollment/scep-challenges.js';
import { buildCertsOnly } from '../protocol/pkcs7/index.js';
import { MAX_PKI_MESSAGE_BYTES, caCaps } from '../protocol/scep/index.js';
import { readBody } from './body.js';
import { clientAddress } from './ces.js';
import type { Metrics } from './metrics.js';
import type { PkiSource } from './pki.js';

/** NDES's paths (they serve `scep.defaultProfile`) and ours, per profile. */
const NDES_PATHS = ['/certsrv/mscep/mscep.dll', '/certsrv/mscep/mscep.dll/pkiclient.exe', '/certsrv/mscep', '/certsrv/mscep/', '/certsrv/mscep/pkiclient.exe'];
const PROFILE_PATHS = ['/scep/:profile', '/scep/:profile/pkiclient.exe'];

export interface ScepEndpoint {
  service: ScepService;
  /** Mounts the SCEP routes on an express app (the HTTPS one, and the plain-HTTP one when scep.httpPort is set). */
  mount(app: Express, metrics: Metrics): void;
  close(): void;
}

/**
 * SCEP (RFC 8894 §4) over HTTP: GetCACaps, GetCACert and PKIOperation (GET with `message`, or POST),
 * on nodes with the ces role. Needs the RA certificates, issued by our CA on first start and
 * renewed before they expire or when the issuing CA changes (src/app/scep-ra.ts, keepScepRa).
 */
/** Whether this node serves SCEP: the ces role and at least one profile. */
export function scepEnabled(config: Core['config']): boolean {
  return config.roles.includes('ces') && Object.keys(config.scep.profiles).length > 0;
}

/**
 * Makes (or renews) the RA certificates now, every five minutes after when they near their end or
 * the issuing CA changed (a `ca renew` rollover), and at once when `check()` sees a new issuing CA.
 * `issue` false (HTTP workers of a cluster): only reload what the primary process wrote, so all
 * workers answer with the same RA keys.
 */
export async function keepScepRa(core: Core, o: { issue: boolean; onChange?: (c: ScepRaCredentials) => void }): Promise<{ current: ScepRaCredentials; check(): void; stop(): void }> {
  const { config } = core;
  const ensure = () => ensureScepRa({ dataDir: config.dataDir, hostname: config.hostname, db: core.db, ca: core.ca, clock: core.clock, renewDays: config.scep.raRenewDays, issue: o.issue });
  const announce = async (c: ScepRaCredentials) => {
    if (c.issued.length) await core.audit.record({ type: 'scep.ra.issue', outcome: 'success', actor: 'opences', details: { certificates: c.issued } });
  };
  const state: { current: ScepRaCredentials; issuing: Uint8Array; running?: Promise<void> } = { current: await ensure(), issuing: core.ca.info().issuingCertificate };
  await announce(state.current);
  const refresh = (): void => {
    if (state.running) return;
    const issuing = core.ca.info().issuingCertificate;
    state.running = ensure()
      .then(async (c) => {
        state.current = c;
        state.issuing = issuing;
        o.onChange?.(c);
        await announce(c);
      })
      .catch((err: unknown) => core.log.error({ err }, 'renewing the SCEP RA certificates failed'))
      .finally(() => {
        state.running = undefined;
      });
  };
  const timer = setInterval(refresh, 5 * 60_000);
  timer.unref();
  return {
    get current() {
      return state.current;
    },
    check() {
      if (core.ca.info().issuingCertificate !== state.issuing) refresh();
    },
    stop: () => clearInterval(timer),
  };
}

export async function createScepEndpoint(core: Core & { pki: PkiSource }, o: { issue: boolean } = { issue: true }): Promise<ScepEndpoint | null> {
  const { config } = core;
  const profiles = scepProfiles(config);
  if (!scepEnabled(config)) return null;
  // A profile naming a template that does not exist (or is disabled) would refuse every request: say so at start.
  for (const p of profiles.values()) {
    const t = await core.templates.get(p.template);
    if (!t || !t.enabled) core.log.warn({ profile: p.name, template: p.template }, `SCEP profile ${p.name}: the template ${p.template} ${t ? 'is disabled' : 'does not exist'}; its requests will be refused`);
  }
  let creds: ScepRaCredentials;
  const ra = await keepScepRa(core, { issue: o.issue, onChange: (c) => (creds = c) });
  creds = ra.current;
  const keys = (): ScepRaKeys => {
    // A CA rollover since the RA certificates were made: re-issue (or reload) them in the background.
    ra.check();
    return { sign: creds.sign, encrypt: creds.encrypt };
  };
  const service = new ScepService({
    db: core.db,
    ra: core.ra,
    ca: core.ca,
    audit: core.audit,
    clock: core.clock,
    profiles,
    keys,
    crl: async () => core.pki.crl(core.ca.info().slug),
  });

  const handler = (metrics: Metrics) => async (req: Request, res: Response) => {
    const named = typeof req.params.profile === 'string' ? req.params.profile : config.scep.defaultProfile;
    const profile = named === undefined ? undefined : service.profile(named);
    const operation = typeof req.query.operation === 'string' ? req.query.operation : '';
    const count = (op: string, outcome: string) => metrics.scep.inc({ profile: profile?.name ?? 'unknown', operation: op, outcome });
    res.setHeader('cache-control', 'no-store');
    try {
      if (!profile) {
        req.resume();
        res.status(404).type('text/plain').send(named === undefined ? 'no default SCEP profile (scep.defaultProfile)\n' : 'no such SCEP profile\n');
        return;
      }
      switch (operation) {
        case 'GetCACaps':
          req.resume();
          res.type('text/plain').send(caCaps({ legacy: profile.legacy, nextCa: false }));
          count('GetCACaps', 'success');
          return;
        case 'GetCACert': {
          req.resume();
          // RA signing and encryption certificates first (NDES's order), then the CA chain.
          const k = keys();
          const p7 = buildCertsOnly([k.sign.certificateDer, k.encrypt.certificateDer, ...core.ca.info().chain]);
          res.type('application/x-x509-ca-ra-cert').send(Buffer.from(p7));
          count('GetCACert', 'success');
          return;
        }
        case 'GetNextCACert':
          req.resume();
          res.status(404).type('text/plain').send('no CA rollover is in progress\n');
          count('GetNextCACert', 'failure');
          return;
        case 'PKIOperation': {
          let body: Uint8Array;
          if (req.method === 'POST') {
            body = await readBody(req, res, MAX_PKI_MESSAGE_BYTES);
          } else {
            const m = typeof req.query.message === 'string' ? req.query.message : '';
            if (m.length > (MAX_PKI_MESSAGE_BYTES * 4) / 3 + 8) throw new OpencesError('tooLarge', 'the message parameter is too large');
            body = Buffer.from(m.replace(/ /g, '+'), 'base64');
          }
          // Some clients POST base64 text instead of DER: a DER message starts with a SEQUENCE.
          if (body.length > 0 && body[0] !== 0x30 && /^[A-Za-z0-9+/=\r\n]+$/.test(Buffer.from(body).toString('latin1'))) body = Buffer.from(Buffer.from(body).toString('latin1'), 'base64');
          // Every event of the decision (ours, the RA's, the CA's) carries details.channel = scep.
          const out = await withAuditChannel('scep', () => service.pkiOperation(profile, body, clientAddress(req)));
          count(out.operation, out.outcome);
          if ('httpError' in out) {
            res.status(400).type('text/plain').send(`malformed PKIOperation: ${out.message}\n`);
            return;
          }
          res.type('application/x-pki-message').send(Buffer.from(out.certRep));
          return;
        }
        default:
          req.resume();
          res.status(400).type('text/plain').send('unknown operation (GetCACaps, GetCACert, PKIOperation)\n');
          count('unknown', 'malformed');
      }
    } catch (e) {
      if (isOpencesError(e) && (e.kind === 'tooLarge' || e.kind === 'malformed')) {
        count(operation || 'unknown', 'malformed');
        if (!req.complete) res.setHeader('connection', 'close');
        res.status(e.kind === 'tooLarge' ? 413 : 400).type('text/plain').send(`${e.message}\n`);
        return;
      }
      core.log.error({ err: e }, 'SCEP request failed');
      count(operation || 'unknown', 'error');
      if (!res.headersSent) res.status(isOpencesError(e) && e.kind === 'unavailable' ? 503 : 500).type('text/plain').send('internal error\n');
    }
  };

  return {
    service,
    mount(app, metrics) {
      const h = handler(metrics);
      for (const p of [...NDES_PATHS, ...PROFILE_PATHS]) {
        app.get(p, h);
        app.post(p, h);
      }
    },
    close() {
      ra.stop();
    },
  };
}
