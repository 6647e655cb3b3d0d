import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { OpencesError } from '../errors.js';

const entry = z.strictObject({
  template: z.string().min(1),
  subject: z.string().default(''),
  sans: z.array(z.string()).default([]),
  keyType: z.enum(['RSA-2048', 'RSA-3072', 'RSA-4096', 'P-256', 'P-384']).default('P-256'),
  key: z.string(),
  cert: z.string(),
  chain: z.string().optional(),
  /** Run after a new certificate is installed (e.g. `systemctl reload nginx`). */
  postRenew: z.string().optional(),
});

export const autoenrollSchema = z.strictObject({
  /** The CEP URL (policy); CES URLs come from the policy. */
  cep: z.string().url(),
  auth: z.union([
    z.strictObject({ username: z.string(), passwordFile: z.string() }),
    z.strictObject({ cert: z.string(), key: z.string() }),
    /**
     * HTTP Negotiate (the cep URL must be a _Kerberos endpoint): `kerberos: true` uses the ticket
     * cache of the environment; `ccache` names one; `clientKeytab` lets MIT krb5 get tickets itself
     * from a keytab (a host's own keys, as cepces/certmonger use them).
     */
    z.strictObject({ kerberos: z.union([z.literal(true), z.strictObject({ ccache: z.string().optional(), clientKeytab: z.string().optional() })]) }),
  ]),
  caBundle: z.string().optional(),
  /** Where pending requests are remembered between runs. */
  stateDir: z.string(),
  /** Seconds between passes in daemon mode. */
  intervalSeconds: z.number().int().min(60).default(3600),
  /** Certificates listed one by one (subject, SANs, paths of your choosing). */
  certificates: z.array(entry).default([]),
  /**
   * Also hold a certificate for every template the policy gives this caller Autoenroll permission
   * on (MS-XCEP permission/autoEnroll), as Windows auto-enrollment does, with files under `dir`:
   * `<Template>.key` (0600), `<Template>.crt`, `<Template>-chain.crt`. The subject comes from the
   * caller's identity (templates that need an enrollee-supplied subject belong in `certificates`);
   * a template listed in `certificates` is left to that entry.
   */
  allAutoenroll: z
    .strictObject({
      dir: z.string().min(1),
      keyType: z.enum(['RSA-2048', 'RSA-3072', 'RSA-4096', 'P-256', 'P-384']).default('P-256'),
      postRenew: z.string().optional(),
    })
    .optional(),
}).refine((c) => c.certificates.length > 0 || c.allAutoenroll !== undefined, { message: 'list at least one entry under certificates, or set allAutoenroll', path: ['certificates'] });

export type AutoenrollConfig = z.infer<typeof autoenrollSchema>;
export type AutoenrollEntry = z.infer<typeof entry>;

export function loadAutoenrollConfig(file: string): AutoenrollConfig {
  let data: unknown;
  try {
    data = parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new OpencesError('malformed', `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const r = autoenrollSchema.safeParse(data);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new OpencesError('malformed', `${file}: ${i.path.join('.') || '(top level)'}: ${i.message}`);
  }
  return r.data;
}
