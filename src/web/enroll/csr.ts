import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { HashName } from './keys.js';
import { subjectAltNameDer, type San } from './san.js';

const OID = {
  commonName: '2.5.4.3',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
} as const;

export interface CsrInput {
  keys: CryptoKeyPair;
  hash: HashName;
  /** Common name; empty when the template builds the subject from the signed-in identity. */
  commonName: string;
  /** Subject alternative names (parseSans in san.ts). */
  sans: San[];
}

/**
 * A PKCS#10 signed by the new private key, built with pkijs on WebCrypto. The server decides the
 * final subject and SANs (the template may replace them with the identity's); the template is
 * named beside the CSR, not inside it.
 */
export async function buildCsr(o: CsrInput): Promise<Uint8Array> {
  const csr = new pkijs.CertificationRequest();
  csr.version = 0;
  if (o.commonName) csr.subject.typesAndValues.push(new pkijs.AttributeTypeAndValue({ type: OID.commonName, value: new asn1js.Utf8String({ value: o.commonName }) }));
  await csr.subjectPublicKeyInfo.importKey(o.keys.publicKey);
  if (o.sans.length) {
    const exts = new pkijs.Extensions({ extensions: [new pkijs.Extension({ extnID: OID.subjectAltName, critical: false, extnValue: subjectAltNameDer(o.sans) })] });
    csr.attributes = [new pkijs.Attribute({ type: OID.extensionRequest, values: [exts.toSchema()] })];
  }
  await csr.sign(o.keys.privateKey, o.hash);
  return new Uint8Array(csr.toSchema(true).toBER(false));
}
