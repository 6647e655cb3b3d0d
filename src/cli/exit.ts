import { isOpencesError } from '../errors.js';

/** certreq-style exit codes (conventions.md): 0 issued/ok, 1 error, 2 denied, 3 pending. */
export const EXIT = { ok: 0, error: 1, denied: 2, pending: 3 } as const;

export function fail(e: unknown): never {
  const msg = isOpencesError(e) ? e.message : e instanceof Error ? e.message : String(e);
  process.stderr.write(`opences: ${msg}\n`);
  process.exit(EXIT.error);
}
