import { candidateKeys, inferredRef, type IdentityOptions, type PrincipalRef } from '../auth/identity.js';

/**
 * Separation of duties: is the officer (a certificate manager approving, denying or revoking) the
 * requester themself, under any spelling? The officer is known by the name an operator or token
 * gave (every canonical key it may stand for: src/auth/identity.ts candidateKeys) and, when they
 * authenticated with something that says exactly who they are (a certificate of ours), by that
 * key too. The requester is known by the key recorded with the request, or — for rows recorded
 * before keys were (migration 011) — by every key their name may stand for. Errs on refusing.
 */
export function isOwnRequest(
  requester: { name: string | null; key: string | null; authMethod?: string | null },
  officer: { name: string; ref?: PrincipalRef },
  o: IdentityOptions,
): boolean {
  const officerKeys = new Set([...candidateKeys(officer.name, o), ...(officer.ref ? [officer.ref.key] : [])]);
  const requesterKeys = requester.key
    ? [requester.key]
    : requester.name
      ? [...candidateKeys(requester.name, o), inferredRef(requester.name, requester.authMethod ?? '', o).key]
      : [];
  return requesterKeys.some((k) => officerKeys.has(k));
}
