/**
 * Just enough of an X.509 certificate to find a CMS signer's certificate and key: issuer,
 * serial, SubjectPublicKeyInfo and the subjectKeyIdentifier extension. Reads the asn1js nodes
 * already decoded with the SignedData, and keeps the certificate's original bytes.
 */
import * as asn1js from 'asn1js';
import { CMS_OID } from './oids.js';
import { children, decode, isContext, malformed, octets, oidText, raw, unsignedBytes } from './asn1.js';

export interface CertificateIds {
  der: Uint8Array;
  issuerDer: Uint8Array;
  /** Serial number magnitude, big-endian, no leading zeros. */
  serial: Uint8Array;
  spkiDer: Uint8Array;
  /** The subjectPublicKey BIT STRING contents (without the unused-bits byte): what a SHA-1 key id hashes. */
  publicKeyBits: Uint8Array;
  /** subjectKeyIdentifier extension value, when present. */
  ski?: Uint8Array;
}

export function readCertificate(node: asn1js.AsnType, what = 'certificate'): CertificateIds {
  if (!(node instanceof asn1js.Sequence)) malformed(`a ${what} is not a SEQUENCE`);
  const [tbs, alg, sig] = children(node, what, 3);
  if (!(tbs instanceof asn1js.Sequence) || !(alg instanceof asn1js.Sequence) || !(sig instanceof asn1js.BitString) || children(node, what).length !== 3) malformed(`a ${what} is not an X.509 Certificate`);
  const f = children(tbs, `${what} TBSCertificate`, 16);
  let i = isContext(f[0], 0) ? 1 : 0;
  const serialNode = f[i++];
  i++; // signature AlgorithmIdentifier
  const issuer = f[i++];
  i += 2; // validity, subject
  const spki = f[i++];
  if (!(issuer instanceof asn1js.Sequence) || !(spki instanceof asn1js.Sequence)) malformed(`a ${what} has no issuer or SubjectPublicKeyInfo`);
  const bits = children(spki, `${what} SubjectPublicKeyInfo`, 2)[1];
  if (!(bits instanceof asn1js.BitString)) malformed(`a ${what} SubjectPublicKeyInfo has no key BIT STRING`);
  const out: CertificateIds = {
    der: raw(node),
    issuerDer: raw(issuer),
    serial: unsignedBytesLenient(serialNode, `${what} serial number`),
    spkiDer: raw(spki),
    publicKeyBits: new Uint8Array(bits.valueBlock.valueHexView),
  };
  const extsWrapper = f.slice(i).find((n) => isContext(n, 3));
  if (extsWrapper) {
    const exts = children(extsWrapper, `${what} extensions`, 1)[0];
    for (const ext of children(exts, `${what} extensions`, 64)) {
      const parts = children(ext, `${what} extension`, 3);
      if (oidText(parts[0], `${what} extension id`) !== CMS_OID.subjectKeyIdentifier) continue;
      const value = octets(parts[parts.length - 1], `${what} subjectKeyIdentifier`);
      out.ski = octets(decode(value, `${what} subjectKeyIdentifier`), `${what} subjectKeyIdentifier`);
    }
  }
  return out;
}

/** Serial numbers in the wild are sometimes negative (RFC 5280 says they must not be); compare their bytes as they are. */
function unsignedBytesLenient(node: unknown, what: string): Uint8Array {
  if (node instanceof asn1js.Integer && node.valueBlock.valueHexView.length > 0 && node.valueBlock.valueHexView[0]! & 0x80) return new Uint8Array(node.valueBlock.valueHexView);
  return unsignedBytes(node, what);
}
