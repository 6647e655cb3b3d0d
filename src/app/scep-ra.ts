import 'reflect-metadata';
import { X509Certificate, createPrivateKey, generateKeyPair, webcrypto, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pkcs10CertificateRequestGenerator } from '@peculiar/x509';
import type { CaBackend } from '../ca/types.js';
import { pem } from '../ca/init.js';
import { recordLocalRequest } from '../ca/local-request.js';
import type { Clock } from '../clock.js';
import { INTERNAL_SCEP_RA_ENCRYPT_PROFILE, INTERNAL_SCEP_RA_SIGN_PROFILE, orderProfile, internalScepRaTemplate } from '../policy/issuance.js';
import type { Db } from '../store/db.js';

export interface RaCredential {
  certificateDer: Uint8Array;
  privateKey: KeyObject;
}

export interface ScepRaCredentials {
  sign: RaCredential;
  encrypt: RaCredential;
  /** Certificates (re)issued by this call, for the start-up log and audit. */
  issued: Array<'sign' | 'encrypt'>;
}

async function newRsaKeyAndCsr(commonName: string): Promise<{ privateKey: KeyObject; csrDer: Uint8Array }> {
  // Off the event loop: a rollover re-issues these while the node serves.
  const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const keys = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), alg, false, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', publicKey.export({ type: 'spki', format: 'der' }), alg, true, ['verify']),
  };
  const csr = await Pkcs10CertificateRequestGenerator.create({ name: `CN=${commonName.replace(/[,+="\\<>;#]/g, ' ')}`, keys, signingAlgorithm: alg });
  return { privateKey, csrDer: new Uint8Array(csr.rawData) };
}

/**
 * The SCEP RA's two certificates, as NDES has them (signing: CertReps; encryption: the requests'
 * pkcsPKIEnvelope), issued by our CA like any other order (a request row, the CA's re-checks) and
 * re-issued when fewer than `renewDays` remain or the issuing CA changed. The keys are RA keys on
 * this enrollment node (<data>/secrets, 0600), never the CA's.
 */
export async function ensureScepRa(o: { dataDir: string; hostname: string; db: Db; ca: CaBackend; clock: Clock; renewDays: number; /** false: load what is on disk, never issue (HTTP workers: the primary issues). */ issue?: boolean }): Promise<ScepRaCredentials> {
  const issued: Array<'sign' | 'encrypt'> = [];
  const one = async (kind: 'sign' | 'encrypt'): Promise<RaCredential> => {
    const certFile = join(o.dataDir, 'certs', `scep-ra-${kind}.crt`);
    const keyFile = join(o.dataDir, 'secrets', `scep-ra-${kind}.key`);
    if (existsSync(certFile) && existsSync(keyFile)) {
      const c = new X509Certificate(readFileSync(certFile));
      const fresh = new Date(c.validTo).getTime() - o.clock.now().getTime() > o.renewDays * 86400_000;
      if (o.issue === false || (fresh && c.checkIssued(new X509Certificate(Buffer.from(o.ca.info().issuingCertificate))))) {
        return { certificateDer: new Uint8Array(c.raw), privateKey: createPrivateKey(readFileSync(keyFile)) };
      }
    }
    if (o.issue === false) throw new Error(`the SCEP RA certificate ${certFile} is missing (the primary process makes it)`);
    const template = kind === 'sign' ? INTERNAL_SCEP_RA_SIGN_PROFILE : INTERNAL_SCEP_RA_ENCRYPT_PROFILE;
    const commonName = `${o.hostname} SCEP RA${kind === 'encrypt' ? ' encryption' : ''}`;
    const { privateKey, csrDer } = await newRsaKeyAndCsr(commonName);
    const { requestId, at } = await recordLocalRequest(o, { csrDer, requester: 'opences-server', authMethod: 'local', template });
    const profile = orderProfile(internalScepRaTemplate(kind), at);
    const cert = await o.ca.issue({
      orderId: requestId,
      ...profile,
      csrDer,
      subject: [{ type: 'CN', value: commonName.slice(0, 64) }, { type: 'O', value: 'opences' }],
      sans: [],
      requester: 'opences-server',
    });
    mkdirSync(join(o.dataDir, 'certs'), { recursive: true });
    mkdirSync(join(o.dataDir, 'secrets'), { recursive: true, mode: 0o700 });
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
    writeFileSync(certFile, pem(cert.der));
    issued.push(kind);
    return { certificateDer: cert.der, privateKey };
  };
  const sign = await one('sign');
  const encrypt = await one('encrypt');
  return { sign, encrypt, issued };
}
