import { DEFAULT_CA_API_OPERATIONS, type CaApiOperation } from '../config.js';
import { OpencesError } from '../errors.js';
import { dnParts } from './admin/client-cert.js';

/** One `ca.clients.allowedSubjects` entry: a DN (an enrollment node), or a DN with what it may do. */
export type CaClientEntry = string | { subject: string; operations?: readonly CaApiOperation[] };

/** A DN as configured (`CN=a,O=b`, commas escaped with `\`), in the one spelling subjects are compared in. */
export function configuredSubjectKey(dn: string): string {
  return dnParts(dn, /(?<!\\),/).join('\n').toLowerCase();
}

/** A certificate subject as node:crypto gives it (one attribute per line), in the same spelling. */
export function certificateSubjectKey(subject: string): string {
  return dnParts(subject, /\n/).join('\n').toLowerCase();
}

/**
 * Which CA API operations each listed client may call (least privilege: an internet-facing
 * enrollment node that is taken over can still only order certificates, which the CA re-checks,
 * and cannot revoke a certificate). A subject listed twice is a configuration mistake, refused at start
 * rather than silently merged: the two entries might grant different things.
 */
export class CaClientGrants {
  private readonly bySubject = new Map<string, ReadonlySet<CaApiOperation>>();

  constructor(entries: readonly CaClientEntry[]) {
    for (const entry of entries) {
      const subject = typeof entry === 'string' ? entry : entry.subject;
      const operations = typeof entry === 'string' ? DEFAULT_CA_API_OPERATIONS : (entry.operations ?? DEFAULT_CA_API_OPERATIONS);
      const key = configuredSubjectKey(subject);
      if (this.bySubject.has(key)) throw new OpencesError('malformed', `configuration: ca.clients.allowedSubjects: ${subject} is listed twice`, { field: 'ca.clients.allowedSubjects' });
      this.bySubject.set(key, new Set(operations));
    }
  }

  /** The operations granted to a certificate subject (node:crypto's spelling), or undefined when it is not listed. */
  of(certificateSubject: string): ReadonlySet<CaApiOperation> | undefined {
    return this.bySubject.get(certificateSubjectKey(certificateSubject));
  }
}
