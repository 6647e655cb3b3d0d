import cluster from 'node:cluster';
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { availableParallelism } from 'node:os';

/**
 * The floor for CES Issue on this machine (bench/floor.ts runs it): a bare Node.js HTTPS server on
 * every core that does only the cryptography an enrollment cannot skip — it reads the request,
 * verifies one P-256 signature with a key imported from its SPKI (the proof of possession) and
 * RSA-2048-signs 1 KB asynchronously (the certificate) — and answers 5 KB. No XML, no
 * authentication, no policy, no database, no audit. Usage: floor-server.ts PORT KEY.pem CERT.pem
 */
const [port, keyFile, certFile] = [Number(process.argv[2]), process.argv[3]!, process.argv[4]!];

if (cluster.isPrimary) {
  for (let i = 0; i < availableParallelism(); i++) cluster.fork();
  let up = 0;
  cluster.on('message', () => {
    if (++up === availableParallelism()) console.log('floor server listening');
  });
} else {
  const ca = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const requester = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = requester.publicKey.export({ type: 'spki', format: 'der' });
  const info = Buffer.alloc(300, 1);
  const pop = sign('sha256', info, requester.privateKey);
  const tbs = Buffer.alloc(1000, 2);
  const answer = Buffer.from(`RequestedSecurityToken${'A'.repeat(5000)}`);
  const server = createServer({ key: readFileSync(keyFile), cert: readFileSync(certFile) }, (req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => {
      const ok = verify('sha256', info, createPublicKey({ key: spki, format: 'der', type: 'spki' }), pop);
      sign('sha256', tbs, ca, () => {
        res.writeHead(ok ? 200 : 500, { 'content-type': 'application/soap+xml; charset=utf-8' });
        res.end(answer);
      });
    });
  });
  server.listen(port, '127.0.0.1', () => process.send?.('listening'));
}
