import { Pool } from 'undici';
import { cepPath, cesPath } from '../src/http/endpoints.js';
import { hostileBodies } from '../test/helpers/hostile-xml.js';

/**
 * The attackers of the "under attack" row (bench/run.ts), in a process of their own so their
 * TLS work shares neither the server's nor the measuring client's event loop:
 *   node --import tsx bench/attack.ts BASE_URL [SENDERS]
 * SENDERS (default 8) unauthenticated senders, each on its own connection, post worst-case bodies
 * (tests' hostile corpus: deep, wide, attributes, text, namespaces, names, combination, garbage,
 * truncated; about 1 MiB each) in turn to every CEP and CES endpoint, back to back, until SIGTERM;
 * then print one JSON line: requests, answers by status, and how many were SOAP Sender faults.
 */
const base = process.argv[2];
const senders = Number(process.argv[3] ?? 8);
if (!base) throw new Error('usage: bench/attack.ts BASE_URL [SENDERS]');

const bodies = hostileBodies((1 << 20) - 64);
const paths = (['UsernamePassword', 'Certificate'] as const).flatMap((a) => [cepPath(a), cesPath('opences Issuing CA', a)]);
const statuses: Record<string, number> = {};
let sent = 0;
let senderFaults = 0;
let stop = false;
let announced = false;

async function sender(k: number): Promise<void> {
  const pool = new Pool(base!, { connections: 1, connect: { rejectUnauthorized: false } });
  for (let i = k; !stop; i++) {
    const body = bodies[i % bodies.length]!.body;
    const path = paths[Math.floor(i / bodies.length) % paths.length]!;
    try {
      const r = await pool.request({ path, method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8' }, body });
      const text = await r.body.text();
      statuses[r.statusCode] = (statuses[r.statusCode] ?? 0) + 1;
      if (text.includes('Sender</')) senderFaults++;
    } catch {
      statuses.error = (statuses.error ?? 0) + 1;
    }
    sent++;
    if (!announced) {
      announced = true;
      process.stderr.write('attacking\n');
    }
  }
  await pool.close();
}

const running = Promise.all(Array.from({ length: senders }, (_, k) => sender(k)));
process.once('SIGTERM', () => {
  stop = true;
  void running.then(() => {
    process.stdout.write(`${JSON.stringify({ sent, statuses, senderFaults })}\n`, () => process.exit(0));
  });
});
