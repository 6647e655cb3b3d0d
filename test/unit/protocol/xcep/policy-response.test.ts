import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { applyRequestFilter, buildPolicyResponse } from '../../../../src/http/cep.js';
import { defaultTemplates } from '../../../../src/policy/defaults.js';
import type { Template } from '../../../../src/policy/template.js';
import { OID_GROUP, buildGetPoliciesResponseBody, type XcepResponse } from '../../../../src/protocol/xcep/index.js';
import { validateXml } from '../../../helpers/xsd.js';

/** What src/http/cep.ts sends for templates (MS-XCEP §3.1.4.1.3.1 / .20), pinned field by field. */
const ARC = '1.3.6.1.4.1.311.21.8.16777215.4294967.1.2.3.4';
const XSD = join(__dirname, '../../../../wsdl/xcep.xsd');
const all = defaultTemplates(ARC);
const byName = (n: string): Template => structuredClone(all.find((t) => t.name === n)!);
const rights = { read: true, enroll: true, autoenroll: false };

function answer(templates: Template[], notChanged = false): XcepResponse {
  return buildPolicyResponse({
    policyId: '{00000000-0000-4000-8000-000000000001}',
    friendlyName: 'opences',
    nextUpdateHours: 8,
    notChanged,
    visible: templates.map((template) => ({ template, rights })),
    caCertificate: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]),
    cesUris: [{ auth: 'UsernamePassword', uri: 'https://ca.example.test/CA_CES_UsernamePassword/service.svc/CES', renewalOnly: false }],
  });
}
const policy = (r: XcepResponse, name: string) => r.policies!.find((p) => p.attributes.commonName === name)!;
const oid = (r: XcepResponse, ref: number | undefined) => r.oIDs!.find((o) => o.oIDReferenceID === ref);

describe('GetPolicies answers for schema-1/2 (CryptoAPI) templates', () => {
  it('hashAlgorithmOIDReference is nil for policySchema 2 (MS-XCEP 3.1.4.1.3.1: MUST be nil for 1 or 2), and no hash OID is listed', () => {
    const r = answer([byName('WebServer'), byName('Machine'), byName('User')]);
    for (const p of r.policies!) {
      expect(p.attributes.policySchema).toBe(2);
      expect(p.attributes.hashAlgorithmOIDReference).toBeUndefined();
    }
    expect(r.oIDs!.filter((o) => o.group === OID_GROUP.hash)).toEqual([]);
    expect(buildGetPoliciesResponseBody(r)).toContain('<hashAlgorithmOIDReference xsi:nil="true"/>');
  });

  it('also for policySchema 1', () => {
    const t = byName('WebServer');
    t.schemaVersion = 1;
    expect(answer([t]).policies![0]!.attributes.hashAlgorithmOIDReference).toBeUndefined();
  });

  it('lists crypto providers (never nil: Windows then makes an RSA-1024 key with a legacy CSP); RSA keySpec 1 with the CSP real ADCS lists', () => {
    const r = answer([byName('WebServer'), byName('Machine'), byName('User'), byName('WebServerApproval')]);
    for (const p of r.policies!) {
      expect(p.attributes.privateKey.cryptoProviders).toEqual(['Microsoft Enhanced RSA and AES Cryptographic Provider']);
      expect(p.attributes.privateKey.keySpec).toBe(1);
      expect(p.attributes.privateKey.minimalKeyLength).toBe(2048);
      // CNG-only attributes stay nil, as ADCS sends them for schema-2 templates.
      expect(p.attributes.privateKey.algorithmOIDReference).toBeUndefined();
      expect(p.attributes.privateKey.keyUsageProperty).toBeUndefined();
      expect(p.attributes.privateKey.permissions).toBeUndefined();
    }
    expect(buildGetPoliciesResponseBody(r)).toContain('<cryptoProviders><provider>Microsoft Enhanced RSA and AES Cryptographic Provider</provider></cryptoProviders>');
  });

  it("an administrator's provider list is sent as written", () => {
    const t = byName('WebServer');
    t.privateKey.providers = ['Microsoft RSA SChannel Cryptographic Provider', 'Microsoft Enhanced Cryptographic Provider v1.0'];
    expect(answer([t]).policies![0]!.attributes.privateKey.cryptoProviders).toEqual(t.privateKey.providers);
  });

  it('machine templates: DNS-derived subjectNameFlags without enrollee-supplies bits, and the machine bit in generalFlags', () => {
    const m = policy(answer([byName('Machine')]), 'Machine').attributes;
    expect(m.subjectNameFlags).toBe(0x10000000 | 0x08000000); // SUBJECT_REQUIRE_DNS_AS_CN | SUBJECT_ALT_REQUIRE_DNS (ADCS "Computer": 0x18000000)
    expect(m.generalFlags! & 0x40).toBe(0x40);
    const w = policy(answer([byName('WebServer')]), 'WebServer').attributes;
    expect(w.generalFlags! & 0x40).toBe(0);
  });

  it('template OIDs have arcs that each fit in 32 bits (certenroll stops listing templates after one that does not)', () => {
    const r = answer(all);
    const templates = r.oIDs!.filter((o) => o.group === OID_GROUP.template);
    expect(templates).toHaveLength(all.length);
    for (const o of templates) for (const arc of o.value.split('.')) expect(BigInt(arc) <= 0xffffffffn).toBe(true);
  });
});

describe('the "policies not changed" answer', () => {
  it('carries nil policies, cAs and oIDs (MS-XCEP 3.1.4.1.3.9, example 4.1.2.2)', async () => {
    const r = answer(all, true);
    expect(r.policiesNotChanged).toBe(true);
    expect(r.policies).toBeUndefined();
    expect(r.cAs).toBeUndefined();
    expect(r.oIDs).toBeUndefined();
    const body = buildGetPoliciesResponseBody(r);
    expect(body).toContain('<policies xsi:nil="true"/></response><cAs xsi:nil="true"/><oIDs xsi:nil="true"/></GetPoliciesResponse>');
    expect((await validateXml(body, XSD)).valid).toBe(true);
  });
});

describe('schema-3 (CNG) templates', () => {
  const rsaKsp = (): Template => {
    const t = byName('WebServer');
    t.name = 'WebServerRSAKSP';
    t.oid = `${ARC}.9`;
    t.schemaVersion = 3;
    t.privateKey.algorithms = ['RSA'];
    t.privateKey.minimalKeyLength = 3072;
    t.privateKey.securityDescriptor = 'D:P(A;;GA;;;SY)(A;;GA;;;BA)';
    t.hashAlgorithm = 'SHA384';
    return t;
  };

  it('ECDSA P-256: key algorithm and hash as OID references into oIDs, KSP, no keySpec, curve size, sign-only key usage property', async () => {
    const ecdsa = byName('WebServerECDSA');
    ecdsa.enabled = true;
    const r = answer([ecdsa, byName('WebServer')]);
    const a = policy(r, 'WebServerECDSA').attributes;
    expect(a.policySchema).toBe(3);
    expect(a.privateKey).toEqual({
      minimalKeyLength: 256,
      keySpec: undefined,
      keyUsageProperty: 0x2, // NCRYPT_ALLOW_SIGNING_FLAG
      permissions: undefined,
      algorithmOIDReference: expect.any(Number),
      cryptoProviders: ['Microsoft Software Key Storage Provider'],
    });
    expect(oid(r, a.privateKey.algorithmOIDReference)).toMatchObject({ value: '1.2.840.10045.3.1.7', group: OID_GROUP.publicKey, defaultName: 'ECDSA_P256' });
    expect(oid(r, a.hashAlgorithmOIDReference)).toMatchObject({ value: '2.16.840.1.101.3.4.2.1', group: OID_GROUP.hash, defaultName: 'sha256' });
    // msPKI-Private-Key-Flag carries the schema-3 minimum client and CA versions.
    expect(a.privateKeyFlags! >>> 16).toBe(0x0303);
    // The schema-2 template in the same answer keeps its hash nil.
    expect(policy(r, 'WebServer').attributes.hashAlgorithmOIDReference).toBeUndefined();
    const v = await validateXml(buildGetPoliciesResponseBody(r), XSD);
    expect(v.errors).toEqual([]);
  });

  it('RSA with a KSP: keySpec 1, the RSA OID, key usage property from the certificate key usage, the SDDL as permissions', () => {
    const r = answer([rsaKsp()]);
    const a = r.policies![0]!.attributes;
    expect(a.privateKey).toMatchObject({ minimalKeyLength: 3072, keySpec: 1, keyUsageProperty: 0x1 | 0x2, permissions: 'D:P(A;;GA;;;SY)(A;;GA;;;BA)', cryptoProviders: ['Microsoft Software Key Storage Provider'] });
    expect(oid(r, a.privateKey.algorithmOIDReference)).toMatchObject({ value: '1.2.840.113549.1.1.1', group: OID_GROUP.publicKey });
    expect(oid(r, a.hashAlgorithmOIDReference)).toMatchObject({ value: '2.16.840.1.101.3.4.2.2', group: OID_GROUP.hash });
  });

  it('ECDSA P-384 sends 384 and the P-384 OID', () => {
    const t = byName('WebServerECDSA');
    t.privateKey.algorithms = ['ECDSA_P384'];
    const r = answer([t]);
    const a = r.policies![0]!.attributes;
    expect(a.privateKey.minimalKeyLength).toBe(384);
    expect(oid(r, a.privateKey.algorithmOIDReference)?.value).toBe('1.3.132.0.34');
  });
});

describe('requestFilter (MS-XCEP 3.1.4.1.3.22)', () => {
  const visible = all.map((template) => ({ template, rights }));
  const names = (f: Parameters<typeof applyRequestFilter>[1]) => applyRequestFilter(visible, f).visible.map((v) => v.template.name);

  it('keeps only the listed template OIDs', () => {
    expect(names({ policyOids: [byName('Machine').oid, byName('WebServerECDSA').oid, '1.2.3.4'] })).toEqual(['Machine', 'WebServerECDSA']);
  });

  it('drops templates that need a newer client or CA than the client names (schema 3 needs version 3)', () => {
    expect(names({ clientVersion: 2 })).not.toContain('WebServerECDSA');
    expect(names({ serverVersion: 2 })).not.toContain('WebServerECDSA');
    expect(names({ clientVersion: 6, serverVersion: 6 })).toContain('WebServerECDSA');
  });

  it('filters nothing for a nil or empty filter, or versions 0 (what cepces sends), and says so in the cache key', () => {
    for (const f of [{}, { policyOids: [] }, { clientVersion: 0, serverVersion: 0 }]) {
      const r = applyRequestFilter(visible, f);
      expect(r.visible).toBe(visible);
      expect(r.key).toBe('');
    }
    expect(applyRequestFilter(visible, { clientVersion: 2 }).key).not.toBe(applyRequestFilter(visible, { clientVersion: 3 }).key);
  });
});
