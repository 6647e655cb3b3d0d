import 'reflect-metadata';
import { generateKeyPairSync, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { ChallengePasswordAttribute, Pkcs10CertificateRequestGenerator, X509CertificateGenerator } from '@peculiar/x509';
import { buildPkiRequest, sealEnvelope, type ContentCipher, type MessageTypeName } from '../../src/protocol/scep/index.js';

/** A requester as a SCEP client is one: an RSA key, its self-signed certificate and a PKCS#10 (with a challenge). */
export interface ScepIdentity {
  key: KeyObject;
  certDer: Uint8Array;
  csrDer: Uint8Array;
}

export async function scepIdentity(cn: string, challenge?: string): Promise<ScepIdentity> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const keys = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), alg, false, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', publicKey.export({ type: 'spki', format: 'der' }), alg, true, ['verify']),
  };
  const csr = await Pkcs10CertificateRequestGenerator.create({ name: `CN=${cn}`, keys, signingAlgorithm: alg, ...(challenge ? { attributes: [new ChallengePasswordAttribute(challenge)] } : {}) });
  const now = Date.now();
  const cert = await X509CertificateGenerator.createSelfSigned({ serialNumber: randomBytes(8).toString('hex').replace(/^[89a-f]/, '1'), name: `CN=${cn}`, notBefore: new Date(now - 60_000), notAfter: new Date(now + 3600_000), keys, signingAlgorithm: alg });
  return { key: privateKey, certDer: new Uint8Array(cert.rawData), csrDer: new Uint8Array(csr.rawData) };
}

/** A PKIOperation of `who` with `content` encrypted to `recipientCertDer`. */
export function scepRequest(who: ScepIdentity, o: { recipientCertDer: Uint8Array; content?: Uint8Array; messageType?: Exclude<MessageTypeName, 'CertRep'>; transactionId?: string; cipher?: ContentCipher; digest?: 'sha256' | 'sha1' }): Uint8Array {
  const envelope = sealEnvelope({ content: o.content ?? who.csrDer, recipientCertDer: o.recipientCertDer, cipher: o.cipher ?? 'aes-256-cbc' });
  return buildPkiRequest({ messageType: o.messageType ?? 'PKCSReq', transactionId: o.transactionId ?? randomBytes(8).toString('hex'), senderNonce: randomBytes(16), envelope, signerCertDer: who.certDer, signerKey: who.key, digest: o.digest ?? 'sha256' });
}
