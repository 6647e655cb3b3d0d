import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FailureAudit } from '../audit/refusal-audit.js';
import type { Clock } from '../clock.js';
import { OpencesError } from '../errors.js';
import type { Db } from '../store/db.js';
import { findWithOwner } from '../store/certificate-repo.js';
import { ownerPrincipal } from './certificate-owner.js';
import type { Principal } from './principal.js';
import { verifyMessageSignature } from './message-signature.js';
import { messageEvidence } from './freshness.js';
import { ReplayGuard } from './replay.js';
import type { XmlSignatureOptions } from './xml-signature.js';
import type { PartnerRegistry } from './partners.js';
import type { SoapEnvelope } from '../protocol/soap/envelope.js';

export interface CertificateAuthOptions {
  db: Db;
  clock: Clock;
  /** Where failed authentications are recorded (a RefusalAudit: bounded per source address). */
  audit: FailureAudit;
  /** Issuing CA certificates whose end-entity certificates are trusted for authentication. */
  issuers: () => Uint8Array[];
  /** Partner organisations trusted through their own roots. */
  partners?: PartnerRegistry;
  domains?: string[];
  /** `auth.accountRealms` (src/auth/identity.ts). */
  accountRealms?: string[];
  /** `auth.kerberos.groups`: what a Kerberos principal's certificate brings, as its ticket would. */
  kerberosGroups?: Record<string, string[]>;
  /** Freshness and replay store, shared with UsernameToken authentication (src/auth/replay.ts). */
  replay?: ReplayGuard;
  /** Message signature algorithms (src/auth/xml-signature.ts). */
  signature?: XmlSignatureOptions;
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const FAILED = (): OpencesError => new OpencesError('unauthenticated', 'authentication failed');

/**
 * TLS client-certificate authentication for the `_Certificate` endpoints. The certificate must chain
 * to one of our issuing CAs, be within its validity, allow client authentication, and not be revoked
 * in our own records. The principal is the one recorded when the certificate was issued
 * (src/auth/certificate-owner.ts), in its state now — never a name read out of the certificate.
 */
/**
 * How long a connection's accepted client certificate stands without being checked again. A TLS
 * connection's certificate cannot change, and keep-alive clients send many requests over one: the
 * parse, the signature check and two lookups run once per connection and this long, not per
 * request. A revocation or an account change made in this process ends the verdicts at once, one
 * made elsewhere within this time (the CA signing API keeps its verdicts as long).
 */
export const CONNECTION_VERDICT_MS = 5_000;

export class CertificateAuthenticator {
  private readonly verdicts = new WeakMap<TLSSocket, { principal: Principal; until: number; generation: number }>();
  /** Bumped by invalidate(): every kept verdict is checked afresh. */
  private generation = 0;

  private readonly replay: ReplayGuard;

  constructor(private readonly o: CertificateAuthOptions) {
    this.replay = o.replay ?? new ReplayGuard(o.db);
  }

  /** A certificate was revoked or an account changed: check every connection's certificate again. */
  invalidate(): void {
    this.generation++;
  }

  /** The TLS client certificate's principal, or null when the client presented none. */
  async fromTls(socket: TLSSocket, address: string): Promise<Principal | null> {
    const now = this.o.clock.now().getTime();
    const kept = this.verdicts.get(socket);
    if (kept && kept.until > now && kept.generation === this.generation) return kept.principal;
    const peer = socket.getPeerCertificate?.(true);
    if (!peer?.raw || peer.raw.length === 0) return null;
    // The chain the client sent, for partner certificates issued through intermediates.
    const intermediates: Uint8Array[] = [];
    for (let c = peer.issuerCertificate; c && c.raw && c !== c.issuerCertificate && intermediates.length < 5; c = c.issuerCertificate) intermediates.push(new Uint8Array(c.raw));
    const generation = this.generation;
    const principal = await this.authenticate(new Uint8Array(peer.raw), address, intermediates);
    // Refusals are not kept (each is audited); a verdict reached across an invalidation is not either.
    if (generation === this.generation) this.verdicts.set(socket, { principal, until: now + CONNECTION_VERDICT_MS, generation });
    return principal;
  }

  /** WS-Security X.509 message signature (src/auth/message-signature.ts), then the same checks. */
  async fromMessage(env: SoapEnvelope, address: string): Promise<Principal> {
    if (!env.header.security?.signature) return this.fail(address, 'no client certificate presented and no message signature');
    const now = this.o.clock.now();
    const evidence = messageEvidence(env);
    // The signed Timestamp must be fresh (Created within the window, whatever Expires says).
    const stale = this.replay.fresh(evidence, now);
    if (stale) return this.fail(address, `message signature refused: ${stale}`);
    let signed: { certificate: Uint8Array; signatureValue: string };
    try {
      signed = verifyMessageSignature(env, this.o.signature);
    } catch (e) {
      return this.fail(address, e instanceof Error ? e.message : 'message signature refused');
    }
    const principal = await this.authenticate(signed.certificate, address);
    // Accepted once on any node: the signature value, also when a replay carries a new (unsigned) MessageID.
    const replayed = await this.replay.admit(principal, { ...evidence, signatureValue: signed.signatureValue }, now);
    if (replayed) return this.fail(address, `message signature refused: ${replayed}`);
    return principal;
  }

  async authenticate(der: Uint8Array, address: string, intermediates: Uint8Array[] = []): Promise<Principal> {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(Buffer.from(der));
    } catch {
      return this.fail(address, 'unreadable client certificate');
    }
    const now = this.o.clock.now().getTime();
    if (now < new Date(cert.validFrom).getTime() || now > new Date(cert.validTo).getTime()) return this.fail(address, `client certificate ${cert.serialNumber} is expired or not yet valid`);
    const ekus = cert.keyUsage;
    if (ekus && ekus.length && !ekus.includes(CLIENT_AUTH) && !ekus.includes('2.5.29.37.0')) return this.fail(address, `client certificate ${cert.serialNumber} does not allow client authentication`);
    const issuer = this.o.issuers().map((i) => new X509Certificate(Buffer.from(i))).find((i) => cert.checkIssued(i) && cert.verify(i.publicKey));
    if (!issuer) {
      const p = await this.o.partners?.match(cert, intermediates.map((d) => new X509Certificate(Buffer.from(d))));
      if (p && 'refused' in p) return this.fail(address, p.refused, `partner:${p.partner.name}`);
      if (p) return p.principal;
      return this.fail(address, `client certificate ${cert.subject.replace(/\n/g, ', ')} is not issued by a trusted CA`);
    }
    const serial = cert.serialNumber.toLowerCase().replace(/^(00)+/, '');
    const rec = await findWithOwner(this.o.db, serial);
    if (!rec || !sameBytes(rec.der, der)) return this.fail(address, `client certificate ${serial} is not in this CA's records`);
    if (rec.revokedAt) return this.fail(address, `client certificate ${serial} is revoked`);

    const owner = await ownerPrincipal(rec.owner, { db: this.o.db, accountRealms: this.o.accountRealms ?? [], kerberosGroups: this.o.kerberosGroups, partners: this.o.partners });
    if ('refused' in owner) return this.fail(address, `client certificate ${serial} is refused: ${owner.refused}`, rec.owner.name ?? undefined);
    return { ...owner.principal, method: 'certificate', certificate: { der, serial, issuer: cert.issuer, subject: cert.subject } };
  }

  private async fail(address: string, reason: string, principal?: string): Promise<never> {
    await this.o.audit.record({ type: 'auth.failure', outcome: 'failure', method: 'certificate', address, reason, ...(principal ? { principal } : {}) });
    throw FAILED();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}
