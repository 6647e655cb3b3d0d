import { randomBytes } from 'node:crypto';
import { AUDIT_SIGNING_EKU, AUDIT_SIGNING_PROFILE } from '../audit/checkpoint.js';
import type { Clock } from '../clock.js';
import { OpencesError } from '../errors.js';
import type { Db, Queryable } from '../store/db.js';
import { findByRequestId, findBySerial, insertCertificate, recordIssuedIfPending, setRevocation } from '../store/certificate-repo.js';
import { describeSpki, splitCsr, spkiPublicKey, verifiedBefore, verifyCsrSignature } from '../protocol/pkcs10/index.js';
import { nameToString } from '../protocol/pkcs10/names.js';
import { signedByRequestKey } from '../protocol/pkcs7/possession.js';
import { buildCertificate, certificateParts } from './certificate-builder.js';
import {
  authorityInfoAccess,
  authorityKeyIdentifier,
  basicConstraints,
  certificatePolicies,
  crlDistributionPoints,
  freshestCrl,
  extKeyUsage,
  keyIdentifier,
  keyUsage,
  subjectAltName,
  subjectKeyIdentifier,
  templateInformation,
  ntdsSecurityExtension,
  SID_URL_PREFIX,
} from './extensions.js';
import type { SanEntry } from './types.js';

/** The SID SAN URL for an order whose template asks for it (extensions.sidUrl). */
function sidSanUrl(order: IssuanceOrder, t: Template | undefined): SanEntry | undefined {
  return order.sid && t?.extensions.sidUrl === true ? { type: 'uri', value: `${SID_URL_PREFIX}${order.sid}` } : undefined;
}
import { checkKeyPolicy, type KeyPolicyOptions } from './keypolicy.js';
import { lintCertificate } from './lint.js';
import { checkSignatureHash, signatureHash } from './signature-policy.js';
import { encodeName } from './name.js';
import { newSerial, pooledRandom } from './serial.js';
import { REVOCATION_REASON_CODES, type CaBackend, type CaInfo, type CaSigner, type CrlPublisher, type IssuanceOrder, type IssueOptions, type IssuedCertificate, type PkiResponder, type RevocationReason } from './types.js';
import { responseStateFor, signPkiResponse } from './responses.js';
import { CrlBuilder, type CrlKind } from './crl.js';
import { latestCrl } from '../store/crl-repo.js';
import { chainForCa } from './generations.js';
import { X509Certificate } from 'node:crypto';
import type { Template } from '../policy/template.js';
import { approvalDigest, checkOrder, internalTemplates, templateProfile, type NameConstraints } from '../policy/issuance.js';
import { CA_CLIENT_PROFILE } from './backends/client-cert.js';

export interface LocalCaOptions {
  db: Db;
  clock: Clock;
  signer: CaSigner;
  info: CaInfo;
  issuingCaId: number;
  pkiBaseUrl: string;
  /**
   * The templates as this node reads them from the database (cached; `fresh` skips the cache).
   * The CA re-checks every order against them itself: it does not take the RA's word.
   */
  templates: (name: string, o?: { fresh?: boolean }) => Promise<Template | null>;
  /** Deployment-wide DNS name constraints every certified name must meet (ca.nameConstraints). */
  nameConstraints?: NameConstraints;
  random?: (n: number) => Uint8Array;
  crlValidityHours?: number;
  /** CA-wide key floor (RSA minimum and exponents, P-521, Ed25519); the template's own rules are the RA's. */
  keyPolicy?: KeyPolicyOptions;
  /** Whether a template accepts SHA-1-signed requests (requests.allowSha1Signatures); asked only for such requests. */
  allowsSha1Signatures?: (template: string) => Promise<boolean>;
  /** The root's signer and row id, when this node holds the root key: lets it publish the root's (empty) CRL. */
  root?: { signer: CaSigner; caId: number };
  /** Publish delta CRLs (at `deltaCrlPath`), announced by a Freshest CRL extension in every full CRL. */
  deltaCrl?: { validityHours: number };
  /**
   * Which certificate of a renewed CA this is (migrations/013_ca_generations.sql): its ADCS
   * certificate index names the AIA file, its key index the CRL files; `keyCaIds` are the
   * generations with the same key, whose certificates the current CRL covers. Default: the
   * CA's first certificate (0, 0, [issuingCaId]).
   */
  generation?: { index: number; keyIndex: number; crlCaId: number; keyCaIds: number[] };
  /** Earlier keys of a renewed CA: each keeps signing the CRL of the certificates it issued while its certificate is valid. */
  previousKeys?: PreviousKey[];
}

/** An earlier key of a renewed CA, with the newest certificate it had (its subject and key id name the CRL's issuer). */
export interface PreviousKey {
  keyIndex: number;
  signer: CaSigner;
  /** The generation row its CRLs are stored under (generation = keyIndex). */
  crlCaId: number;
  /** Every generation signed with this key. */
  caIds: number[];
  certificate: Uint8Array;
}

/** The /pki/ file name of generation `index` of a CA, as ADCS names them: `<ca>` for 0, `<ca>(n)` after. */
export const pkiFileBase = (slug: string, index: number): string => (index > 0 ? `${slug}(${index})` : slug);

/** Where a CA's delta CRL is published (docs/admin-api.md): `/pki/<ca>-delta.crl`. */
export const deltaCrlPath = (slug: string): string => `/pki/${slug}-delta.crl`;

/** The CRL signing of one key of the issuing CA (the current one, or an earlier one after a rollover). */
interface KeyCrl {
  keyIndex: number;
  builder: CrlBuilder;
  crlCaId: number;
  /** The key signs CRLs while its newest certificate is valid: certificates it issued end by then. */
  notAfter: Date;
}

/** The generation issuing now: everything issue() and sign() take from it, swapped whole by rollover(). */
interface Generation {
  signer: CaSigner;
  info: CaInfo;
  caId: number;
  pieces: CaPieces;
}

/** Per-CA pieces encoded once: issuer name, AKI, AIA, CDP. */
interface CaPieces {
  issuerName: Uint8Array;
  aki: Buffer;
  aia: Buffer;
  cdp: Buffer;
  freshest?: Buffer;
  notBefore: Date;
  notAfter: Date;
}

/** An order that passed every re-check, with everything but the serial encoded. */
export interface PreparedIssuance {
  order: IssuanceOrder;
  /** The request must carry a certificate manager's approval of this order (request_approvals). */
  needsApproval: boolean;
  /** What such an approval binds (src/policy/issuance.ts approvalDigest); computed only when the template pends requests. */
  approvalDigest: string | null;
  subjectName: Buffer;
  spki: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  extensions: Buffer[];
  /** The generation prepared under: signed by its key and recorded as its certificate, even if a rollover happens meanwhile. */
  generation: Generation;
}

/**
 * The local CA engine: signs verified issuance orders with the issuing CA's key and records them
 * atomically with their request. It never sees SOAP, HTTP or ACLs — only orders.
 */
export class LocalCa implements CaBackend, CrlPublisher, PkiResponder {
  private gen!: Generation;
  private crl!: CrlBuilder;
  /** CRL signing per key, the current key first. */
  private keyCrls: KeyCrl[] = [];
  private readonly random: (n: number) => Uint8Array;
  /** Extensions fixed per template, encoded once per template object (a template edit loads a new one). */
  private readonly profileCache = new WeakMap<Template, Buffer[]>();
  private readonly internal = internalTemplates();
  private readonly rootCrl: CrlBuilder | null;

  constructor(private o: LocalCaOptions) {
    this.random = o.random ?? pooledRandom();
    this.useGeneration(o);
    const validityHours = o.crlValidityHours ?? 168;
    if (o.root) {
      const rootParts = certificateParts(o.info.rootCertificate);
      this.rootCrl = new CrlBuilder({ db: o.db, clock: o.clock, signer: o.root.signer, caId: o.root.caId, issuerName: rootParts.subjectName, issuerKeyId: keyIdentifier(rootParts.spki), validityHours });
    } else {
      this.rootCrl = null;
    }
  }

  /** Builds the current generation's pieces and every key's CRL signing from `o`. */
  private useGeneration(o: LocalCaOptions): void {
    const slug = o.info.slug;
    const g = o.generation ?? { index: 0, keyIndex: 0, crlCaId: o.issuingCaId, keyCaIds: [o.issuingCaId] };
    const issuing = new X509Certificate(Buffer.from(o.info.issuingCertificate));
    const parts = certificateParts(o.info.issuingCertificate);
    const crlBase = pkiFileBase(slug, g.keyIndex);
    // Certificates of generation n point at generation n's files: its certificate, its key's CRLs.
    const pieces: CaPieces = {
      issuerName: parts.subjectName,
      aki: authorityKeyIdentifier(keyIdentifier(parts.spki)),
      aia: authorityInfoAccess(`${o.pkiBaseUrl}/pki/${pkiFileBase(slug, g.index)}.crt`),
      cdp: crlDistributionPoints(`${o.pkiBaseUrl}/pki/${crlBase}.crl`),
      // With delta CRLs, certificates say where they are too (as ADCS does), so relying parties need not find the base first.
      freshest: o.deltaCrl ? freshestCrl(`${o.pkiBaseUrl}${deltaCrlPath(crlBase)}`) : undefined,
      notBefore: new Date(issuing.validFrom),
      notAfter: new Date(issuing.validTo),
    };
    const keyCrl = (k: { keyIndex: number; signer: CaSigner; crlCaId: number; caIds: number[]; certificate: Uint8Array }): KeyCrl => {
      const p = certificateParts(k.certificate);
      const base = pkiFileBase(slug, k.keyIndex);
      return {
        keyIndex: k.keyIndex,
        crlCaId: k.crlCaId,
        notAfter: new Date(new X509Certificate(Buffer.from(k.certificate)).validTo),
        builder: new CrlBuilder({
          db: o.db,
          clock: o.clock,
          signer: k.signer,
          caId: k.crlCaId,
          coveredCaIds: k.caIds,
          issuerName: p.subjectName,
          issuerKeyId: keyIdentifier(p.spki),
          validityHours: o.crlValidityHours ?? 168,
          ...(o.deltaCrl ? { deltaUrl: `${o.pkiBaseUrl}${deltaCrlPath(base)}`, deltaValidityHours: o.deltaCrl.validityHours } : {}),
        }),
      };
    };
    const current = keyCrl({ keyIndex: g.keyIndex, signer: o.signer, crlCaId: g.crlCaId, caIds: g.keyCaIds, certificate: o.info.issuingCertificate });
    // Swapped together: an order prepared before this line is signed and recorded as the previous generation's (PreparedIssuance.generation).
    this.gen = { signer: o.signer, info: o.info, caId: o.issuingCaId, pieces };
    this.crl = current.builder;
    this.keyCrls = [current, ...(o.previousKeys ?? []).filter((k) => k.keyIndex !== g.keyIndex).map(keyCrl)];
  }

  /**
   * Switches issuance to a new generation of the CA (opences ca renew, ca install of a renewal):
   * orders prepared from now on are signed with its key and point at its /pki/ files. Earlier
   * keys in `next.previousKeys` keep signing the CRLs of what they issued.
   */
  rollover(next: Pick<LocalCaOptions, 'signer' | 'info' | 'issuingCaId' | 'generation' | 'previousKeys'>): void {
    const o = { ...this.o, ...next };
    this.useGeneration(o);
    this.o = o;
  }

  info(): CaInfo {
    return this.gen.info;
  }

  /** The current generation's certificate index and key index (0, 0 before any renewal). */
  get generation(): { index: number; keyIndex: number } {
    const g = this.o.generation;
    return { index: g?.index ?? 0, keyIndex: g?.keyIndex ?? 0 };
  }

  /** Extensions fixed per template, encoded once: taken from the template, never from the order. */
  private profileExtensions(t: Template): Buffer[] {
    let exts = this.profileCache.get(t);
    if (!exts) {
      const p = templateProfile(t);
      exts = [basicConstraints(false)];
      if (p.keyUsage.length) exts.push(keyUsage(p.keyUsage, p.keyUsageCritical));
      if (p.ekus.length) exts.push(extKeyUsage(p.ekus));
      if (p.issuancePolicies.length) exts.push(certificatePolicies(p.issuancePolicies));
      if (p.templateInfo) exts.push(templateInformation(p.templateInfo.oid, p.templateInfo.majorRevision, p.templateInfo.minorRevision));
      this.profileCache.set(t, exts);
    }
    return exts;
  }

  /** The template an order names, enabled; the internal profiles (TLS, SCEP RA) are fixed ones. */
  private async templateOf(name: string, fresh = false): Promise<Template> {
    const t = this.internal.get(name) ?? (await this.o.templates(name, fresh ? { fresh } : undefined));
    if (!t || !t.enabled || t.name !== name) throw new OpencesError('templateNotFound', `the order names ${name}, which is not an enabled template`);
    return t;
  }

  /**
   * The template's verdict on the order (src/policy/issuance.ts, the RA's own rules): the CA signs
   * exactly what the template produces. An order whose profile differs from a cached template is
   * judged again against the database's copy (an edit may not have reached this node yet).
   */
  private async judge(order: IssuanceOrder): Promise<Template> {
    const rules = { nameConstraints: this.o.nameConstraints };
    let t = await this.templateOf(order.template);
    let refusal = checkOrder(t, order, rules);
    if (refusal?.profile) {
      t = await this.templateOf(order.template, true);
      refusal = checkOrder(t, order, rules);
    }
    if (refusal) throw new OpencesError('policyDenied', refusal.reason);
    return t;
  }

  /**
   * Every re-check and every encoding issue() does before the database: the order against its
   * template (extensions, validity, names), acceptable key, proof of possession, validity inside
   * the CA's. Whether the order is the recorded request's, in the state it names (pending,
   * approved when it must be), is checked in the statement that records the certificate.
   * `internal`: a certificate of this CA node for itself (CA client certificates, the audit signing key), not a template's.
   */
  async prepare(order: IssuanceOrder, o: { internal?: boolean } = {}): Promise<PreparedIssuance> {
    let extensionsOf: () => Buffer[];
    let needsApproval = false;
    let template: Template | undefined;
    const internalProfile = o.internal === true;
    if (o.internal) {
      if (order.template !== CA_CLIENT_PROFILE && order.template !== AUDIT_SIGNING_PROFILE) throw new OpencesError('internal', `${order.template} is not a profile of the CA node's own`);
      extensionsOf = () => [basicConstraints(false), keyUsage(order.keyUsage, order.keyUsageCritical), extKeyUsage(order.ekus)];
    } else {
      // Whoever holds a certificate with this EKU can sign audit checkpoints that verify: only the
      // CA node's own audit signing order may carry it, whatever a template says.
      if (order.ekus.includes(AUDIT_SIGNING_EKU)) throw new OpencesError('forbidden', 'the audit signing EKU is issued to the audit signing key only');
      const t = await this.judge(order);
      template = t;
      needsApproval = t.enrollment.pendAllRequests;
      extensionsOf = () => this.profileExtensions(t);
    }
    // The CA needs only the key and the signature from the request (the order carries the
    // names), so it walks the DER instead of building a full parse tree.
    const parts = splitCsr(order.csrDer);
    const csr = { spki: parts.spki };
    // The RA's signature-hash rule, re-checked (src/ca/signature-policy.ts).
    const hash = signatureHash(parts.signatureAlgorithm, parts.signatureParams);
    const allowSha1 = hash === 'sha1' && (await this.o.allowsSha1Signatures?.(order.template)) === true;
    checkSignatureHash(hash, "the order's request signature", { allowSha1 }, parts.signatureAlgorithm);
    if (verifiedBefore(order.csrDer)) {
      // This process verified these exact bytes moments ago (the RA): the key policy needs only the
      // key's description, not an imported key.
      checkKeyPolicy(spkiPublicKey(parts.spki), {}, this.o.keyPolicy);
    } else {
      const key = describeSpki(parts.spki);
      checkKeyPolicy(key.publicKey, {}, this.o.keyPolicy);
      // Possession: the PKCS#10's self-signature, or the outer signature of CertEnroll's Full PKCS#7 by the same key.
      if (!(await verifyCsrSignature(order.csrDer, { parts, key: key.key })) && !(order.possessionSignedData && signedByRequestKey(order.possessionSignedData, order.csrDer, parts.spki))) {
        throw new OpencesError('badSignature', "the order's request signature does not verify (proof of possession failed)");
      }
    }

    const generation = this.gen;
    const pieces = generation.pieces;
    const now = this.o.clock.now();
    if (now.getTime() >= pieces.notAfter.getTime()) throw new OpencesError('unavailable', `the issuing CA expired on ${pieces.notAfter.toISOString()}; it cannot issue`);
    // Certificates carry whole seconds: round here so the record and the certificate agree.
    // Backdated a minute for clock skew (a later start the order asks for is kept), never
    // before the CA's own start; notAfter clipped to the CA's end.
    const notBefore = wholeSeconds(Math.max(order.notBefore.getTime(), now.getTime() - 60_000, pieces.notBefore.getTime()));
    const notAfter = wholeSeconds(Math.min(order.notAfter.getTime(), pieces.notAfter.getTime()));
    const subjectName = encodeName(order.subject);
    const sanCritical = order.subject.length === 0 || order.sanCritical === true;
    if (internalProfile && order.sid) throw new OpencesError('internal', 'the CA node\'s own certificates carry no SID');
    const extensions: Buffer[] = [pieces.aki, subjectKeyIdentifier(csr.spki), ...extensionsOf()];
    // The account's SID (KB5014754 strong mapping): judge() checked the template allows it.
    const sidUrl = internalProfile ? undefined : sidSanUrl(order, template);
    const sans = sidUrl ? [...order.sans, sidUrl] : order.sans;
    if (sans.length) extensions.push(subjectAltName(sans, sanCritical));
    if (order.sid && template && template.extensions.securityExtension !== false) extensions.push(ntdsSecurityExtension(order.sid));
    extensions.push(pieces.aia, pieces.cdp);
    if (pieces.freshest) extensions.push(pieces.freshest);
    return { order, needsApproval, approvalDigest: needsApproval ? approvalDigest(order) : null, subjectName, spki: csr.spki, notBefore, notAfter, extensions, generation };
  }

  /** Lints and signs a prepared order under `serial`. */
  async sign(p: PreparedIssuance, serial: Uint8Array): Promise<Buffer> {
    const g = p.generation;
    lintCertificate({ serial, subject: p.order.subject, sans: p.order.sans, notBefore: p.notBefore, notAfter: p.notAfter, caNotBefore: g.pieces.notBefore, caNotAfter: g.pieces.notAfter, extensions: p.extensions });
    return buildCertificate(g.signer, { serial, issuerName: g.pieces.issuerName, subjectName: p.subjectName, notBefore: p.notBefore, notAfter: p.notAfter, spki: p.spki, extensions: p.extensions });
  }

  /** The whole issuance path without the store (benchmarks, and tests of serial uniqueness at scale). */
  async signOrder(order: IssuanceOrder): Promise<{ serial: string; der: Buffer; notBefore: Date; notAfter: Date }> {
    const p = await this.prepare(order);
    const serial = newSerial(this.random);
    return { serial: serial.hex, der: await this.sign(p, serial.bytes), notBefore: p.notBefore, notAfter: p.notAfter };
  }

  /** Signs an order of an enrolment (the RA's, or an enrollment node's over the CA API): judged by its template. */
  issue(order: IssuanceOrder, opts: IssueOptions = {}): Promise<IssuedCertificate> {
    return this.issueChecked(order, opts, false);
  }

  /** A certificate of the CA node for itself (a CA API client certificate): a fixed profile, never reachable over the network. */
  issueInternal(order: IssuanceOrder): Promise<IssuedCertificate> {
    return this.issueChecked(order, {}, true);
  }

  private async issueChecked(order: IssuanceOrder, opts: IssueOptions, internal: boolean): Promise<IssuedCertificate> {
    if (!/^\d{1,18}$/.test(order.orderId)) throw new OpencesError('malformed', `bad order id ${order.orderId}`);
    const p = await this.prepare(order, { internal });
    const issuedAt = this.o.clock.now();
    const record = (serial: string, der: Uint8Array) => ({
      serial,
      caId: p.generation.caId,
      requestId: order.orderId,
      subject: nameToString(order.subject),
      sans: order.sans.map((s) => `${s.type}:${s.value}`),
      template: order.template,
      requester: order.requester,
      notBefore: p.notBefore,
      notAfter: p.notAfter,
      der,
      issuedAt,
    });

    // Fast path, the common case: sign, then record certificate and request state in one statement
    // that holds the request's row lock only for itself (no lock across the signature, one round
    // trip, shared with the orders signed and the requests recorded meanwhile: src/store/combined-writes.ts). A concurrent retry
    // of the same order that recorded first makes this one fall through to the careful path below,
    // which answers with the recorded certificate; the certificate signed here is then dropped,
    // never returned or published.
    for (let attempt = 0; attempt < 5; attempt++) {
      const serial = newSerial(this.random);
      const der = await this.sign(p, serial.bytes);
      // The full response is signed while the certificate is being recorded (its signature runs in
      // libuv's pool, the statement on the database): the answer waits for the slower, not both.
      const [outcome, fullResponse] = await Promise.all([
        recordIssuedIfPending(this.o.db, { certificate: record(serial.hex, der), csrDer: order.csrDer, approval: { needed: p.needsApproval, digest: p.approvalDigest }, ...(opts.audit ? { audit: opts.audit } : {}), ...(order.sid ? { sid: order.sid } : {}) }),
        opts.fullResponse ? this.responseFor(der) : undefined,
      ]);
      if (outcome === 'issued') return { serial: serial.hex, der: new Uint8Array(der), chain: p.generation.info.chain, notBefore: p.notBefore, notAfter: p.notAfter, replayed: false, audited: opts.audit !== undefined, ...(fullResponse ? { fullResponse } : {}) };
      if (outcome === 'notPending') break;
      // 'collision': the serial exists (astronomically rare with real randomness): draw again.
    }

    const out = await this.o.db.transaction(async (tx): Promise<IssuedCertificate> => {
      // The order's request row is the lock: concurrent retries of one order serialise here.
      const req = await tx.query<{ status: string; csr_der: Uint8Array | null; template: string | null; requester: string; pend_approval: boolean; approved: string | null; sid: string | null }>(
        `SELECT status, csr_der, template, requester, coalesce(issuance_order->>'pendReason', '') = 'approval' AS pend_approval, issuance_order->>'sid' AS sid,
                (SELECT order_digest FROM request_approvals a WHERE a.request_id = requests.id) AS approved
         FROM requests WHERE id = $1 FOR UPDATE`,
        [order.orderId],
      );
      if (req.rowCount === 0) throw new OpencesError('notFound', `no request ${order.orderId} for this order`);
      // The order must be the recorded request's (orders also arrive over the network: src/http/ca-api.ts).
      const row = req.rows[0]!;
      if (!row.csr_der || Buffer.compare(Buffer.from(row.csr_der), Buffer.from(order.csrDer)) !== 0) {
        throw new OpencesError('conflict', `the order's certificate request is not the one recorded for request ${order.orderId}`);
      }
      const existing = await findByRequestId(tx, order.orderId);
      if (existing) {
        return { serial: existing.serial, der: existing.der, chain: await this.chainOf(existing.caId, tx), notBefore: existing.notBefore, notAfter: existing.notAfter, replayed: true };
      }
      if (row.status !== 'pending') throw new OpencesError('conflict', `request ${order.orderId} is ${row.status}; only a pending request is signed`);
      if (row.template !== order.template) throw new OpencesError('conflict', `the order names the template ${order.template}; request ${order.orderId} was recorded for ${row.template ?? 'none'}`);
      if (row.requester !== order.requester) throw new OpencesError('conflict', `the order names the requester ${order.requester}; request ${order.orderId} was recorded for another`);
      // The SID is the directory identity the RA recorded, never one an enrollment node makes up.
      if ((row.sid ?? undefined) !== order.sid) throw new OpencesError('conflict', `the order's SID is not the one recorded for request ${order.orderId}`);
      // A request recorded as waiting for approval needs one even if its template no longer pends requests.
      if ((p.needsApproval || row.pend_approval) && row.approved !== (p.approvalDigest ?? approvalDigest(order))) {
        throw new OpencesError('forbidden', row.approved === null
          ? `request ${order.orderId} waits for a certificate manager's approval`
          : `a certificate manager approved request ${order.orderId} with other names or another request than this order's`);
      }
      for (let attempt = 0; attempt < 5; attempt++) {
        const serial = newSerial(this.random);
        const der = await this.sign(p, serial.bytes);
        const inserted = await insertCertificate(tx, record(serial.hex, der));
        if (!inserted) continue; // serial collision (astronomically rare with real randomness): draw again
        await markIssued(tx, order.orderId, serial.hex, issuedAt);
        return { serial: serial.hex, der: new Uint8Array(der), chain: p.generation.info.chain, notBefore: p.notBefore, notAfter: p.notAfter, replayed: false };
      }
      throw new OpencesError('internal', 'could not allocate a unique serial number in 5 attempts; is the randomness source broken?');
    });
    return opts.fullResponse ? { ...out, fullResponse: await this.responseFor(out.der) } : out;
  }

  /** The chain of the generation `caId` (a certificate issued before a renewal, answered again). */
  private async chainOf(caId: number, q: Queryable): Promise<Uint8Array[]> {
    return caId === this.gen.caId ? this.gen.info.chain : chainForCa(q, caId, this.gen.info.chain);
  }

  /** The signed CMC full response for a certificate this CA issued (src/ca/responses.ts). */
  private responseFor(certificate: Uint8Array): Promise<Uint8Array> {
    return signPkiResponse(this.gen.signer, this.gen.info, { status: 'issued', certificate });
  }

  /** The signed CMC full response for a recorded request, from the request's state in the store. */
  async pkiResponse(requestId: string): Promise<Uint8Array> {
    return signPkiResponse(this.gen.signer, this.gen.info, await responseStateFor(this.o.db, requestId, this.o.clock.now()));
  }

  async revoke(serial: string, reason: RevocationReason, at?: Date): Promise<void> {
    if (reason === 'removeFromCRL') throw new OpencesError('malformed', 'removeFromCRL is not a revocation reason; use unrevoke');
    const c = await findBySerial(this.o.db, serial);
    if (!c) throw new OpencesError('notFound', `no certificate with serial ${serial}`);
    // Conditional update: of two concurrent revocations exactly one wins; the other is a conflict.
    if (!(await setRevocation(this.o.db, c.serial, at ?? this.o.clock.now(), REVOCATION_REASON_CODES[reason], { onlyIf: 'notRevoked' }))) {
      throw new OpencesError('conflict', `certificate ${c.serial} is already revoked`);
    }
  }

  async unrevoke(serial: string): Promise<void> {
    const c = await findBySerial(this.o.db, serial);
    if (!c) throw new OpencesError('notFound', `no certificate with serial ${serial}`);
    if (!c.revokedAt) throw new OpencesError('conflict', `certificate ${c.serial} is not revoked`);
    if (c.revocationReason !== REVOCATION_REASON_CODES.certificateHold) throw new OpencesError('conflict', `certificate ${c.serial} is revoked permanently, not on hold`);
    if (!(await setRevocation(this.o.db, c.serial, null, null, { onlyIf: 'onHold' }))) throw new OpencesError('conflict', `certificate ${c.serial} changed meanwhile`);
  }

  publishCrl(opts: { delta?: boolean } = {}): Promise<Uint8Array> {
    return this.crl.publish(opts);
  }

  /**
   * Publishes a full or delta CRL when the newest one is `periodMs` old (the schedule; see
   * CrlBuilder), for the current key and every earlier key still signing. Returns the current key's.
   */
  async publishCrlIfDue(kind: CrlKind, periodMs: number): Promise<Uint8Array | null> {
    const [current, ...previous] = this.liveKeyCrls();
    for (const k of previous) await k.builder.publishIfDue(kind, periodMs);
    return current ? current.builder.publishIfDue(kind, periodMs) : null;
  }

  /** Full CRLs of the earlier keys still signing (opences crl publish publishes them beside the current one). */
  async publishPreviousCrls(): Promise<Array<{ keyIndex: number; bytes: number }>> {
    const out: Array<{ keyIndex: number; bytes: number }> = [];
    for (const k of this.liveKeyCrls().slice(1)) out.push({ keyIndex: k.keyIndex, bytes: (await k.builder.publish()).length });
    return out;
  }

  /** The current key (always), then earlier keys whose certificate has not expired. */
  private liveKeyCrls(): KeyCrl[] {
    const now = this.o.clock.now().getTime();
    return this.keyCrls.filter((k, i) => i === 0 || k.notAfter.getTime() > now);
  }

  /**
   * The CRL `/pki/<ca>(keyIndex).crl` serves (the delta with `delta`): the newest stored one while
   * fresh, else published now so a CDP never points at nothing; null for a key this CA never had.
   * An earlier key past its certificate's end serves its last CRL.
   */
  async servedCrl(keyIndex: number, delta: boolean): Promise<Uint8Array | null> {
    const k = this.keyCrls.find((x) => x.keyIndex === keyIndex);
    if (!k || (delta && !this.deltaCrls)) return null;
    const now = this.o.clock.now().getTime();
    const full = await latestCrl(this.o.db, k.crlCaId, false);
    const live = k === this.keyCrls[0] || k.notAfter.getTime() > now;
    if (!delta) {
      if ((full && full.nextUpdate.getTime() > now) || !live) return full?.der ?? null;
      return k.builder.publish();
    }
    const d = await latestCrl(this.o.db, k.crlCaId, true);
    if (d && full && d.number > full.number && d.nextUpdate.getTime() > now) return d.der;
    if (!live) return d?.der ?? null;
    if (!full || full.nextUpdate.getTime() <= now) await k.builder.publish();
    return k.builder.publish({ delta: true });
  }

  /** Whether this CA publishes delta CRLs. */
  get deltaCrls(): boolean {
    return this.o.deltaCrl !== undefined;
  }

  /** The newest stored CRL of the issuing CA (full unless `delta`), or null before the first. */
  async latestCrl(opts: { delta?: boolean } = {}): Promise<Uint8Array | null> {
    return (await latestCrl(this.o.db, this.keyCrls[0]!.crlCaId, opts.delta === true))?.der ?? null;
  }

  /** The root's CRL (it revokes nothing, but `/pki/<root>.crl` named in the issuing CA's CDP must resolve). */
  async publishRootCrl(): Promise<Uint8Array> {
    if (!this.rootCrl) throw new OpencesError('unavailable', 'this node does not hold the root CA key');
    return this.rootCrl.publish();
  }
}

function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

async function markIssued(tx: Queryable, id: string, serial: string, at: Date): Promise<void> {
  await tx.query(
    `UPDATE requests SET status = 'issued', serial = $2, disposition = 3, disposition_message = 'Issued', error_code = NULL, resolved_at = $3 WHERE id = $1`,
    [id, serial, at],
  );
}
