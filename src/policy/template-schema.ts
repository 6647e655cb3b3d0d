import { z } from 'zod';

const oid = z.string().regex(/^[0-2](\.(0|[1-9]\d*))+$/, 'must be a dotted OID such as 1.3.6.1.5.5.7.3.1');
const keyUsage = z.enum(['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign']);
const principal = z.string().regex(/^(user|group):.+$/, 'must be user:<name> or group:<name>');

/** The Template model (src/policy/template.ts) as a strict schema: unknown keys are refused. */
export const templateSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$/, 'letters, digits, space, _ . - (max 64)'),
    displayName: z.string().min(1).max(256),
    oid,
    schemaVersion: z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4)]),
    majorRevision: z.number().int().min(0),
    minorRevision: z.number().int().min(0),
    enabled: z.boolean(),
    validityPeriodSeconds: z.number().int().min(3600).max(100 * 365 * 86400),
    renewalPeriodSeconds: z.number().int().min(0),
    privateKey: z.strictObject({
      algorithms: z.array(z.enum(['RSA', 'ECDSA_P256', 'ECDSA_P384'])).min(1),
      minimalKeyLength: z.number().int().min(256).max(16384),
      keySpec: z.union([z.literal(1), z.literal(2)]),
      exportable: z.boolean(),
      providers: z.array(z.string().min(1).max(256)).max(32),
      strongProtection: z.boolean(),
      keyUsageProperty: z.array(z.enum(['decrypt', 'sign', 'keyAgreement'])).optional(),
      securityDescriptor: z.string().regex(/^[\x20-\x7e]{1,4096}$/, 'an SDDL string such as D:P(A;;GA;;;SY)(A;;GA;;;BA)').optional(),
    }),
    subject: z.strictObject({
      enrolleeSupplies: z.boolean(),
      allowedSanTypes: z.array(z.enum(['dns', 'ip', 'email', 'upn', 'uri'])),
      fromIdentity: z.strictObject({
        subjectFormat: z.enum(['none', 'commonName', 'commonNameAndEmail']),
        sanDns: z.boolean(),
        sanUpn: z.boolean(),
        sanEmail: z.boolean(),
      }),
      requireSan: z.array(z.enum(['dns', 'upn', 'email'])),
      strict: z.boolean(),
    }),
    enrollment: z.strictObject({
      pendAllRequests: z.boolean(),
      autoEnrollment: z.boolean(),
      includeSymmetricAlgorithms: z.boolean(),
      publishToDs: z.boolean(),
      allowKeyBasedRenewal: z.boolean(),
      requireSameKeyRenewal: z.boolean(),
    }),
    extensions: z.strictObject({
      ekus: z.array(oid),
      keyUsage: z.array(keyUsage),
      keyUsageCritical: z.boolean(),
      issuancePolicies: z.array(oid),
      templateInformation: z.boolean(),
      securityExtension: z.boolean().optional(),
      sidUrl: z.boolean().optional(),
    }),
    raSignatures: z.number().int().min(0).max(16),
    raApplicationPolicies: z.array(oid),
    raIssuancePolicies: z.array(oid),
    supersededTemplates: z.array(z.string()),
    hashAlgorithm: z.enum(['SHA256', 'SHA384', 'SHA512']),
    permissions: z.array(z.strictObject({ principal, read: z.boolean(), enroll: z.boolean(), autoenroll: z.boolean() })),
    requests: z.strictObject({ maxSans: z.number().int().min(1).max(256).optional(), allowSha1Signatures: z.boolean().optional() }).optional(),
  })
  .superRefine((t, ctx) => {
    if (t.renewalPeriodSeconds >= t.validityPeriodSeconds) {
      ctx.addIssue({ code: 'custom', path: ['renewalPeriodSeconds'], message: 'must be shorter than validityPeriodSeconds' });
    }
    if (new Set(t.extensions.ekus).size !== t.extensions.ekus.length) ctx.addIssue({ code: 'custom', path: ['extensions', 'ekus'], message: 'contains duplicates' });
    const pk = t.privateKey;
    if (pk.algorithms.includes('RSA') && pk.minimalKeyLength < 1024) {
      ctx.addIssue({ code: 'custom', path: ['privateKey', 'minimalKeyLength'], message: 'must be at least 1024 when RSA keys are allowed (the CA itself refuses RSA below 2048)' });
    }
    if (t.schemaVersion >= 3) {
      // MS-CRTD msPKI-Asymmetric-Algorithm: a CNG template names one algorithm (algorithmOIDReference).
      if (pk.algorithms.length !== 1) ctx.addIssue({ code: 'custom', path: ['privateKey', 'algorithms'], message: 'a schema-3 template names exactly one key algorithm' });
      const ecdsa = pk.algorithms.length === 1 && pk.algorithms[0] !== 'RSA';
      if (ecdsa && t.extensions.keyUsage.some((k) => k === 'keyEncipherment' || k === 'dataEncipherment')) {
        ctx.addIssue({ code: 'custom', path: ['extensions', 'keyUsage'], message: 'an ECDSA key cannot encipher: drop keyEncipherment/dataEncipherment' });
      }
      if (ecdsa && pk.keyUsageProperty?.some((k) => k !== 'sign')) {
        ctx.addIssue({ code: 'custom', path: ['privateKey', 'keyUsageProperty'], message: 'an ECDSA key can only sign' });
      }
    } else {
      if (pk.keyUsageProperty !== undefined) ctx.addIssue({ code: 'custom', path: ['privateKey', 'keyUsageProperty'], message: 'needs schemaVersion 3 (a CNG template)' });
      if (pk.securityDescriptor !== undefined) ctx.addIssue({ code: 'custom', path: ['privateKey', 'securityDescriptor'], message: 'needs schemaVersion 3 (a CNG template)' });
    }
  });

export const templateFileSchema = z.union([templateSchema, z.strictObject({ templates: z.array(templateSchema).min(1) })]);
