/** MS-XCEP GetPolicies request (§3.1.4.1.2.1) as typed values. */
export interface GetPoliciesRequest {
  lastUpdate?: Date;
  preferredLanguage?: string;
  policyOids?: string[];
  clientVersion?: number;
  serverVersion?: number;
}

/** OID groups (MS-XCEP §3.1.4.1.3.16). */
export const OID_GROUP = { hash: 1, encryption: 2, publicKey: 3, signing: 4, rdn: 5, extension: 6, eku: 7, issuancePolicy: 8, template: 9 } as const;

export interface XcepOid {
  value: string;
  group: number;
  oIDReferenceID: number;
  defaultName?: string;
}

/** clientAuthentication values (MS-XCEP 3.1.4.1.3.5); cepces refuses any other value. */
export const CLIENT_AUTH = { anonymous: 1, kerberos: 2, usernamePassword: 4, certificate: 8 } as const;

export interface XcepCaUri {
  /** Exactly one of 1, 2, 4, 8 (not a bit mask: cepces raises on anything else). */
  clientAuthentication: number;
  uri: string;
  /** Lower is preferred. Sent as nil when absent, but cepces sorts by it: always give one. */
  priority?: number;
  /** Sent as false when absent (§6.2 makes it non-nillable). */
  renewalOnly?: boolean;
}

export interface XcepCa {
  uris: XcepCaUri[];
  certificate: Uint8Array;
  enrollPermission: boolean;
  cAReferenceID: number;
}

export interface XcepExtension {
  oIDReference: number;
  /** Sent as false when absent (non-nillable in §6.2). */
  critical?: boolean;
  value?: Uint8Array;
}

/** Attributes (§3.1.4.1.3.2), in schema order. */
export interface XcepAttributes {
  commonName: string;
  policySchema: number;
  validityPeriodSeconds: number;
  renewalPeriodSeconds: number;
  enroll: boolean;
  autoEnroll: boolean;
  privateKey: {
    minimalKeyLength: number;
    keySpec?: number;
    keyUsageProperty?: number;
    permissions?: string;
    algorithmOIDReference?: number;
    cryptoProviders?: string[];
  };
  majorRevision: number;
  minorRevision: number;
  supersededPolicies?: string[];
  privateKeyFlags?: number;
  subjectNameFlags?: number;
  enrollmentFlags?: number;
  generalFlags?: number;
  hashAlgorithmOIDReference?: number;
  raRequirements?: { rASignatures: number; rAEKUs?: number[]; rAPolicies?: number[] };
  keyArchival?: { symmetricAlgorithmOIDReference: number; symmetricAlgorithmKeyLength: number };
  extensions?: XcepExtension[];
}

export interface XcepPolicy {
  policyOIDReference: number;
  cAs?: number[];
  attributes: XcepAttributes;
}

export interface XcepResponse {
  policyID: string;
  policyFriendlyName?: string;
  nextUpdateHours?: number;
  policiesNotChanged?: boolean;
  /** Absent (nil) when policiesNotChanged. */
  policies?: XcepPolicy[];
  cAs?: XcepCa[];
  oIDs?: XcepOid[];
}

export const XCEP_ACTION = {
  getPolicies: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies',
  getPoliciesResponse: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPoliciesResponse',
} as const;
