import type { Queryable } from '../store/db.js';
import type { CertificateOwner } from '../store/certificate-repo.js';
import { PRINCIPAL_KINDS, findAccount, inferredRef, partnerOfName, type PrincipalKind, type PrincipalRef } from './identity.js';
import { kerberosPrincipal } from './negotiate.js';
import { AUTHENTICATED_GROUP, type Principal } from './principal.js';

export interface OwnerOptions {
  db: Queryable;
  /** `auth.accountRealms` (src/auth/identity.ts). */
  accountRealms: string[];
  /** `auth.kerberos.groups`: the groups a Kerberos principal gets, with its certificate too. */
  kerberosGroups?: Record<string, string[]>;
  /** The partners that are registered and enabled now. */
  partners?: { all(): Promise<{ name: string }[]> };
}

/** Who a certificate of ours belongs to: the recorded owner of its request; null when no principal requested it. */
export function ownerRef(owner: CertificateOwner, o: Pick<OwnerOptions, 'accountRealms'>): PrincipalRef | null {
  if (owner.kind && owner.key && (PRINCIPAL_KINDS as readonly string[]).includes(owner.kind)) return { kind: owner.kind as PrincipalKind, key: owner.key };
  if (owner.name) return inferredRef(owner.name, owner.authMethod ?? '', o);
  return null;
}

/**
 * The principal a certificate of our CA stands for, as recorded when it was issued — never names
 * read back out of the certificate — in its state now: a local account must still exist and be
 * enabled (and brings its groups of today), a partner's user keeps the partner's bounds and only
 * while the partner is registered and enabled, a Kerberos principal stays that realm's principal
 * (with the configured Kerberos groups), never a same-named local account.
 */
export async function ownerPrincipal(owner: CertificateOwner, o: OwnerOptions): Promise<{ principal: Principal } | { refused: string }> {
  const ref = ownerRef(owner, o);
  if (!ref || !owner.name) return { refused: 'it was not issued to a recorded principal' };
  switch (ref.kind) {
    case 'account': {
      const account = await findAccount(o.db, ref.key.slice('account:'.length));
      if (!account) return { refused: `its owner, the account ${owner.name}, does not exist` };
      if (account.disabled) return { refused: `its owner, the account ${account.name}, is disabled` };
      return { principal: { name: account.name, displayName: account.name, groups: [AUTHENTICATED_GROUP, ...account.groups], method: 'certificate', ...(account.email ? { email: account.email } : {}), ref } };
    }
    case 'kerberos': {
      const p = kerberosPrincipal(owner.name, { groupMapping: o.kerberosGroups ?? {}, accountRealms: [] });
      return { principal: { ...p, method: 'certificate', ref } };
    }
    case 'partner': {
      const parsed = partnerOfName(owner.name);
      if (!parsed) return { refused: `its owner ${owner.name} is not a partner principal` };
      const live = (await o.partners?.all()) ?? [];
      if (!live.some((p) => p.name === parsed.partner)) return { refused: `its owner's partner ${parsed.partner} is removed or suspended` };
      return { principal: { name: owner.name, displayName: parsed.user, groups: [AUTHENTICATED_GROUP, `partner:${parsed.partner}`], method: 'certificate', partner: parsed.partner, ref } };
    }
    case 'directory':
      // Directory groups need the user's own bind (auth.ldap): a certificate brings none.
      return { principal: { name: owner.name, displayName: owner.name, groups: [AUTHENTICATED_GROUP], method: 'certificate', ref } };
    case 'service':
    case 'operator':
      return { refused: `its owner ${owner.name} is not a person or machine that enrolls` };
  }
}
