/**
 * The pkcsPKIEnvelope of SCEP (RFC 8894 §3.2.2): CMS EnvelopedData with key transport to an RSA
 * key. Opened with the RA's encryption key (passed in: this codec does no I/O and keeps no keys),
 * sealed to the requester's signer certificate for a CertRep.
 */
import { constants, createCipheriv, createDecipheriv, createPublicKey, privateDecrypt, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { OpencesError } from '../../errors.js';
import { explicit, implicitPrim, integer, integerFromBytes, nullValue, octetString, oid, seq, set } from '../../ca/der.js';
import { CMS_OID } from '../pkcs7/oids.js';
import { children, decode, isContext, malformed, oidText, raw, sameBytes, smallInt, unsignedBytes } from '../pkcs7/asn1.js';
import { guard } from '../pkcs7/signed-data.js';
import { readCertificate } from '../pkcs7/certificate.js';
import { CONTENT_CIPHERS, CONTENT_CIPHER_OID, ENVELOPED_DATA_OID, KEY_TRANSPORT, type ContentCipher } from './oids.js';

const MAX_RECIPIENTS = 16;

/** One key this node can open envelopes with: the RA certificate it is addressed by, and its private key. */
export interface EnvelopeKey {
  certificateDer: Uint8Array;
  privateKey: KeyObject;
}

export interface OpenedEnvelope {
  content: Uint8Array;
  cipher: ContentCipher;
  /** Index in `keys` of the key that opened it. */
  keyIndex: number;
}

/** Why an envelope could not be opened: the SCEP failInfo follows from it (badAlg or badMessageCheck). */
export class EnvelopeError extends OpencesError {
  constructor(
    readonly reason: 'badAlg' | 'badMessageCheck',
    message: string,
  ) {
    super('malformed', message, { failInfo: reason });
  }
}

interface Recipient {
  issuerDer?: Uint8Array;
  serial?: Uint8Array;
  ski?: Uint8Array;
  keyAlgorithm: string;
  encryptedKey: Uint8Array;
}

function octetsOf(node: asn1js.AsnType, what: string, depth = 0): Uint8Array {
  // [0] IMPLICIT OCTET STRING: primitive, or constructed of OCTET STRING segments (BER, as Go's pkcs7 and openssl stream it).
  if (!node.idBlock.isConstructed) return new Uint8Array((node as asn1js.Primitive).valueBlock.valueHexView);
  if (depth > 4) malformed(`the ${what} nests constructed segments too deeply`);
  return new Uint8Array(Buffer.concat(children(node, what, 65_536).map((p) => octetsOf(p, what, depth + 1))));
}

function recipients(set: asn1js.AsnType): Recipient[] {
  return children(set, 'recipientInfos', MAX_RECIPIENTS).flatMap((ri): Recipient[] => {
    // KeyTransRecipientInfo is the only untagged choice; key agreement, KEK and password ones are tagged.
    if (!(ri instanceof asn1js.Sequence)) return [];
    const [version, rid, alg, key] = children(ri, 'KeyTransRecipientInfo', 4);
    smallInt(version, 'KeyTransRecipientInfo version');
    const keyAlgorithm = oidText(children(alg, 'keyEncryptionAlgorithm', 2)[0], 'keyEncryptionAlgorithm');
    if (!(key instanceof asn1js.OctetString)) malformed('the encryptedKey is not an OCTET STRING');
    const encryptedKey = octetsOf(key, 'encryptedKey');
    if (rid instanceof asn1js.Sequence) {
      const [issuer, serial] = children(rid, 'IssuerAndSerialNumber', 2);
      if (!(issuer instanceof asn1js.Sequence)) malformed('the recipient issuer is not a Name');
      return [{ issuerDer: raw(issuer), serial: unsignedBytes(serial, 'recipient serial number'), keyAlgorithm, encryptedKey }];
    }
    if (isContext(rid, 0)) return [{ ski: new Uint8Array((rid as asn1js.Primitive).valueBlock.valueHexView), keyAlgorithm, encryptedKey }];
    return malformed('the recipient identifier is neither IssuerAndSerialNumber nor a key identifier');
  });
}

/**
 * The key a PKCS#1 v1.5 block carries, or a random one when the padding is wrong (implicit
 * rejection, after RFC 8017 §7.2.2's warning and the Marvin attack): the content then fails to
 * decrypt exactly as with a wrong key, so the answer says nothing about the padding. Node 20
 * refuses RSA_PKCS1_PADDING for private decryption (CVE-2023-46809), hence the raw operation.
 */
function unwrapPkcs1(key: KeyObject, encryptedKey: Uint8Array, keyBytes: number): Buffer {
  const fallback = randomBytes(keyBytes);
  let em: Buffer;
  try {
    em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, encryptedKey);
  } catch {
    return fallback;
  }
  let sep = 0;
  for (let i = 2; i < em.length; i++) {
    if (em[i] === 0 && sep === 0) sep = i;
  }
  const good = em[0] === 0 && em[1] === 2 && sep >= 10 && em.length - sep - 1 === keyBytes;
  return good ? em.subarray(sep + 1) : fallback;
}

function unwrapKey(r: Recipient, key: KeyObject, keyBytes: number): Buffer {
  if (r.keyAlgorithm === KEY_TRANSPORT.rsaEncryption) return unwrapPkcs1(key, r.encryptedKey, keyBytes);
  if (r.keyAlgorithm === KEY_TRANSPORT.rsaesOaep) {
    try {
      const k = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, r.encryptedKey);
      if (k.length === keyBytes) return k;
    } catch {
      // same answer as a wrong key
    }
    return randomBytes(keyBytes);
  }
  throw new EnvelopeError('badAlg', `the key transport algorithm ${r.keyAlgorithm} is not supported (RSA only)`);
}

/** Single DES as three-key DES with K1 = K2 = K3 (EDE collapses to E): OpenSSL 3 keeps des-cbc in its legacy provider only. */
function cipherParams(cipher: ContentCipher, key: Buffer): { name: string; key: Buffer } {
  return cipher === 'des-cbc' ? { name: 'des-ede3-cbc', key: Buffer.concat([key, key, key]) } : { name: cipher, key };
}

/**
 * Opens a pkcsPKIEnvelope addressed to one of `keys`. Legacy ciphers (DES, 3DES) only when
 * `allowLegacy`; anything else → EnvelopeError (badAlg for an algorithm, badMessageCheck for a
 * recipient that is not us or content that does not decrypt).
 */
export function openEnvelope(der: Uint8Array, keys: EnvelopeKey[], o: { allowLegacy: boolean }): OpenedEnvelope {
  return guard('SCEP pkcsPKIEnvelope', () => {
    const top = decode(der, 'SCEP pkcsPKIEnvelope');
    let env: asn1js.AsnType = top;
    const first = top instanceof asn1js.Sequence ? top.valueBlock.value[0] : undefined;
    if (first instanceof asn1js.ObjectIdentifier) {
      const [type, inner] = children(top, 'ContentInfo', 2);
      if (oidText(type, 'ContentInfo content type') !== ENVELOPED_DATA_OID) malformed('the pkcsPKIEnvelope is not CMS EnvelopedData');
      if (!isContext(inner, 0)) malformed('the pkcsPKIEnvelope ContentInfo has no [0] content');
      env = children(inner!, 'ContentInfo content', 1)[0] ?? malformed('the pkcsPKIEnvelope ContentInfo is empty');
    }
    const parts = children(env, 'EnvelopedData', 5);
    let i = 1; // version
    smallInt(parts[0], 'EnvelopedData version');
    if (isContext(parts[i], 0)) i++; // originatorInfo
    const ris = parts[i++];
    const eci = parts[i++];
    if (!(ris instanceof asn1js.Set) || !(eci instanceof asn1js.Sequence)) malformed('the EnvelopedData has no recipientInfos or encryptedContentInfo');
    const [, algNode, contentNode] = children(eci, 'EncryptedContentInfo', 3);
    const [algOid, ivNode] = children(algNode, 'contentEncryptionAlgorithm', 2);
    const algorithm = oidText(algOid, 'content encryption algorithm');
    const c = CONTENT_CIPHERS[algorithm];
    if (!c) throw new EnvelopeError('badAlg', `the content encryption algorithm ${algorithm} is not supported`);
    if (c.legacy && !o.allowLegacy) throw new EnvelopeError('badAlg', `${c.name} is a legacy cipher this profile does not accept (AES-128/256-CBC are; see scep legacy mode)`);
    if (!(ivNode instanceof asn1js.OctetString)) malformed('the content encryption IV is not an OCTET STRING');
    const iv = new Uint8Array(ivNode.valueBlock.valueHexView);
    if (iv.length !== c.ivBytes) malformed(`the ${c.name} IV is ${iv.length} bytes, not ${c.ivBytes}`);
    if (!contentNode || !isContext(contentNode, 0)) malformed('the EnvelopedData carries no encryptedContent');
    const encrypted = octetsOf(contentNode, 'encryptedContent');
    if (encrypted.length === 0 || encrypted.length % (c.ivBytes) !== 0) throw new EnvelopeError('badMessageCheck', 'the encrypted content is not a whole number of cipher blocks');

    const list = recipients(ris);
    for (const r of list) {
      const keyIndex = keys.findIndex((k) => {
        const id = readCertificate(decode(k.certificateDer, 'RA certificate'), 'RA certificate');
        return r.ski ? id.ski !== undefined && sameBytes(id.ski, r.ski) : sameBytes(id.issuerDer, r.issuerDer!) && sameBytes(id.serial, r.serial!);
      });
      if (keyIndex < 0) continue;
      const cek = unwrapKey(r, keys[keyIndex]!.privateKey, c.keyBytes);
      const p = cipherParams(c.name, cek);
      try {
        const d = createDecipheriv(p.name, p.key, iv);
        const content = new Uint8Array(Buffer.concat([d.update(encrypted), d.final()]));
        return { content, cipher: c.name, keyIndex };
      } catch {
        throw new EnvelopeError('badMessageCheck', 'the pkcsPKIEnvelope does not decrypt with the RA key it names');
      }
    }
    throw new EnvelopeError('badMessageCheck', list.length ? 'the pkcsPKIEnvelope is not addressed to this RA (no recipient names an RA certificate)' : 'the pkcsPKIEnvelope has no key transport recipient');
  });
}

/** A pkcsPKIEnvelope of `content` for the holder of `recipientCertDer` (an RSA key), as a CMS ContentInfo. */
export function sealEnvelope(o: { content: Uint8Array; recipientCertDer: Uint8Array; cipher: ContentCipher; random?: (n: number) => Uint8Array }): Uint8Array {
  const random = o.random ?? ((n: number) => randomBytes(n));
  const c = CONTENT_CIPHERS[CONTENT_CIPHER_OID[o.cipher]]!;
  const id = readCertificate(decode(o.recipientCertDer, 'recipient certificate'), 'recipient certificate');
  const pub = createPublicKey({ key: Buffer.from(id.spkiDer), format: 'der', type: 'spki' });
  if (pub.asymmetricKeyType !== 'rsa') throw new EnvelopeError('badAlg', `the requester's certificate holds a ${pub.asymmetricKeyType ?? 'unknown'} key; SCEP encrypts to RSA keys only`);
  const cek = Buffer.from(random(c.keyBytes));
  const iv = Buffer.from(random(c.ivBytes));
  const p = cipherParams(o.cipher, cek);
  const e = createCipheriv(p.name, p.key, iv);
  const encrypted = Buffer.concat([e.update(o.content), e.final()]);
  const encryptedKey = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, cek);
  const ktri = seq(integer(0), seq(id.issuerDer, integerFromBytes(id.serial)), seq(oid(KEY_TRANSPORT.rsaEncryption), nullValue()), octetString(encryptedKey));
  const eci = seq(oid(CMS_OID.data), seq(oid(CONTENT_CIPHER_OID[o.cipher]), octetString(iv)), implicitPrim(0, encrypted));
  return new Uint8Array(seq(oid(ENVELOPED_DATA_OID), explicit(0, seq(integer(0), set(ktri), eci))));
}
