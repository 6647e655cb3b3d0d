/**
 * A certificate template as an administrator thinks of it (the semantic model). The MS-CRTD
 * msPKI-* flag words that MS-XCEP carries are derived from it in src/policy/flags.ts, never
 * stored twice. Persisted as JSON in the `templates` table; round-tripped by
 * `opences template import|export` (YAML, validated by src/policy/template-schema.ts).
 */
export type KeyAlgorithm = 'RSA' | 'ECDSA_P256' | 'ECDSA_P384';

/**
 * What a CNG key may be used for (MS-XCEP keyUsageProperty, the NCRYPT_ALLOW_*_FLAG bits that
 * MS-CRTD calls msPKI-Key-Usage): decrypt 0x1, sign 0x2, keyAgreement 0x4.
 */
export type KeyUsageProperty = 'decrypt' | 'sign' | 'keyAgreement';

export type KeyUsageName =
  | 'digitalSignature'
  | 'nonRepudiation'
  | 'keyEncipherment'
  | 'dataEncipherment'
  | 'keyAgreement'
  | 'keyCertSign'
  | 'cRLSign';

/** Where an identity-built subject/SAN takes its values from (ADCS "Build from this AD information"). */
export interface SubjectFromIdentity {
  /** Subject name format: none, commonName only (CN=name), or full DN style (CN plus E=). */
  subjectFormat: 'none' | 'commonName' | 'commonNameAndEmail';
  sanDns: boolean;
  sanUpn: boolean;
  sanEmail: boolean;
}

export interface TemplatePermission {
  /** `user:<principal name>` or `group:<group name>`. */
  principal: string;
  read: boolean;
  enroll: boolean;
  autoenroll: boolean;
}

export interface Template {
  /** Common name (CN of the template, e.g. `WebServer`); unique; used on the wire. */
  name: string;
  displayName: string;
  /** Template OID (msPKI-Cert-Template-OID), under the deployment's enterprise arc. */
  oid: string;
  /**
   * MS-XCEP policySchema. 1 and 2 are CryptoAPI (CSP) templates; 3 is a CNG template: one key
   * algorithm, a hash algorithm and key storage providers (KSPs), which Windows needs to make
   * ECDSA keys. 4 is sent as 4 and otherwise treated like 3.
   */
  schemaVersion: 1 | 2 | 3 | 4;
  majorRevision: number;
  minorRevision: number;
  enabled: boolean;
  validityPeriodSeconds: number;
  renewalPeriodSeconds: number;
  privateKey: {
    /** Key algorithms accepted. A schema-3 template names exactly one (msPKI-Asymmetric-Algorithm). */
    algorithms: KeyAlgorithm[];
    /** Minimum RSA modulus size. ECDSA keys are judged by their curve; the wire carries the curve size. */
    minimalKeyLength: number;
    /** 1 = AT_KEYEXCHANGE, 2 = AT_SIGNATURE (MS-XCEP keySpec); not sent for ECDSA-only schema-3 templates. */
    keySpec: 1 | 2;
    exportable: boolean;
    /**
     * CSP / KSP names a Windows client may use. Empty: the defaults of src/policy/providers.ts for
     * the key algorithms and schema (never sent as nil: Windows then falls back to a legacy CSP and
     * an RSA-1024 key).
     */
    providers: string[];
    /** Requires strong key protection (user prompt) on the client. */
    strongProtection: boolean;
    /** Schema 3 and later: what the CNG key may do. Absent or empty: derived from extensions.keyUsage. */
    keyUsageProperty?: KeyUsageProperty[];
    /** Schema 3 and later: SDDL security descriptor for the new private key (MS-XCEP permissions). */
    securityDescriptor?: string;
  };
  subject: {
    /** Enrollee supplies subject (and SANs) in the request (CT_FLAG_ENROLLEE_SUPPLIES_SUBJECT). */
    enrolleeSupplies: boolean;
    /** SAN types the enrollee may supply when enrolleeSupplies is true. */
    allowedSanTypes: ('dns' | 'ip' | 'email' | 'upn' | 'uri')[];
    /** Built from the requester's identity when the enrollee does not supply it. */
    fromIdentity: SubjectFromIdentity;
    /** Issuance requires at least one SAN of each listed kind (ADCS CT_FLAG_SUBJECT_ALT_REQUIRE_*). */
    requireSan: ('dns' | 'upn' | 'email')[];
    /**
     * Strict mode: a request carrying a subject or SAN the template does not let the enrollee
     * supply is denied, instead of having it silently replaced by the identity's values.
     */
    strict: boolean;
  };
  enrollment: {
    /** Every request waits for a certificate manager (CT_FLAG_PEND_ALL_REQUESTS). */
    pendAllRequests: boolean;
    autoEnrollment: boolean;
    includeSymmetricAlgorithms: boolean;
    publishToDs: boolean;
    /** Allow renewal authenticated only by the certificate being renewed (key-based renewal). */
    allowKeyBasedRenewal: boolean;
    /** Renewal must reuse the same key (CT_FLAG_REQUIRE_SAME_KEY_RENEWAL). */
    requireSameKeyRenewal: boolean;
  };
  extensions: {
    /** EKU / application policy OIDs. */
    ekus: string[];
    keyUsage: KeyUsageName[];
    keyUsageCritical: boolean;
    issuancePolicies: string[];
    /** Add the szOID_NTDS_CA_SECURITY_EXT-free template-information extension (1.3.6.1.4.1.311.21.7). */
    templateInformation: boolean;
    /**
     * The SID security extension (szOID_NTDS_CA_SECURITY_EXT, 1.3.6.1.4.1.311.25.2) in certificates
     * for directory accounts: absent or true adds it; false leaves it out (ADCS
     * CT_FLAG_NO_SECURITY_EXTENSION, which the lint flags as ESC9 on authentication templates).
     */
    securityExtension?: boolean;
    /** Also put the SID in the SAN as the URL `tag:microsoft.com,2022-09-14:sid:<SID>` (KB5014754). */
    sidUrl?: boolean;
  };
  /** Number of RA (enrollment agent) signatures required; 0 for none. */
  raSignatures: number;
  raApplicationPolicies: string[];
  raIssuancePolicies: string[];
  /** Template names this one supersedes. */
  supersededTemplates: string[];
  /** Schema 3 and later: the hash the client signs the request with (hashAlgorithmOIDReference). */
  hashAlgorithm: 'SHA256' | 'SHA384' | 'SHA512';
  permissions: TemplatePermission[];
  /** What a request may ask for (src/policy/request-limits.ts); absent fields take the defaults there. */
  requests?: {
    /** Subject alternative names one request may ask for (default 100, at most 256). */
    maxSans?: number;
    /** Accept requests signed with SHA-1 (legacy clients; default false). MD5 is never accepted. */
    allowSha1Signatures?: boolean;
  };
}
