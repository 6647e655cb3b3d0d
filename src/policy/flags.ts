import type { Template } from './template.js';

/**
 * MS-CRTD flag words carried by MS-XCEP (§3.1.4.1.3.x attributes), derived from the semantic
 * template — never stored twice. Bit values: MS-CRTD 2.26 (msPKI-Enrollment-Flag), 2.27
 * (msPKI-Private-Key-Flag), 2.28 (msPKI-Certificate-Name-Flag), 2.15 (flags).
 */
export const NAME_FLAG = {
  ENROLLEE_SUPPLIES_SUBJECT: 0x00000001,
  ADD_EMAIL: 0x00000002,
  ENROLLEE_SUPPLIES_SUBJECT_ALT_NAME: 0x00010000,
  SUBJECT_ALT_REQUIRE_DOMAIN_DNS: 0x00400000,
  SUBJECT_ALT_REQUIRE_UPN: 0x02000000,
  SUBJECT_ALT_REQUIRE_EMAIL: 0x04000000,
  SUBJECT_ALT_REQUIRE_DNS: 0x08000000,
  SUBJECT_REQUIRE_DNS_AS_CN: 0x10000000,
  SUBJECT_REQUIRE_EMAIL: 0x20000000,
  SUBJECT_REQUIRE_COMMON_NAME: 0x40000000,
  SUBJECT_REQUIRE_DIRECTORY_PATH: 0x80000000,
} as const;

export const ENROLLMENT_FLAG = {
  INCLUDE_SYMMETRIC_ALGORITHMS: 0x00000001,
  PEND_ALL_REQUESTS: 0x00000002,
  PUBLISH_TO_DS: 0x00000008,
  AUTO_ENROLLMENT: 0x00000020,
  ALLOW_PREVIOUS_APPROVAL_KEYBASEDRENEWAL_VALIDATE_REENROLLMENT: 0x00010000,
  /** CT_FLAG_NO_SECURITY_EXTENSION: no szOID_NTDS_CA_SECURITY_EXT in issued certificates. */
  NO_SECURITY_EXTENSION: 0x00080000,
} as const;

export const PRIVATE_KEY_FLAG = {
  REQUIRE_PRIVATE_KEY_ARCHIVAL: 0x00000001,
  EXPORTABLE_KEY: 0x00000010,
  STRONG_KEY_PROTECTION_REQUIRED: 0x00000020,
  REQUIRE_SAME_KEY_RENEWAL: 0x00000080,
  /** bits 16–19: minimum CA (server) version; bits 24–27: minimum client version. */
  SERVER_VERSION_SHIFT: 16,
  CLIENT_VERSION_SHIFT: 24,
} as const;

export const GENERAL_FLAG = {
  AUTO_ENROLLMENT: 0x00000020,
  MACHINE_TYPE: 0x00000040,
  IS_CA: 0x00000080,
  ADD_TEMPLATE_NAME: 0x00000200,
  IS_MODIFIED: 0x00020000,
} as const;

export function isMachineTemplate(t: Template): boolean {
  return t.subject.fromIdentity.sanDns && !t.subject.enrolleeSupplies;
}

export function subjectNameFlags(t: Template): number {
  let f = 0;
  const s = t.subject;
  if (s.enrolleeSupplies) {
    f |= NAME_FLAG.ENROLLEE_SUPPLIES_SUBJECT;
    if (s.allowedSanTypes.length) f |= NAME_FLAG.ENROLLEE_SUPPLIES_SUBJECT_ALT_NAME;
  } else {
    const id = s.fromIdentity;
    if (id.subjectFormat === 'commonName' || id.subjectFormat === 'commonNameAndEmail') f |= isMachineTemplate(t) ? NAME_FLAG.SUBJECT_REQUIRE_DNS_AS_CN : NAME_FLAG.SUBJECT_REQUIRE_COMMON_NAME;
    if (id.subjectFormat === 'commonNameAndEmail') f |= NAME_FLAG.SUBJECT_REQUIRE_EMAIL;
    if (id.sanDns) f |= NAME_FLAG.SUBJECT_ALT_REQUIRE_DNS;
    if (id.sanUpn) f |= NAME_FLAG.SUBJECT_ALT_REQUIRE_UPN;
    if (id.sanEmail) f |= NAME_FLAG.SUBJECT_ALT_REQUIRE_EMAIL;
  }
  for (const k of s.requireSan) f |= k === 'dns' ? NAME_FLAG.SUBJECT_ALT_REQUIRE_DNS : k === 'upn' ? NAME_FLAG.SUBJECT_ALT_REQUIRE_UPN : NAME_FLAG.SUBJECT_ALT_REQUIRE_EMAIL;
  return f >>> 0;
}

export function enrollmentFlags(t: Template): number {
  let f = 0;
  const e = t.enrollment;
  if (e.includeSymmetricAlgorithms) f |= ENROLLMENT_FLAG.INCLUDE_SYMMETRIC_ALGORITHMS;
  if (e.pendAllRequests) f |= ENROLLMENT_FLAG.PEND_ALL_REQUESTS;
  if (e.publishToDs) f |= ENROLLMENT_FLAG.PUBLISH_TO_DS;
  if (e.autoEnrollment) f |= ENROLLMENT_FLAG.AUTO_ENROLLMENT;
  if (e.allowKeyBasedRenewal) f |= ENROLLMENT_FLAG.ALLOW_PREVIOUS_APPROVAL_KEYBASEDRENEWAL_VALIDATE_REENROLLMENT;
  if (t.extensions.securityExtension === false) f |= ENROLLMENT_FLAG.NO_SECURITY_EXTENSION;
  return f >>> 0;
}

/** Minimum client/server versions by schema version (MS-CRTD 2.27: 1 = Windows 2003/XP … ). */
export function privateKeyFlags(t: Template): number {
  let f = 0;
  if (t.privateKey.exportable) f |= PRIVATE_KEY_FLAG.EXPORTABLE_KEY;
  if (t.privateKey.strongProtection) f |= PRIVATE_KEY_FLAG.STRONG_KEY_PROTECTION_REQUIRED;
  if (t.enrollment.requireSameKeyRenewal) f |= PRIVATE_KEY_FLAG.REQUIRE_SAME_KEY_RENEWAL;
  if (t.schemaVersion >= 3) {
    const v = t.schemaVersion === 3 ? 3 : 5;
    f |= (v << PRIVATE_KEY_FLAG.SERVER_VERSION_SHIFT) | (v << PRIVATE_KEY_FLAG.CLIENT_VERSION_SHIFT);
  }
  return f >>> 0;
}

export function generalFlags(t: Template): number {
  let f = GENERAL_FLAG.ADD_TEMPLATE_NAME | GENERAL_FLAG.IS_MODIFIED;
  if (t.enrollment.autoEnrollment) f |= GENERAL_FLAG.AUTO_ENROLLMENT;
  if (isMachineTemplate(t)) f |= GENERAL_FLAG.MACHINE_TYPE;
  return f >>> 0;
}
