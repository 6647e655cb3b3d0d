import { OpencesError } from '../../errors.js';

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes base64 the way enrollment clients send it: with line breaks, carriage-return or
 * line-feed character references left over from XML (`&#xD;`, `&#13;`), and sometimes PEM armour.
 * Anything else that is not base64 is an error, never silently skipped (Buffer.from would ignore
 * it). Missing `=` padding is restored; a length no base64 can have is refused.
 */
export function decodeBase64Token(text: string, what = 'token'): Uint8Array {
  const cleaned = text
    .replace(/-----(BEGIN|END) [A-Z0-9 #]+-----/g, '')
    .replace(/&#x0*[aAdD];|&#0*1[03];/g, '')
    .replace(/\s+/g, '');
  if (cleaned.length === 0) throw new OpencesError('malformed', `the ${what} is empty`);
  if (!B64.test(cleaned)) throw new OpencesError('malformed', `the ${what} is not valid base64 (unexpected characters)`);
  const body = cleaned.replace(/=+$/, '');
  if (body.length % 4 === 1 || (cleaned.length !== body.length && cleaned.length % 4 !== 0)) {
    throw new OpencesError('malformed', `the ${what} is not valid base64 (bad length or padding)`);
  }
  return new Uint8Array(Buffer.from(body, 'base64'));
}
