import type { IncomingMessage, ServerResponse } from 'node:http';
import { OpencesError } from '../errors.js';

/**
 * Reads the request body up to `limit` bytes. Refuses early on a declared Content-Length above
 * the limit and stops reading (without buffering the rest) when a chunked body grows past it,
 * so an oversize body costs neither memory nor time: the rest is never read, and the answer to
 * `res` closes the connection (draining it would decrypt whatever size a stranger chose to send).
 */
export function readBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<Buffer> {
  const refuse = (message: string): OpencesError => {
    req.pause();
    if (!res.headersSent) res.setHeader('connection', 'close');
    return new OpencesError('tooLarge', message);
  };
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(refuse(`request body of ${declared} bytes exceeds the limit of ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        reject(refuse(`request body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!done) {
        done = true;
        resolve(Buffer.concat(chunks, size));
      }
    });
    req.on('error', (e) => {
      if (!done) {
        done = true;
        reject(new OpencesError('malformed', `error reading the request body: ${e.message}`));
      }
    });
  });
}

/**
 * Streams the request body, up to `limit` bytes, into `sink` chunk by chunk as it arrives (each
 * chunk is at most what one socket read delivered, so the sink's work is spread over the body
 * instead of held in one piece). The first error the sink throws ends the read: the rest of the
 * body is left unread (answer with `Connection: close`) and the promise rejects with that error.
 * A body declared larger than `limit` is refused before a byte of it is read.
 */
export function streamBody(req: IncomingMessage, limit: number, sink: (chunk: Buffer) => void): Promise<void> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    // Not one byte of it is read (the answer closes the connection), nor drained while a refusal
    // is held (src/http/tarpit.ts).
    req.pause();
    return Promise.reject(new OpencesError('tooLarge', `request body of ${declared} bytes exceeds the limit of ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    let size = 0;
    let done = false;
    // The rest of a refused body is not read: the caller answers with `Connection: close`, and
    // closing is far cheaper than receiving (decrypting) up to the size limit for nothing.
    const stop = (e: unknown): void => {
      done = true;
      req.pause();
      reject(e);
    };
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) return stop(new OpencesError('tooLarge', `request body exceeds the limit of ${limit} bytes`));
      try {
        sink(c);
      } catch (e) {
        stop(e);
      }
    });
    req.on('end', () => {
      if (!done) {
        done = true;
        resolve();
      }
    });
    req.on('error', (e) => {
      if (!done) {
        done = true;
        reject(new OpencesError('malformed', `error reading the request body: ${e.message}`));
      }
    });
  });
}
