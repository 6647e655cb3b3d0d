import { generateKeyPair, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { bitString, bmp, implicitCons, integer, nullValue, oid, seq, set } from '../ca/der.js';
import { extension, subjectAltName } from '../ca/extensions.js';
import { encodeName } from '../ca/name.js';
import type { NameAttribute, SanEntry } from '../ca/types.js';
import { OpencesError } from '../errors.js';

const gen = promisify(generateKeyPair);

export type RequesterKeyType = 'RSA-2048' | 'RSA-3072' | 'RSA-4096' | 'P-256' | 'P-384';

/** A new key pair, generated here: the private half never leaves this machine. */
export async function newKeyPair(type: RequesterKeyType): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  if (type.startsWith('RSA-')) return gen('rsa', { modulusLength: Number(type.slice(4)) });
  return gen('ec', { namedCurve: type === 'P-256' ? 'prime256v1' : 'secp384r1' });
}

/** "CN=www.example.com, O=Example" (or /CN=…/O=… as openssl writes it) → attributes in order. */
export function parseSubject(s: string): NameAttribute[] {
  const text = s.trim();
  if (!text) return [];
  const parts = text.startsWith('/') ? text.split('/').filter(Boolean) : text.split(/\s*,\s*(?=[A-Za-z.0-9]+=)/);
  return parts.map((p) => {
    const i = p.indexOf('=');
    if (i <= 0) throw new OpencesError('malformed', `subject part "${p}" is not TYPE=value`);
    return { type: p.slice(0, i).trim().toUpperCase(), value: p.slice(i + 1).trim() };
  });
}

/** dns:NAME, ip:ADDR, email:ADDR, upn:NAME, uri:URI */
export function parseSan(s: string): SanEntry {
  const i = s.indexOf(':');
  const kind = i > 0 ? s.slice(0, i).toLowerCase() : '';
  const value = s.slice(i + 1);
  if (!['dns', 'ip', 'email', 'upn', 'uri'].includes(kind) || !value) throw new OpencesError('malformed', `SAN "${s}" must be dns:, ip:, email:, upn: or uri: followed by a value`);
  return { type: kind as SanEntry['type'], value };
}

/**
 * A PKCS#10 (RFC 2986) signed with the new key, naming the template in the certificate-template
 * extension (1.3.6.1.4.1.311.20.2) as certmonger does, with the requested SANs.
 */
export function buildCsr(o: { privateKey: KeyObject; publicKey: KeyObject; subject: NameAttribute[]; sans: SanEntry[]; template?: string }): Uint8Array {
  const exts: Buffer[] = [];
  if (o.template) exts.push(extension('1.3.6.1.4.1.311.20.2', false, bmp(o.template)));
  if (o.sans.length) exts.push(subjectAltName(o.sans, o.subject.length === 0));
  const attrs = exts.length ? [seq(oid('1.2.840.113549.1.9.14'), set(seq(...exts)))] : [];
  const spki = o.publicKey.export({ type: 'spki', format: 'der' });
  const info = seq(integer(0), encodeName(o.subject), spki, implicitCons(0, attrs));
  const ec = o.privateKey.asymmetricKeyType === 'ec';
  const curve384 = o.privateKey.asymmetricKeyDetails?.namedCurve === 'secp384r1';
  const hash = curve384 ? 'sha384' : 'sha256';
  const sig = sign(hash, info, ec ? { key: o.privateKey, dsaEncoding: 'der' } : o.privateKey);
  const alg = ec ? seq(oid(curve384 ? '1.2.840.10045.4.3.3' : '1.2.840.10045.4.3.2')) : seq(oid('1.2.840.113549.1.1.11'), nullValue());
  return new Uint8Array(seq(info, alg, bitString(sig)));
}
