import 'reflect-metadata';
import { X509Certificate, createPrivateKey, generateKeyPairSync, webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { Pkcs10CertificateRequestGenerator } from '@peculiar/x509';
import type { CaBackend, SanEntry } from '../ca/types.js';
import { pem } from '../ca/init.js';
import type { Clock } from '../clock.js';
import type { Db } from '../store/db.js';
import { insertRequest } from '../store/request-repo.js';

export interface TlsMaterial {
  cert: string;
  key: string;
  created: boolean;
}

/**
 * The HTTPS server's own certificate, issued by our CA for localhost and the host name on first
 * start (data/certs/tls.crt, data/secrets/tls.key) and re-issued when it nears expiry or the
 * host name changes. Recorded like any other issuance.
 */
export async function ensureTlsCertificate(o: { dataDir: string; hostname: string; db: Db; ca: CaBackend; clock: Clock }): Promise<TlsMaterial> {
  const certFile = join(o.dataDir, 'certs', 'tls.crt');
  const keyFile = join(o.dataDir, 'secrets', 'tls.key');
  const names = [...new Set(['localhost', o.hostname])];
  if (existsSync(certFile) && existsSync(keyFile)) {
    const certPem = readFileSync(certFile, 'utf8');
    const c = new X509Certificate(certPem);
    const fresh = new Date(c.validTo).getTime() - o.clock.now().getTime() > 30 * 86400_000;
    const covers = names.every((n) => c.checkHost(n) !== undefined);
    const sameCa = c.checkIssued(new X509Certificate(Buffer.from(o.ca.info().issuingCertificate)));
    if (fresh && covers && sameCa) return { cert: certPem, key: readFileSync(keyFile, 'utf8'), created: false };
  }
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keys = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', publicKey.export({ type: 'spki', format: 'der' }), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']),
  };
  const csr = await Pkcs10CertificateRequestGenerator.create({ name: `CN=${o.hostname}`, keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
  const csrDer = new Uint8Array(csr.rawData);
  const now = o.clock.now();
  const requestId = await insertRequest(o.db, {
    status: 'pending',
    requester: 'opences-server',
    authMethod: 'local',
    template: 'opences-tls',
    requestFormat: 'pkcs10',
    rawRequest: csrDer,
    csrDer,
    disposition: 5,
    dispositionMessage: 'Taken Under Submission',
    submittedAt: now,
  });
  const sans: SanEntry[] = names.map((n) => (isIP(n) ? { type: 'ip', value: n } : { type: 'dns', value: n }));
  sans.push({ type: 'ip', value: '127.0.0.1' }, { type: 'ip', value: '::1' });
  const issued = await o.ca.issue({
    orderId: requestId,
    template: 'opences-tls',
    csrDer,
    subject: [{ type: 'CN', value: o.hostname }],
    sans,
    keyUsage: ['digitalSignature'],
    keyUsageCritical: true,
    ekus: ['1.3.6.1.5.5.7.3.1'],
    issuancePolicies: [],
    notBefore: now,
    notAfter: new Date(now.getTime() + 397 * 86400_000),
    requester: 'opences-server',
  });
  const certPem = pem(issued.der) + pem(issued.chain[0]!);
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  mkdirSync(join(o.dataDir, 'certs'), { recursive: true });
  mkdirSync(join(o.dataDir, 'secrets'), { recursive: true, mode: 0o700 });
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  writeFileSync(certFile, certPem);
  createPrivateKey(keyPem); // sanity: the key we wrote reads back
  return { cert: certPem, key: keyPem, created: true };
}
