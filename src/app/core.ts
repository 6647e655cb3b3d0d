import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog } from '../audit/log.js';
import { RefusalAudit } from '../audit/refusal-audit.js';
import { configureCombinedWrites } from '../store/combined-writes.js';
import { startCacheBus } from './cache-bus.js';
import { CrlBuilder } from '../ca/crl.js';
import { LocalCa } from '../ca/engine.js';
import { keyIdentifier } from '../ca/extensions.js';
import { certificateParts } from '../ca/certificate-builder.js';
import { initCa, loadHierarchy, openCaSigner, pem } from '../ca/init.js';
import { openKeyStore } from '../ca/keys/open.js';
import { pendingIssuingCa } from '../ca/external.js';
import { Pkcs11KeyStore } from '../ca/keys/pkcs11.js';
import { RemoteCa } from '../ca/backends/remote.js';
import { openRemoteCa } from '../ca/backends/setup.js';
import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config.js';
import { RegistrationAuthority } from '../enrollment/ra.js';
import { UsernameAuthenticator } from '../auth/username.js';
import { ReplayGuard } from '../auth/replay.js';
import { CertificateAuthenticator } from '../auth/certificate.js';
import { PartnerRegistry } from '../auth/partners.js';
import { KerberosAuthenticator } from '../auth/kerberos.js';
import { createLogger, type Logger } from '../log.js';
import { generateEnterpriseArc } from '../policy/defaults.js';
import type { Db } from '../store/db.js';
import { openDb } from '../store/open.js';
import { enforcePrivileges, isPermissionDenied } from '../store/db-roles.js';
import { OpencesError } from '../errors.js';
import { getTemplate, seedDefaultTemplates } from '../store/template-repo.js';
import { latestCrl } from '../store/crl-repo.js';
import { listCas } from '../store/ca-repo.js';
import { generationOptions, issuingGenerations, keyGroup, parsePkiName } from '../ca/generations.js';
import type { Core } from './core-types.js';
import { TemplateService } from './template-service.js';
import type { PkiSource } from '../http/pki.js';
import { ensureAuditSigner } from '../audit/signing-key.js';
import { toJson } from '../audit/checkpoint.js';
import { latestCheckpoint } from '../store/audit-checkpoint-repo.js';

/** Profile name of the server's own TLS certificate: not a template, but the CA must accept it. */
export { INTERNAL_TLS_PROFILE } from '../policy/issuance.js';

export interface CoreOptions {
  clock?: Clock;
  log?: Logger;
  random?: (n: number) => Uint8Array;
  /** Compare the database connection's rights with the node's roles (serve does; operator commands do not). */
  checkPrivileges?: boolean;
}

export interface CoreWithPki extends Core {
  pki: PkiSource;
  /** What first start created, for the start-up banner. */
  initialised: { ca: boolean; templates: boolean };
}

const NOT_INITIALISED = 'the deployment is not initialised yet, and this node may not do it: run `opences db migrate` with the database owner\'s URL, or start the ca or admin node first (docs/deployment.md)';

async function deploymentSetting(db: Db, key: string, make: () => string): Promise<string> {
  const read = async (): Promise<string | undefined> => (await db.query<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key])).rows[0]?.value;
  // Read first: a least-privilege node (src/store/db-roles.ts) may read settings but not write them.
  const have = await read();
  if (have !== undefined) return have;
  try {
    await db.query(`INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, [key, JSON.stringify(make())]);
  } catch (e) {
    if (isPermissionDenied(e)) throw new OpencesError('unavailable', NOT_INITIALISED);
    throw e;
  }
  return (await read())!;
}

/**
 * The deployment's identity (policy id, enterprise OID arc) and default templates, made once per
 * database: by the first node that may, or by `opences db migrate`.
 */
export async function initDeployment(db: Db, random: (n: number) => Uint8Array = (n) => randomBytes(n)): Promise<{ policyId: string; enterpriseArc: string; seeded: boolean }> {
  const policyId = await deploymentSetting(db, 'policy_id', () => `{${randomUUID().toUpperCase()}}`);
  const enterpriseArc = await deploymentSetting(db, 'enterprise_oid_arc', () => generateEnterpriseArc(random));
  let seeded: boolean;
  try {
    seeded = await seedDefaultTemplates(db, enterpriseArc);
  } catch (e) {
    if (isPermissionDenied(e)) throw new OpencesError('unavailable', NOT_INITIALISED);
    throw e;
  }
  return { policyId, enterpriseArc, seeded };
}

/**
 * The composition root: database, audit log, CA, templates and RA for one node. Everything a
 * front end or an operator command needs, and nothing that speaks HTTP.
 */
export async function createCore(config: Config, opts: CoreOptions = {}): Promise<CoreWithPki> {
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? createLogger(config.logLevel);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const db = await openDb({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: config.databasePoolSize, prepare: config.databasePreparedStatements });
  configureCombinedWrites(db, { relaxedCommit: config.databaseAsyncReplayCommit });
  // Resources to release on close or on a failed start (the PKCS#11 module's sessions).
  const opened: Array<() => void> = [];
  try {
    // `serve` on PostgreSQL: the connection's rights must match the node's roles (src/store/db-roles.ts).
    if (opts.checkPrivileges && db.engine === 'postgres') await enforcePrivileges(db, config.roles, config.databaseAllowExcessPrivileges, (m) => log.warn(m));
    const { policyId, enterpriseArc, seeded } = await initDeployment(db, opts.random);
    // Only ca and admin nodes chain the audit log: the front nodes' roles may park events, not
    // touch the chain (src/store/db-roles.ts); the ca or admin node's sequencer chains theirs.
    const audit = new AuditLog(db, clock, { chain: config.roles.includes('ca') || config.roles.includes('admin') });
    audit.start();
    const templates = new TemplateService(db);

    // A node pointed at a remote CA (ca.url) opens no key store and creates no CA: it signs
    // through the CA node's API (src/ca/backends/remote.ts) and reads the CA certificates from the database.
    const remote = config.ca.url ? await openRemoteCa(config, db, log) : null;
    // ca.keyStore: key files in <dataDir>/secrets, or a PKCS#11 token (a wrong PIN, token or module stops the start here).
    const pending = remote ? null : pendingIssuingCa(config.dataDir);
    if (pending) throw new OpencesError('unavailable', `the issuing CA "${pending.name}" awaits its certificate: opences ca install --cert ISSUING.pem --chain ROOT.pem (docs/ca-ceremonies.md)`);
    const keyStore = remote ? null : openKeyStore(config);
    if (keyStore instanceof Pkcs11KeyStore) opened.push(() => keyStore.close());
    const h = remote ? { ...remote.hierarchy, created: false } : await initCa({ db, keyStore: keyStore!, keyType: config.ca.keyType, caName: config.ca.name, rootName: config.ca.rootName, pkiBaseUrl: config.pkiBaseUrl, clock });
    if (h.created) await audit.record({ type: 'ca.init', outcome: 'success', actor: 'opences', details: { root: h.root.name, issuing: h.issuing.name, keyType: config.ca.keyType } });
    // The current generation issues; earlier keys of a renewed CA keep signing their CRLs (src/ca/generations.ts).
    const generationsNow = async () => {
      const g = await issuingGenerations(db);
      const now = await loadHierarchy(db);
      if (!g || !now) throw new OpencesError('internal', 'the CA disappeared from the database');
      return { g, h: now };
    };
    const localGeneration = async () => {
      const { g, h: now } = await generationsNow();
      return generationOptions(g, now.info, (row) => openCaSigner(keyStore!, row), clock.now());
    };
    const ca: LocalCa | RemoteCa = remote?.ca ?? new LocalCa({
      db,
      clock,
      ...(await localGeneration()),
      pkiBaseUrl: config.pkiBaseUrl,
      random: opts.random,
      crlValidityHours: config.ca.crlValidityHours,
      ...(config.ca.deltaCrlPeriodHours > 0 ? { deltaCrl: { validityHours: config.ca.deltaCrlValidityHours ?? Math.min(config.ca.crlValidityHours, 2 * config.ca.deltaCrlPeriodHours) } } : {}),
      templates: async (name, o) => (o?.fresh ? getTemplate(db, name) : templates.get(name)),
      ...(config.ca.nameConstraints ? { nameConstraints: config.ca.nameConstraints } : {}),
      keyPolicy: { rsaExponents: config.ca.rsaExponents },
      allowsSha1Signatures: async (name) => (await templates.get(name))?.requests?.allowSha1Signatures === true,
    });
    // The root signs only its own (empty) CRL here; an offline root is a deployment choice (docs/deployment.md).
    const rootCrl = keyStore && (await keyStore.exists(h.root.keyRef))
      ? new CrlBuilder({ db, clock, signer: await keyStore.open(h.root.keyRef), caId: h.root.id, issuerName: certificateParts(h.root.certificate).subjectName, issuerKeyId: keyIdentifier(certificateParts(h.root.certificate).spki), validityHours: config.ca.crlValidityHours })
      : null;

    // The key that signs audit checkpoints lives beside the CA keys, on this node only (docs/audit.md).
    const auditSigner = keyStore && ca instanceof LocalCa ? await ensureAuditSigner({ dataDir: config.dataDir, db, ca, clock, audit, passphrase: process.env.OPENCES_CA_KEY_PASSPHRASE || undefined, ...(keyStore instanceof Pkcs11KeyStore ? { keyStore } : {}) }) : undefined;

    const writeCerts = (info: typeof h.info): void => {
      const certsDir = join(config.dataDir, 'certs');
      mkdirSync(certsDir, { recursive: true });
      writeFileSync(join(certsDir, 'root_ca.crt'), pem(info.rootCertificate));
      writeFileSync(join(certsDir, 'issuing_ca.crt'), pem(info.issuingCertificate));
      writeFileSync(join(certsDir, 'ca_chain.crt'), info.chain.map((c) => pem(c)).join(''));
    };
    writeCerts(h.info);
    // Every generation's certificate: a certificate issued before a renewal still signs in (certificate auth, renewals).
    let issuers = (await issuingGenerations(db))?.rows.map((r) => r.certificate) ?? [h.info.issuingCertificate];
    /** Switches this process to the newest CA generation in the database (after opences ca renew here or on another process). */
    const useNewestGeneration = async (): Promise<void> => {
      const { g, h: now } = await generationsNow();
      issuers = g.rows.map((r) => r.certificate);
      if (ca instanceof LocalCa) ca.rollover(await localGeneration());
      else ca.useInfo(now.info);
      certificateAuth.invalidate();
      writeCerts(now.info);
    };

    const partners = new PartnerRegistry(db, { clock, audit });
    const kerberos = config.auth.kerberos ? await KerberosAuthenticator.create({ ...config.auth.kerberos, accountRealms: config.auth.accountRealms }, config.hostname, { audit, clock }) : undefined;
    const ra = new RegistrationAuthority({
      db, ca, templates, audit, clock,
      partnerScope: (name) => partners.scope(name),
      keyPolicy: { rsaExponents: config.ca.rsaExponents },
      identity: { domains: config.auth.domains, accountRealms: config.auth.accountRealms, kerberosGroups: config.auth.kerberos?.groups, partners },
    });
    // One replay store for both message-level methods: a message is accepted once on any node.
    const replay = new ReplayGuard(db, { windowMs: config.auth.replay.windowSeconds * 1000, skewMs: config.auth.replay.clockSkewSeconds * 1000, allowUnprotected: config.auth.replay.allowUnprotectedMessages });
    // Failed authentications at the enrollment endpoints: at most 20 events per source a minute.
    const authFailures = new RefusalAudit(audit, clock);
    const usernameAuth = new UsernameAuthenticator({ db, clock, audit: authFailures, domains: config.auth.domains, ldap: config.auth.ldap, replay });
    const certificateAuth = new CertificateAuthenticator({ db, clock, audit: authFailures, issuers: () => issuers, domains: config.auth.domains, accountRealms: config.auth.accountRealms, kerberosGroups: config.auth.kerberos?.groups, partners, replay, signature: { allowSha1: config.auth.messageSignature.allowSha1 } });

    // A change made in this process (operator command, admin API) reaches the other processes on
    // the database — cluster workers, other nodes — and theirs reach this one (src/app/cache-bus.ts).
    const accountsHere = usernameAuth.invalidate.bind(usernameAuth);
    const partnersHere = partners.invalidate.bind(partners);
    const local = {
      templates: templates.invalidate.bind(templates),
      ca: () => void useNewestGeneration().catch((e: unknown) => log.error({ err: e instanceof Error ? e.message : String(e) }, 'could not switch to the renewed CA generation')),
      // A partner's trust changed: connections signed in with its certificates are checked again.
      partners: () => {
        partnersHere();
        certificateAuth.invalidate();
      },
      // Cached sign-ins of either kind carry the account's state (enabled, groups).
      accounts: (account?: string) => {
        accountsHere(account);
        certificateAuth.invalidate();
      },
    };
    const bus = await startCacheBus({ url: config.databaseUrl, log, apply: (e) => (e.scope === 'accounts' ? local.accounts(e.account) : local[e.scope]()) });
    templates.invalidate = () => {
      local.templates();
      bus.announce({ scope: 'templates' });
    };
    partners.invalidate = () => {
      local.partners();
      bus.announce({ scope: 'partners' });
    };
    const reloadCa = async (): Promise<void> => {
      await useNewestGeneration();
      bus.announce({ scope: 'ca' });
    };
    usernameAuth.invalidate = (account?: string) => {
      local.accounts(account);
      bus.announce({ scope: 'accounts', ...(account !== undefined ? { account } : {}) });
    };

    const pki: PkiSource = {
      async auditCheckpoint() {
        const c = await latestCheckpoint(db);
        return c ? toJson(c) : null;
      },
      // ADCS names (docs/ca-ceremonies.md): `<ca>(n).crt` is certificate index n of a renewed CA, `<ca>(k).crl` the CRL of key index k.
      async certificate(name) {
        const cas = await listCas(db);
        const { slug, index, delta } = parsePkiName(name);
        if (delta) return null;
        return (cas.find((x) => x.slug === name && x.generation === 0) ?? cas.find((x) => x.slug === slug && x.generation === index))?.certificate ?? null;
      },
      async crl(name) {
        const cas = await listCas(db);
        // A root's or an intermediate's CRL: ours when we hold the root key, else imported (opences ca import-crl).
        const root = cas.find((x) => x.kind !== 'issuing' && x.slug === name);
        if (root) {
          const latest = await latestCrl(db, root.id);
          if (latest && latest.nextUpdate.getTime() > clock.now().getTime()) return latest.der;
          // Missing or stale: publish now, so a CDP never points at nothing.
          if (root.id === h.root.id && rootCrl) return rootCrl.publish();
          return latest?.der ?? null;
        }
        const { slug, index, delta } = parsePkiName(name);
        const rows = cas.filter((x) => x.kind === 'issuing' && x.slug === slug);
        if (!rows.some((x) => x.keyIndex === index)) return null;
        // The CA signs (or publishes now, when missing or stale) what it holds the key for; otherwise the newest stored.
        const served = ca instanceof LocalCa ? await ca.servedCrl(index, delta) : null;
        if (served) return served;
        return (await latestCrl(db, keyGroup(rows, index).crlRow.id, delta))?.der ?? null;
      },
    };

    return {
      config,
      db,
      clock,
      log,
      audit,
      authFailures,
      ca,
      templates,
      ra,
      usernameAuth,
      certificateAuth,
      partners,
      kerberos,
      auditSigner,
      pki,
      ...(keyStore instanceof Pkcs11KeyStore ? { keyHealth: () => keyStore.health() } : {}),
      ...(keyStore && ca instanceof LocalCa ? { caKeys: { keyStore, reload: reloadCa } } : {}),
      deployment: { policyId, enterpriseArc },
      initialised: { ca: h.created, templates: seeded },
      async close() {
        await bus.close();
        if (ca instanceof RemoteCa) await ca.close();
        await audit.stop();
        await db.close();
        for (const f of opened) f();
      },
    };
  } catch (e) {
    for (const f of opened) f();
    await db.close().catch(() => undefined);
    throw e;
  }
}
