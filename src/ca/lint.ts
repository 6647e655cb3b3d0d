import { HRESULT, OpencesError } from '../errors.js';
import { nameBoundsProblem } from '../policy/name-bounds.js';
import { child, readTlv } from './der.js';
import type { NameAttribute, SanEntry } from './types.js';

/**
 * Pre-issuance lint (Boulder's linter): refuse to sign a certificate that breaks the profile,
 * whatever the RA decided.
 */
export interface LintInput {
  /** Unsigned big-endian serial as it will be encoded. */
  serial?: Uint8Array;
  subject: NameAttribute[];
  sans: SanEntry[];
  notBefore: Date;
  notAfter: Date;
  caNotBefore?: Date;
  caNotAfter: Date;
  extensions: Uint8Array[];
}

export function lintCertificate(c: LintInput): void {
  // A fault of ours (serial, validity, extensions we built): internal, and a retry may succeed.
  const fail = (why: string): never => {
    throw new OpencesError('internal', `pre-issuance lint failed: ${why}`);
  };
  // A fault of the names the order asks for: no retry changes them, so the RA denies the request.
  const refuse = (why: string): never => {
    throw new OpencesError('policyDenied', `pre-issuance lint failed: ${why}`, { hresult: HRESULT.CERTSRV_E_BAD_REQUESTSUBJECT });
  };
  if (c.subject.length === 0 && c.sans.length === 0) refuse('neither a subject nor a subject alternative name');
  // The same bounds the RA applies before accepting a request (src/policy/name-bounds.ts).
  const bounds = nameBoundsProblem(c.subject, c.sans);
  if (bounds) refuse(bounds);
  if (c.notAfter.getTime() <= c.notBefore.getTime()) fail('notAfter is not after notBefore');
  if (c.notAfter.getTime() > c.caNotAfter.getTime()) fail('validity extends beyond the issuing CA');
  if (c.caNotBefore && c.notBefore.getTime() < c.caNotBefore.getTime()) fail('validity starts before the issuing CA');
  if (c.serial) {
    // RFC 5280 §4.1.2.2: positive, at most 20 octets; we also want ≥ 64 bits of it.
    if (c.serial.length > 20) fail('serial number longer than 20 octets');
    if ((c.serial[0]! & 0x80) !== 0) fail('serial number would be negative');
    if (c.serial.every((b) => b === 0)) fail('serial number is zero');
    if (c.serial.length < 9) fail('serial number has fewer than 64 random bits');
  }
  const seen = new Set<string>();
  for (const ext of c.extensions) {
    const id = Buffer.from(child(ext, 0)).toString('hex');
    if (seen.has(id)) fail('duplicate extension');
    seen.add(id);
    if (readTlv(ext, 0).tag !== 0x30) fail('malformed extension');
  }
  for (const s of c.sans) {
    if (s.type === 'dns' && !/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(s.value)) refuse(`bad DNS name ${s.value}`);
  }
}
