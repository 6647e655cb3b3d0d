import type { Core } from '../../app/core-types.js';
import type { AdminRole } from '../../auth/api-tokens.js';
import type { AdminCaller } from './client-cert.js';
import { LocalCa, deltaCrlPath, pkiFileBase } from '../../ca/engine.js';
import { OpencesError } from '../../errors.js';
import { runOperation } from '../../ops/operations.js';
import { findBySerial } from '../../store/certificate-repo.js';
import { latestCrl } from '../../store/crl-repo.js';
import { listCas } from '../../store/ca-repo.js';
import { buildCertsOnly } from '../../protocol/pkcs7/index.js';
import { pem } from '../../ca/init.js';
import { latestCheckpoint } from '../../store/audit-checkpoint-repo.js';
import { toJson } from '../../audit/checkpoint.js';
import { overview } from './overview.js';

export interface RouteInput {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: Record<string, unknown>;
  /** The body of operations that take text (application/yaml). */
  text?: string;
  who: AdminCaller;
}

export type RouteResult = { json: unknown; status?: number } | { file: { contentType: string; name: string; body: Uint8Array | string } };

export interface RouteDef {
  roles: AdminRole[];
  handle(core: Core, i: RouteInput): Promise<RouteResult>;
}

const READ: AdminRole[] = ['ca-admin', 'cert-manager', 'auditor'];
const MANAGE: AdminRole[] = ['cert-manager'];
const AUDIT: AdminRole[] = ['auditor'];
const ADMIN: AdminRole[] = ['ca-admin'];
const YAML = 'application/yaml';
const actor = (i: RouteInput): string => i.who.principal.name;
const op = async (core: Core, name: string, args: unknown, i: RouteInput, status?: number): Promise<RouteResult> => ({ json: await runOperation(core, name, args, actor(i), i.who.principal.ref), ...(status ? { status } : {}) });
/** `acceptRisk=ESC1,ESC2`: the lint findings the caller accepts for a template write. */
const acceptRisk = (i: RouteInput): string[] => (typeof i.query.acceptRisk === 'string' && i.query.acceptRisk ? i.query.acceptRisk.split(',') : []);
const yamlFile = (name: string, yaml: string): RouteResult => ({ file: { contentType: YAML, name, body: yaml } });

/**
 * One entry per OpenAPI operationId (a test checks both directions). Handlers reuse the operator
 * operations, so the API, the CLI and the control socket behave — and audit — the same.
 */
export const ROUTES: Record<string, RouteDef> = {
  listRequests: { roles: READ, handle: (c, i) => op(c, 'request.list', { status: i.query.status, requester: i.query.requester, template: i.query.template, limit: i.query.limit, offset: i.query.offset }, i) },
  getRequest: { roles: READ, handle: (c, i) => op(c, 'request.show', { id: i.params.id }, i) },
  approveRequest: { roles: MANAGE, handle: (c, i) => op(c, 'request.approve', { id: i.params.id }, i) },
  denyRequest: { roles: MANAGE, handle: (c, i) => op(c, 'request.deny', { id: i.params.id, reason: i.body.reason ?? '' }, i) },
  listCertificates: { roles: READ, handle: (c, i) => op(c, 'cert.list', { text: i.query.search, requester: i.query.requester, template: i.query.template, revoked: i.query.revoked, status: i.query.status, expiringBefore: i.query.expiresBefore, expiringAfter: i.query.expiresAfter, limit: i.query.limit, offset: i.query.offset }, i) },
  getOverview: { roles: READ, handle: async (c) => ({ json: await overview(c) }) },
  getCertificate: { roles: READ, handle: (c, i) => op(c, 'cert.show', { serial: i.params.serial }, i) },
  downloadCertificate: {
    roles: READ,
    async handle(core, i) {
      const rec = await findBySerial(core.db, i.params.serial!);
      if (!rec) throw new OpencesError('notFound', `no certificate with serial ${i.params.serial}`);
      const format = (i.query.format as string | undefined) ?? 'pem';
      // The file name is built from the validated hex serial only: nothing from the caller reaches a path.
      if (format === 'der') return { file: { contentType: 'application/pkix-cert', name: `${rec.serial}.cer`, body: rec.der } };
      if (format === 'p7b') return { file: { contentType: 'application/pkcs7-mime', name: `${rec.serial}.p7b`, body: buildCertsOnly([rec.der, ...core.ca.info().chain]) } };
      return { file: { contentType: 'application/x-pem-file', name: `${rec.serial}.pem`, body: pem(rec.der) } };
    },
  },
  revokeCertificate: { roles: MANAGE, handle: (c, i) => op(c, 'cert.revoke', { serial: i.params.serial, reason: i.body.reason }, i) },
  unrevokeCertificate: { roles: MANAGE, handle: (c, i) => op(c, 'cert.unrevoke', { serial: i.params.serial }, i) },
  getCrlSchedule: {
    roles: READ,
    async handle(core) {
      // After a renewal with a new key, the current key's CRLs (ADCS's `<ca>(k).crl`, src/ca/generations.ts).
      const keyIndex = core.ca instanceof LocalCa ? core.ca.generation.keyIndex : 0;
      const slug = pkiFileBase(core.ca.info().slug, keyIndex);
      const ca = (await listCas(core.db)).find((x) => x.slug === core.ca.info().slug && x.generation === keyIndex);
      const view = (c: Awaited<ReturnType<typeof latestCrl>>) => (c ? { number: c.number, thisUpdate: c.thisUpdate.toISOString(), nextUpdate: c.nextUpdate.toISOString() } : null);
      const deltas = core.ca instanceof LocalCa && core.ca.deltaCrls;
      return {
        json: {
          periodHours: core.config.ca.crlPeriodHours,
          validityHours: core.config.ca.crlValidityHours,
          url: `${core.config.pkiBaseUrl}/pki/${slug}.crl`,
          latest: view(ca ? await latestCrl(core.db, ca.id) : null),
          delta: deltas
            ? { periodHours: core.config.ca.deltaCrlPeriodHours, url: `${core.config.pkiBaseUrl}${deltaCrlPath(slug)}`, latest: view(ca ? await latestCrl(core.db, ca.id, true) : null) }
            : null,
        },
      };
    },
  },
  createScepChallenge: { roles: ['ca-admin', 'cert-manager'], handle: (c, i) => op(c, 'scep.challenge', { profile: i.body.profile, for: i.body.for, valid: i.body.valid }, i, 201) },
  listScepChallenges: { roles: READ, handle: (c, i) => op(c, 'scep.challenges', { profile: i.query.profile }, i) },
  publishCrl: { roles: MANAGE, handle: (c, i) => op(c, 'crl.publish', { delta: i.body.delta === true }, i) },
  listTemplates: {
    roles: READ,
    async handle(c, i) {
      if (i.query.format === 'yaml') return yamlFile('templates.yaml', ((await runOperation(c, 'template.export', {}, actor(i))) as { yaml: string }).yaml);
      return op(c, 'template.list', {}, i);
    },
  },
  getTemplate: {
    roles: READ,
    async handle(c, i) {
      const r = (await runOperation(c, 'template.show', { name: i.params.name }, actor(i))) as { yaml: string; template: { name: string } };
      // The file name comes from the stored template name, which the template schema restricts to [A-Za-z0-9 _.-].
      if (i.query.format === 'yaml') return yamlFile(`${r.template.name.replace(/[^A-Za-z0-9_.-]/g, '_')}.yaml`, r.yaml);
      return { json: r };
    },
  },
  createTemplate: { roles: ADMIN, handle: (c, i) => op(c, 'template.create', { template: i.body, acceptRisk: acceptRisk(i) }, i, 201) },
  replaceTemplate: { roles: ADMIN, handle: (c, i) => op(c, 'template.replace', { name: i.params.name, template: i.body, acceptRisk: acceptRisk(i) }, i) },
  lintTemplate: { roles: READ, handle: (c, i) => op(c, 'template.lint', { name: i.params.name }, i) },
  lintTemplates: { roles: READ, handle: (c, i) => op(c, 'template.lint', i.text !== undefined && i.text.trim() !== '' ? { yaml: i.text } : {}, i) },
  deleteTemplate: { roles: ADMIN, handle: (c, i) => op(c, 'template.delete', { name: i.params.name }, i) },
  enableTemplate: { roles: ADMIN, handle: (c, i) => op(c, 'template.enable', { name: i.params.name }, i) },
  disableTemplate: { roles: ADMIN, handle: (c, i) => op(c, 'template.disable', { name: i.params.name }, i) },
  importTemplates: { roles: ADMIN, handle: (c, i) => op(c, 'template.import', { yaml: i.text ?? '', acceptRisk: acceptRisk(i) }, i) },
  listPartners: { roles: ADMIN, handle: (c, i) => op(c, 'partner.list', {}, i) },
  getPartner: { roles: ADMIN, handle: (c, i) => op(c, 'partner.show', { name: i.params.name }, i) },
  addPartner: {
    roles: ADMIN,
    async handle(c, i) {
      try {
        const b = i.body;
        return await op(c, 'partner.add', { name: b.name, rootsPem: b.rootsPem, intermediatesPem: b.intermediatesPem, mapFrom: b.mapFrom, templates: b.templates, crls: b.crls, crlUrls: b.crlUrls, crlGraceHours: b.crlGraceHours, crlCheck: b.crlCheck }, i, 201);
      } catch (e) {
        // The store names the decoded roots; the caller sent them as rootsPem.
        if (e instanceof OpencesError && e.details.field === 'roots') throw new OpencesError(e.kind, e.message, { ...e.details, field: 'body.rootsPem' });
        throw e;
      }
    },
  },
  addPartnerCrls: { roles: ADMIN, handle: (c, i) => op(c, 'partner.crl', { name: i.params.name, crls: i.body.crls }, i) },
  removePartner: { roles: ADMIN, handle: (c, i) => op(c, 'partner.remove', { name: i.params.name, revoke: i.query.revoke === true }, i) },
  suspendPartner: { roles: ADMIN, handle: (c, i) => op(c, 'partner.suspend', { name: i.params.name, revoke: i.query.revoke === true }, i) },
  resumePartner: { roles: ADMIN, handle: (c, i) => op(c, 'partner.resume', { name: i.params.name }, i) },
  listAccounts: { roles: ADMIN, handle: (c, i) => op(c, 'user.list', {}, i) },
  getAccount: { roles: ADMIN, handle: (c, i) => op(c, 'user.show', { name: i.params.name }, i) },
  createAccount: {
    roles: ADMIN,
    async handle(c, i) {
      // The password is set, never returned and never logged; the audit log records the groups only.
      const r = (await runOperation(c, 'user.add', { name: i.body.name, password: i.body.password, groups: i.body.groups ?? [], email: i.body.email }, actor(i))) as { name: string; groups: string[] };
      return { status: 201, json: { name: r.name, groups: r.groups, passwordSet: typeof i.body.password === 'string' } };
    },
  },
  setAccountPassword: {
    roles: ADMIN,
    async handle(c, i) {
      // The new password is hashed and nothing else: never returned, logged or audited.
      await runOperation(c, 'user.passwd', { name: i.params.name, password: i.body.password }, actor(i));
      return { status: 204, json: null };
    },
  },
  disableAccount: { roles: ADMIN, handle: (c, i) => op(c, 'user.disable', { name: i.params.name }, i) },
  enableAccount: { roles: ADMIN, handle: (c, i) => op(c, 'user.enable', { name: i.params.name }, i) },
  setAccountGroups: { roles: ADMIN, handle: (c, i) => op(c, 'user.groups', { name: i.params.name, groups: i.body.groups }, i) },
  listAuditEvents: {
    roles: AUDIT,
    async handle(core, i) {
      const rows = await core.audit.list({ type: i.query.type as string | undefined, principal: i.query.principal as string | undefined, limit: i.query.limit as number | undefined, offset: i.query.offset as number | undefined });
      return { json: rows.map((r) => ({ ...r, at: r.at.toISOString() })) };
    },
  },
  verifyAudit: { roles: AUDIT, handle: (c, i) => op(c, 'audit.verify', {}, i) },
  getAuditCheckpoint: {
    roles: AUDIT,
    async handle(core) {
      const c = await latestCheckpoint(core.db);
      if (!c) throw new OpencesError('notFound', 'no audit checkpoint yet');
      return { json: JSON.parse(toJson(c)) as unknown };
    },
  },
};
