import { describe, expect, it } from 'vitest';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import { internalTlsTemplate } from '../../../src/policy/issuance.js';
import type { Template } from '../../../src/policy/template.js';

/**
 * The templates a first start installs, and the profile the servers' own TLS certificates are
 * checked against, written out field by field. They are part of the public contract
 * (docs/conventions: names as in ADCS, read + enroll for `authenticated`, nothing for anonymous
 * callers) and decide what certificates can be had out of the box: a change here must be a
 * deliberate one, made in this file too.
 */
const ARC = '1.3.6.1.4.1.311.21.8.10.20';
const none: Template['enrollment'] = { pendAllRequests: false, autoEnrollment: false, includeSymmetricAlgorithms: false, publishToDs: false, allowKeyBasedRenewal: false, requireSameKeyRenewal: false };
const noRa: Pick<Template, 'raSignatures' | 'raApplicationPolicies' | 'raIssuancePolicies' | 'supersededTemplates' | 'hashAlgorithm'> = { raSignatures: 0, raApplicationPolicies: [], raIssuancePolicies: [], supersededTemplates: [], hashAlgorithm: 'SHA256' };
const authenticated = [{ principal: 'group:authenticated', read: true, enroll: true, autoenroll: false }];
const keyChoice: Template['privateKey'] = { algorithms: ['RSA', 'ECDSA_P256', 'ECDSA_P384'], minimalKeyLength: 2048, keySpec: 1, exportable: false, providers: [], strongProtection: false };

const webServer: Template = {
  name: 'WebServer',
  displayName: 'Web Server',
  oid: `${ARC}.3`,
  schemaVersion: 2,
  majorRevision: 100,
  minorRevision: 0,
  enabled: true,
  validityPeriodSeconds: 2 * 365 * 86400,
  renewalPeriodSeconds: 42 * 86400,
  privateKey: { ...keyChoice, algorithms: ['RSA', 'ECDSA_P256', 'ECDSA_P384'], keySpec: 1 },
  subject: { enrolleeSupplies: true, allowedSanTypes: ['dns', 'ip'], fromIdentity: { subjectFormat: 'none', sanDns: false, sanUpn: false, sanEmail: false }, requireSan: [], strict: false },
  enrollment: none,
  extensions: { ekus: ['1.3.6.1.5.5.7.3.1'], keyUsage: ['digitalSignature', 'keyEncipherment'], keyUsageCritical: true, issuancePolicies: [], templateInformation: true },
  ...noRa,
  permissions: authenticated,
};

describe('the default templates and the internal TLS profile, field by field', () => {
  // Made inside each test, not once for the file: mutation testing attributes code to the tests
  // that run it, and code run while the file is collected is attributed to none.
  const byName = (n: string): Template => defaultTemplates(ARC).find((t) => t.name === n)!;

  it('installs User, Machine, WebServer, WebServerApproval (enabled) and WebServerECDSA (disabled)', () => {
    expect(defaultTemplates(ARC).map((t) => [t.name, t.displayName, t.oid, t.enabled])).toEqual([
      ['User', 'User', `${ARC}.1`, true],
      ['Machine', 'Computer', `${ARC}.2`, true],
      ['WebServer', 'Web Server', `${ARC}.3`, true],
      ['WebServerApproval', 'Web Server (CA manager approval)', `${ARC}.4`, true],
      ['WebServerECDSA', 'Web Server (ECDSA P-256, CNG)', `${ARC}.5`, false],
    ]);
  });

  it('WebServer: an enrollee-supplied server certificate for two years', () => {
    expect(byName('WebServer')).toEqual(webServer);
    expect(byName('WebServerApproval')).toEqual({ ...webServer, name: 'WebServerApproval', displayName: 'Web Server (CA manager approval)', oid: `${ARC}.4`, enrollment: { ...none, pendAllRequests: true } });
  });

  it('User and Machine: names from the identity, a year, client authentication', () => {
    expect(byName('User')).toEqual({
      ...webServer,
      name: 'User',
      displayName: 'User',
      oid: `${ARC}.1`,
      validityPeriodSeconds: 365 * 86400,
      privateKey: { ...keyChoice, exportable: true },
      subject: { enrolleeSupplies: false, allowedSanTypes: [], fromIdentity: { subjectFormat: 'commonNameAndEmail', sanDns: false, sanUpn: true, sanEmail: true }, requireSan: [], strict: false },
      extensions: { ...webServer.extensions, ekus: ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.4', '1.3.6.1.4.1.311.10.3.4'] },
    });
    expect(byName('Machine')).toEqual({
      ...webServer,
      name: 'Machine',
      displayName: 'Computer',
      oid: `${ARC}.2`,
      validityPeriodSeconds: 365 * 86400,
      subject: { enrolleeSupplies: false, allowedSanTypes: [], fromIdentity: { subjectFormat: 'commonName', sanDns: true, sanUpn: false, sanEmail: false }, requireSan: ['dns'], strict: false },
      extensions: { ...webServer.extensions, ekus: ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.1'] },
    });
  });

  it('WebServerECDSA: schema 3, one P-256 key that only signs', () => {
    expect(byName('WebServerECDSA')).toEqual({
      ...webServer,
      name: 'WebServerECDSA',
      displayName: 'Web Server (ECDSA P-256, CNG)',
      oid: `${ARC}.5`,
      schemaVersion: 3,
      enabled: false,
      privateKey: { algorithms: ['ECDSA_P256'], minimalKeyLength: 256, keySpec: 1, exportable: false, providers: [], strongProtection: false, keyUsageProperty: ['sign'] },
      extensions: { ...webServer.extensions, keyUsage: ['digitalSignature'] },
    });
  });

  it("the servers' own TLS profile: P-256, DNS and IP names only, strict, server authentication, 397 days", () => {
    expect(internalTlsTemplate()).toEqual({
      ...webServer,
      name: 'opences-tls',
      displayName: 'opences server TLS',
      oid: '1.3.6.1.4.1.311.21.8.0',
      majorRevision: 0,
      validityPeriodSeconds: 397 * 86400,
      renewalPeriodSeconds: 30 * 86400,
      privateKey: { algorithms: ['ECDSA_P256'], minimalKeyLength: 256, keySpec: 1, exportable: false, providers: [], strongProtection: false },
      subject: { ...webServer.subject, strict: true },
      extensions: { ekus: ['1.3.6.1.5.5.7.3.1'], keyUsage: ['digitalSignature'], keyUsageCritical: true, issuancePolicies: [], templateInformation: false },
      permissions: [],
    });
  });

  it('each template gets its own permission list: changing one changes no other', () => {
    const [user, machine] = defaultTemplates(ARC);
    user!.permissions[0]!.enroll = false;
    expect(machine!.permissions[0]!.enroll).toBe(true);
  });
});
