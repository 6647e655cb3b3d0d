import 'reflect-metadata';
import { generateKeyPairSync, webcrypto, type KeyObject } from 'node:crypto';
import { Pkcs10CertificateRequestGenerator } from '@peculiar/x509';
import type { Clock } from '../clock.js';
import type { Db } from '../store/db.js';
import { insertRequest } from '../store/request-repo.js';

/** A P-256 key made in this process, and the PKCS#10 that proves possession of it. */
export async function newKeyAndCsr(commonName: string): Promise<{ privateKey: KeyObject; csrDer: Uint8Array }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keys = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', publicKey.export({ type: 'spki', format: 'der' }), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']),
  };
  const csr = await Pkcs10CertificateRequestGenerator.create({ name: `CN=${commonName}`, keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
  return { privateKey, csrDer: new Uint8Array(csr.rawData) };
}

/** Records a request of this node's own (a pending request row, so the CA signs it like any other order). */
export async function recordLocalRequest(o: { db: Db; clock: Clock }, r: { csrDer: Uint8Array; requester: string; authMethod: string; template: string }): Promise<{ requestId: string; at: Date }> {
  const at = o.clock.now();
  const requestId = await insertRequest(o.db, {
    status: 'pending',
    requester: r.requester,
    authMethod: r.authMethod,
    template: r.template,
    requestFormat: 'pkcs10',
    rawRequest: r.csrDer,
    csrDer: r.csrDer,
    disposition: 5,
    dispositionMessage: 'Taken Under Submission',
    submittedAt: at,
  });
  return { requestId, at };
}

/**
 * A P-256 key made on this node for one of its own certificates (the TLS server certificate),
 * with the PKCS#10 that proves possession, recorded as a pending request so the CA signs it like
 * any other order and the certificate has its request row.
 */
export async function newKeyAndRequest(
  o: { db: Db; clock: Clock },
  r: { commonName: string; requester: string; authMethod: string; template: string },
): Promise<{ privateKey: KeyObject; csrDer: Uint8Array; requestId: string; at: Date }> {
  const { privateKey, csrDer } = await newKeyAndCsr(r.commonName);
  const { requestId, at } = await recordLocalRequest(o, { csrDer, requester: r.requester, authMethod: r.authMethod, template: r.template });
  return { privateKey, csrDer, requestId, at };
}
