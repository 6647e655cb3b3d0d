import 'reflect-metadata';
import { generateKeyPairSync, webcrypto, type KeyObject } from 'node:crypto';
import { Pkcs10CertificateRequestGenerator } from '@peculiar/x509';
import type { Clock } from '../clock.js';
import type { Db } from '../store/db.js';
import { insertRequest } from '../store/request-repo.js';

/**
 * A P-256 key made on this node for one of its own certificates (the TLS server certificate, a
 * CA API client certificate), with the PKCS#10 that proves possession, recorded as a pending
 * request so the CA signs it like any other order and the certificate has its request row.
 */
export async function newKeyAndRequest(
  o: { db: Db; clock: Clock },
  r: { commonName: string; requester: string; authMethod: string; template: string },
): Promise<{ privateKey: KeyObject; csrDer: Uint8Array; requestId: string; at: Date }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keys = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', publicKey.export({ type: 'spki', format: 'der' }), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']),
  };
  const csr = await Pkcs10CertificateRequestGenerator.create({ name: `CN=${r.commonName}`, keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
  const csrDer = new Uint8Array(csr.rawData);
  const at = o.clock.now();
  const requestId = await insertRequest(o.db, {
    status: 'pending',
    requester: r.requester,
    authMethod: r.authMethod,
    template: r.template,
    requestFormat: 'pkcs10',
    rawRequest: csrDer,
    csrDer,
    disposition: 5,
    dispositionMessage: 'Taken Under Submission',
    submittedAt: at,
  });
  return { privateKey, csrDer, requestId, at };
}
