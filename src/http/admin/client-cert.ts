import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { Core } from '../../app/core-types.js';
import type { RefusalAudit } from '../../audit/refusal-audit.js';
import type { AdminRole } from '../../auth/api-tokens.js';
import type { Principal } from '../../auth/principal.js';
import { OpencesError } from '../../errors.js';
import { certificateSans } from '../../auth/certificate-names.js';

/** Who calls the admin API, by token or by client certificate. */
export interface AdminCaller {
  principal: Principal;
  role: AdminRole;
  /** How they authenticated, for the audit log. */
  method: 'token' | 'certificate';
  /** Token id, or the SHA-256 fingerprint of the certificate. */
  credential: string;
}

export interface AdminCertificateRule {
  subject?: string;
  san?: string;
  fingerprint?: string;
  role: AdminRole;
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ANY_EKU = '2.5.29.37.0';

/** `CN=a, O=b` → sorted `cn=a` pairs (attribute names case-insensitive, order irrelevant). */
export function dnParts(dn: string, separator: RegExp): string[] {
  return dn
    .split(separator)
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const i = p.indexOf('=');
      return i < 0 ? p.toLowerCase() : `${p.slice(0, i).trim().toLowerCase()}=${p.slice(i + 1).trim().replace(/\\(.)/g, '$1')}`;
    })
    .sort();
}

/** The SANs of a certificate as `type:value` with our type names (dns, email, upn, uri, ip), read from its DER. */
export function sanEntries(cert: X509Certificate): string[] {
  return certificateSans(cert).map((s) => `${s.type}:${s.value}`);
}

function matches(rule: AdminCertificateRule, cert: X509Certificate, fingerprint: string): boolean {
  if (rule.fingerprint) return rule.fingerprint === fingerprint;
  if (rule.subject) {
    const want = dnParts(rule.subject, /(?<!\\),/);
    const have = dnParts(cert.subject, /\n/);
    return want.length === have.length && want.every((p, i) => p.toLowerCase() === have[i]!.toLowerCase());
  }
  if (rule.san) {
    const i = rule.san.indexOf(':');
    const type = rule.san.slice(0, i).toLowerCase();
    const value = rule.san.slice(i + 1);
    const exact = type === 'uri' || type === 'upn';
    return sanEntries(cert).some((e) => e.startsWith(`${type}:`) && (exact ? e.slice(type.length + 1) === value : e.slice(type.length + 1).toLowerCase() === value.toLowerCase()));
  }
  return false;
}

/** Reads `admin.trustRoots` at start; a file that is missing or holds no CA certificate stops the server, naming the key. */
export function loadTrustRoots(files: string[]): X509Certificate[] {
  const out: X509Certificate[] = [];
  files.forEach((file, i) => {
    const field = `admin.trustRoots[${i}]`;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new OpencesError('malformed', `configuration: ${field}: cannot read ${file}: ${(e as Error).message}`, { field });
    }
    const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    if (pems.length === 0) throw new OpencesError('malformed', `configuration: ${field}: ${file} holds no PEM certificate`, { field });
    for (const p of pems) {
      const c = new X509Certificate(p);
      if (!c.ca) throw new OpencesError('malformed', `configuration: ${field}: ${c.subject.replace(/\n/g, ', ')} is not a CA certificate`, { field });
      out.push(c);
    }
  });
  return out;
}

/**
 * Admin authentication by TLS client certificate (`admin.certificates` in opences.yaml). The
 * certificate must be one this deployment's issuing CA issued — then the same checks as the
 * `_Certificate` endpoints apply (validity, client-auth EKU, in our records, not revoked, account
 * enabled) and the principal is that account — or chain to one of `admin.trustRoots`. It then
 * needs a rule naming it; the first matching rule gives the role. Partner roots never make admins.
 */
export class AdminCertificateAuth {
  constructor(
    private readonly core: Core,
    private readonly rules: AdminCertificateRule[],
    private readonly roots: X509Certificate[],
    /** Rate-limited audit of admin refusals (refusal-audit.ts); the audit log itself when absent. */
    private readonly refusals?: RefusalAudit,
  ) {}

  get enabled(): boolean {
    return this.rules.length > 0;
  }

  /** The caller, or null when no client certificate was presented. Throws `unauthenticated` for a certificate that is no admin credential. */
  async fromTls(socket: TLSSocket, address: string): Promise<AdminCaller | null> {
    if (!this.enabled || typeof socket.getPeerCertificate !== 'function') return null;
    const peer = socket.getPeerCertificate(true);
    if (!peer?.raw || peer.raw.length === 0) return null;
    const der = new Uint8Array(peer.raw);
    const intermediates: X509Certificate[] = [];
    for (let c = peer.issuerCertificate; c && c.raw && c !== c.issuerCertificate && intermediates.length < 5; c = c.issuerCertificate) intermediates.push(new X509Certificate(c.raw));
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(Buffer.from(der));
    } catch {
      return this.fail(address, 'unreadable client certificate');
    }
    const fingerprint = createHash('sha256').update(der).digest('hex');
    const issuing = new X509Certificate(Buffer.from(this.core.ca.info().issuingCertificate));
    let principal: Principal;
    if (cert.checkIssued(issuing) && cert.verify(issuing.publicKey)) {
      // Our own certificate: the enrollment endpoints' checks (and their auth.failure audit).
      principal = await this.core.certificateAuth.authenticate(der, address);
      if (principal.partner) return this.fail(address, 'partner certificates are not admin credentials');
    } else {
      principal = await this.external(cert, intermediates, address);
    }
    const rule = this.rules.find((r) => matches(r, cert, fingerprint));
    if (!rule) return this.fail(address, `client certificate ${cert.subject.replace(/\n/g, ', ')} (sha256 ${fingerprint}) is not an admin certificate`, principal.name);
    return { principal: { ...principal, method: 'certificate' }, role: rule.role, method: 'certificate', credential: fingerprint };
  }

  private async external(cert: X509Certificate, intermediates: X509Certificate[], address: string): Promise<Principal> {
    const now = this.core.clock.now().getTime();
    if (now < new Date(cert.validFrom).getTime() || now > new Date(cert.validTo).getTime()) return this.fail(address, `admin client certificate ${cert.serialNumber} is expired or not yet valid`);
    const ekus = cert.keyUsage;
    if (ekus && ekus.length && !ekus.includes(CLIENT_AUTH) && !ekus.includes(ANY_EKU)) return this.fail(address, `admin client certificate ${cert.serialNumber} does not allow client authentication`);
    if (!chainsTo(cert, intermediates, this.roots, now)) return this.fail(address, `client certificate ${cert.subject.replace(/\n/g, ', ')} is not issued by a CA trusted for administration`);
    const sans = sanEntries(cert);
    const name = sans.find((s) => s.startsWith('upn:'))?.slice(4) ?? sans.find((s) => s.startsWith('email:'))?.slice(6) ?? /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1] ?? cert.fingerprint256;
    return { name, groups: [], method: 'certificate', certificate: { der: new Uint8Array(cert.raw), serial: cert.serialNumber.toLowerCase(), issuer: cert.issuer, subject: cert.subject } };
  }

  private async fail(address: string, reason: string, principal?: string): Promise<never> {
    const event = { type: 'auth.failure', outcome: 'failure' as const, method: 'certificate', address, reason: `admin API: ${reason}`, ...(principal ? { principal } : {}) };
    await (this.refusals ? this.refusals.record(event) : this.core.audit.record(event));
    throw new OpencesError('unauthenticated', 'the client certificate is not an admin credential; use an API token or an admin certificate');
  }
}

function chainsTo(cert: X509Certificate, intermediates: X509Certificate[], roots: X509Certificate[], now: number, depth = 0): boolean {
  if (depth > 4) return false;
  const valid = (c: X509Certificate) => now >= new Date(c.validFrom).getTime() && now <= new Date(c.validTo).getTime();
  if (roots.some((r) => valid(r) && cert.checkIssued(r) && cert.verify(r.publicKey))) return true;
  return intermediates.some((i) => i.ca && valid(i) && cert.checkIssued(i) && cert.verify(i.publicKey) && chainsTo(i, intermediates.filter((x) => x !== i), roots, now, depth + 1));
}
