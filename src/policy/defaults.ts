import type { Template } from './template.js';

/** Well-known OIDs used by the default templates. */
export const EKU = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  efs: '1.3.6.1.4.1.311.10.3.4',
} as const;

/**
 * Per-deployment enterprise OID arc for template OIDs, shaped like ADCS's
 * 1.3.6.1.4.1.311.21.8.<n>.<n>… (random numbers drawn once per deployment).
 */
export function generateEnterpriseArc(random: (n: number) => Uint8Array): string {
  const b = Buffer.from(random(24));
  const parts: number[] = [];
  for (let i = 0; i < 6; i++) parts.push(b.readUInt32BE(i * 4) % 16_777_216);
  return `1.3.6.1.4.1.311.21.8.${parts.join('.')}`;
}

const everyone = [{ principal: 'group:authenticated', read: true, enroll: true, autoenroll: false }];

function base(arc: string, n: number, name: string, displayName: string): Template {
  return {
    name,
    displayName,
    oid: `${arc}.${n}`,
    schemaVersion: 2,
    majorRevision: 100,
    minorRevision: 0,
    enabled: true,
    validityPeriodSeconds: 365 * 86400,
    renewalPeriodSeconds: 42 * 86400,
    privateKey: { algorithms: ['RSA', 'ECDSA_P256', 'ECDSA_P384'], minimalKeyLength: 2048, keySpec: 1, exportable: false, providers: [], strongProtection: false },
    subject: {
      enrolleeSupplies: false,
      allowedSanTypes: [],
      fromIdentity: { subjectFormat: 'commonName', sanDns: false, sanUpn: false, sanEmail: false },
      requireSan: [],
      strict: false,
    },
    enrollment: { pendAllRequests: false, autoEnrollment: false, includeSymmetricAlgorithms: false, publishToDs: false, allowKeyBasedRenewal: false, requireSameKeyRenewal: false },
    extensions: { ekus: [], keyUsage: ['digitalSignature', 'keyEncipherment'], keyUsageCritical: true, issuancePolicies: [], templateInformation: true },
    raSignatures: 0,
    raApplicationPolicies: [],
    raIssuancePolicies: [],
    supersededTemplates: [],
    hashAlgorithm: 'SHA256',
    permissions: everyone.map((p) => ({ ...p })),
  };
}

/**
 * The ADCS-named defaults (conventions.md): User, Machine, WebServer, WebServerApproval, all
 * enabled; and WebServerECDSA, a schema-3 (CNG) template for ECDSA P-256 server keys, seeded
 * disabled — like an ADCS template that exists but is not yet in "Certificate Templates to
 * Issue": an administrator turns it on with `opences template enable WebServerECDSA`.
 */
export function defaultTemplates(arc: string): Template[] {
  const user = base(arc, 1, 'User', 'User');
  user.subject.fromIdentity = { subjectFormat: 'commonNameAndEmail', sanDns: false, sanUpn: true, sanEmail: true };
  user.extensions.ekus = [EKU.clientAuth, EKU.emailProtection, EKU.efs];
  user.privateKey.exportable = true;

  const machine = base(arc, 2, 'Machine', 'Computer');
  machine.subject.fromIdentity = { subjectFormat: 'commonName', sanDns: true, sanUpn: false, sanEmail: false };
  // A computer certificate names the computer: callers without a DNS name (users) cannot get one.
  machine.subject.requireSan = ['dns'];
  machine.extensions.ekus = [EKU.clientAuth, EKU.serverAuth];

  const web = base(arc, 3, 'WebServer', 'Web Server');
  web.subject.enrolleeSupplies = true;
  web.subject.allowedSanTypes = ['dns', 'ip'];
  web.subject.fromIdentity = { subjectFormat: 'none', sanDns: false, sanUpn: false, sanEmail: false };
  web.validityPeriodSeconds = 2 * 365 * 86400;
  web.extensions.ekus = [EKU.serverAuth];

  const approval = structuredClone(web);
  approval.name = 'WebServerApproval';
  approval.displayName = 'Web Server (CA manager approval)';
  approval.oid = `${arc}.4`;
  approval.enrollment.pendAllRequests = true;

  const ecdsa = structuredClone(web);
  ecdsa.name = 'WebServerECDSA';
  ecdsa.displayName = 'Web Server (ECDSA P-256, CNG)';
  ecdsa.oid = `${arc}.5`;
  ecdsa.schemaVersion = 3;
  ecdsa.enabled = false;
  ecdsa.privateKey = { algorithms: ['ECDSA_P256'], minimalKeyLength: 256, keySpec: 1, exportable: false, providers: [], strongProtection: false, keyUsageProperty: ['sign'] };
  // An ECDSA key signs (TLS 1.2 ECDHE and TLS 1.3 need nothing else); it cannot encipher.
  ecdsa.extensions.keyUsage = ['digitalSignature'];

  return [user, machine, web, approval, ecdsa];
}
