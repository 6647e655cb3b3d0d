import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../log.js';

/** What a process caches from the database and must drop when another process changes it. */
export type CacheScope = 'templates' | 'accounts' | 'partners' | 'ca';

export interface CacheEvent {
  scope: CacheScope;
  /** For `accounts`: the one account whose cached sign-ins go (all when absent). */
  account?: string;
}

export interface CacheBus {
  /** Tells every other process on the database; call after the change has committed. */
  announce(e: CacheEvent): void;
  close(): Promise<void>;
}

const CHANNEL = 'opences_cache';
const SCOPES: readonly CacheScope[] = ['templates', 'accounts', 'partners', 'ca'];

/**
 * Cache invalidation across processes: the HTTP workers of one `serve`, and every node of a
 * deployment, share one PostgreSQL database. A change made in one of them (operator command,
 * admin API) is announced with NOTIFY; the others drop the cached copy at once instead of serving
 * a revoked permission or a disabled account until their cache expires. While the listening
 * connection is down the caches' own short lifetimes still bound staleness, and it reconnects.
 *
 * Notifications are per database, so each carries the schema (tests share one database, one schema
 * each) and the sender, which ignores its own.
 */
export async function startCacheBus(o: { url?: string; log: Logger; apply: (e: CacheEvent) => void }): Promise<CacheBus> {
  // The embedded database belongs to one process: nothing else to tell.
  if (!o.url) return { announce: () => undefined, close: async () => undefined };
  const url = o.url;
  const origin = randomUUID();
  let client: pg.Client | null = null;
  let schema = '';
  let closed = false;
  let retry: NodeJS.Timeout | null = null;

  const onNotification = (m: pg.Notification): void => {
    if (m.channel !== CHANNEL || !m.payload) return;
    const e = parse(m.payload);
    if (!e || e.origin === origin || e.schema !== schema) return;
    o.apply(e.event);
  };

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    c.on('error', () => undefined); // 'end' follows and schedules the reconnect
    c.on('notification', onNotification);
    c.on('end', () => {
      if (client === c) client = null;
      if (!closed) {
        o.log.warn('cache invalidation channel lost; reconnecting (caches expire on their own meanwhile)');
        retry = setTimeout(() => void connect().catch(() => undefined), 1_000);
        retry.unref();
      }
    });
    await c.connect();
    schema = (await c.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]?.s ?? '';
    await c.query(`LISTEN ${CHANNEL}`);
    client = c;
    // Whatever changed while we were not listening: start from fresh copies.
    for (const scope of SCOPES) o.apply({ scope });
  };
  await connect();

  return {
    announce(event) {
      const c = client;
      if (!c) return;
      c.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify({ origin, schema, event })]).catch((e: unknown) => o.log.warn({ err: e }, 'could not announce a cache change'));
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
    },
  };
}

function parse(payload: string): { origin: string; schema: string; event: CacheEvent } | null {
  try {
    const v = JSON.parse(payload) as { origin?: unknown; schema?: unknown; event?: { scope?: unknown; account?: unknown } };
    const scope = v.event?.scope;
    if (typeof v.origin !== 'string' || typeof v.schema !== 'string' || !SCOPES.includes(scope as CacheScope)) return null;
    const account = typeof v.event?.account === 'string' ? v.event.account : undefined;
    return { origin: v.origin, schema: v.schema, event: { scope: scope as CacheScope, ...(account !== undefined ? { account } : {}) } };
  } catch {
    return null;
  }
}
