import { createServer, request, type Server } from 'node:http';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { OpencesError, isOpencesError, type ErrorKind } from '../errors.js';

/**
 * The local control socket `<data-dir>/opences.sock`. The embedded database admits one process,
 * so operator commands reach a running server through this socket; filesystem permission (0600,
 * in a 0700 data dir) is the authentication. The wire format is deliberately tiny: POST /op/<name>
 * with a JSON body → {ok: true, result} | {ok: false, error: {kind, message, details}}.
 */
export function controlSocketPath(dataDir: string): string {
  return join(dataDir, 'opences.sock');
}

export type OpHandler = (args: unknown, actor: string) => Promise<unknown>;

export async function startControlSocket(dataDir: string, handle: (op: string, args: unknown, actor: string) => Promise<unknown>): Promise<Server> {
  const path = controlSocketPath(dataDir);
  if (existsSync(path)) {
    // A stale socket from a crashed server: only remove it when nobody answers on it.
    if (await isControlSocketAlive(dataDir)) throw new OpencesError('conflict', `another opences server is running on ${dataDir}`);
    unlinkSync(path);
  }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 64 * 1024 * 1024) chunks.push(c);
    });
    req.on('end', () => {
      const reply = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const m = /^\/op\/([a-zA-Z.]+)$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !m) return reply(404, { ok: false, error: { kind: 'notFound', message: 'unknown control request' } });
      let args: unknown;
      try {
        args = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        return reply(400, { ok: false, error: { kind: 'malformed', message: 'control request is not JSON' } });
      }
      const actor = typeof req.headers['x-opences-actor'] === 'string' ? req.headers['x-opences-actor'] : 'local-operator';
      handle(m[1]!, args, actor).then(
        (result) => reply(200, { ok: true, result: result ?? null }),
        (e: unknown) => {
          if (isOpencesError(e)) reply(200, { ok: false, error: { kind: e.kind, message: e.message, details: e.details } });
          else reply(200, { ok: false, error: { kind: 'internal', message: 'internal error' } });
        },
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return server;
}

export function isControlSocketAlive(dataDir: string): Promise<boolean> {
  const path = controlSocketPath(dataDir);
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const req = request({ socketPath: path, method: 'POST', path: '/op/ping', timeout: 2000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end('{}');
  });
}

export function callControlSocket(dataDir: string, op: string, args: unknown, actor: string): Promise<unknown> {
  const path = controlSocketPath(dataDir);
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: path, method: 'POST', path: `/op/${op}`, headers: { 'content-type': 'application/json', 'x-opences-actor': actor } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as
              | { ok: true; result: unknown }
              | { ok: false; error: { kind: ErrorKind; message: string; details?: Record<string, unknown> } };
            if (body.ok) resolve(body.result);
            else reject(new OpencesError(body.error.kind, body.error.message, body.error.details ?? {}));
          } catch {
            reject(new OpencesError('internal', 'unreadable answer from the control socket'));
          }
        });
      },
    );
    req.on('error', (e) => reject(new OpencesError('unavailable', `control socket ${path}: ${e.message}`)));
    req.end(JSON.stringify(args ?? {}));
  });
}
