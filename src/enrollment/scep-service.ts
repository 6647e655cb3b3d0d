import { createHash, randomBytes } from 'node:crypto';
import type { AuditLog } from '../audit/log.js';
import type { Principal } from '../auth/principal.js';
import type { CaBackend } from '../ca/types.js';
import type { Clock } from '../clock.js';
import { explicit, implicitCons, integer, oid, seq, set } from '../ca/der.js';
import { OpencesError, isOpencesError } from '../errors.js';
import { parseCsr, type ParsedCsr } from '../protocol/pkcs10/index.js';
import { CMS_OID, buildCertsOnly } from '../protocol/pkcs7/index.js';
import { readCertificate } from '../protocol/pkcs7/certificate.js';
import { decode, sameBytes } from '../protocol/pkcs7/asn1.js';
import {
  EnvelopeError,
  buildCertRep,
  openEnvelope,
  parseIssuerAndSerial,
  parseIssuerAndSubject,
  parsePkiMessage,
  sealEnvelope,
  type CertRepDigest,
  type ContentCipher,
  type FailInfoName,
  type PkiMessage,
} from '../protocol/scep/index.js';
import type { Db } from '../store/db.js';
import { findBySerial, findWithOwner } from '../store/certificate-repo.js';
import { findTransaction, recordTransaction, releaseChallenge } from '../store/scep-repo.js';
import { checkChallenge, type ScepProfile } from './scep-challenges.js';
import type { RegistrationAuthority } from './ra.js';
import type { EnrollmentOutcome } from './types.js';
import { certificateIdentity } from './certificate-identity.js';

/** The RA's SCEP keys on this node (src/app/scep-ra.ts). */
export interface ScepRaKeys {
  sign: { certificateDer: Uint8Array; privateKey: import('node:crypto').KeyObject };
  encrypt: { certificateDer: Uint8Array; privateKey: import('node:crypto').KeyObject };
}

export interface ScepServiceOptions {
  db: Db;
  ra: RegistrationAuthority;
  ca: CaBackend;
  audit: AuditLog;
  clock: Clock;
  profiles: Map<string, ScepProfile>;
  /** Read at each request: the RA certificates are renewed while the server runs. */
  keys: () => ScepRaKeys;
  /** The issuing CA's current CRL (GetCRL). */
  crl: () => Promise<Uint8Array | null>;
}

/** What a PKIOperation produced: the CertRep bytes, or a plain HTTP error when no CertRep can be made. */
export type ScepAnswer = { certRep: Uint8Array; outcome: 'success' | 'pending' | 'failure'; operation: string } | { httpError: 400; message: string; outcome: 'malformed'; operation: string };

const DIGESTS: Record<string, CertRepDigest> = { sha256: 'sha256', sha384: 'sha384', sha512: 'sha512', sha1: 'sha1', md5: 'md5' };

/** Refusals that end in a FAILURE CertRep (with the failInfo the client sees) and an audit event. */
class Failure {
  constructor(
    readonly failInfo: FailInfoName,
    readonly reason: string,
    readonly details: Record<string, unknown> = {},
  ) {}
}

/**
 * SCEP on the RA (RFC 8894): opens a PKIOperation with the RA keys, decides with the profile's
 * template through the same RegistrationAuthority as CES (challenge or current certificate as the
 * authorisation), and answers with a signed CertRep. Knows nothing of HTTP.
 */
export class ScepService {
  constructor(private readonly o: ScepServiceOptions) {}

  profile(name: string): ScepProfile | undefined {
    return this.o.profiles.get(name);
  }

  /** The SCEP principal of a profile: every device of the profile enrolls as it (NDES's service account). */
  principal(profile: ScepProfile): Principal {
    return { name: `scep:${profile.name}`, groups: ['authenticated', 'scep', `scep:${profile.name}`], method: 'scep', ref: { kind: 'service', key: `service:scep:${profile.name}` } };
  }

  async pkiOperation(profile: ScepProfile, body: Uint8Array, address: string): Promise<ScepAnswer> {
    let msg: PkiMessage;
    try {
      msg = parsePkiMessage(body);
    } catch (e) {
      if (!isOpencesError(e)) throw e;
      await this.o.audit.record({ type: 'scep.request', outcome: 'denied', principal: `scep:${profile.name}`, method: 'scep', address, reason: `malformed PKIOperation: ${e.message}`, details: { profile: profile.name } });
      return { httpError: 400, message: e.message, outcome: 'malformed', operation: 'unknown' };
    }
    const keys = this.o.keys();
    let cipher: ContentCipher = 'aes-256-cbc';
    const digest = DIGESTS[msg.digestAlgorithm] ?? 'sha256';
    const reply = (r: { status: 'SUCCESS'; envelopeContent: Uint8Array } | { status: 'PENDING' } | { status: 'FAILURE'; failInfo: FailInfoName }): Uint8Array => {
      const base = { transactionId: msg.transactionId, transactionIdDer: msg.transactionIdDer, recipientNonce: msg.senderNonce, senderNonce: this.nonce(), signerCertDer: keys.sign.certificateDer, signerKey: keys.sign.privateKey, digest, extraCerts: [...this.o.ca.info().chain] };
      if (r.status === 'SUCCESS') return buildCertRep({ ...base, status: 'SUCCESS', envelope: sealEnvelope({ content: r.envelopeContent, recipientCertDer: msg.signerCertificateDer!, cipher }) });
      if (r.status === 'PENDING') return buildCertRep({ ...base, status: 'PENDING' });
      return buildCertRep({ ...base, status: 'FAILURE', failInfo: r.failInfo });
    };
    const audit = { principal: `scep:${profile.name}`, method: 'scep', address, template: profile.template };
    const context = { profile: profile.name, messageType: msg.messageType, transactionId: msg.transactionId };
    try {
      if (!msg.signerCertificateDer) throw new Failure('badMessageCheck', 'the PKIOperation names no signer certificate');
      if (!msg.signatureValid) throw new Failure('badMessageCheck', `the PKIOperation signature does not verify${msg.signatureFailure ? `: ${msg.signatureFailure}` : ''}`);
      if ((msg.digestAlgorithm === 'sha1' || msg.digestAlgorithm === 'md5') && !profile.legacy) throw new Failure('badAlg', `${msg.digestAlgorithm} signatures are accepted only in legacy mode`);
      if (!DIGESTS[msg.digestAlgorithm]) throw new Failure('badAlg', `the digest ${msg.digestAlgorithm} is not supported`);
      let content: Uint8Array;
      try {
        const opened = openEnvelope(msg.envelope, [keys.encrypt, keys.sign], { allowLegacy: profile.legacy });
        content = opened.content;
        cipher = opened.cipher;
      } catch (e) {
        if (e instanceof EnvelopeError) throw new Failure(e.reason, e.message);
        if (isOpencesError(e)) throw new Failure('badMessageCheck', e.message);
        throw e;
      }
      const signerKey = createHash('sha256').update(readCertificate(decode(msg.signerCertificateDer, 'signer certificate')).spkiDer).digest('hex');
      switch (msg.messageType) {
        case 'PKCSReq':
        case 'RenewalReq':
        case 'UpdateReq': {
          const out = await this.enroll(profile, msg, content, signerKey, address);
          return this.answer(out, reply, msg.messageType);
        }
        case 'CertPoll': {
          parseIssuerAndSubject(content);
          const t = await findTransaction(this.o.db, profile.name, msg.transactionId);
          if (!t || t.signerKeySha256 !== signerKey) throw new Failure('badRequest', 'no SCEP transaction with this transactionID for this key', context);
          const out = await this.o.ra.status(t.requestId, this.principal(profile));
          return this.answer(out, reply, 'CertPoll');
        }
        case 'GetCert': {
          const { serial } = parseIssuerAndSerial(content);
          const cert = await findBySerial(this.o.db, serial);
          if (!cert) throw new Failure('badCertId', `no certificate with serial ${serial}`, context);
          await this.o.audit.record({ type: 'scep.getcert', outcome: 'success', ...audit, serial, details: context });
          return { certRep: reply({ status: 'SUCCESS', envelopeContent: buildCertsOnly([cert.der]) }), outcome: 'success', operation: 'GetCert' };
        }
        case 'GetCRL': {
          parseIssuerAndSerial(content);
          const crl = await this.o.crl();
          if (!crl) throw new Failure('badCertId', 'no CRL is published yet', context);
          const degenerate = new Uint8Array(seq(oid(CMS_OID.signedData), explicit(0, seq(integer(1), set(), seq(oid(CMS_OID.data)), implicitCons(1, [crl]), set()))));
          return { certRep: reply({ status: 'SUCCESS', envelopeContent: degenerate }), outcome: 'success', operation: 'GetCRL' };
        }
        default:
          throw new Failure('badRequest', `the messageType ${String(msg.messageType)} is not a request`, context);
      }
    } catch (e) {
      let f: Failure;
      if (e instanceof Failure) f = e;
      else if (isOpencesError(e) && (e.kind === 'malformed' || e.kind === 'tooLarge')) f = new Failure('badRequest', e.message);
      else throw e;
      await this.o.audit.record({ type: 'scep.request', outcome: 'denied', ...audit, reason: f.reason, details: { ...context, failInfo: f.failInfo, ...f.details } });
      return { certRep: reply({ status: 'FAILURE', failInfo: f.failInfo }), outcome: 'failure', operation: msg.messageType };
    }
  }

  private answer(out: EnrollmentOutcome, reply: (r: { status: 'SUCCESS'; envelopeContent: Uint8Array } | { status: 'PENDING' } | { status: 'FAILURE'; failInfo: FailInfoName }) => Uint8Array, operation: string): ScepAnswer {
    switch (out.status) {
      case 'issued':
        return { certRep: reply({ status: 'SUCCESS', envelopeContent: buildCertsOnly([out.certificate]) }), outcome: 'success', operation };
      case 'pending':
        return { certRep: reply({ status: 'PENDING' }), outcome: 'pending', operation };
      case 'denied':
        return { certRep: reply({ status: 'FAILURE', failInfo: 'badRequest' }), outcome: 'failure', operation };
    }
  }

  private nonce(): Uint8Array {
    return new Uint8Array(randomBytes(16));
  }

  /** PKCSReq (challenge) and RenewalReq (signed by the current certificate): to the RA, as a CES enrollment would go. */
  private async enroll(profile: ScepProfile, msg: PkiMessage, csrDer: Uint8Array, signerKey: string, address: string): Promise<EnrollmentOutcome> {
    const principal = this.principal(profile);
    const context = { profile: profile.name, messageType: msg.messageType, transactionId: msg.transactionId };
    // A resent request of a transaction already recorded (RFC 8894 §3.3.1: the client resends on PENDING) is a poll.
    const earlier = await findTransaction(this.o.db, profile.name, msg.transactionId);
    if (earlier) {
      if (earlier.signerKeySha256 !== signerKey) throw new Failure('badRequest', 'the transactionID belongs to another key', context);
      return this.o.ra.status(earlier.requestId, principal);
    }
    let csr: ParsedCsr;
    try {
      csr = parseCsr(csrDer);
    } catch (e) {
      if (isOpencesError(e)) throw new Failure('badRequest', `the pkcsPKIEnvelope does not hold a PKCS#10: ${e.message}`, context);
      throw e;
    }
    const signerSpki = readCertificate(decode(msg.signerCertificateDer!, 'signer certificate')).spkiDer;
    const subject = { cn: csr.subject.find((a) => a.type === 'CN')?.value, dn: csr.subjectString };
    let consumedChallenge: string | undefined;
    // A first request is signed with a self-signed certificate for the key being certified. A
    // PKCSReq signed with another certificate is a renewal in the drafts' sense (certmonger rekeys
    // so; NDES accepts it): like a RenewalReq, it must be a current certificate of ours.
    const firstRequest = msg.messageType === 'PKCSReq' && sameBytes(signerSpki, csr.spki);
    if (firstRequest) {
      const c = await checkChallenge(this.o, profile, csr.challengePassword, subject, `transaction ${msg.transactionId.slice(0, 64)}`);
      if (!c.ok) {
        throw new Failure('badRequest', `challenge refused: ${c.reason}`, { ...context, ...(c.challengeId ? { challengeId: c.challengeId } : {}), subject: subject.dn });
      }
      if (c.kind === 'one-time') consumedChallenge = c.challenge.id;
      await this.o.audit.record({ type: 'scep.challenge', outcome: 'success', principal: principal.name, method: 'scep', address, template: profile.template, details: { ...context, kind: c.kind, ...(c.kind === 'one-time' ? { challengeId: c.challenge.id, boundSubject: c.challenge.boundSubject } : {}), subject: subject.dn } });
    } else {
      const renewalOf = await this.checkRenewal(profile, msg.signerCertificateDer!, csr, context);
      await this.o.audit.record({ type: 'scep.renewal', outcome: 'success', principal: principal.name, method: 'scep', address, template: profile.template, serial: renewalOf, reason: 'signed by the current certificate: no challenge needed', details: { ...context, subject: subject.dn } });
    }
    let out: EnrollmentOutcome;
    try {
      out = await this.o.ra.submit({ principal, address, kind: 'issue', format: 'pkcs10', raw: csrDer, additionalContext: [{ name: 'CertificateTemplate', value: profile.template }] });
    } catch (e) {
      // Not recorded (the CA unreachable, a database error): the challenge can be used again.
      if (consumedChallenge) await releaseChallenge(this.o.db, consumedChallenge);
      throw e;
    }
    if (out.requestId) await recordTransaction(this.o.db, { profile: profile.name, transactionId: msg.transactionId, signerKeySha256: signerKey, requestId: out.requestId, at: this.o.clock.now() });
    return out;
  }

  /**
   * A RenewalReq is signed by the certificate it renews: one we issued under this profile's
   * template, current (not revoked, not expired), for the same subject. That signature is the
   * authorisation; no challenge.
   */
  private async checkRenewal(profile: ScepProfile, signerDer: Uint8Array, csr: ParsedCsr, context: Record<string, unknown>): Promise<string> {
    const ids = readCertificate(decode(signerDer, 'signer certificate'));
    // Hex of the serial's octets as the store keeps them (src/ca/serial.ts: 16 octets, a leading 0 digit kept).
    const serial = Buffer.from(ids.serial).toString('hex');
    const old = await findWithOwner(this.o.db, serial);
    const now = this.o.clock.now();
    if (!old || !sameBytes(old.der, signerDer)) throw new Failure('badCertId', 'the RenewalReq is signed by a certificate this CA did not issue', { ...context, serial });
    if (old.revokedAt) throw new Failure('badCertId', `the certificate being renewed (serial ${serial}) is revoked`, { ...context, serial });
    if (old.notAfter.getTime() <= now.getTime()) throw new Failure('badTime', `the certificate being renewed (serial ${serial}) has expired`, { ...context, serial });
    if (old.template !== profile.template) throw new Failure('badRequest', `the certificate being renewed was issued under ${old.template ?? '(no template)'}, not this profile's ${profile.template}`, { ...context, serial });
    if (old.requester !== `scep:${profile.name}`) throw new Failure('badRequest', `the certificate being renewed was not enrolled through the SCEP profile ${profile.name}`, { ...context, serial });
    const names = (l: { type: string; value: string }[]) => l.map((a) => `${a.type}=${a.value}`.toLowerCase()).sort().join('\n');
    if (names(certificateIdentity(old.der).subject) !== names(csr.subject)) throw new Failure('badRequest', `a renewal keeps the subject (${old.subject}), not ${csr.subjectString}`, { ...context, serial });
    return serial;
  }
}
