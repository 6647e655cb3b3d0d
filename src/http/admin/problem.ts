import type { Response } from 'express';
import { isOpencesError, type ErrorKind } from '../../errors.js';

const STATUS: Record<ErrorKind, [number, string]> = {
  malformed: [400, 'Invalid request'],
  badCsr: [400, 'Invalid certificate request'],
  badSignature: [400, 'Bad signature'],
  badPublicKey: [400, 'Unacceptable public key'],
  unauthenticated: [401, 'Authentication required'],
  forbidden: [403, 'Forbidden'],
  templateNotFound: [404, 'No such template'],
  templateDenied: [403, 'Template denied'],
  policyDenied: [409, 'Refused by policy'],
  notFound: [404, 'Not found'],
  conflict: [409, 'Conflict with the current state'],
  rateLimited: [429, 'Too many requests'],
  tooLarge: [413, 'Request too large'],
  unsupported: [400, 'Unsupported'],
  unavailable: [503, 'Service unavailable'],
  internal: [500, 'Internal error'],
};

/** RFC 9457 problem details: the one place where admin API errors become HTTP. */
export function sendProblem(res: Response, e: unknown): void {
  const kind: ErrorKind = isOpencesError(e) ? e.kind : 'internal';
  const [status, title] = STATUS[kind];
  const body: Record<string, unknown> = { type: `https://opences.dev/problems/${kind}`, title, status };
  if (isOpencesError(e) && kind !== 'internal') {
    body.detail = e.message;
    if (typeof e.details.field === 'string') body.field = e.details.field;
    if (typeof e.details.line === 'number') body.line = e.details.line;
  }
  if (status === 401) res.set('www-authenticate', 'Bearer realm="opences"');
  res.status(status).type('application/problem+json').send(JSON.stringify(body));
}
