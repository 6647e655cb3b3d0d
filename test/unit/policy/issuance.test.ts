import { describe, expect, it } from 'vitest';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import { approvalDigest, checkOrder, INTERNAL_TLS_PROFILE, internalTlsTemplate, orderProfile, withinConstraints, type OrderClaims } from '../../../src/policy/issuance.js';
import type { Template } from '../../../src/policy/template.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const templates = defaultTemplates('1.3.6.1.4.1.311.21.8.9.9');
const T = (name: string): Template => structuredClone(templates.find((t) => t.name === name)!);

/** An order exactly as the RA builds it for `t` (orderProfile, the shared function). */
function orderFor(t: Template, names: Pick<OrderClaims, 'subject' | 'sans'>, requester = 'alice'): OrderClaims {
  return { ...orderProfile(t, NOW), ...names, requester };
}

const web = { subject: [{ type: 'CN', value: 'www.example.test' }], sans: [{ type: 'dns' as const, value: 'www.example.test' }] };
const user = { subject: [{ type: 'CN', value: 'alice' }, { type: 'E', value: 'alice@example.test' }], sans: [{ type: 'upn' as const, value: 'alice@example.test' }, { type: 'email' as const, value: 'alice@example.test' }] };

describe('what a template produces (src/policy/issuance.ts), as the RA builds orders and the CA re-checks them', () => {
  it('accepts the order the RA builds for each default template', () => {
    expect(checkOrder(T('WebServer'), orderFor(T('WebServer'), web), {})).toBeNull();
    expect(checkOrder(T('WebServerApproval'), orderFor(T('WebServerApproval'), web), {})).toBeNull();
    expect(checkOrder(T('User'), orderFor(T('User'), user), {})).toBeNull();
    expect(checkOrder(T('User'), orderFor(T('User'), { subject: [{ type: 'CN', value: 'alice' }], sans: [{ type: 'upn', value: 'alice@AD.TEST' }] }, 'alice@AD.TEST'), {})).toBeNull();
    const machine = { subject: [{ type: 'CN', value: 'ws1.ad.test' }], sans: [{ type: 'dns' as const, value: 'ws1.ad.test' }] };
    expect(checkOrder(T('Machine'), orderFor(T('Machine'), machine, 'WS1$@AD.TEST'), {})).toBeNull();
    expect(checkOrder(T('Machine'), orderFor(T('Machine'), machine, 'host/ws1.ad.test@AD.TEST'), {})).toBeNull();
    expect(checkOrder(internalTlsTemplate(), { ...orderFor(internalTlsTemplate(), { subject: [{ type: 'CN', value: 'localhost' }], sans: [{ type: 'dns', value: 'localhost' }, { type: 'ip', value: '127.0.0.1' }] }, 'opences-server'), notBefore: NOW, notAfter: new Date(NOW.getTime() + 397 * 86400_000) }, { nameConstraints: { permittedDnsSuffixes: ['example.test'], excludedDnsSuffixes: [] } })).toBeNull();
  });

  it('refuses extended key usages, key usages and policies beyond (or short of) the template', () => {
    const t = T('WebServer');
    const base = orderFor(t, web);
    expect(checkOrder(t, { ...base, ekus: [...base.ekus, '1.3.6.1.5.5.7.3.3'] }, {})?.reason).toMatch(/extended key usages/);
    expect(checkOrder(t, { ...base, ekus: ['2.5.29.37.0'] }, {})?.reason).toMatch(/extended key usages/);
    expect(checkOrder(t, { ...base, ekus: [] }, {})?.reason).toMatch(/extended key usages/);
    expect(checkOrder(t, { ...base, keyUsage: [...base.keyUsage, 'nonRepudiation'] }, {})?.reason).toMatch(/key usage/);
    expect(checkOrder(t, { ...base, keyUsageCritical: false }, {})?.reason).toMatch(/key usage/);
    expect(checkOrder(t, { ...base, issuancePolicies: ['1.2.3.4'] }, {})?.reason).toMatch(/issuance policies/);
    expect(checkOrder(t, { ...base, ekus: [...base.ekus, '1.3.6.1.5.5.7.3.3'] }, {})?.profile).toBe(true);
  });

  it('refuses keyCertSign and cRLSign even when a template lists them: this CA issues end-entity certificates only', () => {
    const t = T('WebServer');
    t.extensions.keyUsage = ['digitalSignature', 'keyCertSign'];
    const r = checkOrder(t, orderFor(t, web), {});
    expect(r?.reason).toMatch(/keyCertSign: this CA issues end-entity certificates only/);
    expect(r?.profile).toBe(false);
    expect(checkOrder(T('WebServer'), { ...orderFor(T('WebServer'), web), keyUsage: ['cRLSign'] }, {})?.reason).toMatch(/cRLSign/);
  });

  it('refuses a lifetime longer than the template validity, and an order that ends before it starts', () => {
    const t = T('WebServer');
    const base = orderFor(t, web);
    expect(checkOrder(t, { ...base, notAfter: new Date(NOW.getTime() + 10 * 365 * 86400_000) }, {})?.reason).toMatch(/3651 days of validity; the template WebServer allows 730/);
    expect(checkOrder(t, { ...base, notAfter: new Date(base.notAfter.getTime() + 1000) }, {})?.reason).toMatch(/validity/);
    expect(checkOrder(t, { ...base, notAfter: base.notBefore }, {})?.reason).toMatch(/ends before it starts/);
  });

  it('enrollee-supplied templates: only the allowed SAN types, valid names, and the deployment name constraints', () => {
    const t = T('WebServer');
    expect(checkOrder(t, orderFor(t, { ...web, sans: [...web.sans, { type: 'upn', value: 'administrator@example.com' }] }), {})?.reason).toMatch(/does not allow upn names/);
    expect(checkOrder(t, orderFor(t, { ...web, sans: [{ type: 'dns', value: 'bad..name' }] }), {})?.reason).toMatch(/not a valid DNS name/);
    const nc = { permittedDnsSuffixes: ['example.test'], excludedDnsSuffixes: ['secret.example.test'] };
    expect(checkOrder(t, orderFor(t, web), { nameConstraints: nc })).toBeNull();
    expect(checkOrder(t, orderFor(t, { subject: [{ type: 'CN', value: 'x' }], sans: [{ type: 'dns', value: '*.google.com' }] }), { nameConstraints: nc })?.reason).toMatch(/\*\.google\.com is outside the deployment's name constraints/);
    expect(checkOrder(t, orderFor(t, { subject: [{ type: 'CN', value: 'www.google.com' }], sans: [] }), { nameConstraints: nc })?.reason).toMatch(/www\.google\.com is outside/);
    expect(checkOrder(t, orderFor(t, { subject: [], sans: [{ type: 'dns', value: 'a.secret.example.test' }] }), { nameConstraints: nc })?.reason).toMatch(/outside/);
    // The internal TLS profile is held to the constraints too (localhost aside).
    const tls = internalTlsTemplate();
    expect(tls.name).toBe(INTERNAL_TLS_PROFILE);
    expect(checkOrder(tls, orderFor(tls, { subject: [{ type: 'CN', value: 'www.google.com' }], sans: [{ type: 'dns', value: 'www.google.com' }] }, 'opences-server'), { nameConstraints: nc })?.reason).toMatch(/outside/);
    expect(withinConstraints('example.test', nc)).toBe(true);
    expect(withinConstraints('notexample.test', nc)).toBe(false);
    expect(withinConstraints('anything.org', { permittedDnsSuffixes: [], excludedDnsSuffixes: ['example.test'] })).toBe(true);
  });

  it("identity-built templates: only the attributes and SAN kinds the template builds, naming the recorded requester", () => {
    const t = T('User');
    const forged = { subject: [{ type: 'CN', value: 'Evil Corp Root' }, { type: 'O', value: 'Google LLC' }], sans: [{ type: 'dns' as const, value: '*.google.com' }, { type: 'upn' as const, value: 'administrator@example.com' }] };
    expect(checkOrder(t, orderFor(t, forged), {})?.reason).toMatch(/no O attribute/);
    expect(checkOrder(t, orderFor(t, { subject: [{ type: 'CN', value: 'alice' }], sans: [{ type: 'dns', value: '*.google.com' }] }), {})?.reason).toMatch(/no dns names/);
    expect(checkOrder(t, orderFor(t, { subject: [{ type: 'CN', value: 'alice' }], sans: [{ type: 'upn', value: 'administrator@example.com' }] }), {})?.reason).toMatch(/administrator@example.com is not the requester alice's/);
    expect(checkOrder(t, orderFor(t, { subject: [{ type: 'CN', value: 'Evil Corp Root' }], sans: [{ type: 'upn', value: 'alice@example.test' }] }), {})?.reason).toMatch(/common name evil corp root is not the requester alice's/);
    expect(checkOrder(t, orderFor(t, { subject: [{ type: 'CN', value: 'alice' }], sans: [{ type: 'upn', value: 'alice@x' }, { type: 'upn', value: 'bob@x' }] }), {})?.reason).toMatch(/one upn name/);
    // A Kerberos user's UPN is its realm-qualified name: neither admin@AD.TEST nor alice@OTHER.TEST is alice@AD.TEST's.
    expect(checkOrder(t, orderFor(t, { subject: [{ type: 'CN', value: 'alice' }], sans: [{ type: 'upn', value: 'admin@AD.TEST' }] }, 'alice@AD.TEST'), {})?.reason).toMatch(/not the requester/);
    expect(checkOrder(t, orderFor(t, { subject: [{ type: 'CN', value: 'alice' }], sans: [{ type: 'upn', value: 'alice@OTHER.TEST' }] }, 'alice@AD.TEST'), {})?.reason).toMatch(/not the requester/);
    // A local account's UPN may carry the deployment's domain.
    expect(checkOrder(t, orderFor(t, { subject: [{ type: 'CN', value: 'alice' }], sans: [{ type: 'upn', value: 'alice@corp.example' }] }, 'alice'), {})).toBeNull();
    const m = T('Machine');
    expect(checkOrder(m, orderFor(m, { subject: [{ type: 'CN', value: 'dc1.ad.test' }], sans: [{ type: 'dns', value: 'dc1.ad.test' }] }, 'WS1$@AD.TEST'), {})?.reason).toMatch(/DNS name dc1.ad.test is not the requester/);
    // A partner's user: names from the mapped name.
    expect(checkOrder(t, orderFor(t, { subject: [{ type: 'CN', value: 'bob@partner.example' }], sans: [{ type: 'upn', value: 'partner:acme/bob@partner.example' }] }, 'partner:acme/bob@partner.example'), {})).toBeNull();
  });

  it("an approval's digest binds the template, requester, request and names", () => {
    const base = { template: 'WebServerApproval', requester: 'alice', csrDer: new Uint8Array([1, 2, 3]), subject: web.subject, sans: web.sans };
    const d = approvalDigest(base);
    expect(approvalDigest({ ...base })).toBe(d);
    expect(approvalDigest({ ...base, template: 'WebServer' })).not.toBe(d);
    expect(approvalDigest({ ...base, requester: 'bob' })).not.toBe(d);
    expect(approvalDigest({ ...base, csrDer: new Uint8Array([1, 2, 4]) })).not.toBe(d);
    expect(approvalDigest({ ...base, sans: [{ type: 'dns', value: '*.google.com' }] })).not.toBe(d);
    expect(approvalDigest({ ...base, subject: [{ type: 'CN', value: 'Evil Corp Root' }] })).not.toBe(d);
  });
});
