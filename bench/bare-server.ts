import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { availableParallelism } from 'node:os';

/**
 * GetPolicies' reference on this machine (bench/floor.ts runs it): a bare Node.js HTTPS server on
 * every core that reads each request and answers the same cached bytes opences answered for
 * GetPolicies — no XML, no authentication, no replay check. Usage: bare-server.ts PORT KEY.pem
 * CERT.pem ANSWER_FILE
 */
const [port, keyFile, certFile, answerFile] = [Number(process.argv[2]), process.argv[3]!, process.argv[4]!, process.argv[5]!];

if (cluster.isPrimary) {
  for (let i = 0; i < availableParallelism(); i++) cluster.fork();
  let up = 0;
  cluster.on('message', () => {
    if (++up === availableParallelism()) console.log('floor server listening');
  });
} else {
  const answer = readFileSync(answerFile);
  const server = createServer({ key: readFileSync(keyFile), cert: readFileSync(certFile) }, (req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/soap+xml; charset=utf-8' });
      res.end(answer);
    });
  });
  server.listen(port, '127.0.0.1', () => process.send?.('listening'));
}
