import type { Core } from '../../app/core-types.js';
import type { AdminIdentity, AdminRole } from '../../auth/api-tokens.js';
import { OpencesError } from '../../errors.js';
import { runOperation } from '../../ops/operations.js';
import { findBySerial } from '../../store/certificate-repo.js';
import { latestCrl } from '../../store/crl-repo.js';
import { listCas } from '../../store/ca-repo.js';
import { buildCertsOnly } from '../../protocol/pkcs7/index.js';
import { pem } from '../../ca/init.js';

export interface RouteInput {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: Record<string, unknown>;
  who: AdminIdentity;
}

export type RouteResult = { json: unknown } | { file: { contentType: string; name: string; body: Uint8Array | string } };

export interface RouteDef {
  roles: AdminRole[];
  handle(core: Core, i: RouteInput): Promise<RouteResult>;
}

const READ: AdminRole[] = ['ca-admin', 'cert-manager', 'auditor'];
const MANAGE: AdminRole[] = ['cert-manager'];
const AUDIT: AdminRole[] = ['auditor'];
const actor = (i: RouteInput): string => i.who.principal.name;
const op = async (core: Core, name: string, args: unknown, i: RouteInput): Promise<RouteResult> => ({ json: await runOperation(core, name, args, actor(i)) });

/**
 * One entry per OpenAPI operationId (a test checks both directions). Handlers reuse the operator
 * operations, so the API, the CLI and the control socket behave — and audit — the same.
 */
export const ROUTES: Record<string, RouteDef> = {
  listRequests: { roles: READ, handle: (c, i) => op(c, 'request.list', i.query, i) },
  getRequest: { roles: READ, handle: (c, i) => op(c, 'request.show', { id: i.params.id }, i) },
  approveRequest: { roles: MANAGE, handle: (c, i) => op(c, 'request.approve', { id: i.params.id }, i) },
  denyRequest: { roles: MANAGE, handle: (c, i) => op(c, 'request.deny', { id: i.params.id, reason: i.body.reason ?? '' }, i) },
  listCertificates: { roles: READ, handle: (c, i) => op(c, 'cert.list', { text: i.query.search, requester: i.query.requester, template: i.query.template, revoked: i.query.revoked, limit: i.query.limit }, i) },
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
      const ca = (await listCas(core.db)).find((x) => x.slug === core.ca.info().slug);
      const latest = ca ? await latestCrl(core.db, ca.id) : null;
      return {
        json: {
          periodHours: core.config.ca.crlPeriodHours,
          validityHours: core.config.ca.crlValidityHours,
          url: `${core.config.pkiBaseUrl}/pki/${core.ca.info().slug}.crl`,
          latest: latest ? { number: latest.number, thisUpdate: latest.thisUpdate.toISOString(), nextUpdate: latest.nextUpdate.toISOString() } : null,
        },
      };
    },
  },
  publishCrl: { roles: MANAGE, handle: (c, i) => op(c, 'crl.publish', { delta: i.body.delta === true }, i) },
  listTemplates: { roles: READ, handle: (c, i) => op(c, 'template.list', {}, i) },
  getTemplate: { roles: READ, handle: (c, i) => op(c, 'template.show', { name: i.params.name }, i) },
  listAuditEvents: {
    roles: AUDIT,
    async handle(core, i) {
      const rows = await core.audit.list({ type: i.query.type as string | undefined, principal: i.query.principal as string | undefined, limit: i.query.limit as number | undefined, offset: i.query.offset as number | undefined });
      return { json: rows.map((r) => ({ ...r, at: r.at.toISOString() })) };
    },
  },
  verifyAudit: { roles: AUDIT, handle: (c, i) => op(c, 'audit.verify', {}, i) },
};
