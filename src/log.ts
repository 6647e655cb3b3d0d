import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * pino JSON to stdout. Redaction is a second line of defence: code never passes secrets to the
 * logger in the first place.
 */
export function createLogger(level: string, name = 'opences'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ['password', '*.password', 'passphrase', '*.passphrase', 'token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  });
}
