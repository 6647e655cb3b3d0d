/**
 * Test glue over the production builders (src/protocol/cmc/build.ts, src/protocol/pkcs7/build.ts):
 * signer certificates from the openssl CLI, CMC requests and PKCS#7 renewals around a CSR.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildPkiData, CMC_OID } from '../../src/protocol/cmc/index.js';
import { buildSignedData, CMS_OID, type DigestName } from '../../src/protocol/pkcs7/index.js';
import { openssl, tmp } from './openssl.js';

export type KeySpec = 'rsa:2048' | 'ec:P-256' | 'ec:P-384' | 'ed25519';

export interface TestSigner {
  certDer: Uint8Array;
  certFile: string;
  keyFile: string;
  key: KeyObject;
  dir: string;
}

/** A self-signed certificate and its key, as `openssl req -x509 -newkey` makes them. */
export function makeSigner(o: { key?: KeySpec; subject?: string } = {}): TestSigner {
  const dir = tmp('opences-signer-');
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  const spec = o.key ?? 'ec:P-256';
  const newkey = spec === 'ed25519' ? ['-newkey', 'ed25519'] : spec.startsWith('ec:') ? ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${spec.slice(3)}`] : ['-newkey', spec];
  openssl(['req', '-x509', ...newkey, '-nodes', '-keyout', keyFile, '-out', certFile, '-subj', o.subject ?? '/CN=signer.example.test', '-days', '30']);
  const certDer = new Uint8Array(Buffer.from(readFileSync(certFile, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64'));
  return { certDer, certFile, keyFile, key: createPrivateKey(readFileSync(keyFile, 'utf8')), dir };
}

/** A CMC PKIData around `csrDer` (tcr bodyPartID 1), optionally naming a template and signed by `signer`. */
export function cmcRequest(o: { csrDer: Uint8Array; template?: string; signer?: { certDer: Uint8Array; key: KeyObject }; transactionId?: number; senderNonce?: Uint8Array }): Uint8Array {
  const pki = buildPkiData({ csrDer: o.csrDer, nameValuePairs: o.template ? { CertificateTemplate: o.template } : {}, transactionId: o.transactionId, senderNonce: o.senderNonce });
  if (!o.signer) return pki;
  return buildSignedData({ content: pki, contentType: CMC_OID.pkiData, signerCertDer: o.signer.certDer, signerKey: o.signer.key });
}

/** MS-WSTEP Renew: a SignedData (id-data) over the new PKCS#10, signed by the certificate being renewed. */
export function renewalRequest(o: { csrDer: Uint8Array; certDer: Uint8Array; key: KeyObject; digest?: DigestName; pss?: boolean; extraCerts?: Uint8Array[] }): Uint8Array {
  return buildSignedData({ content: o.csrDer, contentType: CMS_OID.data, signerCertDer: o.certDer, signerKey: o.key, digest: o.digest, pss: o.pss, extraCerts: o.extraCerts, signingTime: new Date('2026-01-02T03:04:05Z') });
}
