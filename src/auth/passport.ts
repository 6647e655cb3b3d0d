import type { IncomingMessage, ServerResponse } from 'node:http';
import passport from 'passport';
import { Strategy as CustomStrategy } from 'passport-custom';
import { OpencesError } from '../errors.js';
import type { Principal } from './principal.js';

/** Resolves a request to a Principal, or null when this method's credentials are absent. */
export type PrincipalResolver = (req: IncomingMessage) => Promise<Principal | null>;

/**
 * Every authentication method is a passport strategy yielding the same Principal (as step-ca's
 * provisioners do); the SOAP and REST front ends ask passport, never a method directly.
 */
export function createAuthenticator(strategies: Record<string, PrincipalResolver>): passport.Authenticator {
  const p = new passport.Passport();
  for (const [name, resolve] of Object.entries(strategies)) {
    p.use(
      name,
      new CustomStrategy((req, done) => {
        resolve(req).then(
          (principal) => (principal ? done(null, principal) : done(null, false)),
          (e: unknown) => done(e as Error),
        );
      }),
    );
  }
  return p;
}

/** Runs one strategy for a request; resolves the Principal, null when it found no credentials. */
export function authenticateWith(p: passport.Authenticator, strategy: string, req: IncomingMessage, res: ServerResponse): Promise<Principal | null> {
  return new Promise((resolve, reject) => {
    const handler = p.authenticate(strategy, { session: false }, (err: unknown, user: Principal | false) => {
      if (err) reject(err);
      else resolve(user || null);
    }) as (req: IncomingMessage, res: ServerResponse, next: (e?: unknown) => void) => void;
    handler(req, res, (e?: unknown) => (e ? reject(e) : reject(new OpencesError('internal', 'authentication did not complete'))));
  });
}
