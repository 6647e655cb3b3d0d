import { X509Certificate, createHash, createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalCa } from '../ca/engine.js';
import { pem } from '../ca/init.js';
import { newKeyAndRequest, recordLocalRequest } from '../ca/local-request.js';
import { bitString, implicitCons, integer, seq } from '../ca/der.js';
import { encodeName } from '../ca/name.js';
import type { CaSigner, KeyStore } from '../ca/types.js';
import type { Clock } from '../clock.js';
import { OpencesError } from '../errors.js';
import type { Db } from '../store/db.js';
import { saveSigner } from '../store/audit-checkpoint-repo.js';
import type { AuditLog } from './log.js';
import { AUDIT_SIGNING_EKU, AUDIT_SIGNING_PROFILE, fingerprintOf } from './checkpoint.js';

export { AUDIT_SIGNING_PROFILE };

/** The key that signs audit checkpoints: not the CA key, but kept like it (secrets/, 0600, same passphrase). */
export interface AuditSigner {
  certificate: Uint8Array;
  fingerprint: string;
  sign(data: Uint8Array): Promise<Buffer>;
}

const KEY_FILE = 'audit_signing.key';
const CERT_FILE = 'audit_signing.crt';
const RENEW_BEFORE_MS = 30 * 86400_000;

function writeAtomically(path: string, data: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode, flag: 'w' });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

function readKey(path: string, passphrase: string | undefined): KeyObject {
  const text = readFileSync(path, 'utf8');
  const encrypted = text.includes('ENCRYPTED PRIVATE KEY');
  if (encrypted && !passphrase) throw new OpencesError('unavailable', `the audit signing key ${path} is encrypted: set OPENCES_CA_KEY_PASSPHRASE`);
  try {
    return createPrivateKey(encrypted ? { key: text, format: 'pem', passphrase } : { key: text, format: 'pem' });
  } catch {
    throw new OpencesError('unavailable', `cannot open the audit signing key ${path}: wrong passphrase or damaged file`);
  }
}

function signerOf(key: KeyObject, der: Uint8Array): AuditSigner {
  return { certificate: der, fingerprint: fingerprintOf(der), sign: async (data) => sign('sha256', data, { key, dsaEncoding: 'der' }) };
}

/**
 * The order for the audit signing certificate: the CA node's own profile, not a template's, so no
 * enrollment node can order it (src/http/ca-api.ts); two years, digital signature, the audit EKU.
 */
function auditSigningOrder(requestId: string, csrDer: Uint8Array, now: Date): Parameters<LocalCa['issueInternal']>[0] {
  return {
    orderId: requestId,
    template: AUDIT_SIGNING_PROFILE,
    csrDer,
    subject: [{ type: 'CN', value: 'opences audit signing' }],
    sans: [],
    keyUsage: ['digitalSignature'],
    keyUsageCritical: true,
    ekus: [AUDIT_SIGNING_EKU],
    issuancePolicies: [],
    notBefore: now,
    notAfter: new Date(now.getTime() + 2 * 365 * 86400_000),
    requester: 'opences-server',
  };
}

/**
 * Opens the audit signing key on the node that holds the CA keys, or makes it: a P-256 key in
 * `<dataDir>/secrets/audit_signing.key` (0600, encrypted under OPENCES_CA_KEY_PASSPHRASE when set)
 * and its certificate from our issuing CA with the audit signing EKU, in
 * `<dataDir>/certs/audit_signing.crt` and in `audit_signers`. A certificate near its end, or from
 * an issuing CA that is no longer current, is replaced with a new key (old checkpoints carry their
 * own certificate and still verify).
 */
export async function ensureAuditSigner(o: { dataDir: string; db: Db; ca: LocalCa; clock: Clock; audit: AuditLog; passphrase?: string; keyStore?: KeyStore }): Promise<AuditSigner> {
  if (o.keyStore) return ensureTokenAuditSigner({ ...o, keyStore: o.keyStore });
  const keyPath = join(o.dataDir, 'secrets', KEY_FILE);
  const certPath = join(o.dataDir, 'certs', CERT_FILE);
  if (existsSync(keyPath) && existsSync(certPath)) {
    const cert = new X509Certificate(readFileSync(certPath, 'utf8'));
    const fresh = Date.parse(cert.validTo) - o.clock.now().getTime() > RENEW_BEFORE_MS;
    const sameCa = cert.checkIssued(new X509Certificate(Buffer.from(o.ca.info().issuingCertificate)));
    if (fresh && sameCa) {
      const key = readKey(keyPath, o.passphrase);
      if (!cert.checkPrivateKey(key)) throw new OpencesError('unavailable', `${keyPath} does not belong to ${certPath}`);
      const signer = signerOf(key, new Uint8Array(cert.raw));
      await saveSigner(o.db, signer.fingerprint, signer.certificate);
      return signer;
    }
  }
  const { privateKey, csrDer, requestId, at: now } = await newKeyAndRequest(o, { commonName: 'opences audit signing', requester: 'opences-server', authMethod: 'local', template: AUDIT_SIGNING_PROFILE });
  const issued = await o.ca.issueInternal(auditSigningOrder(requestId, csrDer, now));
  const keyPem = o.passphrase
    ? privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: o.passphrase }).toString()
    : privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const secrets = join(o.dataDir, 'secrets');
  mkdirSync(secrets, { recursive: true, mode: 0o700 });
  chmodSync(secrets, 0o700);
  mkdirSync(join(o.dataDir, 'certs'), { recursive: true });
  writeAtomically(keyPath, keyPem, 0o600);
  writeAtomically(certPath, [issued.der, ...issued.chain.slice(0, -1)].map((c) => pem(c)).join(''), 0o644);
  const signer = signerOf(privateKey, issued.der);
  await saveSigner(o.db, signer.fingerprint, signer.certificate);
  await o.audit.record({ type: 'audit.signer', outcome: 'success', actor: 'opences', template: AUDIT_SIGNING_PROFILE, requestId, serial: issued.serial, details: { fingerprint: signer.fingerprint, notAfter: issued.notAfter.toISOString() } });
  return signer;
}

/** The token label of the audit key certified by `cert`: derived from its public key, so nothing else need be stored. */
function tokenLabelFor(spki: Uint8Array): string {
  return `audit-signing-${createHash('sha256').update(spki).digest('hex').slice(0, 16)}`;
}

/**
 * Audit signing with the CA keys in a PKCS#11 token: the audit key is a P-256 key generated in
 * the same token (nothing key-related in the data directory); its PKCS#10 is signed there too.
 */
async function ensureTokenAuditSigner(o: { dataDir: string; db: Db; ca: LocalCa; clock: Clock; audit: AuditLog; keyStore: KeyStore }): Promise<AuditSigner> {
  const certPath = join(o.dataDir, 'certs', CERT_FILE);
  const of = (signer: CaSigner, der: Uint8Array): AuditSigner => ({ certificate: der, fingerprint: fingerprintOf(der), sign: async (data) => Buffer.from(await signer.sign(data)) });
  if (existsSync(certPath)) {
    const cert = new X509Certificate(readFileSync(certPath, 'utf8'));
    const fresh = Date.parse(cert.validTo) - o.clock.now().getTime() > RENEW_BEFORE_MS;
    const sameCa = cert.checkIssued(new X509Certificate(Buffer.from(o.ca.info().issuingCertificate)));
    const spki = new Uint8Array(cert.publicKey.export({ type: 'spki', format: 'der' }));
    const label = tokenLabelFor(spki);
    if (fresh && sameCa && (await o.keyStore.exists(label))) {
      const signer = of(await o.keyStore.open(label), new Uint8Array(cert.raw));
      await saveSigner(o.db, signer.fingerprint, signer.certificate);
      return signer;
    }
  }
  // The label must follow from the public key, which exists only once generated: make it under a
  // temporary label, then look it up by the derived one (a second key is never made for it).
  const tmpLabel = `audit-signing-new-${randomBytes(6).toString('hex')}`;
  const made = await o.keyStore.create(tmpLabel, 'P-256');
  const label = tokenLabelFor(made.spki);
  const keyStore = o.keyStore as KeyStore & { relabel?: (from: string, to: string) => Promise<void> };
  if (keyStore.relabel) await keyStore.relabel(tmpLabel, label);
  const signer = keyStore.relabel ? await o.keyStore.open(label) : made;
  const name = encodeName([{ type: 'CN', value: 'opences audit signing' }]);
  const info = seq(integer(0), name, signer.spki, implicitCons(0, []));
  const csrDer = new Uint8Array(seq(info, signer.signatureAlgorithm, bitString(await signer.sign(info))));
  const { requestId, at: now } = await recordLocalRequest(o, { csrDer, requester: 'opences-server', authMethod: 'local', template: AUDIT_SIGNING_PROFILE });
  const issued = await o.ca.issueInternal(auditSigningOrder(requestId, csrDer, now));
  mkdirSync(join(o.dataDir, 'certs'), { recursive: true });
  writeAtomically(certPath, [issued.der, ...issued.chain.slice(0, -1)].map((c) => pem(c)).join(''), 0o644);
  const out = of(signer, issued.der);
  await saveSigner(o.db, out.fingerprint, out.certificate);
  await o.audit.record({ type: 'audit.signer', outcome: 'success', actor: 'opences', template: AUDIT_SIGNING_PROFILE, requestId, serial: issued.serial, details: { fingerprint: out.fingerprint, notAfter: issued.notAfter.toISOString(), key: 'pkcs11' } });
  return out;
}
