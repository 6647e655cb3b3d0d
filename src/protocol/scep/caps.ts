/** GetCACaps (RFC 8894 §3.5.2): one capability per line, plain text. */
export interface CaCapsOptions {
  /** The profile accepts DES/3DES, MD5 and SHA-1 (legacy mode). */
  legacy: boolean;
  /** A next CA certificate exists (rollover): only then GetNextCACert. */
  nextCa: boolean;
}

export function caCaps(o: CaCapsOptions): string {
  const caps = ['AES', 'POSTPKIOperation', 'Renewal', 'SHA-256', 'SHA-512', 'SCEPStandard'];
  if (o.nextCa) caps.push('GetNextCACert');
  if (o.legacy) caps.push('DES3', 'SHA-1');
  return `${caps.join('\n')}\n`;
}
