import { OpencesError } from '../../errors.js';

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes base64 the way enrollment clients send it: with line breaks, carriage-return entities
 * left over from XML (`&#xD;`), and sometimes PEM armour. Anything else that is not base64 is an
 * error, never silently skipped (Buffer.from would ignore it).
 */
export function decodeBase64Token(text: string, what = 'token'): Uint8Array {
  const cleaned = text
    .replace(/-----(BEGIN|END) [A-Z0-9 #]+-----/g, '')
    .replace(/&#x[dD];|&#13;/g, '')
    .replace(/[\s]+/g, '');
  if (cleaned.length === 0) throw new OpencesError('malformed', `the ${what} is empty`);
  const padded = cleaned.length % 4 === 0 ? cleaned : null;
  if (!padded || !B64.test(padded)) throw new OpencesError('malformed', `the ${what} is not valid base64`);
  return new Uint8Array(Buffer.from(padded, 'base64'));
}
