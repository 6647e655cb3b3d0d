import { describe, expect, it } from 'vitest';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import { approvalDigest, checkOrder, internalScepRaTemplate, internalTemplates, internalTlsTemplate, orderProfile, templateProfile, withinConstraints, type OrderClaims } from '../../../src/policy/issuance.js';
import type { Template } from '../../../src/policy/template.js';

/**
 * Orders the CA must refuse although an RA (or whoever can reach the CA's signing API) built them:
 * the CA re-checks every order against the template (src/policy/issuance.ts checkOrder).
 */
const NOW = new Date('2026-06-01T00:00:00Z');
const templates = defaultTemplates('1.3.6.1.4.1.311.21.8.4.4');
const T = (name: string): Template => structuredClone(templates.find((t) => t.name === name)!);
const orderFor = (t: Template, names: Pick<OrderClaims, 'subject' | 'sans'>, requester = 'alice', extra: Partial<OrderClaims> = {}): OrderClaims => ({ ...orderProfile(t, NOW), ...names, requester, ...extra });
const web = { subject: [{ type: 'CN', value: 'www.example.test' }], sans: [{ type: 'dns' as const, value: 'www.example.test' }] };
const SID = 'S-1-5-21-1004336348-1177238915-682003330-1103';

describe('the CA re-checks an order against its template (src/policy/issuance.ts)', () => {
  it('an EKU list padded with a duplicate is not the template list', () => {
    const m = T('Machine'); // clientAuth, serverAuth
    const o = orderFor(m, { subject: [{ type: 'CN', value: 'ws1.ad.test' }], sans: [{ type: 'dns', value: 'ws1.ad.test' }] }, 'WS1$@AD.TEST');
    expect(checkOrder(m, o, {})).toBeNull();
    expect(checkOrder(m, { ...o, ekus: ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.2'] }, {})?.reason).toMatch(/extended key usages/);
    // The same EKUs in another order are the same set.
    expect(checkOrder(m, { ...o, ekus: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'] }, {})).toBeNull();
  });

  it('key usage and issuance-policy refusals are profile refusals (a fresher template may explain them)', () => {
    const t = T('WebServer');
    const base = orderFor(t, web);
    expect(checkOrder(t, { ...base, keyUsage: ['digitalSignature'] }, {})).toEqual({ reason: "the order's key usage [digitalSignature] is not the template WebServer's [digitalSignature, keyEncipherment]", profile: true });
    expect(checkOrder(t, { ...base, issuancePolicies: ['1.2.3.4'] }, {})).toEqual({ reason: "the order's issuance policies [1.2.3.4] are not the template WebServer's", profile: true });
    expect(checkOrder(t, { ...base, notAfter: new Date(base.notAfter.getTime() + 1) }, {})?.profile).toBe(true);
    expect(checkOrder(t, { ...base, notAfter: new Date(base.notBefore.getTime() - 1) }, {})).toEqual({ reason: 'the order ends before it starts', profile: false });
    // The longest lifetime the template allows, to the millisecond, is accepted.
    expect(checkOrder(t, { ...base, notBefore: NOW, notAfter: new Date(NOW.getTime() + templateProfile(t).maxLifetimeMs) }, {})).toBeNull();
  });

  it('an order naming nothing, or without a SAN the template requires, is refused', () => {
    const t = T('WebServer');
    expect(checkOrder(t, orderFor(t, { subject: [], sans: [] }), {})).toEqual({ reason: 'the order has neither a subject nor a subject alternative name', profile: false });
    t.subject.requireSan = ['dns'];
    expect(checkOrder(t, orderFor(t, { subject: [{ type: 'CN', value: 'www.example.test' }], sans: [] }), {})?.reason).toBe('the template WebServer requires a DNS subject alternative name');
    const none = T('WebServer');
    none.subject.allowedSanTypes = [];
    expect(checkOrder(none, orderFor(none, web), {})?.reason).toBe('the template WebServer does not allow dns names (it allows none)');
    expect(checkOrder(T('WebServer'), orderFor(T('WebServer'), { subject: web.subject, sans: [{ type: 'ip', value: '10.0.0.300' }] }), {})?.reason).toMatch(/not an IP address/);
  });

  it('a SID must be a SID, and only a template that puts SIDs in certificates may carry one', () => {
    const u = T('User');
    const names = { subject: [{ type: 'CN', value: 'alice' }], sans: [{ type: 'upn' as const, value: 'alice@ad.test' }] };
    expect(checkOrder(u, orderFor(u, names, 'alice@AD.TEST', { sid: SID }), {})).toBeNull();
    expect(checkOrder(u, orderFor(u, names, 'alice@AD.TEST', { sid: 'S-1-5-21-x' }), {})).toEqual({ reason: 'the order\'s SID "S-1-5-21-x" is not a SID', profile: false });
    u.extensions.securityExtension = false;
    expect(checkOrder(u, orderFor(u, names, 'alice@AD.TEST', { sid: SID }), {})).toEqual({ reason: 'the template User puts no SID in its certificates', profile: true });
    // Without the extension, the SID URL still carries it.
    u.extensions.sidUrl = true;
    expect(checkOrder(u, orderFor(u, names, 'alice@AD.TEST', { sid: SID }), {})).toBeNull();
  });

  it('an order may not bring a SID URL of its own, whatever its letter case', () => {
    const t = T('WebServer');
    t.subject.allowedSanTypes = ['dns', 'uri'];
    expect(checkOrder(t, orderFor(t, { subject: web.subject, sans: [{ type: 'uri', value: `TAG:Microsoft.com,2022-09-14:SID:${SID}` }] }), {})).toEqual({ reason: 'the order names a SID URL itself; the CA adds it from the recorded SID', profile: false });
    expect(checkOrder(t, orderFor(t, { subject: web.subject, sans: [{ type: 'uri', value: 'https://example.test/' }] }), {})).toBeNull();
  });

  it('name constraints: localhost is exempt for the servers\' own TLS profile only; CNs that are not host names are not DNS names', () => {
    const nc = { permittedDnsSuffixes: ['example.test'], excludedDnsSuffixes: [] };
    const t = T('WebServer');
    expect(checkOrder(t, orderFor(t, { subject: [{ type: 'CN', value: 'localhost' }], sans: [{ type: 'dns', value: 'localhost' }] }), { nameConstraints: nc })?.reason).toBe("the name localhost is outside the deployment's name constraints (ca.nameConstraints)");
    const tls = internalTlsTemplate();
    expect(checkOrder(tls, orderFor(tls, { subject: [{ type: 'CN', value: 'localhost' }], sans: [{ type: 'dns', value: 'localhost' }] }, 'opences-server'), { nameConstraints: nc })).toBeNull();
    // A CN without a dot, or one that is not a valid host name, is not held to the DNS constraints.
    expect(checkOrder(t, orderFor(t, { subject: [{ type: 'CN', value: 'Intranet' }], sans: [{ type: 'dns', value: 'www.example.test' }] }), { nameConstraints: nc })).toBeNull();
    expect(checkOrder(t, orderFor(t, { subject: [{ type: 'CN', value: 'Ops Team v1.2' }], sans: [{ type: 'dns', value: 'www.example.test' }] }), { nameConstraints: nc })).toBeNull();
    // Letter case does not get a name out of the constraints.
    expect(checkOrder(t, orderFor(t, { subject: [], sans: [{ type: 'dns', value: 'WWW.GOOGLE.COM' }] }), { nameConstraints: nc })?.reason).toMatch(/www\.google\.com is outside/);
    expect(checkOrder(t, orderFor(t, { subject: [{ type: 'CN', value: 'WWW.GOOGLE.COM' }], sans: [] }), { nameConstraints: nc })?.reason).toMatch(/www\.google\.com is outside/);
  });

  it('suffixes: a leading "*." or "." and letter case do not matter; an exclusion wins over a permission', () => {
    const c = { permittedDnsSuffixes: ['*.Example.TEST'], excludedDnsSuffixes: ['.Secret.Example.Test'] };
    expect(withinConstraints('www.example.test', c)).toBe(true);
    expect(withinConstraints('*.www.example.test', c)).toBe(true);
    expect(withinConstraints('example.test', c)).toBe(true);
    expect(withinConstraints('secret.example.test', c)).toBe(false);
    expect(withinConstraints('*.secret.example.test', c)).toBe(false);
    expect(withinConstraints('badexample.test', c)).toBe(false);
    expect(withinConstraints('example.test.evil', c)).toBe(false);
  });
});

describe('identity-built names must be the requester\'s (checkOrder)', () => {
  const u = T('User');
  const m = T('Machine');
  it('a subject attribute repeated, or one the template does not build, is refused', () => {
    expect(checkOrder(u, orderFor(u, { subject: [{ type: 'CN', value: 'alice' }, { type: 'CN', value: 'alice' }], sans: [] }), {})?.reason).toBe('the subject repeats CN');
    const cnOnly = T('User');
    cnOnly.subject.fromIdentity.subjectFormat = 'commonName';
    expect(checkOrder(cnOnly, orderFor(cnOnly, { subject: [{ type: 'CN', value: 'alice' }, { type: 'E', value: 'alice@example.test' }], sans: [] }), {})?.reason).toMatch(/it has no E attribute/);
    const noSubject = T('User');
    noSubject.subject.fromIdentity.subjectFormat = 'none';
    expect(checkOrder(noSubject, orderFor(noSubject, { subject: [{ type: 'CN', value: 'alice' }], sans: [{ type: 'upn', value: 'alice@x.test' }] }), {})?.reason).toMatch(/it has no CN attribute/);
  });

  it('each SAN kind the template builds at most once', () => {
    expect(checkOrder(u, orderFor(u, { subject: [], sans: [{ type: 'email', value: 'alice@x' }, { type: 'email', value: 'alice@y' }] }), {})?.reason).toBe('the template User builds one email name, not several');
    expect(checkOrder(m, orderFor(m, { subject: [], sans: [{ type: 'dns', value: 'ws1.ad.test' }, { type: 'dns', value: 'dc1.ad.test' }] }, 'WS1$@AD.TEST'), {})?.reason).toMatch(/one dns name, not several/);
  });

  it("a computer's DNS name comes from its Kerberos name; a user's does not make one", () => {
    const ws1 = { subject: [{ type: 'CN', value: 'ws1.ad.test' }], sans: [{ type: 'dns' as const, value: 'ws1.ad.test' }] };
    // `WS1$` without a realm, `host/` alone and a plain user are no computer names.
    expect(checkOrder(m, orderFor(m, ws1, 'WS1$'), {})?.reason).toMatch(/DNS name ws1.ad.test is not the requester/);
    expect(checkOrder(m, orderFor(m, ws1, 'host/@AD.TEST'), {})?.reason).toMatch(/not the requester/);
    expect(checkOrder(m, orderFor(m, ws1, 'ws1@AD.TEST'), {})?.reason).toMatch(/not the requester/);
    expect(checkOrder(m, orderFor(m, { subject: [{ type: 'CN', value: '$.ad.test' }], sans: [{ type: 'dns', value: '$.ad.test' }] }, '$@AD.TEST'), {})?.reason).toMatch(/not the requester/);
    // `host/` with no name after it names no host, not even an empty one.
    expect(checkOrder(m, orderFor(m, { subject: [], sans: [{ type: 'dns', value: '' }] }, 'host/@AD.TEST'), {})?.reason).toBe('the DNS name  is not the requester host/@AD.TEST\'s');
    // The CN may be the computer's DNS name.
    expect(checkOrder(m, orderFor(m, ws1, 'host/ws1.ad.test@AD.TEST'), {})).toBeNull();
  });

  it("a UPN, CN and e-mail naming someone else are refused; the requester's own are accepted", () => {
    // A realm-qualified requester's UPN is exactly its name: not another realm, not another name.
    expect(checkOrder(u, orderFor(u, { subject: [], sans: [{ type: 'upn', value: 'ALICE@AD.TEST' }] }, 'alice@AD.TEST'), {})).toBeNull();
    expect(checkOrder(u, orderFor(u, { subject: [], sans: [{ type: 'upn', value: 'alice@corp.example' }] }, 'alice@AD.TEST'), {})?.reason).toBe('the user principal name alice@corp.example is not the requester alice@AD.TEST\'s');
    // A plain account name: its own name, or its name at some domain — not someone else's.
    expect(checkOrder(u, orderFor(u, { subject: [], sans: [{ type: 'upn', value: 'alice' }] }, 'alice'), {})).toBeNull();
    expect(checkOrder(u, orderFor(u, { subject: [], sans: [{ type: 'upn', value: 'mallory@corp.example' }] }, 'alice'), {})?.reason).toMatch(/not the requester alice's/);
    expect(checkOrder(u, orderFor(u, { subject: [], sans: [{ type: 'upn', value: 'alice@x@corp.example' }] }, 'alice'), {})?.reason).toMatch(/not the requester/);
    // The CN is the requester's name (cut at 64), not longer.
    const long = 'l'.repeat(70);
    expect(checkOrder(u, orderFor(u, { subject: [{ type: 'CN', value: 'l'.repeat(64) }], sans: [] }, long), {})).toBeNull();
    expect(checkOrder(u, orderFor(u, { subject: [{ type: 'CN', value: 'l'.repeat(63) }], sans: [] }, long), {})?.reason).toMatch(/common name/);
    expect(checkOrder(u, orderFor(u, { subject: [{ type: 'CN', value: 'alice' }], sans: [] }, 'alice@AD.TEST'), {})).toBeNull();
    // A partner's user is named by its mapped name: its UPN and CN, not the partner prefix's.
    const partner = 'partner:acme/bob@partner.example';
    expect(checkOrder(u, orderFor(u, { subject: [{ type: 'CN', value: 'bob' }], sans: [{ type: 'upn', value: 'bob@partner.example' }] }, partner), {})).toBeNull();
    expect(checkOrder(u, orderFor(u, { subject: [{ type: 'CN', value: 'Bob@Partner.Example' }], sans: [] }, partner), {})).toBeNull();
    expect(checkOrder(u, orderFor(u, { subject: [], sans: [{ type: 'upn', value: 'bob@acme' }] }, partner), {})?.reason).toMatch(/not the requester/);
    expect(checkOrder(u, orderFor(u, { subject: [{ type: 'CN', value: 'acme' }], sans: [] }, partner), {})?.reason).toMatch(/common name acme is not the requester/);
    // The subject e-mail and the e-mail SAN must agree.
    expect(checkOrder(u, orderFor(u, { subject: [{ type: 'CN', value: 'alice' }, { type: 'E', value: 'alice@example.test' }], sans: [{ type: 'email', value: 'boss@example.test' }] }), {})?.reason).toBe('the subject e-mail address and the e-mail SAN differ');
    expect(checkOrder(u, orderFor(u, { subject: [{ type: 'CN', value: 'alice' }, { type: 'E', value: 'Alice@Example.test' }], sans: [{ type: 'email', value: 'alice@example.test' }] }), {})).toBeNull();
  });
});

describe('internal profiles and the approval digest', () => {
  it('the SCEP RA templates: RSA-2048, no SANs, two years, one key usage each; looked up by name', () => {
    const sign = internalScepRaTemplate('sign');
    const enc = internalScepRaTemplate('encrypt');
    expect([sign.name, sign.displayName, sign.extensions.keyUsage]).toEqual(['opences-scep-ra-sign', 'opences SCEP RA signing', ['digitalSignature']]);
    expect([enc.name, enc.displayName, enc.extensions.keyUsage]).toEqual(['opences-scep-ra-encrypt', 'opences SCEP RA encryption', ['keyEncipherment']]);
    expect(sign.privateKey).toMatchObject({ algorithms: ['RSA'], minimalKeyLength: 2048 });
    expect(sign.subject.allowedSanTypes).toEqual([]);
    expect(sign.validityPeriodSeconds).toBe(2 * 365 * 86400);
    expect(sign.extensions.ekus).toEqual(['1.3.6.1.4.1.311.20.2.1']);
    expect([...internalTemplates().keys()]).toEqual(['opences-tls', 'opences-scep-ra-sign', 'opences-scep-ra-encrypt']);
  });

  it('the template information extension is in the profile only when the template asks for it', () => {
    const t = T('WebServer');
    expect(orderProfile(t, NOW).templateInfo).toEqual({ oid: t.oid, majorRevision: 100, minorRevision: 0 });
    t.extensions.templateInformation = false;
    expect('templateInfo' in orderProfile(t, NOW)).toBe(false);
    expect('templateInfo' in templateProfile(t)).toBe(false);
  });

  it("binds SAN values case-insensitively (as names compare) but each subject attribute's type", () => {
    const base = { template: 'WebServerApproval', requester: 'alice', csrDer: new Uint8Array([1]), subject: [{ type: 'CN', value: 'www.example.test' }], sans: web.sans };
    const d = approvalDigest(base);
    expect(approvalDigest({ ...base, sans: [{ type: 'dns', value: 'WWW.Example.Test' }] })).toBe(d);
    expect(approvalDigest({ ...base, sans: [{ type: 'uri', value: 'www.example.test' }] })).not.toBe(d);
    expect(approvalDigest({ ...base, subject: [{ type: 'O', value: 'www.example.test' }] })).not.toBe(d);
  });
});
