import { OpencesError } from '../errors.js';
import { child, readTlv } from './der.js';
import type { NameAttribute, SanEntry } from './types.js';

/**
 * Pre-issuance lint (Boulder's linter): refuse to sign a certificate that breaks the profile,
 * whatever the RA decided.
 */
export function lintCertificate(c: { subject: NameAttribute[]; sans: SanEntry[]; notBefore: Date; notAfter: Date; caNotAfter: Date; extensions: Uint8Array[] }): void {
  const fail = (why: string): never => {
    throw new OpencesError('internal', `pre-issuance lint failed: ${why}`);
  };
  if (c.subject.length === 0 && c.sans.length === 0) fail('neither a subject nor a subject alternative name');
  if (c.notAfter.getTime() <= c.notBefore.getTime()) fail('notAfter is not after notBefore');
  if (c.notAfter.getTime() > c.caNotAfter.getTime()) fail('validity extends beyond the issuing CA');
  const seen = new Set<string>();
  for (const ext of c.extensions) {
    const id = Buffer.from(child(ext, 0)).toString('hex');
    if (seen.has(id)) fail('duplicate extension');
    seen.add(id);
    if (readTlv(ext, 0).tag !== 0x30) fail('malformed extension');
  }
  for (const s of c.sans) {
    if (s.type === 'dns' && !/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(s.value)) fail(`bad DNS name ${s.value}`);
  }
}
