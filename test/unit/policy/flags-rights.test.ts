import { describe, expect, it } from 'vitest';
import type { Principal } from '../../../src/auth/principal.js';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import { ENROLLMENT_FLAG, enrollmentFlags, GENERAL_FLAG, generalFlags, NAME_FLAG, PRIVATE_KEY_FLAG, privateKeyFlags, subjectNameFlags } from '../../../src/policy/flags.js';
import { permissionSetKey, rightsFor, visibleTemplates } from '../../../src/policy/permissions.js';
import type { Template, TemplatePermission } from '../../../src/policy/template.js';
import { decideValidity, inRenewalWindow } from '../../../src/policy/validity.js';

const templates = defaultTemplates('1.3.6.1.4.1.311.21.8.6.6');
const T = (name: string): Template => structuredClone(templates.find((t) => t.name === name)!);

// Each MS-CRTD bit a Windows client acts on, one at a time: a lost PEND_ALL_REQUESTS bit makes
// certreq expect an issued certificate, a lost REQUIRE_* bit lets it send a request the CA refuses.
describe('MS-CRTD flag words, bit by bit (src/policy/flags.ts)', () => {
  it('enrollment flags: each template switch sets its own bit', () => {
    const t = T('User');
    expect(enrollmentFlags(t)).toBe(0);
    t.enrollment = { pendAllRequests: true, autoEnrollment: true, includeSymmetricAlgorithms: true, publishToDs: true, allowKeyBasedRenewal: true, requireSameKeyRenewal: true };
    t.extensions.securityExtension = false;
    expect(enrollmentFlags(t)).toBe(0x1 | 0x2 | 0x8 | 0x20 | 0x10000 | 0x80000);
    t.extensions.securityExtension = true;
    expect(enrollmentFlags(t) & ENROLLMENT_FLAG.NO_SECURITY_EXTENSION).toBe(0);
  });

  it('private key flags: exportable, strong protection, same-key renewal, and the minimum versions of schema 3 and 4', () => {
    const t = T('WebServer');
    expect(privateKeyFlags(t)).toBe(0);
    t.privateKey.strongProtection = true;
    t.enrollment.requireSameKeyRenewal = true;
    expect(privateKeyFlags(t)).toBe(PRIVATE_KEY_FLAG.STRONG_KEY_PROTECTION_REQUIRED | PRIVATE_KEY_FLAG.REQUIRE_SAME_KEY_RENEWAL);
    const v3 = T('WebServerECDSA');
    expect(privateKeyFlags(v3)).toBe(0x03030000);
    v3.schemaVersion = 4;
    expect(privateKeyFlags(v3)).toBe(0x05050000);
  });

  it('general flags: template name and modified always; auto-enrollment and machine type when so', () => {
    const t = T('User');
    expect(generalFlags(t)).toBe(GENERAL_FLAG.ADD_TEMPLATE_NAME | GENERAL_FLAG.IS_MODIFIED);
    t.enrollment.autoEnrollment = true;
    expect(generalFlags(t)).toBe(0x200 | 0x20000 | 0x20);
    // A DNS SAN the enrollee supplies does not make a machine template.
    const web = T('WebServer');
    web.subject.fromIdentity.sanDns = true;
    expect(generalFlags(web) & GENERAL_FLAG.MACHINE_TYPE).toBe(0);
  });

  it('subject name flags: an enrollee-supplied subject without SAN types, identity-built names, and required SANs', () => {
    const noSans = T('WebServer');
    noSans.subject.allowedSanTypes = [];
    expect(subjectNameFlags(noSans)).toBe(NAME_FLAG.ENROLLEE_SUPPLIES_SUBJECT);
    const cnOnly = T('User');
    cnOnly.subject.fromIdentity = { subjectFormat: 'commonName', sanDns: false, sanUpn: false, sanEmail: false };
    expect(subjectNameFlags(cnOnly)).toBe(NAME_FLAG.SUBJECT_REQUIRE_COMMON_NAME);
    cnOnly.subject.fromIdentity.subjectFormat = 'none';
    expect(subjectNameFlags(cnOnly)).toBe(0);
    // A machine's CN is its DNS name, e-mail included when asked.
    const m = T('Machine');
    m.subject.fromIdentity.subjectFormat = 'commonNameAndEmail';
    m.subject.requireSan = [];
    expect(subjectNameFlags(m)).toBe((NAME_FLAG.SUBJECT_REQUIRE_DNS_AS_CN | NAME_FLAG.SUBJECT_REQUIRE_EMAIL | NAME_FLAG.SUBJECT_ALT_REQUIRE_DNS) >>> 0);
    const req = T('WebServer');
    req.subject.requireSan = ['upn'];
    expect(subjectNameFlags(req) & NAME_FLAG.SUBJECT_ALT_REQUIRE_UPN).toBe(NAME_FLAG.SUBJECT_ALT_REQUIRE_UPN);
    req.subject.requireSan = ['email'];
    expect(subjectNameFlags(req)).toBe(NAME_FLAG.ENROLLEE_SUPPLIES_SUBJECT | NAME_FLAG.ENROLLEE_SUPPLIES_SUBJECT_ALT_NAME | NAME_FLAG.SUBJECT_ALT_REQUIRE_EMAIL);
    req.subject.requireSan = ['dns'];
    expect(subjectNameFlags(req)).toBe(NAME_FLAG.ENROLLEE_SUPPLIES_SUBJECT | NAME_FLAG.ENROLLEE_SUPPLIES_SUBJECT_ALT_NAME | NAME_FLAG.SUBJECT_ALT_REQUIRE_DNS);
  });
});

const carol: Principal = { name: 'Carol', groups: ['authenticated', 'PKI-Ops'], method: 'kerberos' };
const withAcl = (permissions: TemplatePermission[], name = 'Acl'): Template => ({ ...T('WebServer'), name, permissions });

// Who may see and enroll in a template: an ACL mistake is an authorization bypass.
describe('template rights (src/policy/permissions.ts)', () => {
  it('matches users and groups case-insensitively, and unions the entries that match', () => {
    const t = withAcl([
      { principal: 'USER:carol', read: true, enroll: false, autoenroll: false },
      { principal: 'group:pki-ops', read: false, enroll: true, autoenroll: false },
      { principal: 'group:nobody', read: false, enroll: false, autoenroll: true },
    ]);
    expect(rightsFor(carol, t)).toEqual({ read: true, enroll: true, autoenroll: false });
  });

  it('an entry without user: or group: names no one, not even a principal of that name', () => {
    expect(rightsFor(carol, withAcl([{ principal: 'carol', read: true, enroll: true, autoenroll: true }]))).toEqual({ read: false, enroll: false, autoenroll: false });
    expect(rightsFor(carol, withAcl([{ principal: 'role:carol', read: true, enroll: true, autoenroll: true }]))).toEqual({ read: false, enroll: false, autoenroll: false });
    // A user entry does not match a group of the same name, nor the reverse.
    expect(rightsFor(carol, withAcl([{ principal: 'user:pki-ops', read: true, enroll: true, autoenroll: true }]))).toEqual({ read: false, enroll: false, autoenroll: false });
    expect(rightsFor(carol, withAcl([{ principal: 'group:carol', read: true, enroll: true, autoenroll: true }]))).toEqual({ read: false, enroll: false, autoenroll: false });
  });

  it('an anonymous caller has no rights, even from an entry naming it or a group it claims; another kind prefix names no group', () => {
    const anon: Principal = { name: 'anonymous', groups: ['authenticated'], method: 'anonymous' };
    expect(rightsFor(anon, withAcl([{ principal: 'user:anonymous', read: true, enroll: true, autoenroll: true }, { principal: 'group:authenticated', read: true, enroll: true, autoenroll: true }]))).toEqual({ read: false, enroll: false, autoenroll: false });
    expect(rightsFor(carol, withAcl([{ principal: 'role:pki-ops', read: true, enroll: true, autoenroll: true }]))).toEqual({ read: false, enroll: false, autoenroll: false });
  });

  it("a partner's principal is held to the partner's scope (by name, case-insensitively) whatever the ACL grants", () => {
    const p: Principal = { ...carol, partner: 'acme' };
    const t = withAcl([{ principal: 'group:authenticated', read: true, enroll: true, autoenroll: false }], 'WebServer');
    expect(rightsFor(p, t, ['webserver'])).toEqual({ read: true, enroll: true, autoenroll: false });
    expect(rightsFor(p, t, ['User'])).toEqual({ read: false, enroll: false, autoenroll: false });
    expect(rightsFor(p, t, [])).toEqual({ read: false, enroll: false, autoenroll: false });
    // The scope confines partners only.
    expect(rightsFor(carol, t, [])).toEqual({ read: true, enroll: true, autoenroll: false });
  });

  it('lists enabled templates the caller may read and enroll or autoenroll in; keys equal rights alike', () => {
    const readOnly = withAcl([{ principal: 'group:authenticated', read: true, enroll: false, autoenroll: false }], 'ReadOnly');
    const enrollNoRead = withAcl([{ principal: 'group:authenticated', read: false, enroll: true, autoenroll: true }], 'EnrollNoRead');
    const auto = withAcl([{ principal: 'group:authenticated', read: true, enroll: false, autoenroll: true }], 'Auto');
    const both = withAcl([{ principal: 'group:authenticated', read: true, enroll: true, autoenroll: true }], 'Both');
    const off = { ...withAcl([{ principal: 'group:authenticated', read: true, enroll: true, autoenroll: false }], 'Off'), enabled: false };
    const v = visibleTemplates(carol, [readOnly, enrollNoRead, auto, both, off]);
    expect(v.map((x) => x.template.name)).toEqual(['Auto', 'Both']);
    expect(permissionSetKey(v)).toBe('Auto:a|Both:ea');
    expect(permissionSetKey([])).toBe('');
  });
});

describe('validity and the renewal window (src/policy/validity.ts)', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  it('backdates a minute for clock skew and ends the template validity after now', () => {
    const t = T('WebServer');
    const v = decideValidity(t, now);
    expect(v.notBefore.toISOString()).toBe('2026-06-01T11:59:00.000Z');
    expect(v.notAfter.getTime() - now.getTime()).toBe(2 * 365 * 86400_000);
  });

  it('is in the window from renewalPeriod before notAfter up to (not including) notAfter', () => {
    const t = T('User'); // 42 days
    const notAfter = new Date('2026-12-01T00:00:00Z');
    const start = notAfter.getTime() - 42 * 86400_000;
    expect(inRenewalWindow(t, notAfter, new Date(start - 1))).toBe(false);
    expect(inRenewalWindow(t, notAfter, new Date(start))).toBe(true);
    expect(inRenewalWindow(t, notAfter, new Date(notAfter.getTime() - 1))).toBe(true);
    expect(inRenewalWindow(t, notAfter, notAfter)).toBe(false);
  });
});
