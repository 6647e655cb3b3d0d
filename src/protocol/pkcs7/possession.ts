/**
 * Proof of possession by the outer signature of CertEnroll's "Full PKCS#7" request (#14 item 8):
 * a SignedData around the PKCS#10, with no certificates and one SignerInfo named by the
 * subjectKeyIdentifier of the request's own key, signed by that key. Windows clients were seen
 * sending such requests whose inner self-signature did not verify while the outer one did; the
 * outer signature by the same key proves possession just as well, and only in exactly this shape.
 */
import { readTlv } from '../../ca/der.js';
import { sameBytes } from './asn1.js';
import { parseSignedData, type SignerResult } from './signed-data.js';

/** The key bits of a SubjectPublicKeyInfo (its BIT STRING without the unused-bits octet). */
function publicKeyBits(spki: Uint8Array): Uint8Array {
  const outer = readTlv(spki, 0);
  let at = outer.header;
  const alg = readTlv(spki, at);
  at += alg.header + alg.length;
  const bits = readTlv(spki, at);
  return spki.subarray(at + bits.header + 1, at + bits.header + bits.length);
}

/**
 * The signer when `signedDataDer` is that shape for exactly `csrDer` (whose key is `spkiDer`): its
 * content is those very bytes, it carries no certificate, and its only SignerInfo names the
 * request's key by key identifier and verifies with it. Null for every other shape, including a
 * signature by another key. Malformed input throws OpencesError('malformed').
 */
export function signedByRequestKey(signedDataDer: Uint8Array, csrDer: Uint8Array, spkiDer: Uint8Array): SignerResult | null {
  const sd = parseSignedData(signedDataDer, 'PKCS#7 request', [{ spkiDer, publicKeyBits: publicKeyBits(spkiDer), source: 'request' }]);
  if (!sameBytes(sd.content, csrDer) || sd.certificates.length !== 0 || sd.signers.length !== 1) return null;
  const s = sd.signers[0]!;
  return s.sid.kind === 'subjectKeyIdentifier' && s.keySource === 'request' && s.signatureValid ? s : null;
}
