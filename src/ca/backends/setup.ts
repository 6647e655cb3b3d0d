import { readFileSync } from 'node:fs';
import type { Config } from '../../config.js';
import { OpencesError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Db } from '../../store/db.js';
import { loadHierarchy, pem, type CaHierarchy } from '../init.js';
import { RemoteCa } from './remote.js';

function readPem(file: string, field: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new OpencesError('malformed', `configuration: ${field}: cannot read ${file}: ${(e as Error).message}`, { field });
  }
}

/**
 * An enrollment node's CA: the CA node's signing API at `ca.url`. No key store is opened and no
 * CA is created here; the CA's certificates come from the shared database, which the CA node
 * fills on its first start (this waits up to `waitMs` for it).
 */
export async function openRemoteCa(config: Config, db: Db, log: Logger, o: { waitMs?: number } = {}): Promise<{ ca: RemoteCa; hierarchy: Omit<CaHierarchy, 'created'> }> {
  const url = config.ca.url!;
  const certPem = readPem(config.ca.clientCertFile!, 'ca.clientCertFile');
  const keyPem = readPem(config.ca.clientKeyFile!, 'ca.clientKeyFile');
  const bundle = config.ca.caBundleFile ? readPem(config.ca.caBundleFile, 'ca.caBundleFile') : undefined;
  const end = Date.now() + (o.waitMs ?? 120_000);
  let h = await loadHierarchy(db);
  if (!h) log.info({ ca: url }, 'waiting for the CA node to initialise the CA in the database');
  while (!h) {
    if (Date.now() > end) throw new OpencesError('unavailable', `no CA in the database after ${Math.round((o.waitMs ?? 120_000) / 1000)} s: start the node with the ca role (on the same database) first`);
    await new Promise((r) => setTimeout(r, 500));
    h = await loadHierarchy(db);
  }
  const ca = new RemoteCa({
    url,
    certPem,
    keyPem,
    caBundlePem: bundle ?? pem(h.root.certificate),
    info: h.info,
    timeoutMs: config.ca.timeoutMs,
    retries: config.ca.retries,
    breaker: { failures: config.ca.breakerFailures, openMs: config.ca.breakerOpenSeconds * 1000 },
    deltaCrls: config.ca.deltaCrlPeriodHours > 0,
    log,
  });
  return { ca, hierarchy: h };
}
