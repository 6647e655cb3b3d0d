/**
 * Verifies one CMS SignerInfo (RFC 5652 §5.4–5.6). A wrong signature is a value (false with a
 * reason), never an exception: whether an unsigned or badly signed request is acceptable is
 * the caller's decision (a renewal needs a valid one; a CMC request may be signed by anyone).
 */
import { createHash, createPublicKey, verify as cryptoVerify, constants, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { CMS_OID, DIGEST_OIDS, KEY_ALG, SIGNATURE_ALGS } from './oids.js';
import { children, isContext, octets, oidText, sameBytes, smallInt } from './asn1.js';
import type { CertificateIds } from './certificate.js';

export interface CmsAttribute {
  type: string;
  /** DER of each value in the attribute's SET. */
  values: Uint8Array[];
}

export type SignerIdentifier = { kind: 'issuerAndSerial'; issuerDer: Uint8Array; serial: Uint8Array } | { kind: 'subjectKeyIdentifier'; ski: Uint8Array };

/** A SignerInfo as decoded, before verification. */
export interface SignerInfoFields {
  version: number;
  sid: SignerIdentifier;
  digestAlgorithm: string;
  /** The signed attributes exactly as received ([0] IMPLICIT tag included), when present. */
  signedAttrsDer?: Uint8Array;
  signedAttributes: CmsAttribute[];
  signedAttributeNodes: { type: string; values: asn1js.AsnType[] }[];
  signatureAlgorithm: string;
  signatureParams?: asn1js.AsnType;
  signature: Uint8Array;
  unsignedAttributes: CmsAttribute[];
}

/** A public key that may have signed without a certificate (CMC signed by the request key, found by its key identifier). */
export interface CandidateKey {
  spkiDer: Uint8Array;
  publicKeyBits: Uint8Array;
  /** Where it came from, reported back as keySource. */
  source: 'request';
}

export interface SignerResult {
  sid: SignerIdentifier;
  /** DER of the certificate in `certificates` that matches sid, if any. */
  certificateDer?: Uint8Array;
  /** 'certificate' when verified with certificateDer, 'request' when with a key from the request itself. */
  keySource?: 'certificate' | 'request';
  signatureValid: boolean;
  /** Why signatureValid is false. */
  failure?: string;
  /** node:crypto name (sha256…) or the OID when unknown. */
  digestAlgorithm: string;
  signingAlgorithm: string;
  /** The hash the signature itself is made with (node:crypto name), when known: key and signature policy judge it. */
  signatureHash?: string;
  signedAttributes: CmsAttribute[];
  unsignedAttributes: CmsAttribute[];
}

function keyIdMatches(ski: Uint8Array, c: { publicKeyBits: Uint8Array; spkiDer: Uint8Array; ski?: Uint8Array }): boolean {
  if (c.ski && sameBytes(c.ski, ski)) return true;
  // RFC 5280 §4.2.1.2 method 1 (SHA-1 of the key bits); Windows also uses SHA-1 of the whole SPKI.
  if (ski.length === 20 && sameBytes(createHash('sha1').update(c.publicKeyBits).digest(), ski)) return true;
  return ski.length === 20 && sameBytes(createHash('sha1').update(c.spkiDer).digest(), ski);
}

function findCertificate(sid: SignerIdentifier, certs: CertificateIds[]): CertificateIds | undefined {
  if (sid.kind === 'issuerAndSerial') return certs.find((c) => sameBytes(c.issuerDer, sid.issuerDer) && sameBytes(c.serial, sid.serial));
  return certs.find((c) => keyIdMatches(sid.ski, c));
}

/** RSASSA-PSS-params: hash, MGF1 hash (must be the same for node:crypto), salt length. */
function pssParams(p: asn1js.AsnType | undefined): { hash: string; saltLength: number } | string {
  let hash = 'sha1';
  let mgfHash = 'sha1';
  let saltLength = 20;
  if (p !== undefined && !(p instanceof asn1js.Null)) {
    if (!(p instanceof asn1js.Sequence)) return 'RSASSA-PSS parameters are not a SEQUENCE';
    for (const item of children(p, 'RSASSA-PSS parameters', 4)) {
      const inner = children(item, 'RSASSA-PSS parameter', 1)[0];
      if (isContext(item, 0)) hash = DIGEST_OIDS[oidText(children(inner, 'PSS hash', 2)[0], 'PSS hash')] ?? 'unknown';
      else if (isContext(item, 1)) {
        const [mgf, mgfParam] = children(inner, 'PSS mask generation', 2);
        if (oidText(mgf, 'PSS MGF') !== KEY_ALG.mgf1) return 'RSASSA-PSS with a mask generation function other than MGF1';
        mgfHash = DIGEST_OIDS[oidText(children(mgfParam, 'MGF1 hash', 2)[0], 'MGF1 hash')] ?? 'unknown';
      } else if (isContext(item, 2)) saltLength = smallInt(inner, 'PSS salt length');
      else if (isContext(item, 3) && smallInt(inner, 'PSS trailer field') !== 1) return 'RSASSA-PSS trailer field is not 1';
    }
  }
  if (hash === 'unknown' || mgfHash !== hash) return 'RSASSA-PSS hash or MGF1 hash is unsupported or inconsistent';
  return { hash, saltLength };
}

function signatureHashOf(s: SignerInfoFields): string | undefined {
  try {
    if (s.signatureAlgorithm === KEY_ALG.rsassaPss) {
      const p = pssParams(s.signatureParams);
      return typeof p === 'string' ? undefined : p.hash;
    }
    const alg = SIGNATURE_ALGS[s.signatureAlgorithm];
    return alg ? (alg.hash ?? DIGEST_OIDS[s.digestAlgorithm]) : undefined;
  } catch {
    return undefined;
  }
}

function checkSignature(s: SignerInfoFields, signedBytes: Uint8Array, key: KeyObject): string | undefined {
  const type = key.asymmetricKeyType;
  if (s.signatureAlgorithm === KEY_ALG.rsassaPss) {
    if (type !== 'rsa' && type !== 'rsa-pss') return 'RSASSA-PSS signature but the key is not RSA';
    const p = pssParams(s.signatureParams);
    if (typeof p === 'string') return p;
    return cryptoVerify(p.hash, signedBytes, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: p.saltLength }, s.signature) ? undefined : 'the signature does not verify';
  }
  const alg = SIGNATURE_ALGS[s.signatureAlgorithm];
  if (!alg) return `unsupported signature algorithm ${s.signatureAlgorithm}`;
  if (alg.family !== type) return `a ${alg.family} signature algorithm with a ${type ?? 'unknown'} key`;
  const hash = alg.hash ?? DIGEST_OIDS[s.digestAlgorithm];
  if (!hash) return `unsupported digest algorithm ${s.digestAlgorithm}`;
  const ok = alg.family === 'ec' ? cryptoVerify(hash, signedBytes, { key, dsaEncoding: 'der' }, s.signature) : cryptoVerify(hash, signedBytes, key, s.signature);
  return ok ? undefined : 'the signature does not verify';
}

/**
 * What the signature covers: the content itself, or (with signed attributes) their DER as a
 * SET OF, after checking messageDigest and contentType against the content (RFC 5652 §5.4).
 */
function signedInput(s: SignerInfoFields, content: Uint8Array, eContentType: string): Uint8Array | string {
  if (!s.signedAttrsDer) {
    if (eContentType !== CMS_OID.data) return 'signed attributes are required when the content type is not id-data (RFC 5652 §5.3)';
    return content;
  }
  const hash = DIGEST_OIDS[s.digestAlgorithm];
  if (!hash) return `unsupported digest algorithm ${s.digestAlgorithm}`;
  const md = s.signedAttributeNodes.filter((a) => a.type === CMS_OID.messageDigest);
  const ct = s.signedAttributeNodes.filter((a) => a.type === CMS_OID.contentType);
  if (md.length !== 1 || md[0]!.values.length !== 1) return 'the signed attributes need exactly one messageDigest';
  if (ct.length !== 1 || ct[0]!.values.length !== 1) return 'the signed attributes need exactly one contentType';
  if (oidText(ct[0]!.values[0], 'contentType attribute') !== eContentType) return 'the contentType attribute differs from the content type';
  const digest = createHash(hash).update(content).digest();
  if (!sameBytes(octets(md[0]!.values[0], 'messageDigest attribute'), digest)) return 'the messageDigest attribute does not match the content';
  const input = new Uint8Array(s.signedAttrsDer);
  input[0] = 0x31; // [0] IMPLICIT on the wire, EXPLICIT SET OF tag in the signature input
  return input;
}

export function verifySigner(s: SignerInfoFields, content: Uint8Array | undefined, eContentType: string, certs: CertificateIds[], candidates: CandidateKey[] = []): SignerResult {
  const base = {
    sid: s.sid,
    digestAlgorithm: DIGEST_OIDS[s.digestAlgorithm] ?? s.digestAlgorithm,
    signingAlgorithm: s.signatureAlgorithm,
    signatureHash: signatureHashOf(s),
    signedAttributes: s.signedAttributes,
    unsignedAttributes: s.unsignedAttributes,
  };
  const cert = findCertificate(s.sid, certs);
  const fromRequest = !cert && s.sid.kind === 'subjectKeyIdentifier' ? candidates.find((k) => keyIdMatches((s.sid as { ski: Uint8Array }).ski, k)) : undefined;
  const keyHolder = cert ?? fromRequest;
  const found = cert ? { certificateDer: cert.der, keySource: 'certificate' as const } : fromRequest ? { keySource: 'request' as const } : {};
  const fail = (failure: string): SignerResult => ({ ...base, ...found, signatureValid: false, failure });
  if (!keyHolder) return fail('no certificate in the message matches the signer identifier');
  if (!content) return fail('the content is detached');
  const input = signedInput(s, content, eContentType);
  if (typeof input === 'string') return fail(input);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(keyHolder.spkiDer), format: 'der', type: 'spki' });
  } catch {
    return fail("the signer's public key cannot be read");
  }
  let why: string | undefined;
  try {
    why = checkSignature(s, input, key);
  } catch (e) {
    why = e instanceof Error && 'kind' in e ? e.message : 'the signature cannot be checked';
  }
  return why ? fail(why) : { ...base, ...found, signatureValid: true };
}
