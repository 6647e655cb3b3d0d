import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import type { Core } from '../app/core-types.js';
import { HRESULT, OpencesError } from '../errors.js';
import { resolvePrincipalName, serviceName, type PrincipalRef } from '../auth/identity.js';
import { isOwnRequest } from '../enrollment/separation.js';
import { REVOCATION_REASON_CODES, type NameAttribute, type RevocationReason, type SanEntry } from '../ca/types.js';
import { parseCsr, type ParsedCsr } from '../protocol/pkcs10/csr.js';
import { isStoredOrder } from '../enrollment/order-codec.js';
import { findBySerial, findWithOwner, listCertificates } from '../store/certificate-repo.js';
import { getRequest, listRequests } from '../store/request-repo.js';
import { addUser, disableUser, listUsers, setGroups, setPassword } from '../auth/accounts.js';
import { templateSchema } from '../policy/template-schema.js';
import type { Template } from '../policy/template.js';
import type { Queryable } from '../store/db.js';
import { deleteTemplate, getTemplate, listTemplates, setEnabled, upsertTemplate } from '../store/template-repo.js';
import { templatesToYaml } from '../policy/template-yaml.js';
import { templatesFromYamlOffLoop } from '../policy/template-yaml-off-loop.js';
import { lintTemplate, unacceptedFindings, formatFinding } from '../policy/template-lint.js';
import { pem } from '../ca/init.js';
import { LocalCa, deltaCrlPath, pkiFileBase } from '../ca/engine.js';
import { installRenewal, renewIssuingCa, type RenewResult } from '../ca/renew.js';
import { ADMIN_ROLES, createApiToken, listApiTokens, revokeApiToken } from '../auth/api-tokens.js';
import { addPartner, addPartnerCrls, listPartnerCrls, listPartners, removePartner } from '../auth/partners.js';
import { decodeBase64Token } from '../protocol/pkcs10/base64.js';
import { existsSync } from 'node:fs';
import { checkpointFile } from '../config.js';
import { listCas } from '../store/ca-repo.js';
import { parseCheckpoints, type Checkpoint } from '../audit/checkpoint.js';
import { latestInFile } from '../audit/checkpointer.js';
import { databaseSource, verifyAudit, type CheckpointSource } from '../audit/verify-checkpoints.js';

function parseCheckpointsOrFail(text: string, name: string): Checkpoint {
  let c: Checkpoint | null;
  try {
    c = parseCheckpoints(text, name);
  } catch (e) {
    throw new OpencesError('malformed', (e as Error).message, { field: 'checkpoint' });
  }
  if (!c) throw new OpencesError('malformed', `${name} holds no audit checkpoint`, { field: 'checkpoint' });
  return c;
}
import { issueCaClientCertificate } from '../ca/backends/client-cert.js';
import { createChallenge, scepProfiles } from '../enrollment/scep-challenges.js';
import { listChallenges } from '../store/scep-repo.js';

/**
 * Operator operations: one function per verb, validated input, audited, shared by the CLI (direct
 * database access) and the control socket of a running server. JSON in, JSON out.
 */
type Op = (core: Core, args: unknown, actor: string, actorRef?: PrincipalRef) => Promise<unknown>;

/** Who is who on this deployment (src/auth/identity.ts). */
/** The audit event and answer of a renewal that made a new generation. */
async function renewed(core: Core, actor: string, r: Extract<RenewResult, { status: 'installed' }>, before: { index: number; keyIndex: number }): Promise<unknown> {
  const cert = new X509Certificate(Buffer.from(r.certificate));
  const details = { generation: r.generation, keyIndex: r.keyIndex, newKey: r.newKey, previousGeneration: before.index, sha256: cert.fingerprint256.replace(/:/g, '').toLowerCase(), notAfter: new Date(cert.validTo).toISOString() };
  await core.audit.record({ type: 'ca.renew', outcome: 'success', actor, details });
  const base = `${core.config.pkiBaseUrl}/pki/`;
  const slug = core.ca.info().slug;
  return { status: 'installed', name: r.name, ...details, certificateUrl: `${base}${pkiFileBase(slug, r.generation)}.crt`, crlUrl: `${base}${pkiFileBase(slug, r.keyIndex)}.crl`, certPem: pem(r.certificate) };
}

const identityOf = (core: Core) => ({ domains: core.config.auth.domains, accountRealms: core.config.auth.accountRealms });

/**
 * What a local account's password must be, wherever it is set (`user.add`, `user.passwd`): present
 * and no longer than a UsernameToken password may be (src/auth/username.ts refuses longer ones).
 * The admin API asks for 8 characters at least (openapi/opences.yaml, Password).
 */
const PASSWORD = z.string().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters');

const reasons = Object.keys(REVOCATION_REASON_CODES) as [RevocationReason, ...RevocationReason[]];

function parse<T extends z.ZodTypeAny>(schema: T, args: unknown): z.infer<T> {
  const r = schema.safeParse(args ?? {});
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new OpencesError('malformed', `${i.path.join('.') || 'arguments'}: ${i.message}`, { field: i.path.join('.') });
  }
  return r.data;
}

/**
 * What the request asked for (its PKCS#10: subject, SANs, key) and what the RA dropped from that
 * (names not in the issuance order: the template builds them, or does not allow them).
 */
function requestedNames(csrDer: Uint8Array | null, order: unknown): { csr?: { subject: string; sans: SanEntry[]; key: { algorithm: string; bits: number; curve?: string } }; dropped?: { subject?: NameAttribute[]; sans?: SanEntry[] } } {
  if (!csrDer) return {};
  let csr: ParsedCsr;
  try {
    csr = parseCsr(csrDer);
  } catch {
    return {};
  }
  const out = { csr: { subject: csr.subjectString, sans: csr.sans, key: { algorithm: csr.publicKey.algorithm, bits: csr.publicKey.bits, ...(csr.publicKey.curve ? { curve: csr.publicKey.curve } : {}) } } };
  if (!isStoredOrder(order)) return out;
  const same = (x: { type: string; value: string }, y: { type: string; value: string }) => x.type === y.type && x.value === y.value;
  const subject = csr.subject.filter((x) => !order.subject.some((y) => same(x, y)));
  const sans = csr.sans.filter((x) => !order.sans.some((y) => same(x, y)));
  return { ...out, dropped: { ...(subject.length ? { subject } : {}), ...(sans.length ? { sans } : {}) } };
}

/** The fields an operator reads off a certificate (node's X.509 decoder; the console shows them). */
function decodedFields(der: Uint8Array): Record<string, unknown> {
  const x = new X509Certificate(der);
  const key = x.publicKey.asymmetricKeyDetails ?? {};
  return {
    subject: x.subject.replace(/\n/g, ', '),
    issuer: x.issuer.replace(/\n/g, ', '),
    serialNumber: x.serialNumber.toLowerCase(),
    validFrom: new Date(x.validFrom).toISOString(),
    validTo: new Date(x.validTo).toISOString(),
    subjectAltName: x.subjectAltName ?? null,
    extendedKeyUsage: x.keyUsage ?? [],
    publicKey: { type: x.publicKey.asymmetricKeyType, ...(key.modulusLength ? { bits: key.modulusLength } : {}), ...(key.namedCurve ? { curve: key.namedCurve } : {}) },
    ca: x.ca,
    fingerprintSha256: x.fingerprint256,
  };
}

const requestView = (r: Awaited<ReturnType<typeof listRequests>>[number]) => ({
  id: r.id,
  status: r.status,
  requester: r.requester,
  authMethod: r.authMethod,
  template: r.template,
  disposition: r.disposition,
  message: r.dispositionMessage,
  serial: r.serial,
  submittedAt: r.submittedAt.toISOString(),
  resolvedAt: r.resolvedAt?.toISOString() ?? null,
  resolvedBy: r.resolvedBy,
});

const certView = (c: NonNullable<Awaited<ReturnType<typeof findBySerial>>>) => ({
  serial: c.serial,
  subject: c.subject,
  sans: c.sans,
  template: c.template,
  requester: c.requester,
  requestId: c.requestId,
  notBefore: c.notBefore.toISOString(),
  notAfter: c.notAfter.toISOString(),
  revokedAt: c.revokedAt?.toISOString() ?? null,
  revocationReason: c.revocationReason === null ? null : (reasons.find((k) => REVOCATION_REASON_CODES[k] === c.revocationReason) ?? c.revocationReason),
});

export const OPERATIONS: Record<string, Op> = {
  ping: async () => ({ pong: true }),

  'user.add': async (core, args, actor) => {
    const a = parse(z.object({ name: z.string(), password: PASSWORD.optional(), groups: z.array(z.string()).default([]), email: z.string().optional() }), args);
    await addUser(core.db, a);
    await core.audit.record({ type: 'account.add', outcome: 'success', actor, principal: a.name, details: { groups: a.groups } });
    return { name: a.name, groups: a.groups };
  },
  'user.passwd': async (core, args, actor) => {
    const a = parse(z.object({ name: z.string(), password: PASSWORD }), args);
    await setPassword(core.db, a.name, a.password);
    core.usernameAuth.invalidate(a.name); // no process keeps accepting the old password from its cache
    // The password goes nowhere near the audit log: not even under a key the scrubber would drop.
    await core.audit.record({ type: 'account.password', outcome: 'success', actor, principal: a.name });
    return { name: a.name, passwordSet: true };
  },
  'user.list': async (core) => listUsers(core.db),
  'user.show': async (core, args) => {
    const a = parse(z.object({ name: z.string() }), args);
    const u = (await listUsers(core.db)).find((x) => x.name === a.name);
    if (!u) throw new OpencesError('notFound', `no account ${a.name}`);
    return u;
  },
  'user.enable': async (core, args, actor) => {
    const a = parse(z.object({ name: z.string() }), args);
    await disableUser(core.db, a.name, false);
    await core.audit.record({ type: 'account.enable', outcome: 'success', actor, principal: a.name });
    return { name: a.name, disabled: false };
  },
  'user.groups': async (core, args, actor) => {
    const a = parse(z.object({ name: z.string(), groups: z.array(z.string().regex(/^[A-Za-z0-9_.@ -]{1,128}$/, 'letters, digits, _ . @ - and space (1–128)')).max(64) }), args);
    const groups = [...new Set(a.groups)];
    const before = (await listUsers(core.db)).find((x) => x.name === a.name);
    await setGroups(core.db, a.name, groups);
    core.usernameAuth.invalidate(a.name); // cached sign-ins carry the old groups
    await core.audit.record({ type: 'account.groups', outcome: 'success', actor, principal: a.name, details: { before: before?.groups ?? [], after: groups } });
    return { name: a.name, groups };
  },
  'user.disable': async (core, args, actor) => {
    const a = parse(z.object({ name: z.string() }), args);
    await disableUser(core.db, a.name);
    core.usernameAuth.invalidate(a.name); // no cached sign-in outlives the account
    await core.audit.record({ type: 'account.disable', outcome: 'success', actor, principal: a.name });
    return { name: a.name, disabled: true };
  },

  'template.list': async (core) =>
    (await listTemplates(core.db)).map((t) => ({ name: t.name, displayName: t.displayName, oid: t.oid, enabled: t.enabled, schemaVersion: t.schemaVersion, pendAllRequests: t.enrollment.pendAllRequests })),
  'template.show': async (core, args) => {
    const a = parse(z.object({ name: z.string() }), args);
    const t = await getTemplate(core.db, a.name);
    if (!t) throw new OpencesError('notFound', `no template ${a.name}`);
    return { yaml: templatesToYaml([t]), template: t };
  },
  'template.export': async (core, args) => {
    const a = parse(z.object({ names: z.array(z.string()).optional() }), args);
    const all = await listTemplates(core.db);
    return { yaml: templatesToYaml(a.names?.length ? all.filter((t) => a.names!.includes(t.name)) : all) };
  },
  'template.lint': async (core, args) => {
    // A YAML file's templates, or stored ones (by name, or all).
    const a = parse(z.object({ yaml: z.string().optional(), name: z.string().optional() }), args);
    let templates: Template[];
    if (a.yaml !== undefined) templates = await templatesFromYamlOffLoop(a.yaml);
    else if (a.name !== undefined) {
      const t = await getTemplate(core.db, a.name);
      if (!t) throw new OpencesError('notFound', `no template ${a.name}`);
      templates = [t];
    } else templates = await listTemplates(core.db);
    const findings = templates.flatMap((t) => lintTemplate(t, lintOptions(core)));
    return { templates: templates.map((t) => t.name), findings };
  },
  'template.import': async (core, args, actor) => {
    const a = parse(z.object({ yaml: z.string(), acceptRisk: acceptRiskSchema }), args);
    const templates = await templatesFromYamlOffLoop(a.yaml);
    const names = templates.map((t) => t.name.toLowerCase());
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) throw new OpencesError('malformed', `the file names the template ${dup} twice`, { field: 'templates' });
    const stored: string[] = [];
    await core.db.transaction(async (tx) => {
      await lockTemplates(tx);
      for (const t of templates) stored.push(await saveTemplate(tx, core, t, actor, 'imported', a.acceptRisk));
    });
    core.templates.invalidate();
    return { imported: stored };
  },
  'template.create': async (core, args, actor) => {
    const a = parse(z.object({ template: z.unknown(), acceptRisk: acceptRiskSchema }), args);
    const t = validTemplate(a.template);
    await core.db.transaction(async (tx) => {
      await lockTemplates(tx);
      if (await getTemplate(tx, t.name)) throw new OpencesError('conflict', `a template named ${t.name} already exists (PUT /templates/${t.name} replaces it)`, { field: 'name' });
      await saveTemplate(tx, core, t, actor, 'created', a.acceptRisk);
    });
    core.templates.invalidate();
    return { name: t.name, created: true };
  },
  'template.replace': async (core, args, actor) => {
    const a = parse(z.object({ name: z.string(), template: z.unknown(), acceptRisk: acceptRiskSchema }), args);
    const t = validTemplate(a.template);
    if (t.name.toLowerCase() !== a.name.toLowerCase()) throw new OpencesError('malformed', `name ${t.name} differs from the template being replaced (${a.name}); templates are not renamed`, { field: 'name' });
    const name = await core.db.transaction(async (tx) => {
      await lockTemplates(tx);
      if (!(await getTemplate(tx, a.name))) throw new OpencesError('notFound', `no template ${a.name}`);
      return saveTemplate(tx, core, t, actor, 'replaced', a.acceptRisk);
    });
    core.templates.invalidate();
    return { name, updated: true };
  },
  'template.enable': async (core, args, actor) => setTemplateEnabled(core, args, actor, true),
  'template.disable': async (core, args, actor) => setTemplateEnabled(core, args, actor, false),
  'template.delete': async (core, args, actor) => {
    // As with removing a template from issuance in ADCS, disabling is the safe step; deletion is
    // refused while requests for the template wait for a certificate manager (approving them
    // needs the template). Issued certificates keep the name in their records.
    const a = parse(z.object({ name: z.string() }), args);
    const name = await core.db.transaction(async (tx) => {
      await lockTemplates(tx);
      const t = await getTemplate(tx, a.name);
      if (!t) throw new OpencesError('notFound', `no template ${a.name}`);
      const pending = await listRequests(tx, { status: 'pending', template: t.name, limit: 1000 });
      if (pending.length) {
        throw new OpencesError('conflict', `template ${t.name} has ${pending.length}${pending.length === 1000 ? '+' : ''} pending request(s) (oldest shown: ${pending[pending.length - 1]!.id}); approve or deny them first, or disable the template instead`, { field: 'name' });
      }
      await deleteTemplate(tx, t.name);
      await core.audit.record({ type: 'template.deleted', outcome: 'success', actor, template: t.name, details: { oid: t.oid } }, tx);
      return t.name;
    });
    core.templates.invalidate();
    return { name, deleted: true };
  },

  'request.list': async (core, args) => {
    const a = parse(z.object({ status: z.enum(['pending', 'issued', 'denied', 'failed']).optional(), requester: z.string().optional(), template: z.string().optional(), limit: z.number().int().optional(), offset: z.number().int().min(0).optional() }), args);
    return (await listRequests(core.db, a)).map(requestView);
  },
  'request.show': async (core, args) => {
    const a = parse(z.object({ id: z.string() }), args);
    const r = await getRequest(core.db, a.id);
    if (!r) throw new OpencesError('notFound', `no request ${a.id}`);
    return { ...requestView(r), attributes: r.attributes, order: r.issuanceOrder, ...requestedNames(r.csrDer, r.issuanceOrder) };
  },
  'request.approve': async (core, args, actor, actorRef) => {
    const a = parse(z.object({ id: z.string() }), args);
    const out = await core.ra.approve(a.id, actor, actorRef);
    return { id: out.requestId, status: out.status, serial: out.serial };
  },
  'request.deny': async (core, args, actor, actorRef) => {
    const a = parse(z.object({ id: z.string(), reason: z.string().default('') }), args);
    await core.ra.deny(a.id, actor, a.reason, actorRef);
    return { id: a.id, status: 'denied' };
  },

  'cert.list': async (core, args) => {
    const a = parse(
      z.object({ requester: z.string().optional(), template: z.string().optional(), text: z.string().optional(), revoked: z.boolean().optional(), status: z.enum(['valid', 'revoked', 'expired']).optional(), expiringBefore: z.coerce.date().optional(), expiringAfter: z.coerce.date().optional(), limit: z.number().int().optional(), offset: z.number().int().min(0).optional() }),
      args,
    );
    return (await listCertificates(core.db, { ...a, asOf: core.clock.now() })).map(certView);
  },
  'cert.show': async (core, args) => {
    const a = parse(z.object({ serial: z.string() }), args);
    const c = await findBySerial(core.db, a.serial);
    if (!c) throw new OpencesError('notFound', `no certificate with serial ${a.serial}`);
    return { ...certView(c), pem: pem(c.der), decoded: decodedFields(c.der), chain: core.ca.info().chain.map((der) => ({ subject: new X509Certificate(der).subject.replace(/\n/g, ', '), pem: pem(der) })) };
  },
  'cert.revoke': async (core, args, actor, actorRef) => {
    const a = parse(z.object({ serial: z.string(), reason: z.enum(reasons).default('unspecified') }), args);
    const c = await findWithOwner(core.db, a.serial);
    if (c && isOwnRequest({ name: c.owner.name, key: c.owner.key, authMethod: c.owner.authMethod }, { name: actor, ref: actorRef }, identityOf(core))) {
      await core.audit.record({ type: 'certificate.revoke', outcome: 'denied', actor, serial: c.serial, principal: c.owner.name ?? undefined, reason: 'a certificate manager cannot revoke their own certificate' });
      throw new OpencesError('forbidden', 'a certificate manager cannot revoke their own certificate', { hresult: HRESULT.CERTSRV_E_RESTRICTEDOFFICER });
    }
    try {
      await core.ca.revoke(a.serial, a.reason);
    } catch (e) {
      await core.audit.record({ type: 'certificate.revoke', outcome: 'failure', actor, serial: a.serial, reason: e instanceof Error ? e.message : 'failed' });
      throw e;
    }
    core.certificateAuth.invalidate(); // no connection keeps signing in with it here (elsewhere: CONNECTION_VERDICT_MS)
    await core.audit.record({ type: 'certificate.revoke', outcome: 'success', actor, serial: c?.serial ?? a.serial, template: c?.template ?? undefined, principal: c?.requester ?? undefined, reason: a.reason });
    return { serial: c?.serial ?? a.serial, revoked: true, reason: a.reason };
  },
  'cert.unrevoke': async (core, args, actor) => {
    const a = parse(z.object({ serial: z.string() }), args);
    await core.ca.unrevoke(a.serial);
    await core.audit.record({ type: 'certificate.unrevoke', outcome: 'success', actor, serial: a.serial });
    return { serial: a.serial, revoked: false };
  },

  'crl.publish': async (core, args, actor) => {
    const a = parse(z.object({ delta: z.boolean().default(false) }), args);
    if (!core.ca.publishCrl) throw new OpencesError('unsupported', 'this node has no CA that publishes CRLs');
    // After a renewal with a new key the current CRL is `<ca>(k).crl` (ADCS's key index, src/ca/generations.ts).
    const slug = pkiFileBase(core.ca.info().slug, core.ca instanceof LocalCa ? core.ca.generation.keyIndex : 0);
    const deltas = core.ca instanceof LocalCa && core.ca.deltaCrls;
    const deltaUrl = `${core.config.pkiBaseUrl}${deltaCrlPath(slug)}`;
    const der = await core.ca.publishCrl({ delta: a.delta });
    await core.audit.record({ type: 'crl.publish', outcome: 'success', actor, details: { delta: a.delta, bytes: der.length } });
    // Earlier keys of a renewed CA sign the CRLs of what they issued (full CRLs with every publication).
    for (const p of !a.delta && core.ca instanceof LocalCa ? await core.ca.publishPreviousCrls() : []) {
      await core.audit.record({ type: 'crl.publish', outcome: 'success', actor, details: { delta: false, bytes: p.bytes, keyIndex: p.keyIndex } });
    }
    if (a.delta) return { published: true, delta: true, bytes: der.length, url: deltaUrl };
    // A new full CRL makes the previous delta's base outdated: publish a delta on top of it, as ADCS does.
    // Under the CRL lock: none when the schedule already put one on this base.
    const delta = core.ca instanceof LocalCa && deltas ? await core.ca.publishCrlIfDue('delta', Number.POSITIVE_INFINITY) : null;
    if (delta) await core.audit.record({ type: 'crl.publish', outcome: 'success', actor, details: { delta: true, bytes: delta.length } });
    return { published: true, delta: false, bytes: der.length, url: `${core.config.pkiBaseUrl}/pki/${slug}.crl`, ...(deltas ? { deltaUrl } : {}), ...(delta ? { deltaBytes: delta.length } : {}) };
  },

  /**
   * `opences ca client-cert issue` on a node whose server is running: the server's CA signs and
   * records it (the embedded database admits one process). The command keeps the private key and
   * sends only the CSR. Names are the operator's (parsed by the command), validated here again.
   */
  'ca.clientCert.issue': async (core, args, actor) => {
    const name = z.object({ type: z.string().min(1).max(64), value: z.string().min(1).max(1024) }).strict();
    const san = z.object({ type: z.enum(['dns', 'ip', 'email', 'uri', 'upn']), value: z.string().min(1).max(1024) }).strict();
    const a = parse(z.object({ csr: z.string().min(1), subject: z.array(name).min(1).max(32), sans: z.array(san).max(64).default([]), days: z.number().int().default(365) }), args);
    if (!(core.ca instanceof LocalCa)) throw new OpencesError('unsupported', 'this node has no CA key: run `opences ca client-cert issue` on the ca node');
    const r = await issueCaClientCertificate({ ca: core.ca, db: core.db, audit: core.audit, clock: core.clock }, { csrDer: decodeBase64Token(a.csr), subject: a.subject, sans: a.sans, days: a.days, actor });
    return { serial: r.serial, certPem: r.certPem, fingerprint: r.fingerprint, notAfter: r.notAfter.toISOString() };
  },

  /**
   * `opences ca renew [--new-key] [--csr-out F]`: a new certificate for the issuing CA (src/ca/renew.ts).
   * When the root key is here it is signed and issuance switches to it at once (in every process
   * on the database); otherwise the CSR goes back to the command and `ca install` completes it.
   */
  'ca.renew': async (core, args, actor) => {
    const a = parse(z.object({ newKey: z.boolean().default(false), csr: z.boolean().default(false), years: z.number().int().min(1).max(50).optional() }), args);
    if (!core.caKeys || !(core.ca instanceof LocalCa)) throw new OpencesError('unsupported', 'this node holds no CA key: run `opences ca renew` on the ca node');
    const before = core.ca.generation;
    let r: RenewResult;
    try {
      r = await renewIssuingCa({ db: core.db, dataDir: core.config.dataDir, keyStore: core.caKeys.keyStore, clock: core.clock, pkiBaseUrl: core.config.pkiBaseUrl, newKey: a.newKey, csr: a.csr, ...(a.years ? { years: a.years } : {}) });
    } catch (e) {
      await core.audit.record({ type: 'ca.renew', outcome: 'failure', actor, reason: e instanceof Error ? e.message : 'failed', details: { newKey: a.newKey } });
      throw e;
    }
    if (r.status === 'csr') {
      await core.audit.record({ type: 'ca.renew', outcome: 'success', actor, details: { newKey: r.newKey, keyRef: r.keyRef, awaiting: 'certificate' } });
      return { status: 'csr', name: r.name, keyRef: r.keyRef, newKey: r.newKey, csrPem: pem(r.csrDer, 'CERTIFICATE REQUEST') };
    }
    await core.caKeys.reload();
    return renewed(core, actor, r, before);
  },
  /** `opences ca install --cert NEW.pem` completing a renewal under a root held elsewhere. */
  'ca.installRenewal': async (core, args, actor) => {
    const a = parse(z.object({ cert: z.string().min(1).max(64 * 1024), chain: z.array(z.string().min(1).max(64 * 1024)).max(4).default([]) }), args);
    if (!core.caKeys || !(core.ca instanceof LocalCa)) throw new OpencesError('unsupported', 'this node holds no CA key: run `opences ca install` on the ca node');
    const before = core.ca.generation;
    let r: Awaited<ReturnType<typeof installRenewal>>;
    try {
      r = await installRenewal({ db: core.db, dataDir: core.config.dataDir, keyStore: core.caKeys.keyStore, certificate: decodeBase64Token(a.cert), chain: a.chain.map((c) => decodeBase64Token(c)) });
    } catch (e) {
      await core.audit.record({ type: 'ca.renew', outcome: 'failure', actor, reason: e instanceof Error ? e.message : 'failed', details: { install: true } });
      throw e;
    }
    await core.caKeys.reload();
    return renewed(core, actor, r, before);
  },

  'audit.verify': async (core, args) => {
    const a = parse(z.object({ checkpoint: z.string().max(64 * 1024 * 1024).optional(), checkpointName: z.string().max(4096).optional() }), args);
    const sources: CheckpointSource[] = [await databaseSource(core.db)];
    const sink = checkpointFile(core.config);
    if (sink && existsSync(sink)) sources.push({ name: sink, checkpoint: latestInFile(sink) });
    if (a.checkpoint !== undefined) {
      const name = a.checkpointName ?? 'the checkpoint given';
      const c = parseCheckpointsOrFail(a.checkpoint, name);
      sources.push({ name, checkpoint: c });
    }
    const issuers = [core.ca.info().issuingCertificate, ...(await listCas(core.db)).filter((c) => c.kind === 'issuing').map((c) => c.certificate)];
    return verifyAudit({ audit: core.audit, db: core.db, issuers, sources });
  },
  'audit.export': async (core) => {
    const chunks: string[] = [];
    const sink = { write: (line: string) => chunks.push(line) } as unknown as NodeJS.WritableStream;
    const count = await core.audit.export(sink);
    return { count, jsonl: chunks.join('') };
  },

  'token.create': async (core, args, actor) => {
    const a = parse(
      z
        .object({ role: z.enum(ADMIN_ROLES), principal: z.string().min(1).max(256).optional(), service: z.string().min(1).max(64).optional(), name: z.string().max(128).optional(), expiresDays: z.number().int().min(1).max(3650).optional() })
        .refine((x) => (x.principal === undefined) !== (x.service === undefined), { message: 'give exactly one of --for PRINCIPAL and --service NAME', path: ['principal'] }),
      args,
    );
    // The token acts as a principal that resolves (recorded by its canonical spelling), or as a service, which is never a person.
    let who;
    try {
      who = a.service !== undefined ? serviceName(a.service) : await resolvePrincipalName(core.db, a.principal!, { ...identityOf(core), kerberos: Boolean(core.config.auth.kerberos), ldap: Boolean(core.config.auth.ldap) });
    } catch (e) {
      await core.audit.record({ type: 'token.create', outcome: 'denied', actor, principal: (a.principal ?? a.service ?? '').slice(0, 256), reason: e instanceof Error ? e.message : 'unresolved principal', details: { role: a.role } });
      throw e;
    }
    const expiresAt = a.expiresDays ? new Date(core.clock.now().getTime() + a.expiresDays * 86400_000) : undefined;
    const t = await createApiToken(core.db, { name: a.name ?? `${who.name} (${a.role})`, role: a.role, principal: who.name, createdBy: actor, expiresAt });
    await core.audit.record({ type: 'token.create', outcome: 'success', actor, principal: who.name, details: { id: t.id, role: a.role, kind: who.kind, identity: who.key, given: a.principal ?? a.service, expiresAt: expiresAt?.toISOString() } });
    return { id: t.id, role: a.role, principal: who.name, kind: who.kind, expiresAt: expiresAt?.toISOString() ?? null, token: t.token };
  },
  'token.list': async (core) => listApiTokens(core.db),

  // One-time SCEP challenge passwords (docs/scep.md): shown once; only their hash is kept.
  'scep.challenge': async (core, args, actor) => {
    const a = parse(z.object({ profile: z.string().min(1).max(64), for: z.string().min(1).max(256).optional(), valid: z.string().max(16).optional() }), args);
    const c = await createChallenge({ db: core.db, audit: core.audit, clock: core.clock, profiles: scepProfiles(core.config) }, { profile: a.profile, ...(a.for ? { boundSubject: a.for } : {}), ...(a.valid ? { valid: a.valid } : {}), actor });
    return { id: c.id, challenge: c.challenge, profile: c.profile, for: c.boundSubject ?? null, expiresAt: c.expiresAt.toISOString() };
  },
  'scep.challenges': async (core, args) => {
    const a = parse(z.object({ profile: z.string().max(64).optional() }), args);
    return (await listChallenges(core.db, a.profile ? { profile: a.profile } : {})).map((c) => ({ id: c.id, profile: c.profile, for: c.boundSubject, createdBy: c.createdBy, createdAt: c.createdAt.toISOString(), expiresAt: c.expiresAt.toISOString(), usedAt: c.usedAt?.toISOString() ?? null }));
  },

  'partner.add': async (core, args, actor) => {
    const a = parse(
      z.object({
        name: z.string(),
        rootsPem: z.string(),
        intermediatesPem: z.string().default(''),
        mapFrom: z.enum(['upn', 'email', 'dns', 'cn']).default('upn'),
        templates: z.array(z.string()).default([]),
        /** CRL files (DER or PEM), base64 of their bytes. */
        crls: z.array(z.string()).default([]),
        crlUrls: z.array(z.string()).default([]),
        crlGraceHours: z.number().min(0).max(24 * 365).default(0),
        crlCheck: z.enum(['leaf', 'chain']).default('leaf'),
      }),
      args,
    );
    const certs = (pemText: string, what: string) => [...pemText.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => decodeBase64Token(m[0], what));
    const roots = certs(a.rootsPem, 'partner root');
    const intermediates = certs(a.intermediatesPem, 'partner intermediate');
    await addPartner(core.db, { name: a.name, roots, intermediates, mapFrom: a.mapFrom, templates: a.templates, crls: a.crls.map((b) => new Uint8Array(Buffer.from(b, 'base64'))), crlUrls: a.crlUrls, crlGraceSeconds: a.crlGraceHours * 3600, crlCheck: a.crlCheck });
    core.partners.invalidate();
    await core.audit.record({ type: 'partner.add', outcome: 'success', actor, details: { partner: a.name, roots: roots.length, intermediates: intermediates.length, mapFrom: a.mapFrom, templates: a.templates, crls: a.crls.length, crlUrls: a.crlUrls, crlGraceHours: a.crlGraceHours, crlCheck: a.crlCheck } });
    return { name: a.name, roots: roots.length, templates: a.templates };
  },
  'partner.crl': async (core, args, actor) => {
    const a = parse(z.object({ name: z.string(), crls: z.array(z.string()).min(1) }), args);
    const loaded = await addPartnerCrls(core.db, a.name, a.crls.map((b) => new Uint8Array(Buffer.from(b, 'base64'))));
    core.partners.invalidate();
    const view = loaded.map((c) => ({ issuer: c.issuer, thisUpdate: c.thisUpdate.toISOString(), nextUpdate: c.nextUpdate?.toISOString() ?? null }));
    await core.audit.record({ type: 'partner.crl', outcome: 'success', actor, details: { partner: a.name, crls: view } });
    return { name: a.name, crls: view };
  },
  'partner.show': async (core, args) => {
    const a = parse(z.object({ name: z.string() }), args);
    const p = (await listPartners(core.db)).find((x) => x.name === a.name);
    if (!p) throw new OpencesError('notFound', `no partner ${a.name}`);
    const view = (der: Uint8Array) => {
      const c = new X509Certificate(Buffer.from(der));
      return { subject: c.subject.replace(/\n/g, ', '), notAfter: new Date(c.validTo).toISOString(), sha256: c.fingerprint256.replace(/:/g, '').toLowerCase(), pem: pem(der) };
    };
    return { name: p.name, mapFrom: p.mapFrom, templates: p.templates, enabled: p.enabled, roots: p.roots.map(view), intermediates: p.intermediates.map(view), crlUrls: p.crlUrls, crlGraceHours: p.crlGraceSeconds / 3600, crlCheck: p.crlCheck };
  },
  'partner.list': async (core) => {
    const crls = await listPartnerCrls(core.db);
    return (await listPartners(core.db)).map((p) => ({
      name: p.name,
      roots: p.roots.length,
      intermediates: p.intermediates.length,
      mapFrom: p.mapFrom,
      templates: p.templates,
      enabled: p.enabled,
      crlUrls: p.crlUrls,
      crlGraceHours: p.crlGraceSeconds / 3600,
      crlCheck: p.crlCheck,
      crls: crls.filter((c) => c.partner === p.name).map((c) => ({ source: c.source, ...(c.url ? { url: c.url } : {}), issuer: c.issuerName, thisUpdate: c.thisUpdate.toISOString(), nextUpdate: c.nextUpdate?.toISOString() ?? null })),
    }));
  },
  'partner.remove': async (core, args, actor) => {
    const a = parse(z.object({ name: z.string(), revoke: z.boolean().default(false) }), args);
    await removePartner(core.db, a.name);
    core.partners.invalidate(); // certificates we issued to its users stop authenticating (src/auth/certificate-owner.ts)
    await core.audit.record({ type: 'partner.remove', outcome: 'success', actor, details: { partner: a.name, revoke: a.revoke } });
    const revoked = a.revoke ? await revokePartnerCertificates(core, a.name, actor) : [];
    return { name: a.name, removed: true, ...(a.revoke ? { revoked } : {}) };
  },
  'partner.suspend': async (core, args, actor) => setPartnerEnabled(core, args, actor, false),
  'partner.resume': async (core, args, actor) => setPartnerEnabled(core, args, actor, true),
  'token.revoke': async (core, args, actor) => {
    const a = parse(z.object({ id: z.string() }), args);
    await revokeApiToken(core.db, a.id);
    await core.audit.record({ type: 'token.revoke', outcome: 'success', actor, details: { id: a.id } });
    return { id: a.id, revoked: true };
  },
};

/** Suspending a partner refuses its users, with their partner certificates and with the certificates we issued them; resuming lets them in again. */
async function setPartnerEnabled(core: Core, args: unknown, actor: string, enabled: boolean): Promise<unknown> {
  const a = parse(z.object({ name: z.string(), revoke: z.boolean().default(false) }), args);
  if (enabled && a.revoke) throw new OpencesError('malformed', 'revoke goes with suspend or remove, not resume', { field: 'revoke' });
  const r = await core.db.query('UPDATE partners SET enabled = $2 WHERE name = $1', [a.name, enabled]);
  if (r.rowCount === 0) throw new OpencesError('notFound', `no partner ${a.name}`);
  core.partners.invalidate();
  await core.audit.record({ type: enabled ? 'partner.resume' : 'partner.suspend', outcome: 'success', actor, details: { partner: a.name, revoke: a.revoke } });
  const revoked = a.revoke ? await revokePartnerCertificates(core, a.name, actor) : [];
  return { name: a.name, enabled, ...(a.revoke ? { revoked } : {}) };
}

/** Revokes (cessationOfOperation) every unrevoked certificate of ours issued to the partner's users; each revocation audited. */
async function revokePartnerCertificates(core: Core, partner: string, actor: string): Promise<string[]> {
  const r = await core.db.query<{ serial: string; requester: string }>(
    `SELECT c.serial, r.requester FROM certificates c JOIN requests r ON r.id = c.request_id
     WHERE c.revoked_at IS NULL AND (r.requester_key LIKE $1 OR (r.requester_key IS NULL AND r.requester LIKE $1)) ORDER BY c.serial`,
    [`partner:${partner}/%`],
  );
  const done: string[] = [];
  for (const c of r.rows) {
    await core.ca.revoke(c.serial, 'cessationOfOperation');
    await core.audit.record({ type: 'certificate.revoke', outcome: 'success', actor, serial: c.serial, principal: c.requester, reason: 'cessationOfOperation', details: { partner } });
    done.push(c.serial);
  }
  if (done.length) core.certificateAuth.invalidate();
  return done;
}

async function setTemplateEnabled(core: Core, args: unknown, actor: string, enabled: boolean): Promise<unknown> {
  const a = parse(z.object({ name: z.string() }), args);
  const done = await setEnabled(core.db, a.name, enabled);
  if (!done) throw new OpencesError('notFound', `no template ${a.name}`);
  await core.audit.record({ type: enabled ? 'template.enabled' : 'template.disabled', outcome: 'success', actor, template: a.name });
  core.templates.invalidate();
  return { name: a.name, enabled };
}

/** Template writes one at a time (all nodes): the name and OID checks and the write are one step. */
async function lockTemplates(tx: Queryable): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1)', [0x746d706c]); // "tmpl"
}

/** JSON with sorted keys (jsonb does not keep the key order a template was written in). */
function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x));
}

/** A template from JSON, validated exactly as `template import` validates YAML; `field` names the path. */
export function validTemplate(input: unknown): Template {
  const r = templateSchema.safeParse(input);
  if (r.success) return r.data as Template;
  const i = r.error.issues[0]!;
  const key = i.code === 'unrecognized_keys' ? (i as { keys: string[] }).keys[0] : undefined;
  const path = [...i.path, ...(key ? [key] : [])].map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  throw new OpencesError('malformed', `${path || 'template'}: ${key ? 'unknown key' : i.message}`, path ? { field: path } : {});
}

/**
 * Stores a template inside the caller's transaction under its existing spelling, refusing an OID
 * another template has; audits template.created or template.updated (with the top-level fields
 * that changed). Returns the stored name.
 */
async function saveTemplate(tx: Queryable, core: Core, t: Template, actor: string, how: string, acceptRisk: string[] = []): Promise<string> {
  // The safety lint (src/policy/template-lint.ts): a dangerous shape is stored only when its risk is accepted by name.
  const findings = lintTemplate(t, lintOptions(core));
  const open = unacceptedFindings(findings, acceptRisk);
  if (open.length) {
    await core.audit.record({ type: 'template.lint', outcome: 'denied', actor, template: t.name, reason: `refused: ${open.map((f) => f.id).join(', ')} (accept the risk by name to store it anyway)`, details: { findings: open.map((f) => f.id) } });
    throw new OpencesError('policyDenied', `template ${t.name} is unsafe:\n${open.map(formatFinding).join('\n')}\n(store it anyway with --accept-risk ${open.map((f) => f.id).join(' --accept-risk ')})`, { field: 'template', findings: open });
  }
  const all = await listTemplates(tx);
  const existing = all.find((x) => x.name.toLowerCase() === t.name.toLowerCase());
  const clash = all.find((x) => x.oid === t.oid && x !== existing);
  if (clash) throw new OpencesError('conflict', `OID ${t.oid} already belongs to template ${clash.name}`, { field: 'oid' });
  const stored: Template = { ...t, name: existing?.name ?? t.name };
  await upsertTemplate(tx, stored);
  const changed = existing ? (Object.keys(stored) as (keyof Template)[]).filter((k) => canonicalJson(stored[k]) !== canonicalJson(existing[k])) : undefined;
  const accepted = findings.map((f) => f.id);
  await core.audit.record({ type: existing ? 'template.updated' : 'template.created', outcome: 'success', actor, template: stored.name, reason: how, details: { oid: stored.oid, ...(changed ? { changed } : {}), ...(accepted.length ? { acceptedRisks: accepted } : {}) } }, tx);
  return stored.name;
}

const acceptRiskSchema = z.array(z.string().regex(/^ESC\d{1,2}$/i, 'an ESC id such as ESC1')).max(16).default([]);

/** The deployment's lint context (issuance policy OIDs linked to directory groups, for ESC13). */
function lintOptions(core: Core): { issuancePolicyGroupLinks?: Record<string, string> } {
  const links = core.config.auth.kerberos?.directory?.issuancePolicyGroupLinks;
  return links ? { issuancePolicyGroupLinks: links } : {};
}

/** `actorRef`: who the actor is exactly, when their credential says so (an admin certificate of ours); else only the name counts. */
export function runOperation(core: Core, op: string, args: unknown, actor: string, actorRef?: PrincipalRef): Promise<unknown> {
  const fn = OPERATIONS[op];
  if (!fn) return Promise.reject(new OpencesError('notFound', `unknown operation ${op}`));
  return fn(core, args, actor, actorRef);
}
