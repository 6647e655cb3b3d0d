import { ownerPrincipal, ownerRef, type OwnerOptions } from '../auth/certificate-owner.js';
import { principalRef, type PrincipalRef } from '../auth/identity.js';
import type { Principal } from '../auth/principal.js';
import { HRESULT } from '../errors.js';
import type { CertificateOwner, CertificateRecord } from '../store/certificate-repo.js';

export type RenewalOwnership = { owner: PrincipalRef; ownerName: string } | { refused: string; hresult: number; details: Record<string, unknown> };

/**
 * Renewal belongs to the certificate's owner, as in ADCS: the caller must be the principal the
 * certificate being renewed was issued to (compared by canonical key, src/auth/identity.ts) —
 * which a caller who authenticated with that very certificate is, by construction
 * (src/auth/certificate-owner.ts); whether the template lets the certificate alone stand in for the
 * enroll right (key-based renewal) is the RA's rights check. The owner must still exist and be
 * enabled (an account), or its partner still be registered and enabled, for key-based renewal too.
 */
export async function checkRenewalOwnership(old: CertificateRecord & { owner: CertificateOwner }, caller: Principal, o: OwnerOptions): Promise<RenewalOwnership> {
  const callerRef = principalRef(caller, o);
  const owner = ownerRef(old.owner, o);
  const details = { owner: old.owner.name, ownerIdentity: owner?.key ?? null, caller: caller.name, callerIdentity: callerRef.key, serial: old.serial };
  if (!owner || !old.owner.name) return { refused: `the certificate ${old.serial} was not issued to a principal that can renew it`, hresult: HRESULT.CERTSRV_E_BAD_RENEWAL_SUBJECT, details };
  if (owner.key !== callerRef.key) {
    return { refused: `the certificate ${old.serial} belongs to ${old.owner.name}; only its owner may renew it`, hresult: HRESULT.CERTSRV_E_BAD_RENEWAL_SUBJECT, details };
  }
  const now = await ownerPrincipal(old.owner, o);
  if ('refused' in now) return { refused: `the certificate ${old.serial} cannot be renewed: ${now.refused}`, hresult: HRESULT.E_ACCESSDENIED, details };
  return { owner, ownerName: old.owner.name };
}
