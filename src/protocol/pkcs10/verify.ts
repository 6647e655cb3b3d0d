import { createPublicKey, verify as cryptoVerify, constants, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { OpencesError } from '../../errors.js';

/** Signature algorithm OID → node:crypto hash (null for Ed25519/Ed448, which hash internally). */
const SIG_HASH: Record<string, string | null> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null,
  '1.3.101.113': null,
};
const RSASSA_PSS = '1.2.840.113549.1.1.10';
const HASH_OIDS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

interface SignedParts {
  tbs: Uint8Array;
  algOid: string;
  algParams?: asn1js.AsnType;
  signature: Uint8Array;
  spki: Uint8Array;
}

/** Splits SEQUENCE { info, AlgorithmIdentifier, BIT STRING } keeping the exact bytes of info. */
function split(der: Uint8Array): SignedParts {
  const asn = asn1js.fromBER(der);
  if (asn.offset === -1 || asn.result.error || !(asn.result instanceof asn1js.Sequence)) throw new OpencesError('badCsr', 'the certificate request is not valid DER');
  if (asn.offset !== der.length) throw new OpencesError('badCsr', 'the certificate request has trailing bytes');
  const [info, alg, sig, extra] = asn.result.valueBlock.value;
  if (extra !== undefined) throw new OpencesError('badCsr', 'the data is not a PKCS#10 certificate request');
  if (!(info instanceof asn1js.Sequence) || !(alg instanceof asn1js.Sequence) || !(sig instanceof asn1js.BitString)) {
    throw new OpencesError('badCsr', 'the data is not a PKCS#10 certificate request');
  }
  if (sig.valueBlock.unusedBits !== 0) throw new OpencesError('badCsr', 'the request signature is not a whole number of bytes');
  const algOid = alg.valueBlock.value[0];
  if (!(algOid instanceof asn1js.ObjectIdentifier)) throw new OpencesError('badCsr', 'the request signature algorithm is malformed');
  const spkiNode = info.valueBlock.value[2];
  if (!(spkiNode instanceof asn1js.Sequence)) throw new OpencesError('badCsr', 'the request has no public key');
  return {
    tbs: new Uint8Array(info.valueBeforeDecodeView),
    algOid: algOid.valueBlock.toString(),
    algParams: alg.valueBlock.value[1],
    signature: new Uint8Array(sig.valueBlock.valueHexView),
    spki: new Uint8Array(spkiNode.valueBeforeDecodeView),
  };
}

export function verifySignature(tbs: Uint8Array, algOid: string, algParams: asn1js.AsnType | undefined, signature: Uint8Array, key: KeyObject): boolean {
  try {
    if (algOid === RSASSA_PSS) {
      const { hash, saltLength } = pssParams(algParams);
      return cryptoVerify(hash, tbs, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, signature);
    }
    if (!(algOid in SIG_HASH)) return false;
    const hash = SIG_HASH[algOid]!;
    if (key.asymmetricKeyType === 'ec') return cryptoVerify(hash, tbs, { key, dsaEncoding: 'der' }, signature);
    return cryptoVerify(hash, tbs, key, signature);
  } catch {
    return false;
  }
}

function pssParams(p: asn1js.AsnType | undefined): { hash: string; saltLength: number } {
  let hash = 'sha1';
  let saltLength = 20;
  if (p instanceof asn1js.Sequence) {
    for (const item of p.valueBlock.value) {
      const tag = item.idBlock.tagNumber;
      const inner = (item as asn1js.Constructed).valueBlock.value?.[0];
      if (tag === 0 && inner instanceof asn1js.Sequence) {
        const oid = inner.valueBlock.value[0];
        if (oid instanceof asn1js.ObjectIdentifier) hash = HASH_OIDS[oid.valueBlock.toString()] ?? hash;
      } else if (tag === 2 && inner instanceof asn1js.Integer) {
        saltLength = inner.valueBlock.valueDec;
      }
    }
  }
  return { hash, saltLength };
}

/** Proof of possession: the request is signed by the private key matching its public key. */
export async function verifyCsrSignature(der: Uint8Array): Promise<boolean> {
  let p: SignedParts;
  try {
    p = split(der);
  } catch (e) {
    if (e instanceof OpencesError) throw e;
    throw new OpencesError('badCsr', 'the certificate request is malformed');
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(p.spki), format: 'der', type: 'spki' });
  } catch {
    return false;
  }
  return verifySignature(p.tbs, p.algOid, p.algParams, p.signature, key);
}
