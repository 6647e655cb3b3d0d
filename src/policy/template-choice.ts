import { OpencesError } from '../errors.js';
import type { Template } from './template.js';

export interface TemplateHints {
  additionalContext: { name: string; value: string }[];
  cmcNameValuePairs: Record<string, string>;
  csrNameValuePairs: Record<string, string>;
  /** 1.3.6.1.4.1.311.20.2 */
  csrTemplateName?: string;
  /** 1.3.6.1.4.1.311.21.7 */
  csrTemplateOid?: string;
}

function pick(pairs: Record<string, string>): string | undefined {
  for (const [k, v] of Object.entries(pairs)) if (k.toLowerCase() === 'certificatetemplate' && v) return v;
  return undefined;
}

/**
 * Finds the template a request names, looking where real clients put it, in this order
 * (protocol notes, "Which template?"): AdditionalContext, CMC name/value pairs, the CSR's
 * name/value pair attribute, the certificate-template-name extension, the template OID extension.
 * Names match the template's name or display name, case-insensitively; OIDs match the template OID.
 */
export function chooseTemplateName(h: TemplateHints, templates: Template[]): Template {
  const byName = (n: string): Template | undefined => templates.find((t) => t.name.toLowerCase() === n.toLowerCase()) ?? templates.find((t) => t.displayName.toLowerCase() === n.toLowerCase()) ?? templates.find((t) => t.oid === n);
  const candidates: [string, string | undefined][] = [
    ['the AdditionalContext item CertificateTemplate', h.additionalContext.find((c) => c.name.toLowerCase() === 'certificatetemplate')?.value],
    ['the CMC CertificateTemplate attribute', pick(h.cmcNameValuePairs)],
    ['the request\'s CertificateTemplate attribute', pick(h.csrNameValuePairs)],
    ['the certificate template name extension (1.3.6.1.4.1.311.20.2)', h.csrTemplateName],
    ['the certificate template extension (1.3.6.1.4.1.311.21.7)', h.csrTemplateOid],
  ];
  for (const [where, value] of candidates) {
    if (!value) continue;
    const t = byName(value.trim());
    if (!t) throw new OpencesError('templateNotFound', `the request names the template "${value.trim()}" (in ${where}), which does not exist`);
    if (!t.enabled) throw new OpencesError('templateNotFound', `the template ${t.name} is disabled`);
    return t;
  }
  throw new OpencesError('templateNotFound', 'the request does not name a certificate template (looked in AdditionalContext, CMC and request attributes, and the template extensions)');
}
