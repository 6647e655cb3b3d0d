import { describe, expect, it } from 'vitest';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import { checkOrder, orderProfile, withinConstraints, type OrderClaims } from '../../../src/policy/issuance.js';
import type { Template } from '../../../src/policy/template.js';

/** More orders the CA must judge exactly (src/policy/issuance.ts), from the `policy` run's survivors. */
const NOW = new Date('2026-06-01T00:00:00Z');
const templates = defaultTemplates('1.3.6.1.4.1.311.21.8.4.5');
const T = (name: string): Template => structuredClone(templates.find((t) => t.name === name)!);
const orderFor = (t: Template, names: Pick<OrderClaims, 'subject' | 'sans'>, requester = 'alice', extra: Partial<OrderClaims> = {}): OrderClaims => ({ ...orderProfile(t, NOW), ...names, requester, ...extra });
const web = { subject: [{ type: 'CN', value: 'www.example.test' }], sans: [{ type: 'dns' as const, value: 'www.example.test' }] };

describe('refusals name every offending value', () => {
  it('lists each CA-only usage, each EKU and each policy of the order', () => {
    const t = T('WebServer');
    const base = orderFor(t, web);
    expect(checkOrder(t, { ...base, keyUsage: ['keyCertSign', 'cRLSign'] }, {})?.reason).toBe('the order asks for keyCertSign, cRLSign: this CA issues end-entity certificates only');
    expect(checkOrder(t, { ...base, ekus: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'] }, {})?.reason).toBe("the order's extended key usages [1.3.6.1.5.5.7.3.1, 1.3.6.1.5.5.7.3.2] are not the template WebServer's [1.3.6.1.5.5.7.3.1]");
    expect(checkOrder(T('Machine'), { ...orderFor(T('Machine'), web), ekus: [] }, {})?.reason).toBe("the order's extended key usages [] are not the template Machine's [1.3.6.1.5.5.7.3.2, 1.3.6.1.5.5.7.3.1]");
    expect(checkOrder(t, { ...base, issuancePolicies: ['1.2.3.4', '1.2.3.5'] }, {})?.reason).toBe("the order's issuance policies [1.2.3.4, 1.2.3.5] are not the template WebServer's");
    expect(checkOrder(t, orderFor(t, { ...web, sans: [{ type: 'upn', value: 'a@b' }] }), {})?.reason).toBe('the template WebServer does not allow upn names (it allows dns, ip)');
  });

  it('shows at most 80 characters of a SID that is not one', () => {
    const u = T('User');
    const bogus = `S-1-5-21-${'9'.repeat(100)}`;
    expect(checkOrder(u, orderFor(u, { subject: [{ type: 'CN', value: 'alice' }], sans: [] }, 'alice', { sid: bogus }), {})?.reason).toBe(`the order's SID ${JSON.stringify(bogus.slice(0, 80))} is not a SID`);
  });
});

describe('enrollee-supplied names', () => {
  it('checks every SAN, not only the first, and each required SAN kind by its kind', () => {
    const t = T('WebServer');
    expect(checkOrder(t, orderFor(t, { ...web, sans: [{ type: 'dns', value: 'www.example.test' }, { type: 'dns', value: 'bad_name.test' }] }), {})?.reason).toBe('"bad_name.test" is not a valid DNS name');
    t.subject.requireSan = ['dns'];
    expect(checkOrder(t, orderFor(t, { subject: web.subject, sans: [{ type: 'ip', value: '10.0.0.1' }] }), {})?.reason).toBe('the template WebServer requires a DNS subject alternative name');
  });

  it('name constraints: only CNs are host names, one permitted suffix of several is enough, leading dots are dropped', () => {
    const nc = { permittedDnsSuffixes: ['example.test', 'example.org'], excludedDnsSuffixes: [] };
    const t = T('WebServer');
    expect(checkOrder(t, orderFor(t, { subject: [{ type: 'CN', value: 'www.example.test' }, { type: 'O', value: 'www.google.com' }], sans: [] }), { nameConstraints: nc })).toBeNull();
    expect(withinConstraints('www.example.org', nc)).toBe(true);
    expect(withinConstraints('www.example.test', { permittedDnsSuffixes: ['..example.test'], excludedDnsSuffixes: [] })).toBe(true);
  });
});

describe('identity-built names (checkOrder)', () => {
  const u = T('User');
  const m = T('Machine');
  it('a requester that is a host name owns that DNS name; a name one letter longer owns no other', () => {
    const ws1 = { subject: [{ type: 'CN', value: 'ws1.ad.test' }], sans: [{ type: 'dns' as const, value: 'ws1.ad.test' }] };
    expect(checkOrder(m, orderFor(m, ws1, 'ws1.ad.test'), {})).toBeNull();
    expect(checkOrder(m, orderFor(m, ws1, 'ws1x@AD.TEST'), {})?.reason).toMatch(/DNS name ws1.ad.test is not the requester/);
  });

  it('reads the CN, the e-mail attribute and the e-mail SAN by type, wherever they are', () => {
    expect(checkOrder(u, orderFor(u, { subject: [{ type: 'E', value: 'alice@example.test' }, { type: 'CN', value: 'alice' }], sans: [] }), {})).toBeNull();
    expect(checkOrder(u, orderFor(u, { subject: [{ type: 'CN', value: 'alice' }, { type: 'E', value: 'alice@example.test' }], sans: [{ type: 'upn', value: 'alice@corp.example' }, { type: 'email', value: 'alice@example.test' }] }), {})).toBeNull();
    // An e-mail SAN without an E attribute, or the reverse, is not a mismatch.
    expect(checkOrder(u, orderFor(u, { subject: [{ type: 'CN', value: 'alice' }], sans: [{ type: 'email', value: 'alice@example.test' }] }), {})).toBeNull();
    expect(checkOrder(u, orderFor(u, { subject: [{ type: 'CN', value: 'alice' }, { type: 'E', value: 'alice@example.test' }], sans: [] }), {})).toBeNull();
  });
});
