import type { CaKeyType } from '../types.js';
import { nullValue, oid, seq } from '../der.js';

/** Signature AlgorithmIdentifier (DER) and hash for each CA key type. */
export function signatureAlgorithmFor(keyType: CaKeyType): { der: Buffer; hash: string } {
  switch (keyType) {
    case 'RSA-2048':
    case 'RSA-3072':
    case 'RSA-4096':
      return { der: seq(oid('1.2.840.113549.1.1.11'), nullValue()), hash: 'sha256' };
    case 'P-256':
      return { der: seq(oid('1.2.840.10045.4.3.2')), hash: 'sha256' };
    case 'P-384':
      return { der: seq(oid('1.2.840.10045.4.3.3')), hash: 'sha384' };
  }
}

export function generateOptions(keyType: CaKeyType): { type: 'rsa'; modulusLength: number } | { type: 'ec'; namedCurve: string } {
  switch (keyType) {
    case 'RSA-2048':
      return { type: 'rsa', modulusLength: 2048 };
    case 'RSA-3072':
      return { type: 'rsa', modulusLength: 3072 };
    case 'RSA-4096':
      return { type: 'rsa', modulusLength: 4096 };
    case 'P-256':
      return { type: 'ec', namedCurve: 'prime256v1' };
    case 'P-384':
      return { type: 'ec', namedCurve: 'secp384r1' };
  }
}
