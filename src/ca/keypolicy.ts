import type { KeyAlgorithm } from '../policy/template.js';
import type { CsrPublicKey } from '../protocol/pkcs10/csr.js';
import { HRESULT, OpencesError } from '../errors.js';

/**
 * Is this public key acceptable? (Boulder's goodkey.) Global floor first, then the template's
 * own requirements. Refusals name the key and the rule.
 */
export interface KeyRequirements {
  allowed?: KeyAlgorithm[];
  minimalKeyLength?: number;
}

const GLOBAL_MIN_RSA = 2048;
const MAX_RSA = 8192;

export function checkKeyPolicy(k: CsrPublicKey, req: KeyRequirements = {}): void {
  switch (k.algorithm) {
    case 'RSA': {
      if (k.bits < GLOBAL_MIN_RSA) throw new OpencesError('badPublicKey', `RSA-${k.bits} keys are too short: at least ${GLOBAL_MIN_RSA} bits are required`, { hresult: HRESULT.NTE_BAD_KEY_LENGTH });
      if (k.bits > MAX_RSA) throw new OpencesError('badPublicKey', `RSA-${k.bits} keys are longer than the supported ${MAX_RSA} bits`, { hresult: HRESULT.NTE_BAD_KEY_LENGTH });
      if (k.exponent !== undefined && (k.exponent < 3 || k.exponent % 2 === 0)) throw new OpencesError('badPublicKey', `RSA public exponent ${k.exponent} is not acceptable`, { hresult: HRESULT.NTE_BAD_KEY });
      if (req.allowed && !req.allowed.includes('RSA')) throw new OpencesError('badPublicKey', 'the template does not allow RSA keys', { hresult: HRESULT.NTE_BAD_KEY });
      if (req.minimalKeyLength && k.bits < req.minimalKeyLength) {
        throw new OpencesError('badPublicKey', `the template requires RSA keys of at least ${req.minimalKeyLength} bits; the request has ${k.bits}`, { hresult: HRESULT.NTE_BAD_KEY_LENGTH });
      }
      return;
    }
    case 'EC': {
      const alg: KeyAlgorithm | undefined = k.curve === 'P-256' ? 'ECDSA_P256' : k.curve === 'P-384' ? 'ECDSA_P384' : undefined;
      if (!alg) throw new OpencesError('badPublicKey', `elliptic curve ${k.curve ?? 'unknown'} is not supported (P-256 and P-384 are)`, { hresult: HRESULT.NTE_BAD_KEY });
      if (req.allowed && !req.allowed.includes(alg)) throw new OpencesError('badPublicKey', `the template does not allow ${k.curve} keys`, { hresult: HRESULT.NTE_BAD_KEY });
      // minimalKeyLength is an RSA notion in ADCS templates; EC curves are judged by the list above.
      return;
    }
    case 'DSA':
      throw new OpencesError('badPublicKey', 'DSA keys are not accepted', { hresult: HRESULT.NTE_BAD_KEY });
    case 'Ed25519':
    case 'Ed448':
      throw new OpencesError('badPublicKey', `${k.algorithm} keys are not accepted by this CA`, { hresult: HRESULT.NTE_BAD_KEY });
    default:
      throw new OpencesError('badPublicKey', `unknown public key algorithm ${k.oid}`, { hresult: HRESULT.NTE_BAD_KEY });
  }
}
