import type { PrincipalRef } from './identity.js';

/** How a caller proved who they are. */
export type AuthMethod = 'kerberos' | 'username' | 'certificate' | 'token' | 'local' | 'anonymous' | 'scep';

/**
 * The one identity every auth strategy produces and every policy decision consumes.
 * `name` is canonical: `alice@EXAMPLE.TEST` for Kerberos/UPN-style names, the account name for
 * local accounts; partners' principals are `partner:<partner>/<mapped name>`.
 */
export interface Principal {
  name: string;
  displayName?: string;
  /** Group names, always including the built-in `authenticated` for authenticated callers. */
  groups: string[];
  method: AuthMethod;
  realm?: string;
  /** Set when the caller was authenticated through a partner organisation's trust root. */
  partner?: string;
  /** Identity attributes from which subjects and SANs are built when the template says so. */
  email?: string;
  upn?: string;
  dnsName?: string;
  /**
   * Who this is canonically (src/auth/identity.ts): set by the authenticator that knows (a
   * certificate's recorded owner, a local account, a Kerberos name); derived from the rest otherwise.
   */
  ref?: PrincipalRef;
  /**
   * The directory account's SID (objectSid, `S-1-5-21-…`), set only by the Active Directory lookup
   * (src/auth/directory.ts): it goes into certificates as the strong mapping (KB5014754).
   */
  sid?: string;
  /** For certificate authentication: the certificate presented (DER) and its serial (hex). */
  certificate?: { der: Uint8Array; serial: string; issuer: string; subject: string };
}

export const AUTHENTICATED_GROUP = 'authenticated';
