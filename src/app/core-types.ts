import type { AuditLog } from '../audit/log.js';
import type { RefusalAudit } from '../audit/refusal-audit.js';
import type { CaBackend, CrlPublisher, KeyStore } from '../ca/types.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { RegistrationAuthority } from '../enrollment/ra.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import type { TemplateService } from './template-service.js';
import type { UsernameAuthenticator } from '../auth/username.js';
import type { CertificateAuthenticator } from '../auth/certificate.js';
import type { PartnerRegistry } from '../auth/partners.js';
import type { KerberosAuthenticator } from '../auth/kerberos.js';
import type { AuditSigner } from '../audit/signing-key.js';

/**
 * Everything a node needs apart from its front ends: the composition root's product. The
 * server mounts HTTP on it; operator commands use it directly when no server runs.
 */
export interface Core {
  config: Config;
  db: Db;
  clock: Clock;
  log: Logger;
  audit: AuditLog;
  /**
   * The audit log behind a bound per source address, for failed authentications at the enrollment
   * endpoints (src/audit/refusal-audit.ts): strangers must not write the log at network speed.
   */
  authFailures: RefusalAudit;
  /** Absent on nodes without the `ca` role that have no remote CA configured. */
  ca: CaBackend & Partial<CrlPublisher>;
  templates: TemplateService;
  ra: RegistrationAuthority;
  usernameAuth: UsernameAuthenticator;
  certificateAuth: CertificateAuthenticator;
  partners: PartnerRegistry;
  /** Present when Kerberos endpoints are configured (auth.kerberos). */
  kerberos?: KerberosAuthenticator;
  /** The audit checkpoint signing key, on the node that holds the CA keys (src/audit/signing-key.ts). */
  auditSigner?: AuditSigner;
  /** On a node whose CA keys are in a PKCS#11 token: null while the token answers, else why not (/readyz). */
  keyHealth?: () => Promise<string | null>;
  /**
   * On a node that holds the CA keys: the key store (opences ca renew makes keys in it) and the
   * switch to the newest CA generation in the database, here and in every process on it.
   */
  caKeys?: { keyStore: KeyStore; reload(): Promise<void> };
  /** Deployment-wide identifiers (stable across nodes on one database). */
  deployment: { policyId: string; enterpriseArc: string };
  close(): Promise<void>;
}
