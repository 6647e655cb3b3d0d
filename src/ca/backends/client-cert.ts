import { X509Certificate } from 'node:crypto';
import type { AuditLog } from '../../audit/log.js';
import type { Clock } from '../../clock.js';
import { OpencesError } from '../../errors.js';
import type { Db } from '../../store/db.js';
import type { LocalCa } from '../engine.js';
import { pem } from '../init.js';
import { recordLocalRequest } from '../local-request.js';
import type { NameAttribute, SanEntry } from '../types.js';

/**
 * Client certificates of the enrollment nodes for the CA signing API (src/http/ca-api.ts). Issued
 * on the CA node only (`opences ca client-cert issue`), under this profile and recorded with this
 * auth method — which no enrollment request can have — so the API can tell them from an
 * enrollee's certificate that happens to carry the same subject.
 */
export const CA_CLIENT_PROFILE = 'opences-ca-client';
export const CA_CLIENT_AUTH_METHOD = 'ca-operator';
const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';

export interface IssuedClientCertificate {
  serial: string;
  /** Leaf then issuing CA, PEM. */
  certPem: string;
  fingerprint: string;
  notAfter: Date;
}

/**
 * Issues a CA client certificate for the key of `req.csrDer` (made by the operator's command, which
 * keeps the private key: it never crosses the control socket). The CSR only proves possession;
 * the names come from the operator.
 */
export async function issueCaClientCertificate(
  o: { ca: LocalCa; db: Db; audit: AuditLog; clock: Clock },
  req: { csrDer: Uint8Array; subject: NameAttribute[]; sans?: SanEntry[]; days?: number; actor: string },
): Promise<IssuedClientCertificate> {
  if (!req.subject.length) throw new OpencesError('malformed', 'a CA client certificate needs a subject (it is matched against ca.clients.allowedSubjects)', { field: 'subject' });
  const days = req.days ?? 365;
  if (!Number.isInteger(days) || days < 1 || days > 3650) throw new OpencesError('malformed', '--days must be a whole number from 1 to 3650', { field: 'days' });
  // The certificate belongs to the node it names (a service, never a person), not to the operator
  // who issued it: so that operator may revoke it (separation of duties forbids revoking one's own),
  // and it can never sign in as the operator. Who issued it is the audit event's actor.
  const owner = `service:ca-client:${req.subject.map((a) => `${a.type}=${a.value}`).join(',')}`;
  const { requestId, at: now } = await recordLocalRequest(o, { csrDer: req.csrDer, requester: owner, authMethod: CA_CLIENT_AUTH_METHOD, template: CA_CLIENT_PROFILE });
  // Not a template's order: the CA node's own profile, which no enrollment node can order (src/http/ca-api.ts).
  const issued = await o.ca.issueInternal({
    orderId: requestId,
    template: CA_CLIENT_PROFILE,
    csrDer: req.csrDer,
    subject: req.subject,
    sans: req.sans ?? [],
    keyUsage: ['digitalSignature'],
    keyUsageCritical: true,
    ekus: [CLIENT_AUTH_EKU],
    issuancePolicies: [],
    notBefore: now,
    notAfter: new Date(now.getTime() + days * 86400_000),
    requester: owner,
  });
  await o.audit.record({ type: 'certificate.issue', outcome: 'success', actor: req.actor, template: CA_CLIENT_PROFILE, requestId, serial: issued.serial, reason: 'CA API client certificate' });
  return {
    serial: issued.serial,
    certPem: [issued.der, ...issued.chain.slice(0, -1)].map((c) => pem(c)).join(''), // up to, not including, the root
    fingerprint: new X509Certificate(Buffer.from(issued.der)).fingerprint256.replace(/:/g, '').toLowerCase(),
    notAfter: issued.notAfter,
  };
}
