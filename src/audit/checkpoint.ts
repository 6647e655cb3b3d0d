import { X509Certificate, createHash, verify as verifySignature } from 'node:crypto';
import { canonical } from './chain.js';

/**
 * A signed checkpoint of the audit chain: "the chain held `seq` events at `at`, and the newest's
 * hash was `hash`", signed with the audit signing key (src/audit/signing-key.ts). The chain shows
 * a changed or removed event in its middle; only something kept apart from it shows that its
 * newest events were cut off. docs/audit.md spells the format out for anyone to check.
 */
export interface Checkpoint {
  seq: number;
  hash: string;
  at: Date;
  /** SHA-256 (hex) of the signer certificate's DER. */
  signer: string;
  /** base64 of the DER ECDSA (SHA-256) signature over `statement()`. */
  signature: string;
  /** DER of the signer certificate. */
  certificate: Uint8Array;
}

/**
 * Extended key usage of audit signing certificates: an OID under 2.25 (ITU-T X.667, derived from a
 * UUID, unique without registration). The CA issues it under the internal audit profile only
 * (src/ca/engine.ts refuses it in any other order), so no enrollee's certificate can sign a
 * checkpoint that verifies.
 */
export const AUDIT_SIGNING_EKU = '2.25.266362534692114426004997646466644532384';

/** Internal profile of the audit signing certificate: issued on the CA node only, never through a template. */
export const AUDIT_SIGNING_PROFILE = 'opences-audit-signing';

export const fingerprintOf = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');

/** The bytes signed: canonical JSON (sorted keys) of what the checkpoint asserts. */
export function statement(c: Pick<Checkpoint, 'seq' | 'hash' | 'at' | 'signer'>): Buffer {
  return Buffer.from(canonical({ type: 'opences.audit.checkpoint', v: 1, seq: c.seq, hash: c.hash, at: c.at.toISOString(), signer: c.signer }), 'utf8');
}

/** One line of the exported form (file sink, /pki/audit/checkpoint.json, `--checkpoint FILE`). */
export function toJson(c: Checkpoint): string {
  return JSON.stringify({ seq: c.seq, hash: c.hash, at: c.at.toISOString(), signer: c.signer, signature: c.signature, certificate: Buffer.from(c.certificate).toString('base64') });
}

/**
 * Reads checkpoints kept elsewhere: JSON lines (the file sink) or one JSON object (the /pki/
 * copy). Returns the one with the highest seq (the last such on a tie); anything that is not a
 * checkpoint is an error that names the line.
 */
export function parseCheckpoints(text: string, source: string): Checkpoint | null {
  let best: Checkpoint | null = null;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new Error(`${source}, line ${i + 1}: not JSON`);
    }
    const c = narrow(v);
    if (!c) throw new Error(`${source}, line ${i + 1}: not an audit checkpoint (seq, hash, at, signer, signature, certificate)`);
    if (!best || c.seq >= best.seq) best = c;
  }
  return best;
}

function narrow(v: unknown): Checkpoint | null {
  if (!v || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  const { seq, hash, at, signer, signature, certificate } = o;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return null;
  if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) return null;
  if (typeof signer !== 'string' || !/^[0-9a-f]{64}$/.test(signer)) return null;
  if (typeof at !== 'string' || Number.isNaN(Date.parse(at))) return null;
  if (typeof signature !== 'string' || typeof certificate !== 'string') return null;
  return { seq, hash, at: new Date(at), signer, signature, certificate: new Uint8Array(Buffer.from(certificate, 'base64')) };
}

/**
 * Why a checkpoint cannot be believed, or null when it can: the signer certificate must be the one
 * it names, be issued by one of our issuing CAs, carry the audit signing EKU, be valid when the
 * checkpoint was made, and its key must verify the signature.
 */
export function checkpointProblem(c: Checkpoint, issuers: Uint8Array[]): string | null {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(Buffer.from(c.certificate));
  } catch {
    return 'its signer certificate does not parse';
  }
  if (fingerprintOf(c.certificate) !== c.signer) return 'its signer certificate is not the one it names';
  const issuedByUs = issuers.some((der) => {
    const ca = new X509Certificate(Buffer.from(der));
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  });
  if (!issuedByUs) return 'its signer certificate was not issued by this deployment\'s CA';
  if (!(cert.keyUsage ?? []).includes(AUDIT_SIGNING_EKU)) return 'its signer certificate is not an audit signing certificate';
  const t = c.at.getTime();
  if (t < Date.parse(cert.validFrom) || t > Date.parse(cert.validTo)) return 'it was made outside its signer certificate\'s validity';
  let ok = false;
  try {
    ok = verifySignature('sha256', statement(c), { key: cert.publicKey, dsaEncoding: 'der' }, Buffer.from(c.signature, 'base64'));
  } catch {
    ok = false;
  }
  return ok ? null : 'its signature does not verify';
}
