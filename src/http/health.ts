import type { Express, Request, Response } from 'express';
import type { Db } from '../store/db.js';
import type { Metrics } from './metrics.js';

/** /healthz (process alive), /readyz (database reachable), /metrics (Prometheus text). */
/** `keyHealth`: the CA key token's state on a node that signs with one (null: fine). */
export function mountHealth(app: Express, db: Db, metrics: Metrics, keyHealth?: () => Promise<string | null>): void {
  app.get('/healthz', (_req: Request, res: Response) => {
    res.type('application/json').send({ status: 'ok' });
  });
  app.get('/readyz', async (_req: Request, res: Response) => {
    try {
      await withTimeout(db.ping(), 2_000);
    } catch {
      res.status(503).type('application/json').send({ status: 'not ready', database: 'unreachable' });
      return;
    }
    const key = keyHealth ? await keyHealth() : null;
    if (key) {
      res.status(503).type('application/json').send({ status: 'not ready', database: 'ok', caKey: 'unavailable', detail: key });
      return;
    }
    res.type('application/json').send({ status: 'ready', database: 'ok', ...(keyHealth ? { caKey: 'ok' } : {}) });
  });
  app.get('/metrics', async (_req: Request, res: Response) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
