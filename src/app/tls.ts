import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { CaBackend, SanEntry } from '../ca/types.js';
import { pem } from '../ca/init.js';
import { newKeyAndRequest } from '../ca/local-request.js';
import type { Clock } from '../clock.js';
import type { Db } from '../store/db.js';

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
  const { privateKey, csrDer, requestId, at: now } = await newKeyAndRequest(o, { commonName: o.hostname, requester: 'opences-server', authMethod: 'local', template: 'opences-tls' });
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
  // The chain up to, not including, the root (an intermediate CA too when there is one).
  const certPem = [issued.der, ...issued.chain.slice(0, -1)].map((c) => pem(c)).join('');
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  mkdirSync(join(o.dataDir, 'certs'), { recursive: true });
  mkdirSync(join(o.dataDir, 'secrets'), { recursive: true, mode: 0o700 });
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  writeFileSync(certFile, certPem);
  createPrivateKey(keyPem); // sanity: the key we wrote reads back
  return { cert: certPem, key: keyPem, created: true };
}
