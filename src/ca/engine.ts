import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { OpencesError } from '../errors.js';
import type { Db, Queryable } from '../store/db.js';
import { findByRequestId, findBySerial, insertCertificate, setRevocation } from '../store/certificate-repo.js';
import { parseCsr, verifyCsrSignature } from '../protocol/pkcs10/index.js';
import { nameToString } from '../protocol/pkcs10/names.js';
import { buildCertificate, certificateParts } from './certificate-builder.js';
import {
  authorityInfoAccess,
  authorityKeyIdentifier,
  basicConstraints,
  certificatePolicies,
  crlDistributionPoints,
  extKeyUsage,
  keyIdentifier,
  keyUsage,
  subjectAltName,
  subjectKeyIdentifier,
  templateInformation,
} from './extensions.js';
import { checkKeyPolicy } from './keypolicy.js';
import { lintCertificate } from './lint.js';
import { encodeName } from './name.js';
import { newSerial } from './serial.js';
import { REVOCATION_REASON_CODES, type CaBackend, type CaInfo, type CaSigner, type CrlPublisher, type IssuanceOrder, type IssuedCertificate, type RevocationReason } from './types.js';
import { CrlBuilder } from './crl.js';
import { X509Certificate } from 'node:crypto';

export interface LocalCaOptions {
  db: Db;
  clock: Clock;
  signer: CaSigner;
  info: CaInfo;
  issuingCaId: number;
  pkiBaseUrl: string;
  /** Re-check: does the order name an enabled template? (The CA does not trust the RA blindly.) */
  templateGate: (name: string) => Promise<boolean>;
  random?: (n: number) => Uint8Array;
  crlValidityHours?: number;
}

/** Per-CA pieces encoded once: issuer name, AKI, AIA, CDP. */
interface CaPieces {
  issuerName: Uint8Array;
  aki: Buffer;
  aia: Buffer;
  cdp: Buffer;
  notAfter: Date;
}

/**
 * The local CA engine: signs verified issuance orders with the issuing CA's key and records them
 * atomically with their request. It never sees SOAP, HTTP or ACLs — only orders.
 */
export class LocalCa implements CaBackend, CrlPublisher {
  private readonly pieces: CaPieces;
  private readonly random: (n: number) => Uint8Array;
  private readonly profileCache = new Map<string, Buffer[]>();
  private readonly crl: CrlBuilder;

  constructor(private readonly o: LocalCaOptions) {
    this.random = o.random ?? ((n) => randomBytes(n));
    const parts = certificateParts(o.info.issuingCertificate);
    const slug = o.info.slug;
    this.pieces = {
      issuerName: parts.subjectName,
      aki: authorityKeyIdentifier(keyIdentifier(parts.spki)),
      aia: authorityInfoAccess(`${o.pkiBaseUrl}/pki/${slug}.crt`),
      cdp: crlDistributionPoints(`${o.pkiBaseUrl}/pki/${slug}.crl`),
      notAfter: new Date(new X509Certificate(Buffer.from(o.info.issuingCertificate)).validTo),
    };
    this.crl = new CrlBuilder({ db: o.db, clock: o.clock, signer: o.signer, caId: o.issuingCaId, issuerName: parts.subjectName, issuerKeyId: keyIdentifier(parts.spki), validityHours: o.crlValidityHours ?? 168 });
  }

  info(): CaInfo {
    return this.o.info;
  }

  /** Extensions fixed per template profile, encoded once. */
  private profileExtensions(order: IssuanceOrder): Buffer[] {
    const key = JSON.stringify([order.keyUsage, order.keyUsageCritical, order.ekus, order.issuancePolicies, order.templateInfo ?? null]);
    let exts = this.profileCache.get(key);
    if (!exts) {
      exts = [basicConstraints(false)];
      if (order.keyUsage.length) exts.push(keyUsage(order.keyUsage, order.keyUsageCritical));
      if (order.ekus.length) exts.push(extKeyUsage(order.ekus));
      if (order.issuancePolicies.length) exts.push(certificatePolicies(order.issuancePolicies));
      if (order.templateInfo) exts.push(templateInformation(order.templateInfo.oid, order.templateInfo.majorRevision, order.templateInfo.minorRevision));
      if (this.profileCache.size > 256) this.profileCache.clear();
      this.profileCache.set(key, exts);
    }
    return exts;
  }

  async issue(order: IssuanceOrder): Promise<IssuedCertificate> {
    if (!/^\d{1,18}$/.test(order.orderId)) throw new OpencesError('malformed', `bad order id ${order.orderId}`);
    // Re-check what the RA decided: enabled template, acceptable key, proof of possession.
    if (!(await this.o.templateGate(order.template))) throw new OpencesError('templateNotFound', `the order names ${order.template}, which is not an enabled template`);
    const csr = parseCsr(order.csrDer);
    checkKeyPolicy(csr.publicKey);
    if (!(await verifyCsrSignature(order.csrDer))) throw new OpencesError('badSignature', 'the order\'s request signature does not verify');

    const now = this.o.clock.now();
    const notBefore = new Date(Math.max(order.notBefore.getTime(), now.getTime() - 60_000));
    const notAfter = new Date(Math.min(order.notAfter.getTime(), this.pieces.notAfter.getTime()));
    const subjectName = encodeName(order.subject);
    const sanCritical = order.subject.length === 0;
    const exts: Buffer[] = [this.pieces.aki, subjectKeyIdentifier(csr.spki), ...this.profileExtensions(order)];
    if (order.sans.length) exts.push(subjectAltName(order.sans, sanCritical || order.sanCritical === true));
    exts.push(this.pieces.aia, this.pieces.cdp);
    lintCertificate({ subject: order.subject, sans: order.sans, notBefore, notAfter, caNotAfter: this.pieces.notAfter, extensions: exts });

    return this.o.db.transaction(async (tx) => {
      // The order's request row is the lock: concurrent retries of one order serialise here.
      const req = await tx.query<{ status: string }>('SELECT status FROM requests WHERE id = $1 FOR UPDATE', [order.orderId]);
      if (req.rowCount === 0) throw new OpencesError('notFound', `no request ${order.orderId} for this order`);
      const existing = await findByRequestId(tx, order.orderId);
      if (existing) {
        return { serial: existing.serial, der: existing.der, chain: this.o.info.chain, notBefore: existing.notBefore, notAfter: existing.notAfter, replayed: true };
      }
      for (let attempt = 0; attempt < 5; attempt++) {
        const serial = newSerial(this.random);
        const der = await buildCertificate(this.o.signer, { serial: serial.bytes, issuerName: this.pieces.issuerName, subjectName, notBefore, notAfter, spki: csr.spki, extensions: exts });
        const inserted = await insertCertificate(tx, {
          serial: serial.hex,
          caId: this.o.issuingCaId,
          requestId: order.orderId,
          subject: nameToString(order.subject),
          sans: order.sans.map((s) => `${s.type}:${s.value}`),
          template: order.template,
          requester: order.requester,
          notBefore,
          notAfter,
          der,
          issuedAt: now,
        });
        if (!inserted) continue; // serial collision (astronomically rare): draw again
        await markIssued(tx, order.orderId, serial.hex, now);
        return { serial: serial.hex, der: new Uint8Array(der), chain: this.o.info.chain, notBefore, notAfter, replayed: false };
      }
      throw new OpencesError('internal', 'could not allocate a unique serial number');
    });
  }

  async revoke(serial: string, reason: RevocationReason, at?: Date): Promise<void> {
    const c = await findBySerial(this.o.db, serial);
    if (!c) throw new OpencesError('notFound', `no certificate with serial ${serial}`);
    if (c.revokedAt) throw new OpencesError('conflict', `certificate ${c.serial} is already revoked`);
    if (reason === 'removeFromCRL') throw new OpencesError('malformed', 'removeFromCRL is not a revocation reason; use unrevoke');
    await setRevocation(this.o.db, c.serial, at ?? this.o.clock.now(), REVOCATION_REASON_CODES[reason]);
  }

  async unrevoke(serial: string): Promise<void> {
    const c = await findBySerial(this.o.db, serial);
    if (!c) throw new OpencesError('notFound', `no certificate with serial ${serial}`);
    if (!c.revokedAt) throw new OpencesError('conflict', `certificate ${c.serial} is not revoked`);
    if (c.revocationReason !== REVOCATION_REASON_CODES.certificateHold) throw new OpencesError('conflict', `certificate ${c.serial} is revoked permanently, not on hold`);
    await setRevocation(this.o.db, c.serial, null, null);
  }

  publishCrl(opts: { delta?: boolean } = {}): Promise<Uint8Array> {
    return this.crl.publish(opts);
  }
}

async function markIssued(tx: Queryable, id: string, serial: string, at: Date): Promise<void> {
  await tx.query(
    `UPDATE requests SET status = 'issued', serial = $2, disposition = 3, disposition_message = 'Issued', error_code = NULL, resolved_at = $3 WHERE id = $1`,
    [id, serial, at],
  );
}
