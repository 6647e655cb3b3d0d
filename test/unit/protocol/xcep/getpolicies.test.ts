import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnvelope, buildResponseEnvelope } from '../../../../src/protocol/soap/index.js';
import { CLIENT_AUTH, OID_GROUP, XCEP_ACTION, buildGetPoliciesRequest, buildGetPoliciesResponseBody, parseGetPolicies, parseGetPoliciesResponse, type XcepPolicy, type XcepResponse } from '../../../../src/protocol/xcep/index.js';
import { OpencesError } from '../../../../src/errors.js';
import { extractElement, validateXml } from '../../../helpers/xsd.js';

const FIX = join(__dirname, '../../../fixtures/soap');
const XSD = join(__dirname, '../../../../wsdl/xcep.xsd');
const GETPOL = readFileSync(join(FIX, 'cepces-getpolicies-request.xml'), 'utf8');
const OPTS = { maxBytes: 1 << 20 };
const parse = (xml: string) => parseGetPolicies(parseEnvelope(xml, OPTS));

function policy(i: number, o: Partial<XcepPolicy['attributes']> = {}, cAs?: number[]): XcepPolicy {
  return {
    policyOIDReference: 10 + i,
    cAs,
    attributes: {
      commonName: `Template${i}`,
      policySchema: 2,
      validityPeriodSeconds: 31536000,
      renewalPeriodSeconds: 3628800,
      enroll: true,
      autoEnroll: false,
      privateKey: { minimalKeyLength: 2048, keySpec: 1, algorithmOIDReference: 1 },
      majorRevision: 100,
      minorRevision: 3,
      privateKeyFlags: 0x01000000,
      subjectNameFlags: 0x80000000,
      enrollmentFlags: 0x20,
      generalFlags: 0x40,
      ...o,
    },
  };
}

/** Two CAs (one with two URIs, one renewal-only), three policies using every optional part once. */
function sampleResponse(): XcepResponse {
  const cert = new Uint8Array(Buffer.from('MIIBfake-certificate-bytes', 'utf8'));
  return {
    policyID: '{6A2C6E37-1F2B-4C35-9D7C-0B1F7D2A5E11}',
    policyFriendlyName: 'opences & friends',
    nextUpdateHours: 8,
    policiesNotChanged: false,
    policies: [
      policy(0, {}, [0]),
      policy(1, {
        privateKey: { minimalKeyLength: 256, keySpec: 2, keyUsageProperty: 3, permissions: 'D:(A;;GA;;;SY)', algorithmOIDReference: 2, cryptoProviders: ['Microsoft Software Key Storage Provider'] },
        supersededPolicies: ['OldWeb', 'OlderWeb'],
        hashAlgorithmOIDReference: 3,
        raRequirements: { rASignatures: 1, rAEKUs: [4], rAPolicies: [] },
        keyArchival: { symmetricAlgorithmOIDReference: 5, symmetricAlgorithmKeyLength: 256 },
        extensions: [{ oIDReference: 6, critical: true, value: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x05]) }, { oIDReference: 6 }],
      }, [0, 1]),
      policy(2, { privateKeyFlags: undefined, subjectNameFlags: undefined, enrollmentFlags: undefined, generalFlags: undefined }),
    ],
    cAs: [
      {
        uris: [
          { clientAuthentication: CLIENT_AUTH.kerberos, uri: 'https://ca.example.test/CA_CES_Kerberos/service.svc/CES', priority: 1, renewalOnly: false },
          { clientAuthentication: CLIENT_AUTH.usernamePassword, uri: 'https://ca.example.test/CA_CES_UsernamePassword/service.svc/CES', priority: 2 },
        ],
        certificate: cert,
        enrollPermission: true,
        cAReferenceID: 0,
      },
      { uris: [{ clientAuthentication: CLIENT_AUTH.certificate, uri: 'https://ca2.example.test/CA2_CES_Certificate/service.svc/CES', priority: 1, renewalOnly: true }], certificate: cert, enrollPermission: false, cAReferenceID: 1 },
    ],
    oIDs: [
      { value: '1.2.840.113549.1.1.1', group: OID_GROUP.publicKey, oIDReferenceID: 1, defaultName: 'RSA' },
      { value: '1.2.840.10045.2.1', group: OID_GROUP.publicKey, oIDReferenceID: 2, defaultName: 'ECC' },
      { value: '2.16.840.1.101.3.4.2.1', group: OID_GROUP.hash, oIDReferenceID: 3, defaultName: 'sha256' },
      { value: '1.3.6.1.4.1.311.20.2.1', group: OID_GROUP.eku, oIDReferenceID: 4, defaultName: 'Certificate Request Agent' },
      { value: '2.16.840.1.101.3.4.1.42', group: OID_GROUP.encryption, oIDReferenceID: 5, defaultName: 'aes256' },
      { value: '2.5.29.15', group: OID_GROUP.extension, oIDReferenceID: 6 },
      ...[0, 1, 2].map((i) => ({ value: `1.3.6.1.4.1.311.21.8.1.${i}`, group: OID_GROUP.template, oIDReferenceID: 10 + i, defaultName: `Template${i}` })),
    ],
  };
}

describe('parseGetPolicies', () => {
  it('reads the cepces capture: nil lastUpdate and language, nil OID filter, versions 0', () => {
    expect(parse(GETPOL)).toEqual({ clientVersion: 0, serverVersion: 0 });
  });

  it('reads lastUpdate (GMT when no zone), language and an OID filter', () => {
    const xml = GETPOL.replace('<ns4:lastUpdate xsi:nil="true"/>', '<ns4:lastUpdate>2026-01-02T03:04:05</ns4:lastUpdate>')
      .replace('<ns4:preferredLanguage xsi:nil="true"/>', '<ns4:preferredLanguage>de-DE</ns4:preferredLanguage>')
      .replace('<ns4:policyOIDs xsi:nil="true"/>', '<ns4:policyOIDs><ns4:oid> 1.3.6.1.4.1.311.21.8.1.2 </ns4:oid><ns4:oid>1.2.3</ns4:oid></ns4:policyOIDs>');
    expect(parse(xml)).toEqual({ lastUpdate: new Date('2026-01-02T03:04:05Z'), preferredLanguage: 'de-DE', policyOids: ['1.3.6.1.4.1.311.21.8.1.2', '1.2.3'], clientVersion: 0, serverVersion: 0 });
  });

  it('reads the Windows request of MS-XCEP 4.1.1.1: .NET MinValue lastUpdate, nil requestFilter, default namespace', () => {
    const xml = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header><a:Action s:mustUnderstand="1">
 ${XCEP_ACTION.getPolicies}
     </a:Action></s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><GetPolicies xmlns="http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy">
       <client><lastUpdate>0001-01-01T00:00:00</lastUpdate><preferredLanguage xsi:nil="true"></preferredLanguage></client><requestFilter xsi:nil="true"></requestFilter></GetPolicies></s:Body></s:Envelope>`;
    const env = parseEnvelope(xml, OPTS);
    expect(env.header.action).toBe(XCEP_ACTION.getPolicies);
    expect(parseGetPolicies(env)).toEqual({});
    // 4.1.2.1's malformed lastUpdate means "send everything", not a fault.
    expect(parse(xml.replace('0001-01-01T00:00:00', '20090-03-15-T09:38:46'))).toEqual({});
  });

  it('refuses bad filters with a typed error', () => {
    expect(() => parse(GETPOL.replace('<ns4:clientVersion>0<', '<ns4:clientVersion>x<'))).toThrow(/clientVersion is not an integer/);
    expect(() => parse(GETPOL.replace('<ns4:serverVersion>0<', '<ns4:serverVersion>99999999999<'))).toThrow(OpencesError);
    expect(() => parse(GETPOL.replace('<ns4:policyOIDs xsi:nil="true"/>', '<ns4:policyOIDs><ns4:oid>not an oid</ns4:oid></ns4:policyOIDs>'))).toThrow(/not an OID/);
    expect(() => parse(GETPOL.replace('<ns4:GetPolicies>', '<ns4:Other>').replace('</ns4:GetPolicies>', '</ns4:Other>'))).toThrow(/not an MS-XCEP GetPolicies request/);
  });

  it('round-trips the client builder (with a UsernameToken) through the server parser', () => {
    const xml = buildGetPoliciesRequest({ to: 'https://h/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP', usernameToken: { username: 'alice', password: 'pw' }, lastUpdate: new Date('2026-05-06T07:08:09Z'), preferredLanguage: 'en-US', policyOids: ['1.2.3.4'], clientVersion: 6, serverVersion: 5 });
    const env = parseEnvelope(xml, OPTS);
    expect(env.header).toMatchObject({ action: XCEP_ACTION.getPolicies, to: 'https://h/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP' });
    expect(env.header.messageId).toMatch(/^urn:uuid:[0-9a-f-]{36}$/);
    expect(env.header.security?.usernameToken).toMatchObject({ username: 'alice', password: 'pw' });
    expect(parseGetPolicies(env)).toEqual({ lastUpdate: new Date('2026-05-06T07:08:09Z'), preferredLanguage: 'en-US', policyOids: ['1.2.3.4'], clientVersion: 6, serverVersion: 5 });
    expect(parse(buildGetPoliciesRequest({ to: 'x' }))).toEqual({});
  });
});

describe('GetPoliciesResponse', () => {
  it('with 2 CAs and 3 policies validates against MS-XCEP 6.2 (wsdl/xcep.xsd)', async () => {
    const xml = buildResponseEnvelope({ action: XCEP_ACTION.getPoliciesResponse, relatesTo: 'urn:uuid:1', bodyXml: buildGetPoliciesResponseBody(sampleResponse()) });
    const r = await validateXml(extractElement(xml, 'GetPoliciesResponse'), XSD);
    expect(r.errors).toEqual([]);
    expect(r.valid).toBe(true);
  });

  it('validates when policies did not change (policies, cAs and oIDs nil)', async () => {
    const body = buildGetPoliciesResponseBody({ policyID: 'p', policiesNotChanged: true, nextUpdateHours: 8 });
    expect(body).toContain('<policies xsi:nil="true"/>');
    expect(body).toContain('<cAs xsi:nil="true"/>');
    expect((await validateXml(extractElement(body, 'GetPoliciesResponse'), XSD)).valid).toBe(true);
  });

  it('the validator is not a rubber stamp: element order and nils are checked', async () => {
    const body = buildGetPoliciesResponseBody(sampleResponse());
    const swapped = body.replace(/<enroll>(\w+)<\/enroll><autoEnroll>(\w+)<\/autoEnroll>/, '<autoEnroll>$2</autoEnroll><enroll>$1</enroll>');
    expect(swapped).not.toBe(body);
    expect((await validateXml(extractElement(swapped, 'GetPoliciesResponse'), XSD)).valid).toBe(false);
    const nilRenewal = body.replace('<renewalOnly>false</renewalOnly>', '<renewalOnly xsi:nil="true"/>');
    expect((await validateXml(extractElement(nilRenewal, 'GetPoliciesResponse'), XSD)).valid).toBe(false);
  });

  it('writes elements in schema order with nils, flags as numbers and base64 without line breaks', () => {
    const body = buildGetPoliciesResponseBody(sampleResponse());
    expect(body).toContain('<privateKeyFlags>16777216</privateKeyFlags><subjectNameFlags>2147483648</subjectNameFlags><enrollmentFlags>32</enrollmentFlags><generalFlags>64</generalFlags>');
    expect(body).toContain('<hashAlgorithmOIDReference xsi:nil="true"/><rARequirements xsi:nil="true"/><keyArchivalAttributes xsi:nil="true"/><extensions xsi:nil="true"/>');
    expect(body).toContain('<rAPolicies xsi:nil="true"/>'); // an empty collection is nil (minOccurs=1 items)
    expect(body).toContain('<extension><oIDReference>6</oIDReference><critical>false</critical><value xsi:nil="true"/></extension>');
    expect(body).toContain('<priority>2</priority><renewalOnly>false</renewalOnly>');
    expect(body).toContain('<policyFriendlyName>opences &amp; friends</policyFriendlyName>');
    expect(body).not.toMatch(/<certificate>[^<]*\s[^<]*<\/certificate>/);
    expect(buildGetPoliciesResponseBody(sampleResponse())).toBe(body); // pure: safe to cache
  });

  it('round-trips through the client parser', () => {
    const want = sampleResponse();
    const got = parseGetPoliciesResponse(parseEnvelope(buildResponseEnvelope({ action: XCEP_ACTION.getPoliciesResponse, bodyXml: buildGetPoliciesResponseBody(want) }), OPTS));
    expect(got.policyID).toBe(want.policyID);
    expect(got.cAs?.map((c) => c.uris.map((u) => [u.clientAuthentication, u.uri, u.priority, u.renewalOnly]))).toEqual([
      [[2, want.cAs![0]!.uris[0]!.uri, 1, false], [4, want.cAs![0]!.uris[1]!.uri, 2, false]],
      [[8, want.cAs![1]!.uris[0]!.uri, 1, true]],
    ]);
    expect([...got.cAs![0]!.certificate]).toEqual([...want.cAs![0]!.certificate]);
    expect(got.policies?.map((p) => [p.policyOIDReference, p.cAs, p.attributes.commonName])).toEqual([[10, [0], 'Template0'], [11, [0, 1], 'Template1'], [12, undefined, 'Template2']]);
    const p1 = got.policies![1]!.attributes;
    expect(p1).toMatchObject({ supersededPolicies: ['OldWeb', 'OlderWeb'], hashAlgorithmOIDReference: 3, raRequirements: { rASignatures: 1, rAEKUs: [4] }, keyArchival: { symmetricAlgorithmKeyLength: 256 } });
    expect(p1.privateKey).toEqual(want.policies![1]!.attributes.privateKey);
    expect(p1.extensions?.map((e) => [e.oIDReference, e.critical, e.value ? [...e.value] : null])).toEqual([[6, true, [0x30, 0x03, 0x02, 0x01, 0x05]], [6, false, null]]);
    expect(got.policies![0]!.attributes).toMatchObject({ subjectNameFlags: 0x80000000, privateKeyFlags: 0x01000000, validityPeriodSeconds: 31536000 });
    expect(got.oIDs).toEqual(want.oIDs);
  });
});
