import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { buildSignedData } from '../../src/protocol/pkcs7/build.js';
import { CMS_OID } from '../../src/protocol/pkcs7/oids.js';
import type { Csr } from './openssl.js';

/** The PKCS#10 with a byte of its self-signature flipped: a signature that does not verify. */
export function breakSelfSignature(csrDer: Uint8Array): Buffer {
  const bad = Buffer.from(csrDer);
  bad[bad.length - 5] ^= 0xff;
  return bad;
}

/**
 * CertEnroll's "Full PKCS#7" request (#14 item 8): the PKCS#10 as id-data content of a SignedData
 * with no certificates and one SignerInfo named by subjectKeyIdentifier = SHA-1 of the request
 * key's SubjectPublicKeyInfo. `signerKeyPem` signs instead of the request's key (the forgery a
 * server must refuse); `breakInner` flips a byte of the PKCS#10's own signature, as Windows clients
 * were seen sending.
 */
export function windowsFullPkcs7(csr: Csr, o: { breakInner?: boolean; signerKeyPem?: string; skiKeyPem?: string } = {}): { der: Uint8Array; csrDer: Buffer } {
  const csrDer = o.breakInner ? breakSelfSignature(csr.csrDer) : Buffer.from(csr.csrDer);
  const spki = createPublicKey(o.skiKeyPem ?? csr.keyPem).export({ type: 'spki', format: 'der' });
  const der = buildSignedData({ content: csrDer, contentType: CMS_OID.data, subjectKeyIdentifier: createHash('sha1').update(spki).digest(), signerKey: createPrivateKey(o.signerKeyPem ?? csr.keyPem) });
  return { der, csrDer };
}
