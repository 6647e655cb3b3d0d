import { isIP } from 'node:net';
import type { Principal } from '../auth/principal.js';
import type { NameAttribute, SanEntry } from '../ca/types.js';
import { HRESULT } from '../errors.js';
import type { Template } from './template.js';

export type SubjectDecision =
  | { subject: NameAttribute[]; sans: SanEntry[]; dropped: { subject?: NameAttribute[]; sans?: SanEntry[] } }
  | { refused: true; reason: string; hresult: number };

const refuse = (reason: string, hresult: number = HRESULT.CERTSRV_E_BAD_REQUESTSUBJECT): SubjectDecision => ({ refused: true, reason, hresult });

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

export function validDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253 || name.endsWith('.')) return false;
  const labels = name.split('.');
  if (labels.length < 1) return false;
  return labels.every((l, i) => (i === 0 && l === '*' && labels.length > 2) || LABEL.test(l));
}

const EMAIL = /^[^\s@<>()[\]\\,;:"]{1,64}@[a-z0-9.-]{1,253}$/i;

export function checkSan(s: SanEntry): string | null {
  switch (s.type) {
    case 'dns':
      return validDnsName(s.value) ? null : `"${s.value}" is not a valid DNS name`;
    case 'ip':
      return isIP(s.value) ? null : `"${s.value}" is not an IP address`;
    case 'email':
      return EMAIL.test(s.value) ? null : `"${s.value}" is not an e-mail address`;
    case 'upn':
      return EMAIL.test(s.value) ? null : `"${s.value}" is not a user principal name`;
    case 'uri':
      return /^[a-z][a-z0-9+.-]*:[^\s]+$/i.test(s.value) ? null : `"${s.value}" is not a URI`;
  }
}

/** Subject and SANs built from the requester's identity (ADCS "Build from this Active Directory information"). */
function fromIdentity(p: Principal, t: Template): { subject: NameAttribute[]; sans: SanEntry[] } {
  const f = t.subject.fromIdentity;
  const subject: NameAttribute[] = [];
  const cn = f.sanDns && p.dnsName ? p.dnsName : (p.displayName ?? p.name);
  if (f.subjectFormat !== 'none') subject.push({ type: 'CN', value: cn.slice(0, 64) });
  if (f.subjectFormat === 'commonNameAndEmail' && p.email) subject.push({ type: 'E', value: p.email });
  const sans: SanEntry[] = [];
  if (f.sanDns && p.dnsName) sans.push({ type: 'dns', value: p.dnsName });
  if (f.sanUpn) sans.push({ type: 'upn', value: p.upn ?? p.name });
  if (f.sanEmail && p.email) sans.push({ type: 'email', value: p.email });
  return { subject, sans };
}

const sameSans = (a: SanEntry[], b: SanEntry[]): boolean => a.length === b.length && a.every((x) => b.some((y) => y.type === x.type && y.value.toLowerCase() === x.value.toLowerCase()));
const sameSubject = (a: NameAttribute[], b: NameAttribute[]): boolean => a.length === b.length && a.every((x, i) => x.type === b[i]!.type && x.value === b[i]!.value);

/**
 * What goes into the certificate's subject and SAN. When the template lets the enrollee supply
 * them, the request's values are checked and used (SAN types outside the allowed list dropped);
 * otherwise they are built from the caller's identity and whatever the request asked for is
 * dropped — and recorded — or, in strict mode, the request is refused.
 */
export function decideSubject(o: { principal: Principal; template: Template; requestedSubject: NameAttribute[]; requestedSans: SanEntry[] }): SubjectDecision {
  const t = o.template;
  let subject: NameAttribute[];
  let sans: SanEntry[];
  const dropped: { subject?: NameAttribute[]; sans?: SanEntry[] } = {};

  if (t.subject.enrolleeSupplies) {
    subject = o.requestedSubject.filter((a) => a.value.length > 0);
    const allowed = o.requestedSans.filter((s) => t.subject.allowedSanTypes.includes(s.type as 'dns'));
    const refused = o.requestedSans.filter((s) => !allowed.includes(s));
    if (refused.length) {
      if (t.subject.strict) return refuse(`the template ${t.name} does not allow the enrollee to supply ${[...new Set(refused.map((s) => s.type))].join(', ')} names`);
      dropped.sans = refused;
    }
    for (const s of allowed) {
      const bad = checkSan(s);
      if (bad) return refuse(bad);
    }
    sans = allowed.map((s) => (s.type === 'dns' ? { type: 'dns', value: s.value.toLowerCase() } : s));
    // A CN that looks like a host name must be a valid one.
    for (const a of subject) {
      if (a.type === 'CN' && /^[^\s]+\.[^\s]+$/.test(a.value) && !a.value.includes('@') && !validDnsName(a.value) && t.extensions.ekus.includes('1.3.6.1.5.5.7.3.1')) return refuse(`the common name "${a.value}" is not a valid DNS name`);
    }
  } else {
    const built = fromIdentity(o.principal, t);
    subject = built.subject;
    sans = built.sans;
    const askedSubject = o.requestedSubject.length > 0 && !sameSubject(o.requestedSubject, subject);
    const askedSans = o.requestedSans.length > 0 && !sameSans(o.requestedSans, sans);
    if (t.subject.strict && (askedSubject || askedSans)) {
      return refuse(`the template ${t.name} builds the subject from the requester's identity; the request may not supply ${askedSans ? 'subject alternative names' : 'a subject'}`);
    }
    if (askedSubject) dropped.subject = o.requestedSubject;
    if (askedSans) dropped.sans = o.requestedSans;
  }

  for (const kind of t.subject.requireSan) {
    if (!sans.some((s) => s.type === kind)) {
      const h = kind === 'dns' ? HRESULT.CERTSRV_E_SUBJECT_DNS_REQUIRED : kind === 'upn' ? HRESULT.CERTSRV_E_SUBJECT_UPN_REQUIRED : HRESULT.CERTSRV_E_SUBJECT_EMAIL_REQUIRED;
      return refuse(`the template ${t.name} requires a ${kind.toUpperCase()} subject alternative name, and none is available`, h);
    }
  }
  if (subject.length === 0 && sans.length === 0) return refuse('the certificate would have neither a subject nor a subject alternative name', HRESULT.CERTSRV_E_SUBJECT_ALT_NAME_REQUIRED);
  return { subject, sans, dropped };
}
