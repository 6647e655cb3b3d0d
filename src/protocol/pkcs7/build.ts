/**
 * CMS SignedData builders: signed (renewal requests, signed CMC; used by the client side and
 * tests) and unsigned (certs-only PKCS#7, our unsigned CMC responses). Byte concatenation of
 * DER pieces, so embedded requests and certificates travel exactly as they were given.
 */
import { createHash, sign, constants, type KeyObject } from 'node:crypto';
import { OpencesError } from '../../errors.js';
import { explicit, generalizedTime, implicitCons, implicitPrim, integer, integerFromBytes, nullValue, octetString, oid, seq, set, setOf, utcTime } from '../../ca/der.js';
import { CMS_OID, DIGEST_OID_BY_NAME, ECDSA_WITH, KEY_ALG, RSA_WITH } from './oids.js';
import { decode } from './asn1.js';
import { readCertificate } from './certificate.js';

export type DigestName = 'sha256' | 'sha384' | 'sha512';

export interface BuildSignedDataOptions {
  /** The encapsulated content (e.g. a PKCS#10 or a CMC PKIData, DER). */
  content: Uint8Array;
  /** eContentType: id-data 1.2.840.113549.1.7.1 for a renewal's PKCS#10, id-cct-PKIData for CMC. */
  contentType: string;
  /** The signer's certificate; the SignerInfo names it by issuer and serial and it goes into `certificates`. */
  signerCertDer?: Uint8Array;
  /** Without a certificate: name the signer by this key identifier instead (a CMC request signed by its own request key). */
  subjectKeyIdentifier?: Uint8Array;
  signerKey: KeyObject;
  /** Further certificates to include (chain). */
  extraCerts?: Uint8Array[];
  /** @deprecated alias of extraCerts, kept for existing callers. */
  extraCertificates?: Uint8Array[];
  digest?: DigestName;
  /** RSA keys: RSASSA-PSS instead of PKCS#1 v1.5. */
  pss?: boolean;
  /** Adds a signingTime signed attribute. */
  signingTime?: Date;
}

function signatureAlgorithm(key: KeyObject, digest: DigestName, pss: boolean): { algId: Buffer; sign: (data: Uint8Array) => Buffer } {
  const type = key.asymmetricKeyType;
  if (type === 'ec') return { algId: seq(oid(ECDSA_WITH[digest]!)), sign: (d) => sign(digest, d, { key, dsaEncoding: 'der' }) };
  if (type === 'rsa' && pss) {
    const saltLength = { sha256: 32, sha384: 48, sha512: 64 }[digest];
    const hashAlg = seq(oid(DIGEST_OID_BY_NAME[digest]!));
    const params = seq(explicit(0, hashAlg), explicit(1, seq(oid(KEY_ALG.mgf1), hashAlg)), explicit(2, integer(saltLength)));
    return { algId: seq(oid(KEY_ALG.rsassaPss), params), sign: (d) => sign(digest, d, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }) };
  }
  if (type === 'rsa') return { algId: seq(oid(RSA_WITH[digest]!), nullValue()), sign: (d) => sign(digest, d, key) };
  throw new OpencesError('unsupported', `cannot sign CMS with a ${type ?? 'unknown'} key`);
}

/**
 * CMS SignedData over `content` with signed attributes (contentType, messageDigest, optional
 * signingTime), one signer. Used for renewals (signed by the certificate being renewed) and
 * signed CMC requests.
 */
export function buildSignedData(o: BuildSignedDataOptions): Uint8Array {
  const digest = o.digest ?? 'sha256';
  let sid: Buffer;
  if (o.signerCertDer) {
    const c = readCertificate(decode(o.signerCertDer, 'signer certificate'), 'signer certificate');
    sid = seq(c.issuerDer, integerFromBytes(c.serial));
  } else if (o.subjectKeyIdentifier) sid = implicitPrim(0, o.subjectKeyIdentifier);
  else throw new OpencesError('internal', 'buildSignedData needs signerCertDer or subjectKeyIdentifier');
  const attrs = [seq(oid(CMS_OID.contentType), set(oid(o.contentType))), seq(oid(CMS_OID.messageDigest), set(octetString(createHash(digest).update(o.content).digest())))];
  if (o.signingTime) {
    const y = o.signingTime.getUTCFullYear();
    attrs.push(seq(oid(CMS_OID.signingTime), set(y >= 1950 && y < 2050 ? utcTime(o.signingTime) : generalizedTime(o.signingTime))));
  }
  const signedAttrsSet = setOf(...attrs);
  const alg = signatureAlgorithm(o.signerKey, digest, o.pss ?? false);
  const signature = alg.sign(signedAttrsSet);
  const signedAttrs = Buffer.from(signedAttrsSet);
  signedAttrs[0] = 0xa0; // [0] IMPLICIT in the SignerInfo; the signature covered the SET OF form
  const digestAlg = seq(oid(DIGEST_OID_BY_NAME[digest]!));
  const signerInfo = seq(integer(o.signerCertDer ? 1 : 3), sid, digestAlg, signedAttrs, alg.algId, octetString(signature));
  const certs = [...(o.signerCertDer ? [o.signerCertDer] : []), ...(o.extraCerts ?? o.extraCertificates ?? [])];
  const version = o.signerCertDer && o.contentType === CMS_OID.data ? 1 : 3; // RFC 5652 §5.1
  const sd = seq(integer(version), set(digestAlg), seq(oid(o.contentType), explicit(0, octetString(o.content))), ...(certs.length ? [implicitCons(0, certs)] : []), set(signerInfo));
  return new Uint8Array(seq(oid(CMS_OID.signedData), explicit(0, sd)));
}

/**
 * IssuerAndSerialNumber of a signer certificate, kept per certificate object: a CA signs every
 * response with the same one, and decoding it each time cost more than the rest of the response.
 */
const sidCache = new WeakMap<Uint8Array, Buffer>();
function issuerAndSerialOf(certDer: Uint8Array): Buffer {
  let sid = sidCache.get(certDer);
  if (!sid) {
    const c = readCertificate(decode(certDer, 'signer certificate'), 'signer certificate');
    sid = seq(c.issuerDer, integerFromBytes(c.serial));
    sidCache.set(certDer, sid);
  }
  return sid;
}

/**
 * A SignedData signed by a key this codec never sees (a CA's, behind a KeyStore): the caller signs
 * `toBeSigned` (the DER SET OF signed attributes: contentType and messageDigest, RFC 5652 §5.4)
 * with `signatureAlgorithm`, and `finish` assembles the ContentInfo. The signer is named by issuer
 * and serial (SignerInfo v1); `certificates` go in as given (a DER SET OF wants them sorted).
 */
export function prepareSignedData(o: { contentType: string; content: Uint8Array; signerCertDer: Uint8Array; certificates: Uint8Array[]; digest: DigestName; signatureAlgorithm: Uint8Array }): { toBeSigned: Buffer; finish(signature: Uint8Array): Uint8Array } {
  const sid = issuerAndSerialOf(o.signerCertDer);
  const digestAlg = seq(oid(DIGEST_OID_BY_NAME[o.digest]!));
  const toBeSigned = setOf(seq(oid(CMS_OID.contentType), set(oid(o.contentType))), seq(oid(CMS_OID.messageDigest), set(octetString(createHash(o.digest).update(o.content).digest()))));
  return {
    toBeSigned,
    finish(signature) {
      const signedAttrs = Buffer.from(toBeSigned);
      signedAttrs[0] = 0xa0; // [0] IMPLICIT in the SignerInfo; the signature covers the SET OF form
      const signerInfo = seq(integer(1), sid, digestAlg, signedAttrs, o.signatureAlgorithm, octetString(signature));
      const version = o.contentType === CMS_OID.data ? 1 : 3; // RFC 5652 §5.1
      const sd = seq(integer(version), set(digestAlg), seq(oid(o.contentType), explicit(0, octetString(o.content))), ...(o.certificates.length ? [implicitCons(0, o.certificates)] : []), set(signerInfo));
      return new Uint8Array(seq(oid(CMS_OID.signedData), explicit(0, sd)));
    },
  };
}

/**
 * A SignedData with no signers around optional `content` and `certificates`: a degenerate
 * certs-only PKCS#7, or an unsigned CMC response (RFC 5272 §3.2.2 allows it when no signature
 * is needed; our front ends hold no signing key). Certificates keep the order given
 * (leaf first), as ADCS and openssl write them.
 */
export function buildUnsignedSignedData(o: { contentType: string; content?: Uint8Array; certificates: Uint8Array[] }): Uint8Array {
  const version = o.contentType === CMS_OID.data ? 1 : 3;
  const encap = o.content ? seq(oid(o.contentType), explicit(0, octetString(o.content))) : seq(oid(o.contentType));
  const sd = seq(integer(version), set(), encap, ...(o.certificates.length ? [implicitCons(0, o.certificates)] : []), set());
  return new Uint8Array(seq(oid(CMS_OID.signedData), explicit(0, sd)));
}

/** Degenerate "certs-only" PKCS#7 (what `openssl pkcs7 -print_certs` and Windows' .p7b import read). */
export function buildCertsOnly(certs: Uint8Array[]): Uint8Array {
  return buildUnsignedSignedData({ contentType: CMS_OID.data, certificates: certs });
}
