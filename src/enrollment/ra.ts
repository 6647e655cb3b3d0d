import { chainForCa } from '../ca/generations.js';
import { createHash } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import { SID_URL_PREFIX } from '../ca/extensions.js';
import type { AuditLog, AuditEvent } from '../audit/log.js';
import type { CaBackend, IssuanceOrder, PkiResponder } from '../ca/types.js';
import type { Clock } from '../clock.js';
import type { Db } from '../store/db.js';
import { HRESULT, OpencesError, isOpencesError } from '../errors.js';
import type { Template } from '../policy/template.js';
import { rightsFor } from '../policy/permissions.js';
import { decideSubject } from '../policy/subject.js';
import { inRenewalWindow } from '../policy/validity.js';
import { approvalDigest, orderProfile } from '../policy/issuance.js';
import { recordApproval } from '../store/approval-repo.js';
import { chooseTemplateName } from '../policy/template-choice.js';
import { checkKeyPolicy, type KeyPolicyOptions } from '../ca/keypolicy.js';
import { checkCertificateNames, checkRequestLimits, checkRequestSignatures } from '../policy/request-limits.js';
import { verifyCsrSignature } from '../protocol/pkcs10/index.js';
import { findBySerial, findWithOwner, type CertificateRecord } from '../store/certificate-repo.js';
import { principalRef, type IdentityOptions, type PrincipalRef } from '../auth/identity.js';
import type { OwnerOptions } from '../auth/certificate-owner.js';
import { checkRenewalOwnership } from './renewal.js';
import { isOwnRequest } from './separation.js';
import {
  DISPOSITION,
  getRequest,
  insertRequestOnce,
  type NewRequest,
  type QueuedAudit,
  resolveRequest,
  type RequestRow,
} from '../store/request-repo.js';
import { decodeRequest, type DecodedRequest } from './decode.js';
import { certificateIdentity, spkiOfCertificate } from './certificate-identity.js';
import { isStoredOrder, loadOrder, storeOrder } from './order-codec.js';
import type { DeniedOutcome, EnrollmentOutcome, IssuedOutcome, PendingOutcome, SubmitInput } from './types.js';

/** Templates as the RA sees them: read-mostly, cached by the caller. */
export interface TemplateSource {
  list(): Promise<Template[]>;
  get(name: string): Promise<Template | null>;
}

export interface RaOptions {
  db: Db;
  ca: CaBackend;
  templates: TemplateSource;
  audit: AuditLog;
  clock: Clock;
  /** A retried identical request within this window returns the first outcome (default 10 min). */
  idempotencyWindowMs?: number;
  /** Partner principals may only use these templates (principal.partner → names). */
  partnerScope?: (partner: string) => string[] | undefined;
  /** The CA-wide key policy (the CA re-checks every order with the same options). */
  keyPolicy?: KeyPolicyOptions;
  /** Who is who (src/auth/identity.ts): `auth.domains` and `auth.accountRealms`, and the live partners. */
  identity?: IdentityOptions & Pick<OwnerOptions, 'kerberosGroups' | 'partners'>;
}

const MSG = {
  issued: 'Issued',
  pending: 'Taken Under Submission',
};

class Denial {
  constructor(
    readonly message: string,
    readonly hresult: number,
    /** The request is malformed or fails its own checks (a Sender fault), not merely refused. */
    readonly malformed = false,
    readonly details: Record<string, unknown> = {},
  ) {}
}

/**
 * The registration authority: applies the template and the caller's rights to a request,
 * records it, and either asks the CA to sign, leaves it for a certificate manager, or denies it.
 * Knows nothing about XML or HTTP; every decision writes an audit event.
 */
export class RegistrationAuthority {
  private readonly window: number;

  constructor(private readonly o: RaOptions) {
    this.window = o.idempotencyWindowMs ?? 10 * 60_000;
  }

  /**
   * Records a request and its audit event, or finds the earlier request it retries
   * (src/store/request-repo.ts), in the next statement the process's combined writes send.
   */
  private recordRequest(request: NewRequest, o: { retrySince: Date; audit: QueuedAudit }): Promise<{ id: string; retryOf: boolean }> {
    return insertRequestOnce(this.o.db, { request, ...o });
  }

  async submit(input: SubmitInput): Promise<EnrollmentOutcome> {
    const now = this.o.clock.now();
    const base: AuditEvent = {
      type: input.kind === 'renew' ? 'enroll.renew' : 'enroll.issue',
      outcome: 'denied',
      principal: input.principal.name,
      method: input.principal.method,
      address: input.address,
    };
    let decoded: DecodedRequest;
    try {
      decoded = await decodeRequest(input.format, input.raw);
    } catch (e) {
      if (!isOpencesError(e)) throw e;
      await this.o.audit.record({ ...base, reason: `malformed request: ${e.message}` });
      return { status: 'denied', disposition: 2, message: e.message, hresult: HRESULT.CRYPT_E_ASN1_BADTAG, malformed: true, invalidRequest: true };
    }
    const csrSha256 = createHash('sha256').update(decoded.csrDer).digest('hex');
    // Idempotence: the same CSR from the same requester within the window gets the first answer.
    // The check is part of the statement that records the request (insertRequestOnce, shared with the writes arriving meanwhile): one round trip.
    const retrySince = new Date(now.getTime() - this.window);

    let template: Template | undefined;
    let renewalOf: CertificateRecord | undefined;
    // What every recorded request carries, whatever the decision.
    const requesterRef = principalRef(input.principal, this.identity);
    const record = (t: Template | undefined) => ({
      requester: input.principal.name,
      requesterKind: requesterRef.kind,
      requesterKey: requesterRef.key,
      authMethod: input.principal.method,
      clientAddress: input.address,
      template: t?.name,
      requestFormat: input.format,
      rawRequest: input.raw,
      csrDer: decoded.csrDer,
      csrSha256,
      renewalOf: renewalOf?.serial,
      attributes: decoded.attributes,
      submittedAt: now,
    });
    try {
      if (input.renewalOnly && input.kind !== 'renew') {
        throw new Denial('this enrollment endpoint accepts renewal requests only', HRESULT.E_ACCESSDENIED);
      }
      if (input.kind === 'renew') {
        renewalOf = await this.checkRenewal(decoded, input.principal, now);
      }
      template = await this.pickTemplate(decoded, input, renewalOf);
      const order = await this.decide(decoded, input.principal, template, now, renewalOf);
      const pend = template.enrollment.pendAllRequests;
      const { id: requestId, retryOf } = await this.recordRequest(
        {
          ...record(template),
          status: 'pending',
          issuanceOrder: storeOrder(order.stored, pend ? 'approval' : undefined),
          disposition: DISPOSITION.underSubmission,
          dispositionMessage: MSG.pending,
        },
        {
          retrySince,
          audit: this.o.audit.forQueue({
            ...base,
            outcome: pend ? 'pending' : 'info',
            template: template.name,
            reason: pend ? 'template requires CA manager approval' : 'accepted; sent to the CA',
            details: { dropped: order.dropped, subject: order.stored.subject, sans: order.stored.sans, renewalOf: renewalOf?.serial },
          }),
        },
      );
      if (retryOf) return this.answerRetry(requestId, input.principal);
      this.o.audit.queued();
      if (pend) return { status: 'pending', requestId, disposition: 5, message: MSG.pending };
      return await this.issue(requestId, loadOrder(requestId, storeOrder(order.stored), decoded.csrDer, input.raw), input.principal);
    } catch (e) {
      const d = toDenial(e);
      if (!d) throw e;
      const { id: requestId, retryOf } = await this.recordRequest(
        {
          ...record(template),
          status: 'denied',
          disposition: DISPOSITION.denied,
          dispositionMessage: d.message,
          errorCode: d.hresult,
          resolvedAt: now,
        },
        { retrySince, audit: this.o.audit.forQueue({ ...base, template: template?.name, reason: d.message, details: { hresult: d.hresult, ...d.details } }) },
      );
      if (retryOf) return this.answerRetry(requestId, input.principal);
      this.o.audit.queued();
      return { status: 'denied', requestId, disposition: 2, message: d.message, hresult: d.hresult, malformed: d.malformed, invalidRequest: true };
    }
  }

  /**
   * The CA-signed CMC full response for a recorded request (built by the CA from the request's
   * state), or null when the CA cannot sign responses or cannot be reached now: the answer then
   * goes out with an unsigned one rather than failing.
   */
  async pkiResponse(requestId: string): Promise<Uint8Array | null> {
    const ca = this.o.ca as CaBackend & Partial<PkiResponder>;
    if (!ca.pkiResponse) return null;
    try {
      return await ca.pkiResponse(requestId);
    } catch (e) {
      if (isOpencesError(e) && e.kind === 'unavailable') return null;
      throw e;
    }
  }

  /** QueryTokenStatus: only the requester sees their request. */
  async status(requestId: string, principal: Principal): Promise<EnrollmentOutcome> {
    const row = await getRequest(this.o.db, requestId);
    if (!row || (row.requesterKey ? row.requesterKey !== principalRef(principal, this.identity).key : row.requester !== principal.name)) {
      // Same answer for "no such request" and "not yours": request ids are guessable.
      throw new OpencesError('notFound', `no request ${requestId} for this caller`, { hresult: HRESULT.CERTSRV_E_NO_REQUEST });
    }
    return this.answerFor(row, principal, { retry: false });
  }

  /** A certificate manager approves a pending request: the CA signs the stored order. */
  async approve(requestId: string, officer: string, officerRef?: PrincipalRef): Promise<IssuedOutcome> {
    const row = await getRequest(this.o.db, requestId);
    if (!row) throw new OpencesError('notFound', `no request ${requestId}`);
    if (row.status !== 'pending') throw new OpencesError('conflict', `request ${requestId} is ${row.status}, not pending`);
    if (isOwnRequest({ name: row.requester, key: row.requesterKey, authMethod: row.authMethod }, { name: officer, ref: officerRef }, this.identity)) {
      await this.o.audit.record({ type: 'request.approve', outcome: 'denied', actor: officer, requestId, template: row.template ?? undefined, reason: 'a certificate manager cannot approve their own request' });
      throw new OpencesError('forbidden', 'a certificate manager cannot approve their own request', { hresult: HRESULT.CERTSRV_E_RESTRICTEDOFFICER });
    }
    if (!isStoredOrder(row.issuanceOrder) || !row.csrDer) throw new OpencesError('internal', `request ${requestId} has no issuance order`);
    const order = await this.current(loadOrder(requestId, row.issuanceOrder, row.csrDer, row.rawRequest));
    // The approval is what the CA signs against (request_approvals, which only the admin role writes): it binds this order's request and names.
    await recordApproval(this.o.db, { requestId, orderDigest: approvalDigest(order), approvedBy: officer, at: this.o.clock.now() });
    await this.o.audit.record({ type: 'request.approve', outcome: 'success', actor: officer, principal: row.requester, requestId, template: row.template ?? undefined });
    const out = await this.issue(requestId, order, { name: row.requester, groups: [], method: 'local' }, officer);
    if (out.status !== 'issued') throw new OpencesError('policyDenied', `${out.message}; request ${requestId} is now denied`, { hresult: out.hresult, requestId });
    return out;
  }

  /** A stored order with what its template produces now (extensions, validity from now): the CA signs nothing else. */
  private async current(order: IssuanceOrder): Promise<IssuanceOrder> {
    const t = await this.o.templates.get(order.template);
    if (!t || t.name !== order.template) return order;
    const { templateInfo: _old, ...rest } = order;
    return { ...rest, ...orderProfile(t, this.o.clock.now()) };
  }

  async deny(requestId: string, officer: string, reason: string, officerRef?: PrincipalRef): Promise<void> {
    const now = this.o.clock.now();
    await this.o.db.transaction(async (tx) => {
      const row = await getRequest(tx, requestId, { forUpdate: true });
      if (!row) throw new OpencesError('notFound', `no request ${requestId}`);
      if (row.status !== 'pending') throw new OpencesError('conflict', `request ${requestId} is ${row.status}, not pending`);
      if (isOwnRequest({ name: row.requester, key: row.requesterKey, authMethod: row.authMethod }, { name: officer, ref: officerRef }, this.identity)) {
        await this.o.audit.record({ type: 'request.deny', outcome: 'denied', actor: officer, principal: row.requester, requestId, template: row.template ?? undefined, reason: 'a certificate manager cannot deny their own request' });
        throw new OpencesError('forbidden', 'a certificate manager cannot deny their own request', { hresult: HRESULT.CERTSRV_E_RESTRICTEDOFFICER });
      }
      const message = `Denied by ${officer}${reason ? `: ${reason}` : ''}`;
      await resolveRequest(tx, requestId, { status: 'denied', disposition: DISPOSITION.denied, message, errorCode: HRESULT.CERTSRV_E_TEMPLATE_DENIED, resolvedBy: officer, at: now });
      await this.o.audit.record({ type: 'request.deny', outcome: 'success', actor: officer, principal: row.requester, requestId, template: row.template ?? undefined, reason }, tx);
    });
  }

  private async issue(requestId: string, order: IssuanceOrder, principal: Principal, officer?: string): Promise<IssuedOutcome | DeniedOutcome> {
    try {
      const event: AuditEvent = { type: 'certificate.issue', outcome: 'success', actor: officer, principal: order.requester, method: principal.method, template: order.template, requestId };
      // Parked in the audit queue before the answer leaves (durable, chained moments later): by the
      // local CA in the statement that records the certificate, else here.
      // The CA signs the answer's CMC full response with the certificate (one round trip to a remote CA).
      const cert = await this.o.ca.issue(order, { audit: this.o.audit.forQueue(event), fullResponse: officer === undefined });
      if (cert.audited) this.o.audit.queued();
      else if (!cert.replayed) await this.o.audit.enqueue({ ...event, serial: cert.serial });
      return { status: 'issued', requestId, disposition: 3, message: MSG.issued, certificate: cert.der, chain: cert.chain, serial: cert.serial, ...(cert.fullResponse ? { fullResponse: cert.fullResponse } : {}) };
    } catch (e) {
      // The CA refused the order itself (its key policy or pre-issuance lint): asking again cannot
      // change that, so the request ends as denied instead of staying pending for every poll.
      if (isOpencesError(e) && CA_REFUSALS.has(e.kind)) return this.denyRefused(requestId, order, e, officer);
      // The request stays pending (not pend-for-approval): a retry of the same request issues it.
      await this.o.audit.record({ type: 'certificate.issue', outcome: 'failure', principal: order.requester, template: order.template, requestId, reason: e instanceof Error ? e.message : 'CA failure' });
      throw e;
    }
  }

  private async denyRefused(requestId: string, order: IssuanceOrder, e: OpencesError, officer?: string): Promise<DeniedOutcome> {
    const hresult = typeof e.details.hresult === 'number' ? e.details.hresult : HRESULT.CERTSRV_E_TEMPLATE_DENIED;
    const message = `the CA refused to sign: ${e.message}`;
    const denied = await this.o.db.transaction(async (tx) => {
      const row = await getRequest(tx, requestId, { forUpdate: true });
      if (row?.status !== 'pending') return false;
      await resolveRequest(tx, requestId, { status: 'denied', disposition: DISPOSITION.denied, message, errorCode: hresult, at: this.o.clock.now() });
      await this.o.audit.record({ type: 'certificate.issue', outcome: 'denied', actor: officer, principal: order.requester, template: order.template, requestId, reason: message, details: { hresult, kind: e.kind } }, tx);
      return true;
    });
    if (!denied) {
      // Resolved meanwhile (a concurrent retry issued it, or a manager denied it): that answer stands.
      const row = await getRequest(this.o.db, requestId);
      if (row?.status === 'issued') throw new OpencesError('conflict', `request ${requestId} was issued meanwhile; query its status`);
      return { status: 'denied', requestId, disposition: 2, message: row?.dispositionMessage ?? message, hresult: row?.errorCode ?? hresult, malformed: false, invalidRequest: row?.status !== 'failed' };
    }
    return { status: 'denied', requestId, disposition: 2, message, hresult, malformed: false, invalidRequest: true };
  }

  /** A retry of a request already recorded (pending or issued): the first request's answer. */
  private async answerRetry(requestId: string, principal: Principal): Promise<EnrollmentOutcome> {
    const row = await getRequest(this.o.db, requestId);
    if (!row) throw new OpencesError('internal', `request ${requestId} vanished`);
    return this.answerFor(row, principal, { retry: true });
  }

  private async answerFor(row: RequestRow, principal: Principal, opts: { retry: boolean }): Promise<EnrollmentOutcome> {
    switch (row.status) {
      case 'issued': {
        const cert = row.serial ? await findBySerial(this.o.db, row.serial) : null;
        if (!cert) throw new OpencesError('internal', `request ${row.id} is issued but its certificate is missing`);
        return { status: 'issued', requestId: row.id, disposition: 3, message: MSG.issued, certificate: cert.der, chain: await chainForCa(this.o.db, cert.caId, this.o.ca.info().chain), serial: cert.serial };
      }
      case 'pending': {
        const order = row.issuanceOrder;
        if (isStoredOrder(order) && order.pendReason !== 'approval' && row.csrDer) {
          // Accepted but never signed (a crash or CA outage in between): sign it now, once.
          return this.issue(row.id, await this.current(loadOrder(row.id, order, row.csrDer, row.rawRequest)), principal);
        }
        const p: PendingOutcome = { status: 'pending', requestId: row.id, disposition: 5, message: MSG.pending };
        return p;
      }
      case 'denied':
      case 'failed': {
        const d: DeniedOutcome = {
          status: 'denied',
          requestId: row.id,
          disposition: 2,
          message: row.dispositionMessage,
          hresult: row.errorCode ?? HRESULT.CERTSRV_E_TEMPLATE_DENIED,
          malformed: false,
          // A denial (by policy, the CA or a CA manager) is the issuer's: MS-WSTEP says true.
          invalidRequest: row.status === 'denied',
        };
        void opts;
        return d;
      }
    }
  }

  private get identity(): IdentityOptions & Pick<OwnerOptions, 'kerberosGroups' | 'partners'> {
    return this.o.identity ?? { domains: [], accountRealms: [] };
  }

  private async checkRenewal(decoded: DecodedRequest, principal: Principal, now: Date): Promise<CertificateRecord> {
    const signer = decoded.signer;
    if (!signer?.certificateDer) throw new Denial('a renewal must be a PKCS#7 signed with the certificate being renewed', HRESULT.CERTSRV_E_BAD_RENEWAL_CERT_ATTRIBUTE, true);
    if (!signer.signatureValid) throw new Denial('the renewal signature does not verify', HRESULT.NTE_BAD_SIGNATURE);
    const { serial } = certificateIdentity(signer.certificateDer);
    const old = await findWithOwner(this.o.db, serial);
    if (!old || !sameBytes(old.der, signer.certificateDer)) {
      throw new Denial('the renewal is signed by a certificate this CA did not issue', HRESULT.CERT_E_UNTRUSTEDROOT);
    }
    if (old.revokedAt) throw new Denial(`the certificate being renewed (serial ${serial}) is revoked`, HRESULT.CRYPT_E_REVOKED);
    if (old.notAfter.getTime() <= now.getTime()) throw new Denial(`the certificate being renewed (serial ${serial}) has expired`, HRESULT.CERT_E_EXPIRED);
    // Only the owner renews (src/enrollment/renewal.ts); denied with both identities in the audit event.
    const owned = await checkRenewalOwnership(old, principal, { db: this.o.db, ...this.identity });
    if ('refused' in owned) throw new Denial(owned.refused, owned.hresult, false, owned.details);
    return old;
  }

  private async pickTemplate(decoded: DecodedRequest, input: SubmitInput, renewalOf?: CertificateRecord): Promise<Template> {
    const all = await this.o.templates.list();
    if (renewalOf) {
      const t = all.find((x) => x.name === renewalOf.template);
      if (!t || !t.enabled) throw new Denial(`the template ${renewalOf.template ?? '(none)'} of the certificate being renewed is not available`, HRESULT.CERTSRV_E_UNSUPPORTED_CERT_TYPE);
      let named: Template | undefined;
      try {
        named = chooseTemplateName(decoded.templateHints(input.additionalContext), all);
      } catch {
        named = undefined;
      }
      if (named && named.name !== t.name) throw new Denial(`a renewal must be for the same template (${t.name}), not ${named.name}`, HRESULT.CERTSRV_E_TEMPLATE_CONFLICT);
      return t;
    }
    try {
      return chooseTemplateName(decoded.templateHints(input.additionalContext), all);
    } catch (e) {
      if (isOpencesError(e)) throw new Denial(e.message, HRESULT.CERTSRV_E_UNSUPPORTED_CERT_TYPE);
      throw e;
    }
  }

  private async decide(
    decoded: DecodedRequest,
    principal: Principal,
    template: Template,
    now: Date,
    renewalOf?: CertificateRecord,
  ): Promise<{ stored: Omit<IssuanceOrder, 'orderId'>; dropped: unknown }> {
    if (!template.enabled) throw new Denial(`the template ${template.name} is disabled`, HRESULT.CERTSRV_E_UNSUPPORTED_CERT_TYPE);

    // Who may use the template: normal rights, or key-based renewal by the certificate itself.
    const scope = principal.partner ? this.o.partnerScope?.(principal.partner) : undefined;
    const rights = rightsFor(principal, template, scope);
    const keyBased =
      renewalOf !== undefined &&
      principal.method === 'certificate' &&
      principal.certificate?.serial === renewalOf.serial &&
      template.enrollment.allowKeyBasedRenewal;
    // As in ADCS (and as GetPolicies lists): Read plus Enroll or Autoenroll.
    if (!(rights.read && (rights.enroll || rights.autoenroll)) && !keyBased) {
      throw new Denial(`${principal.name} does not have permission to enroll for the template ${template.name}`, HRESULT.CERTSRV_E_TEMPLATE_DENIED);
    }
    if (renewalOf && !inRenewalWindow(template, renewalOf.notAfter, now)) {
      throw new Denial(`the certificate ${renewalOf.serial} is not yet in the renewal period of the template ${template.name}`, HRESULT.CERTSRV_E_BAD_RENEWAL_CERT_ATTRIBUTE);
    }

    // Sizes, counts and name lengths; is the key acceptable at all (cheap, and the clearest
    // answer); signature hashes; then proof of possession.
    checkRequestLimits(decoded.csr, template);
    try {
      checkKeyPolicy(decoded.csr.publicKey, { allowed: template.privateKey.algorithms, minimalKeyLength: template.privateKey.minimalKeyLength }, this.o.keyPolicy);
    } catch (e) {
      if (isOpencesError(e)) throw new Denial(e.message, typeof e.details.hresult === 'number' ? e.details.hresult : HRESULT.NTE_BAD_KEY_LENGTH);
      throw e;
    }
    checkRequestSignatures(decoded.csr, template, decoded.signer);
    // Possession: the PKCS#10's self-signature, or CertEnroll's Full PKCS#7 outer signature by the same key.
    const selfSigned = await verifyCsrSignature(decoded.csrDer);
    if (!selfSigned && !decoded.possessionBySignedData) {
      throw new Denial('the request signature does not verify (proof of possession failed)', HRESULT.NTE_BAD_SIGNATURE, true);
    }

    let subject, sans, dropped: unknown;
    /** The directory account's SID the certificate carries (a renewal keeps the renewed certificate's). */
    let sid = principal.sid;
    if (renewalOf) {
      if (template.enrollment.requireSameKeyRenewal && !sameBytes(spkiOfCertificate(renewalOf.der), decoded.csr.spki)) {
        throw new Denial('the template requires renewal with the same key', HRESULT.CERTSRV_E_BAD_RENEWAL_SUBJECT);
      }
      if (template.subject.enrolleeSupplies) {
        // The enrollee's names were checked when first issued: a renewed certificate keeps them.
        const id = certificateIdentity(renewalOf.der);
        subject = id.subject;
        // The SID URL is the CA's to add again from the SID, not a name carried over.
        sans = id.sans.filter((s) => !(s.type === 'uri' && s.value.toLowerCase().startsWith(SID_URL_PREFIX)));
      } else {
        // Names built from the identity come from the owner's identity now, not from the old certificate.
        const d = decideSubject({ principal, template, requestedSubject: [], requestedSans: [] });
        if ('refused' in d) throw new Denial(d.reason, d.hresult);
        subject = d.subject;
        sans = d.sans;
      }
      // The owner's SID now; a renewal authenticated otherwise (by the certificate) keeps the renewed certificate's.
      sid = principal.sid ?? certificateIdentity(renewalOf.der).sid;
      dropped = { subject: decoded.csr.subject, sans: decoded.csr.sans };
    } else {
      const d = decideSubject({ principal, template, requestedSubject: decoded.csr.subject, requestedSans: decoded.csr.sans });
      if ('refused' in d) throw new Denial(d.reason, d.hresult);
      subject = d.subject;
      sans = d.sans;
      dropped = d.dropped;
    }
    checkCertificateNames(subject, sans, template);
    // Extensions and validity: what the template produces (src/policy/issuance.ts), as the CA re-checks.
    return {
      stored: { ...orderProfile(template, now), csrDer: decoded.csrDer, subject, sans, requester: principal.name,
        // The CA re-checks possession: it needs the outer signature when the inner one does not verify.
        ...(!selfSigned ? { possessionSignedData: decoded.raw } : {}),
        // Recorded with the request (issuance_order): the CA signs a SID only when it is this one.
        ...(sid && (template.extensions.securityExtension !== false || template.extensions.sidUrl === true) ? { sid } : {}),
      },
      dropped,
    };
  }
}

/** What the CA answers when the order itself is unacceptable (not when the CA is unreachable or broken). */
const CA_REFUSALS = new Set<string>(['badCsr', 'badPublicKey', 'badSignature', 'policyDenied']);

function toDenial(e: unknown): Denial | null {
  if (e instanceof Denial) return e;
  if (isOpencesError(e) && ['badCsr', 'badPublicKey', 'badSignature', 'policyDenied', 'templateDenied', 'templateNotFound'].includes(e.kind)) {
    return new Denial(e.message, typeof e.details.hresult === 'number' ? e.details.hresult : HRESULT.CERTSRV_E_TEMPLATE_DENIED, e.kind === 'badCsr');
  }
  return null;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}
