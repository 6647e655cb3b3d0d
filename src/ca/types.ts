/**
 * The CA's narrow interfaces (after step-ca's cas/apiv1 and kms/apiv1). Front ends and the RA
 * talk to a CaBackend; the local engine signs with a KeyStore; a remote backend forwards the
 * same orders over mutual TLS. Nothing here knows about SOAP, HTTP or templates' ACLs.
 */
import type { KeyAlgorithm, KeyUsageName } from '../policy/template.js';

export type CaKeyType = 'RSA-2048' | 'RSA-3072' | 'RSA-4096' | 'P-256' | 'P-384';

/** A GeneralName the RA has already decided to put in the SAN. */
export type SanEntry =
  | { type: 'dns'; value: string }
  | { type: 'ip'; value: string }
  | { type: 'email'; value: string }
  | { type: 'uri'; value: string }
  | { type: 'upn'; value: string };

/** One RDN attribute in order; the engine encodes them as UTF8String (PrintableString for C). */
export interface NameAttribute {
  /** Dotted OID or short name: CN, O, OU, L, ST, C, E (emailAddress), DC, SERIALNUMBER. */
  type: string;
  value: string;
}

/**
 * A verified, policy-approved issuance order: the RA's decision in a form the CA can re-check
 * and sign without parsing any request format beyond PKCS#10.
 */
export interface IssuanceOrder {
  /** Idempotency key: the request id. Issuing the same order twice returns the first certificate. */
  orderId: string;
  /** Template the RA decided on; the CA re-checks that it names an enabled template. */
  template: string;
  /** Template OID and revision for the template-information extension, when wanted. */
  templateInfo?: { oid: string; majorRevision: number; minorRevision: number };
  /** The PKCS#10 (DER) whose public key is certified; the CA re-verifies its signature (PoP). */
  csrDer: Uint8Array;
  /**
   * For renewals signed by the old certificate the CSR signature may be absent of value
   * (CMC/PKCS#7 proved possession instead); the CA then checks the public key matches this SPKI.
   */
  /**
   * CertEnroll's "Full PKCS#7" request (the PKCS#10 inside a SignedData signed by the request's own
   * key, named by key identifier), when that outer signature is what proves possession: the CA
   * re-checks it (src/protocol/pkcs7/possession.ts) if the PKCS#10's self-signature does not verify.
   */
  possessionSignedData?: Uint8Array;
  subject: NameAttribute[];
  sans: SanEntry[];
  sanCritical?: boolean;
  keyUsage: KeyUsageName[];
  keyUsageCritical: boolean;
  ekus: string[];
  issuancePolicies: string[];
  /** Requested validity; the engine clips notAfter to the issuing CA's notAfter. */
  notBefore: Date;
  notAfter: Date;
  /** Who asked, for the certificate record (not put in the certificate). */
  requester: string;
  /**
   * The directory account's SID (`S-1-5-21-…`), from the identity the RA recorded with the request:
   * the CA puts it in the SID security extension (and the SAN URL when the template asks), and
   * signs only when it is the recorded request's.
   */
  sid?: string;
}

export interface IssuedCertificate {
  serial: string; // lower-case hex, no leading zeros beyond DER's
  der: Uint8Array;
  /** Issuing CA first, then up to (and including) the root. */
  chain: Uint8Array[];
  notBefore: Date;
  notAfter: Date;
  /** True when this order had been issued before and the stored certificate is returned. */
  replayed: boolean;
  /** True when the backend parked `IssueOptions.audit` atomically with the certificate. */
  audited?: boolean;
  /** The CA-signed CMC full response for this certificate, when `IssueOptions.fullResponse` asked for it. */
  fullResponse?: Uint8Array;
}

/** What the caller (the RA) hands a backend along with an order. */
export interface IssueOptions {
  /**
   * The issuance audit event, as the audit queue stores it (AuditLog.forQueue). A backend that
   * records into the same database may park it in the statement that records the certificate (with
   * the serial filled in) and say so with `audited`; others ignore it and the caller records it.
   */
  audit?: { at: Date; event: string };
  /**
   * Also sign the CMC full response for the certificate (src/ca/responses.ts) and return it with
   * it: on a remote CA in the same round trip. A backend that cannot leaves it out.
   */
  fullResponse?: boolean;
}

/** RFC 5280 CRLReason codes. */
export type RevocationReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'cACompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'removeFromCRL'
  | 'privilegeWithdrawn'
  | 'aACompromise';

export const REVOCATION_REASON_CODES: Record<RevocationReason, number> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
};

export interface CaInfo {
  /** CA name as used in URLs and endpoint paths (`opences Issuing CA`). */
  name: string;
  /** Name safe for /pki/ paths and CES endpoint paths (spaces as _). */
  slug: string;
  issuingCertificate: Uint8Array;
  rootCertificate: Uint8Array;
  /** Issuing CA first, root last. */
  chain: Uint8Array[];
}

export interface CaBackend {
  info(): CaInfo;
  issue(order: IssuanceOrder, opts?: IssueOptions): Promise<IssuedCertificate>;
  revoke(serial: string, reason: RevocationReason, at?: Date): Promise<void>;
  unrevoke(serial: string): Promise<void>;
}

/**
 * Optional capability: the CA-signed CMC full response for a recorded request, built from what the
 * CA's store says of it (issued: the certificate and its hash; pending; denied: the message). Null
 * when this backend cannot sign responses (a remote CA node of an older version).
 */
export interface PkiResponder {
  pkiResponse(requestId: string): Promise<Uint8Array | null>;
}

/** Optional capability: backends that can produce CRLs. */
export interface CrlPublisher {
  publishCrl(opts?: { delta?: boolean }): Promise<Uint8Array>;
}

/** A signing key whose private half may never be visible (file, PKCS#11). */
export interface CaSigner {
  readonly keyType: CaKeyType;
  /** DER SubjectPublicKeyInfo. */
  readonly spki: Uint8Array;
  /** DER AlgorithmIdentifier used in TBSCertificate.signature / TBSCertList.signature. */
  readonly signatureAlgorithm: Uint8Array;
  /** Signs `data` (already DER of the to-be-signed structure) and returns the DER signature value. */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

export interface KeyStore {
  /** Creates (and persists) a new key under `label`; fails if it exists. */
  create(label: string, keyType: CaKeyType): Promise<CaSigner>;
  open(label: string): Promise<CaSigner>;
  exists(label: string): Promise<boolean>;
}

export type { KeyAlgorithm };
