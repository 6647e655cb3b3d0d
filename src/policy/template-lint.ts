import type { Template } from './template.js';

/**
 * Template safety lint: the template shapes that Certipy (`find -vulnerable`) and Locksmith report
 * as ESC classes, judged on our template model. Pure: a template (and the deployment's issuance
 * policy → group links, if any) in, findings out. Run by `opences template lint`, and on every
 * template write (import, create, replace), which refuses a template with findings unless each
 * finding's id is accepted by name (audited).
 *
 * Definitions follow Certipy's (certipy/commands/find.py): a template is exploitable by
 * "enrollable by broad groups" callers when it is enabled, needs no manager approval and no
 * enrollment-agent signature.
 */
export type LintId = 'ESC1' | 'ESC2' | 'ESC3' | 'ESC9' | 'ESC13' | 'ESC15';

export interface LintFinding {
  id: LintId;
  template: string;
  /** Why the shape is dangerous here, naming the parts of the template that make it. */
  reason: string;
  /** What to change so the finding goes away. */
  fix: string;
}

export interface LintOptions {
  /**
   * Issuance policy OIDs linked to a directory group (AD msDS-OIDToGroupLink): a certificate with
   * such a policy makes its holder a member of the group when it logs on (ESC13).
   */
  issuancePolicyGroupLinks?: Record<string, string>;
}

export const EKU_OID = {
  clientAuth: '1.3.6.1.5.5.7.3.2',
  pkinitClient: '1.3.6.1.5.2.3.4',
  smartcardLogon: '1.3.6.1.4.1.311.20.2.2',
  anyPurpose: '2.5.29.37.0',
  certificateRequestAgent: '1.3.6.1.4.1.311.20.2.1',
} as const;

/** EKUs a domain accepts for logon (Certipy's "Client Authentication"), any purpose included. */
const AUTH_EKUS: ReadonlySet<string> = new Set([EKU_OID.clientAuth, EKU_OID.pkinitClient, EKU_OID.smartcardLogon, EKU_OID.anyPurpose]);

/**
 * Groups nearly everyone is in (Certipy's low-privileged enrollees): our built-in `authenticated`,
 * AD's Authenticated Users, Everyone, Domain Users, Domain Computers, Users — by name or SID
 * (S-1-5-11, S-1-1-0, S-1-5-32-545, and the domain RIDs 513, 515).
 */
export function isBroadGroup(group: string): boolean {
  const g = group.toLowerCase();
  if (['authenticated', 'authenticated users', 'everyone', 'domain users', 'domain computers', 'users', 's-1-5-11', 's-1-1-0', 's-1-5-32-545', 's-1-5-7'].includes(g)) return true;
  if (/^s-1-5-21-\d+-\d+-\d+-(513|515)$/.test(g)) return true;
  // `DOMAIN\Domain Users` or `ldap:Domain Users` spellings.
  const bare = g.replace(/^[^\\:]*[\\:]/, '');
  return bare !== g && isBroadGroup(bare);
}

/** The broad groups that may enroll (enroll or autoenroll) in `t`. */
function broadEnrollees(t: Template): string[] {
  return t.permissions.filter((p) => (p.enroll || p.autoenroll) && p.principal.toLowerCase().startsWith('group:') && isBroadGroup(p.principal.slice(6))).map((p) => p.principal);
}

/** Issued without a human or an enrollment agent in the way (Certipy: no manager approval, no authorized signatures). */
function unattended(t: Template): boolean {
  return !t.enrollment.pendAllRequests && t.raSignatures === 0;
}

export function hasAuthenticationEku(t: Template): boolean {
  // No EKU at all means any purpose to Windows (Certipy counts it as client authentication).
  return t.extensions.ekus.length === 0 || t.extensions.ekus.some((e) => AUTH_EKUS.has(e));
}

/** The template's findings, in ESC order; [] for a safe one. */
export function lintTemplate(t: Template, o: LintOptions = {}): LintFinding[] {
  const out: LintFinding[] = [];
  const add = (id: LintId, reason: string, fix: string) => out.push({ id, template: t.name, reason, fix });
  const broad = broadEnrollees(t);
  const exposed = unattended(t) && broad.length > 0;
  const who = broad.join(', ');
  const ekus = t.extensions.ekus;
  const supplies = t.subject.enrolleeSupplies;

  if (supplies && hasAuthenticationEku(t) && exposed) {
    add(
      'ESC1',
      `the enrollee supplies the subject${t.subject.allowedSanTypes.length ? ` and ${t.subject.allowedSanTypes.join('/')} names` : ''}, the certificate ${ekus.length ? `has an authentication EKU (${ekus.filter((e) => AUTH_EKUS.has(e)).join(', ')})` : 'has no EKU (any purpose)'}, no manager approves it, and ${who} may enroll: anyone there can get a logon certificate naming any account`,
      'build the subject from the directory (subject.enrolleeSupplies: false), or drop the authentication EKUs, or set enrollment.pendAllRequests, or grant enroll to a narrow group only',
    );
  }
  if ((ekus.length === 0 || ekus.includes(EKU_OID.anyPurpose)) && exposed) {
    add(
      'ESC2',
      `the certificate ${ekus.length === 0 ? 'has no EKU' : 'has the any-purpose EKU (2.5.29.37.0)'}, so it is good for every purpose (logon, enrollment agent, code signing), no manager approves it, and ${who} may enroll`,
      'list the EKUs the certificates are for (extensions.ekus), or set enrollment.pendAllRequests, or grant enroll to a narrow group only',
    );
  }
  if (ekus.includes(EKU_OID.certificateRequestAgent) && exposed) {
    add(
      'ESC3',
      `the certificate has the Certificate Request Agent EKU (1.3.6.1.4.1.311.20.2.1), no manager approves it, and ${who} may enroll: its holder can request certificates on behalf of any other user`,
      'grant enroll to the enrollment agents\' own group only, or set enrollment.pendAllRequests (and restrict agents on the CA)',
    );
  }
  if (t.extensions.securityExtension === false && hasAuthenticationEku(t)) {
    add(
      'ESC9',
      'the template leaves out the SID security extension (CT_FLAG_NO_SECURITY_EXTENSION) on a certificate good for authentication: domain controllers then map it weakly, by name, to whichever account holds that name when it is used',
      'remove extensions.securityExtension: false (the SID extension is then added for directory accounts)',
    );
  }
  const linked = t.extensions.issuancePolicies.filter((p) => o.issuancePolicyGroupLinks?.[p] !== undefined);
  if (linked.length && exposed) {
    add(
      'ESC13',
      `the issuance polic${linked.length > 1 ? 'ies' : 'y'} ${linked.map((p) => `${p} (linked to group ${o.issuancePolicyGroupLinks![p]})`).join(', ')} make${linked.length > 1 ? '' : 's'} every holder a member of that group at logon, and enrollment needs no approval`,
      'remove the group link from the issuance policy OID, or the policy from the template, or set enrollment.pendAllRequests and grant enroll only to the group\'s own members',
    );
  }
  if (t.schemaVersion === 1 && supplies && exposed) {
    add(
      'ESC15',
      `a schema-1 template with an enrollee-supplied subject: Windows CAs take application policies (EKUs) from such requests (CVE-2024-49019), so ${who} can ask for client authentication or a request agent on top of ${ekus.join(', ') || 'the template\'s EKUs'}`,
      'raise the template to schemaVersion 2 or later (a duplicate, as ADCS does), or build the subject from the directory',
    );
  }
  return out;
}

/** The findings not covered by an accepted risk (ids compared case-insensitively). */
export function unacceptedFindings(findings: readonly LintFinding[], acceptRisk: readonly string[]): LintFinding[] {
  const ok = new Set(acceptRisk.map((r) => r.toUpperCase()));
  return findings.filter((f) => !ok.has(f.id));
}

export function formatFinding(f: LintFinding): string {
  return `${f.template}: ${f.id}: ${f.reason}\n  fix: ${f.fix}`;
}
