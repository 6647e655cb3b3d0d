import { OpencesError } from '../errors.js';

/**
 * JSON bodies of the admin and CA APIs: at most this many nested arrays/objects. Our largest
 * schema nests five levels; a hostile body of 64 KiB could nest 32,000, and every recursive walker
 * after JSON.parse (schema validation, zod, logging) would then run out of stack (a 500).
 */
export const MAX_JSON_DEPTH = 32;

/**
 * Refuses a JSON text nested deeper than `max` before it is parsed: one pass over the bytes,
 * counting brackets outside strings. For a valid JSON text this is its exact depth; an invalid
 * one is left for JSON.parse to refuse.
 */
export function checkJsonDepth(body: Uint8Array, max = MAX_JSON_DEPTH): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) throw new OpencesError('malformed', `the JSON body nests deeper than ${max} levels`, { field: 'body' });
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}
