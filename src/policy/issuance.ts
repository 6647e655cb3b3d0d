import { createHash } from 'node:crypto';
import type { IssuanceOrder, NameAttribute, SanEntry } from '../ca/types.js';
import { checkSan, validDnsName } from './subject.js';
import type { KeyUsageName, Template } from './template.js';
import { decideValidity } from './validity.js';
import { isSid } from '../auth/sid.js';
import { SID_URL_PREFIX } from '../ca/extensions.js';

/**
 * What a template produces for a request: one pure answer, asked by the RA when it builds an
 * issuance order and again by the CA when it re-checks one (after Boulder, whose CA does not take
 * the RA's word). Nothing here reads a database or a clock of its own.
 */

/** The extensions and lifetime fixed by a template (basic constraints are always cA=FALSE). */
export interface CertificateProfile {
  keyUsage: KeyUsageName[];
  keyUsageCritical: boolean;
  ekus: string[];
  issuancePolicies: string[];
  templateInfo?: { oid: string; majorRevision: number; minorRevision: number };
  /** The longest notAfter − notBefore an order may ask for (the RA backdates a minute for skew). */
  maxLifetimeMs: number;
}

/** The RA backdates notBefore by this much for clock skew (src/policy/validity.ts). */
export const BACKDATE_MS = 60_000;

/** Key usages no end-entity certificate of this CA carries (it issues cA=FALSE only). */
const CA_ONLY_USAGES: ReadonlySet<KeyUsageName> = new Set(['keyCertSign', 'cRLSign']);

/** Certificates the servers make for themselves (src/app/tls.ts): not a template, a fixed profile. */
export const INTERNAL_TLS_PROFILE = 'opences-tls';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

/**
 * The internal TLS profile as a template, so the CA checks its orders with the same rules: a
 * server-authentication certificate for DNS names and IP addresses (enrollee-supplied, as the
 * WebServer template), at most 397 days.
 */
export function internalTlsTemplate(): Template {
  return {
    name: INTERNAL_TLS_PROFILE,
    displayName: 'opences server TLS',
    oid: '1.3.6.1.4.1.311.21.8.0',
    schemaVersion: 2,
    majorRevision: 0,
    minorRevision: 0,
    enabled: true,
    validityPeriodSeconds: 397 * 86400,
    renewalPeriodSeconds: 30 * 86400,
    privateKey: { algorithms: ['ECDSA_P256'], minimalKeyLength: 256, keySpec: 1, exportable: false, providers: [], strongProtection: false },
    subject: { enrolleeSupplies: true, allowedSanTypes: ['dns', 'ip'], fromIdentity: { subjectFormat: 'none', sanDns: false, sanUpn: false, sanEmail: false }, requireSan: [], strict: true },
    enrollment: { pendAllRequests: false, autoEnrollment: false, includeSymmetricAlgorithms: false, publishToDs: false, allowKeyBasedRenewal: false, requireSameKeyRenewal: false },
    extensions: { ekus: [SERVER_AUTH], keyUsage: ['digitalSignature'], keyUsageCritical: true, issuancePolicies: [], templateInformation: false },
    raSignatures: 0,
    raApplicationPolicies: [],
    raIssuancePolicies: [],
    supersededTemplates: [],
    hashAlgorithm: 'SHA256',
    permissions: [],
  };
}

/** The SCEP RA's own certificates (src/app/scep-ra.ts), as NDES has them: one to sign CertReps, one to receive requests. */
export const INTERNAL_SCEP_RA_SIGN_PROFILE = 'opences-scep-ra-sign';
export const INTERNAL_SCEP_RA_ENCRYPT_PROFILE = 'opences-scep-ra-encrypt';
/** Certificate Request Agent (NDES's "Exchange Enrollment Agent (Offline request)" and "CEP Encryption" carry it). */
const CERTIFICATE_REQUEST_AGENT = '1.3.6.1.4.1.311.20.2.1';

/** An RSA key (SCEP encrypts to RSA only), a subject name and no SAN, two years, one key usage. */
export function internalScepRaTemplate(kind: 'sign' | 'encrypt'): Template {
  const t = internalTlsTemplate();
  return {
    ...t,
    name: kind === 'sign' ? INTERNAL_SCEP_RA_SIGN_PROFILE : INTERNAL_SCEP_RA_ENCRYPT_PROFILE,
    displayName: kind === 'sign' ? 'opences SCEP RA signing' : 'opences SCEP RA encryption',
    validityPeriodSeconds: 2 * 365 * 86400,
    privateKey: { ...t.privateKey, algorithms: ['RSA'], minimalKeyLength: 2048 },
    subject: { ...t.subject, allowedSanTypes: [] },
    extensions: { ...t.extensions, ekus: [CERTIFICATE_REQUEST_AGENT], keyUsage: [kind === 'sign' ? 'digitalSignature' : 'keyEncipherment'] },
  };
}

/** Fixed profiles of the servers' own certificates, by name. */
export function internalTemplates(): Map<string, Template> {
  return new Map([internalTlsTemplate(), internalScepRaTemplate('sign'), internalScepRaTemplate('encrypt')].map((t) => [t.name, t]));
}

export function templateProfile(t: Template): CertificateProfile {
  return {
    keyUsage: t.extensions.keyUsage,
    keyUsageCritical: t.extensions.keyUsageCritical,
    ekus: t.extensions.ekus,
    issuancePolicies: t.extensions.issuancePolicies,
    ...(t.extensions.templateInformation ? { templateInfo: { oid: t.oid, majorRevision: t.majorRevision, minorRevision: t.minorRevision } } : {}),
    maxLifetimeMs: t.validityPeriodSeconds * 1000 + BACKDATE_MS,
  };
}

/** The profile part of an issuance order (everything but names, key and requester) for `t` at `now`. */
export function orderProfile(t: Template, now: Date): { template: string; templateInfo?: CertificateProfile['templateInfo']; keyUsage: KeyUsageName[]; keyUsageCritical: boolean; ekus: string[]; issuancePolicies: string[]; notBefore: Date; notAfter: Date } {
  const p = templateProfile(t);
  const v = decideValidity(t, now);
  return {
    template: t.name,
    ...(p.templateInfo ? { templateInfo: p.templateInfo } : {}),
    keyUsage: p.keyUsage,
    keyUsageCritical: p.keyUsageCritical,
    ekus: p.ekus,
    issuancePolicies: p.issuancePolicies,
    notBefore: v.notBefore,
    notAfter: v.notAfter,
  };
}

/**
 * Deployment-wide name constraints the CA applies to every DNS name it certifies (SAN dNSName and
 * a subject CN that is a host name), whatever the template: a name must lie under one of
 * `permittedDnsSuffixes` (when any are listed) and under none of `excludedDnsSuffixes`.
 * A suffix `example.com` covers `example.com` and every name below it.
 */
export interface NameConstraints {
  permittedDnsSuffixes: string[];
  excludedDnsSuffixes: string[];
}

/** What the CA re-checks an order against: the order's claims about itself. */
export type OrderClaims = Pick<IssuanceOrder, 'template' | 'subject' | 'sans' | 'keyUsage' | 'keyUsageCritical' | 'ekus' | 'issuancePolicies' | 'notBefore' | 'notAfter' | 'requester' | 'sid'>;

/** A refusal: why, and whether a fresher copy of the template could change the answer. */
export interface OrderRefusal {
  reason: string;
  /** The order's profile differs from the template's: a template edited moments ago may explain it. */
  profile: boolean;
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && new Set(a).size === a.length && a.every((x) => b.includes(x));

/**
 * Whether `order` asks for exactly what `t` produces: the template's EKUs, key usage, issuance
 * policies (no more, no fewer), a lifetime no longer than its validity (a later start is no
 * longer a lifetime), names by its rules (and the deployment's name constraints). Null when it does; the first reason when it does not.
 */
export function checkOrder(t: Template, order: OrderClaims, o: { nameConstraints?: NameConstraints }): OrderRefusal | null {
  const p = templateProfile(t);
  const profile = (reason: string): OrderRefusal => ({ reason, profile: true });
  const names = (reason: string): OrderRefusal => ({ reason, profile: false });
  const caOnly = order.keyUsage.filter((u) => CA_ONLY_USAGES.has(u));
  if (caOnly.length) return names(`the order asks for ${caOnly.join(', ')}: this CA issues end-entity certificates only`);
  if (!sameSet(order.ekus, p.ekus)) return profile(`the order's extended key usages [${order.ekus.join(', ')}] are not the template ${t.name}'s [${p.ekus.join(', ')}]`);
  if (!sameSet(order.keyUsage, p.keyUsage) || order.keyUsageCritical !== p.keyUsageCritical) return profile(`the order's key usage [${order.keyUsage.join(', ')}] is not the template ${t.name}'s [${p.keyUsage.join(', ')}]`);
  if (!sameSet(order.issuancePolicies, p.issuancePolicies)) return profile(`the order's issuance policies [${order.issuancePolicies.join(', ')}] are not the template ${t.name}'s`);
  const lifetime = order.notAfter.getTime() - order.notBefore.getTime();
  if (!(lifetime > 0)) return names('the order ends before it starts');
  if (lifetime > p.maxLifetimeMs) return profile(`the order asks for ${Math.ceil(lifetime / 86400_000)} days of validity; the template ${t.name} allows ${Math.floor(t.validityPeriodSeconds / 86400)}`);
  const bad = checkNames(t, order);
  if (bad) return names(bad);
  if (order.sid !== undefined) {
    if (!isSid(order.sid)) return names(`the order's SID ${JSON.stringify(order.sid.slice(0, 80))} is not a SID`);
    if (t.extensions.securityExtension === false && t.extensions.sidUrl !== true) return profile(`the template ${t.name} puts no SID in its certificates`);
  }
  // The SID URL is the CA's to add (from the order's SID), never a name an order brings.
  if (order.sans.some((s) => s.type === 'uri' && s.value.toLowerCase().startsWith(SID_URL_PREFIX))) return names('the order names a SID URL itself; the CA adds it from the recorded SID');
  if (o.nameConstraints) {
    // The servers' own TLS certificates always name localhost (src/app/tls.ts).
    const outside = dnsNamesOf(order).find((n) => !withinConstraints(n, o.nameConstraints!) && !(t.name === INTERNAL_TLS_PROFILE && n === 'localhost'));
    if (outside !== undefined) return names(`the name ${outside} is outside the deployment's name constraints (ca.nameConstraints)`);
  }
  return null;
}

/** Names of an order that are DNS names: dNSName SANs and CNs that are host names. */
function dnsNamesOf(order: Pick<OrderClaims, 'subject' | 'sans'>): string[] {
  const out = order.sans.filter((s) => s.type === 'dns').map((s) => s.value.toLowerCase());
  for (const a of order.subject) if (a.type === 'CN' && a.value.includes('.') && validDnsName(a.value)) out.push(a.value.toLowerCase());
  return out;
}

const under = (name: string, suffix: string): boolean => {
  const s = suffix.toLowerCase().replace(/^\*?\.+/, '');
  const n = name.replace(/^\*\./, '');
  return n === s || n.endsWith(`.${s}`);
};

export function withinConstraints(name: string, c: NameConstraints): boolean {
  if (c.excludedDnsSuffixes.some((s) => under(name, s))) return false;
  return c.permittedDnsSuffixes.length === 0 || c.permittedDnsSuffixes.some((s) => under(name, s));
}

/** The parts of a requester name identity-built names are made of (src/policy/subject.ts fromIdentity). */
function requesterForms(requester: string): { raw: string; full: string; local: string; hosts: string[] } {
  const raw = requester.toLowerCase();
  // A partner's principal is `partner:<partner>/<mapped name>`; names come from the mapped name.
  const base = raw.replace(/^partner:[^/]*\//, '');
  const at = base.lastIndexOf('@');
  const local = at >= 0 ? base.slice(0, at) : base;
  const realm = at >= 0 ? base.slice(at + 1) : '';
  const hosts = [base];
  // Kerberos computers (src/auth/negotiate.ts): host/<fqdn>@REALM, or AD's NAME$@REALM → name.realm.
  if (local.startsWith('host/') && local.length > 5) hosts.push(local.slice(5));
  if (local.endsWith('$') && local.length > 1 && realm) hosts.push(`${local.slice(0, -1)}.${realm}`);
  return { raw, full: base, local, hosts };
}

/** Names by the template's rules; a reason when they break them. */
function checkNames(t: Template, order: Pick<OrderClaims, 'subject' | 'sans' | 'requester'>): string | null {
  if (order.subject.length === 0 && order.sans.length === 0) return 'the order has neither a subject nor a subject alternative name';
  for (const kind of t.subject.requireSan) if (!order.sans.some((s) => s.type === kind)) return `the template ${t.name} requires a ${kind.toUpperCase()} subject alternative name`;
  if (t.subject.enrolleeSupplies) {
    const other = order.sans.find((s) => !t.subject.allowedSanTypes.includes(s.type));
    if (other) return `the template ${t.name} does not allow ${other.type} names (it allows ${t.subject.allowedSanTypes.join(', ') || 'none'})`;
    for (const s of order.sans) {
      const bad = checkSan(s);
      if (bad) return bad;
    }
    return null;
  }
  // Built from the requester's identity: only the attributes and SAN kinds the template builds,
  // each once, and those that name someone must name the recorded requester.
  const f = t.subject.fromIdentity;
  const subjectTypes = new Set<string>(f.subjectFormat === 'none' ? [] : f.subjectFormat === 'commonName' ? ['CN'] : ['CN', 'E']);
  const seen = new Set<string>();
  for (const a of order.subject) {
    if (!subjectTypes.has(a.type)) return `the template ${t.name} builds the subject from the requester's identity; it has no ${a.type} attribute`;
    if (seen.has(a.type)) return `the subject repeats ${a.type}`;
    seen.add(a.type);
  }
  const sanTypes = new Set<string>([...(f.sanDns ? ['dns'] : []), ...(f.sanUpn ? ['upn'] : []), ...(f.sanEmail ? ['email'] : [])]);
  const seenSan = new Set<string>();
  for (const s of order.sans) {
    if (!sanTypes.has(s.type)) return `the template ${t.name} builds names from the requester's identity; it has no ${s.type} names`;
    if (seenSan.has(s.type)) return `the template ${t.name} builds one ${s.type} name, not several`;
    seenSan.add(s.type);
  }
  const who = requesterForms(order.requester);
  const dns = order.sans.find((s) => s.type === 'dns')?.value.toLowerCase();
  if (dns !== undefined && !who.hosts.includes(dns)) return `the DNS name ${dns} is not the requester ${order.requester}'s`;
  const upn = order.sans.find((s) => s.type === 'upn')?.value.toLowerCase();
  // A realm-qualified requester (a Kerberos principal, a partner's user, alice@domain) is its own
  // UPN; a plain account name may carry the deployment's domain (auth.domains), which the CA does not know.
  const qualified = who.full.includes('@');
  if (upn !== undefined && upn !== who.raw && upn !== who.full && (qualified || upn.slice(0, upn.lastIndexOf('@')) !== who.local)) return `the user principal name ${upn} is not the requester ${order.requester}'s`;
  const cn = order.subject.find((a) => a.type === 'CN')?.value.toLowerCase();
  // The RA cuts a CN at 64 characters (the X.520 upper bound).
  if (cn !== undefined && ![who.raw, who.full, who.local, ...who.hosts, ...(dns ? [dns] : [])].some((n) => n.slice(0, 64) === cn)) return `the common name ${cn} is not the requester ${order.requester}'s`;
  const e = order.subject.find((a) => a.type === 'E')?.value.toLowerCase();
  const email = order.sans.find((s) => s.type === 'email')?.value.toLowerCase();
  if (e !== undefined && email !== undefined && e !== email) return 'the subject e-mail address and the e-mail SAN differ';
  return null;
}

/**
 * What a certificate manager's approval binds (stored in request_approvals.order_digest): the
 * template, requester, certificate request and names. The CA signs an approval-bound request only
 * with an approval whose digest is this order's, so a request edited after the approval, or an
 * order with other names, is not covered by it.
 */
export function approvalDigest(o: { template: string; requester: string; csrDer: Uint8Array; subject: NameAttribute[]; sans: SanEntry[] }): string {
  const csr = createHash('sha256').update(o.csrDer).digest('hex');
  const canonical = JSON.stringify([o.template, o.requester, csr, o.subject.map((a) => [a.type, a.value]), o.sans.map((s) => [s.type, s.value.toLowerCase()])]);
  return createHash('sha256').update(canonical).digest('hex');
}
