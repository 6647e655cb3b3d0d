import { X509Certificate, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalCa } from '../ca/engine.js';
import { pem } from '../ca/init.js';
import { newKeyAndRequest } from '../ca/local-request.js';
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
  sign(data: Uint8Array): Buffer;
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
  return { certificate: der, fingerprint: fingerprintOf(der), sign: (data) => sign('sha256', data, { key, dsaEncoding: 'der' }) };
}

/**
 * Opens the audit signing key on the node that holds the CA keys, or makes it: a P-256 key in
 * `<dataDir>/secrets/audit_signing.key` (0600, encrypted under OPENCES_CA_KEY_PASSPHRASE when set)
 * and its certificate from our issuing CA with the audit signing EKU, in
 * `<dataDir>/certs/audit_signing.crt` and in `audit_signers`. A certificate near its end, or from
 * an issuing CA that is no longer current, is replaced with a new key (old checkpoints carry their
 * own certificate and still verify).
 */
export async function ensureAuditSigner(o: { dataDir: string; db: Db; ca: LocalCa; clock: Clock; audit: AuditLog; passphrase?: string }): Promise<AuditSigner> {
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
  // The CA node's own profile, not a template's: no enrollment node can order it (src/http/ca-api.ts).
  const issued = await o.ca.issueInternal({
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
  });
  const keyPem = o.passphrase
    ? privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: o.passphrase }).toString()
    : privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const secrets = join(o.dataDir, 'secrets');
  mkdirSync(secrets, { recursive: true, mode: 0o700 });
  chmodSync(secrets, 0o700);
  mkdirSync(join(o.dataDir, 'certs'), { recursive: true });
  writeAtomically(keyPath, keyPem, 0o600);
  writeAtomically(certPath, pem(issued.der) + pem(issued.chain[0]!), 0o644);
  const signer = signerOf(privateKey, issued.der);
  await saveSigner(o.db, signer.fingerprint, signer.certificate);
  await o.audit.record({ type: 'audit.signer', outcome: 'success', actor: 'opences', template: AUDIT_SIGNING_PROFILE, requestId, serial: issued.serial, details: { fingerprint: signer.fingerprint, notAfter: issued.notAfter.toISOString() } });
  return signer;
}
