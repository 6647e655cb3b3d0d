import { createHash, sign, type KeyObject } from 'node:crypto';
import { child } from '../../ca/der.js';
import { explicit, implicitCons, integer, nullValue, octetString, oid, seq, set, setOf } from '../../ca/der.js';
import { OID_SIGNED_DATA } from './signed-data.js';

const SHA256 = '2.16.840.1.101.3.4.2.1';

/**
 * CMS SignedData over `content`, signed with signed attributes (contentType, messageDigest) by
 * `signerKey` whose certificate is `signerCertDer`. Used for renewals (signed by the certificate
 * being renewed) and signed CMC requests.
 */
export function buildSignedData(o: { content: Uint8Array; contentType: string; signerCertDer: Uint8Array; signerKey: KeyObject; extraCertificates?: Uint8Array[] }): Uint8Array {
  const tbs = child(o.signerCertDer, 0);
  // tbs: [0] version, serial, signature alg, issuer …
  const serial = child(tbs, 1);
  const issuer = child(tbs, 3);
  const digest = createHash('sha256').update(o.content).digest();
  const attrs = [seq(oid('1.2.840.113549.1.9.3'), set(oid(o.contentType))), seq(oid('1.2.840.113549.1.9.4'), set(octetString(digest)))];
  const signedAttrsSet = setOf(...attrs);
  const isEc = o.signerKey.asymmetricKeyType === 'ec';
  const signature = sign('sha256', signedAttrsSet, isEc ? { key: o.signerKey, dsaEncoding: 'der' } : o.signerKey);
  const sigAlg = isEc ? seq(oid('1.2.840.10045.4.3.2')) : seq(oid('1.2.840.113549.1.1.11'), nullValue());
  const signedAttrs = Buffer.from(signedAttrsSet);
  signedAttrs[0] = 0xa0; // [0] IMPLICIT in the SignerInfo
  const signerInfo = seq(integer(1), seq(issuer, serial), seq(oid(SHA256), nullValue()), signedAttrs, sigAlg, octetString(signature));
  const sd = seq(
    integer(3),
    set(seq(oid(SHA256), nullValue())),
    seq(oid(o.contentType), explicit(0, octetString(o.content))),
    implicitCons(0, [o.signerCertDer, ...(o.extraCertificates ?? [])]),
    set(signerInfo),
  );
  return new Uint8Array(seq(oid(OID_SIGNED_DATA), explicit(0, sd)));
}
