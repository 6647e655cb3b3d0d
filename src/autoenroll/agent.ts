import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { pem } from '../ca/init.js';
import type { Clock } from '../clock.js';
import { EnrollmentClient, type EnrollResult, type PolicyTemplate } from '../client/enrollment-client.js';
import { EnrollmentDenied } from '../client/errors.js';
import { buildCsr, newKeyPair, parseSan, parseSubject } from '../client/request-builder.js';
import { CLIENT_AUTH_LABEL, CLIENT_AUTH_VALUE, type SoapTransport } from '../client/transport.js';
import { OpencesError } from '../errors.js';
import { buildSignedData } from '../protocol/pkcs7/build.js';
import type { AutoenrollConfig, AutoenrollEntry } from './config.js';

export type Action = 'none' | 'enrolled' | 'renewed' | 'pending' | 'still-pending' | 'denied';

export interface EntryResult {
  template: string;
  cert: string;
  action: Action;
  message: string;
}

interface PendingState {
  requestId: string;
  cesUrl: string;
  /** The new key waits here (0600) until its certificate arrives. */
  keyFile: string;
  renewal: boolean;
}

function writeAtomic(path: string, content: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, path);
}

/**
 * Linux auto-enrollment: keeps each configured certificate present and fresh. Missing → enroll;
 * inside the template's renewal window → renew (a PKCS#7 signed with the current key, so the CA
 * can tell it is a renewal); pending → poll on the next pass. Keys are generated here and written
 * 0600; key, certificate and chain are replaced atomically, and only after a certificate arrives.
 */
export class AutoenrollAgent {
  constructor(
    private readonly config: AutoenrollConfig,
    private readonly transport: SoapTransport,
    private readonly clock: Clock,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  async runOnce(): Promise<EntryResult[]> {
    const client = new EnrollmentClient(this.transport);
    let templates: PolicyTemplate[];
    try {
      ({ templates } = await client.getPolicies(this.config.cep));
    } catch (e) {
      throw new OpencesError('unavailable', `cannot read the enrollment policy from ${this.config.cep}: ${e instanceof Error ? e.message : String(e)}; nothing was changed`);
    }
    const results: EntryResult[] = [];
    for (const entry of [...this.config.certificates, ...this.autoEntries(templates)]) {
      const r = await this.handle(client, entry, templates);
      this.log(`${entry.template} → ${entry.cert}: ${r.action}: ${r.message}`);
      results.push(r);
    }
    return results;
  }

  /**
   * With `allAutoenroll`: one entry per template that, as for Windows auto-enrollment, both carries
   * the auto-enrollment flag (MS-CRTD CT_FLAG_AUTO_ENROLLMENT) and grants this caller Autoenroll
   * (the MS-XCEP permission), unless `certificates` already holds it; files named after the template.
   */
  private autoEntries(templates: PolicyTemplate[]): AutoenrollEntry[] {
    const all = this.config.allAutoenroll;
    if (!all) return [];
    const listed = new Set(this.config.certificates.map((c) => c.template.toLowerCase()));
    return templates
      .filter((t) => t.autoEnroll && t.autoEnrollmentFlag && !listed.has(t.name.toLowerCase()))
      .map((t) => {
        const base = join(all.dir, t.name.replace(/[^A-Za-z0-9._-]/g, '_'));
        return { template: t.name, subject: '', sans: [], keyType: all.keyType, key: `${base}.key`, cert: `${base}.crt`, chain: `${base}-chain.crt`, postRenew: all.postRenew };
      });
  }

  private statePath(entry: AutoenrollEntry): string {
    return join(this.config.stateDir, `${Buffer.from(entry.cert).toString('base64url')}.json`);
  }

  private async handle(client: EnrollmentClient, entry: AutoenrollEntry, templates: PolicyTemplate[]): Promise<EntryResult> {
    const base = { template: entry.template, cert: entry.cert };
    const t = templates.find((x) => x.name.toLowerCase() === entry.template.toLowerCase());
    if (!t) return { ...base, action: 'denied', message: `the policy at ${this.config.cep} offers no template "${entry.template}" to this host` };
    const statePath = this.statePath(entry);

    // A request left pending by an earlier pass: ask about it first.
    if (existsSync(statePath)) {
      const st = JSON.parse(readFileSync(statePath, 'utf8')) as PendingState;
      try {
        const r = await client.queryStatus(st.cesUrl, st.requestId);
        if (r.status === 'pending') return { ...base, action: 'still-pending', message: `request ${st.requestId} still waits for a CA manager` };
        await this.install(entry, r, readFileSync(st.keyFile, 'utf8'));
        rmSync(st.keyFile, { force: true });
        rmSync(statePath, { force: true });
        return { ...base, action: st.renewal ? 'renewed' : 'enrolled', message: `request ${st.requestId} was approved; certificate installed` };
      } catch (e) {
        if (!(e instanceof EnrollmentDenied)) throw e;
        rmSync(st.keyFile, { force: true });
        rmSync(statePath, { force: true });
        return { ...base, action: 'denied', message: `request ${st.requestId} was denied: ${e.message}` };
      }
    }

    const now = this.clock.now().getTime();
    let current: X509Certificate | undefined;
    if (existsSync(entry.cert) && existsSync(entry.key)) {
      try {
        current = new X509Certificate(readFileSync(entry.cert));
      } catch {
        current = undefined;
      }
    }
    const expired = current ? new Date(current.validTo).getTime() <= now : true;
    const renewFrom = current ? new Date(current.validTo).getTime() - t.renewalPeriodSeconds * 1000 : 0;
    if (current && !expired && now < renewFrom) {
      return { ...base, action: 'none', message: `valid until ${current.validTo}; renewal from ${new Date(renewFrom).toISOString()}` };
    }
    // The CES endpoint that takes our kind of credentials (Kerberos 2, username 4, certificate 8).
    const want = CLIENT_AUTH_VALUE[this.transport.authKind];
    const mine = t.enrollmentUrls.filter((u) => u.clientAuthentication === want);
    const ces = mine.find((u) => !u.renewalOnly) ?? mine[0];
    if (!ces) return { ...base, action: 'denied', message: `the policy at ${this.config.cep} lists no enrollment URL for ${t.name} that accepts ${CLIENT_AUTH_LABEL[this.transport.authKind]} authentication` };

    const keys = await newKeyPair(entry.keyType);
    const keyPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const csr = buildCsr({ ...keys, subject: parseSubject(entry.subject), sans: entry.sans.map(parseSan), template: t.name });
    const renewal = Boolean(current && !expired);
    let r: EnrollResult;
    try {
      if (renewal && current) {
        // Renewal proves possession of the current key: the CA keeps the subject and template.
        const p7 = buildSignedData({ content: csr, contentType: '1.2.840.113549.1.7.1', signerCertDer: new Uint8Array(current.raw), signerKey: createPrivateKey(readFileSync(entry.key, 'utf8')) });
        r = await client.renew(ces.uri, p7);
      } else {
        r = await client.issue(ces.uri, { format: 'pkcs10', der: csr });
      }
    } catch (e) {
      if (e instanceof EnrollmentDenied) return { ...base, action: 'denied', message: e.message };
      throw e;
    }
    if (r.status === 'pending') {
      mkdirSync(this.config.stateDir, { recursive: true, mode: 0o700 });
      const keyFile = join(this.config.stateDir, `${basename(statePath, '.json')}.key`);
      writeAtomic(keyFile, keyPem, 0o600);
      writeAtomic(statePath, JSON.stringify({ requestId: r.requestId, cesUrl: r.referenceUri ?? ces.uri, keyFile, renewal } satisfies PendingState), 0o600);
      return { ...base, action: 'pending', message: `request ${r.requestId} waits for a CA manager; it will be picked up on a later run` };
    }
    await this.install(entry, r, keyPem);
    return { ...base, action: renewal ? 'renewed' : 'enrolled', message: `certificate installed (request ${r.requestId})` };
  }

  private async install(entry: AutoenrollEntry, r: EnrollResult, keyPem: string): Promise<void> {
    if (r.status !== 'issued') return;
    const cert = new X509Certificate(Buffer.from(r.certificate));
    const mine = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    if (!Buffer.from(cert.publicKey.export({ type: 'spki', format: 'der' })).equals(Buffer.from(mine))) {
      throw new OpencesError('internal', `the certificate for ${entry.template} does not match the key made for it; nothing installed`);
    }
    writeAtomic(entry.key, keyPem, 0o600);
    writeAtomic(entry.cert, pem(r.certificate));
    if (entry.chain) writeAtomic(entry.chain, r.chain.map((c) => pem(c)).join(''));
    if (entry.postRenew) await runHook(entry.postRenew);
  }
}

function runHook(command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', command], { timeout: 120_000 }, (err) => (err ? reject(new OpencesError('internal', `post-renew command failed: ${err.message}`)) : resolve()));
  });
}
