import type { Principal } from '../auth/principal.js';
import type { Template } from './template.js';

export interface Rights {
  read: boolean;
  enroll: boolean;
  autoenroll: boolean;
}

const NONE: Rights = { read: false, enroll: false, autoenroll: false };

/**
 * The caller's rights on a template: the union of the entries naming the principal or one of
 * its groups. Anonymous callers match nothing; a partner's principal is further confined to the
 * templates in the partner's scope, whatever the ACL says.
 */
export function rightsFor(p: Principal, t: Template, partnerScope?: string[]): Rights {
  if (p.method === 'anonymous') return NONE;
  if (p.partner !== undefined && !(partnerScope ?? []).some((n) => n.toLowerCase() === t.name.toLowerCase())) return NONE;
  const groups = new Set(p.groups.map((g) => g.toLowerCase()));
  const name = p.name.toLowerCase();
  const r = { ...NONE };
  for (const e of t.permissions) {
    const [kind, who] = splitPrincipal(e.principal);
    const match = kind === 'user' ? who === name : kind === 'group' ? groups.has(who) : false;
    if (!match) continue;
    r.read ||= e.read;
    r.enroll ||= e.enroll;
    r.autoenroll ||= e.autoenroll;
  }
  return r;
}

function splitPrincipal(s: string): [string, string] {
  const i = s.indexOf(':');
  return i < 0 ? ['', s.toLowerCase()] : [s.slice(0, i).toLowerCase(), s.slice(i + 1).toLowerCase()];
}

/** What GetPolicies lists: enabled templates the caller may read and enroll (or autoenroll) for. */
export function visibleTemplates(p: Principal, templates: Template[], partnerScope?: string[]): { template: Template; rights: Rights }[] {
  return templates
    .filter((t) => t.enabled)
    .map((template) => ({ template, rights: rightsFor(p, template, partnerScope) }))
    .filter((x) => x.rights.read && (x.rights.enroll || x.rights.autoenroll));
}

/** A key for the caller's effective rights, so serialized policy responses can be shared between callers with equal rights. */
export function permissionSetKey(visible: { template: Template; rights: Rights }[]): string {
  return visible.map((v) => `${v.template.name}:${v.rights.enroll ? 'e' : ''}${v.rights.autoenroll ? 'a' : ''}`).join('|');
}
