import { describe, expect, it } from 'vitest';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import { isBroadGroup, lintTemplate, unacceptedFindings } from '../../../src/policy/template-lint.js';
import type { Template } from '../../../src/policy/template.js';
import { enrollmentFlags } from '../../../src/policy/flags.js';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const defaults = defaultTemplates('1.3.6.1.4.1.311.21.8.1.2');
const web = defaults.find((t) => t.name === 'WebServer')!;
const user = defaults.find((t) => t.name === 'User')!;

/** A fixture template: WebServer (broad enrollment, no approval) changed by `f`. */
function shape(name: string, f: (t: Template) => void, base: Template = web): Template {
  const t: Template = structuredClone({ ...base, name });
  f(t);
  return t;
}
const ids = (t: Template, o = {}) => lintTemplate(t, o).map((x) => x.id);

describe('template safety lint (Certipy ESC shapes)', () => {
  it('passes every default template: WebServer has an enrollee-supplied subject but only serverAuth, so it is not ESC1', () => {
    for (const t of defaults) expect(lintTemplate(t), t.name).toEqual([]);
  });

  it('ESC1: enrollee-supplied subject/SAN + client authentication + no approval + broad enrollment', () => {
    const esc1 = shape('ESC1', (t) => {
      t.extensions.ekus = [SERVER_AUTH, CLIENT_AUTH];
      t.subject.allowedSanTypes = ['dns', 'upn'];
    });
    const f = lintTemplate(esc1);
    expect(f.map((x) => x.id)).toEqual(['ESC1']);
    expect(f[0]!.reason).toMatch(/1\.3\.6\.1\.5\.5\.7\.3\.2/);
    expect(f[0]!.reason).toMatch(/group:authenticated/);
    expect(f[0]!.fix).toMatch(/enrolleeSupplies: false/);
    // Each of the conditions, removed, clears it.
    expect(ids(shape('a', (t) => ((t.extensions.ekus = [SERVER_AUTH, CLIENT_AUTH]), (t.enrollment.pendAllRequests = true))))).toEqual([]);
    expect(ids(shape('b', (t) => ((t.extensions.ekus = [SERVER_AUTH, CLIENT_AUTH]), (t.raSignatures = 1))))).toEqual([]);
    expect(ids(shape('c', (t) => ((t.extensions.ekus = [SERVER_AUTH, CLIENT_AUTH]), (t.permissions = [{ principal: 'group:PKI Admins', read: true, enroll: true, autoenroll: false }]))))).toEqual([]);
    // Smart card logon, PKINIT client and Domain Users (by SID) count too.
    const sc = shape('sc', (t) => {
      t.extensions.ekus = ['1.3.6.1.4.1.311.20.2.2'];
      t.permissions = [{ principal: 'group:S-1-5-21-1-2-3-513', read: true, enroll: true, autoenroll: false }];
    });
    expect(ids(sc)).toEqual(['ESC1']);
    expect(ids(shape('pk', (t) => (t.extensions.ekus = ['1.3.6.1.5.2.3.4'])))).toEqual(['ESC1']);
  });

  it('ESC2: any-purpose EKU or no EKU at all, enrollable by broad groups without approval', () => {
    const any = shape('ESC2', (t) => ((t.subject.enrolleeSupplies = false), (t.extensions.ekus = ['2.5.29.37.0'])), user);
    expect(ids(any)).toEqual(['ESC2']);
    const none = shape('ESC2b', (t) => (t.extensions.ekus = []), user);
    expect(ids(none)).toEqual(['ESC2']);
    // With an enrollee-supplied subject a no-EKU template is ESC1 as well.
    expect(ids(shape('both', (t) => (t.extensions.ekus = [])))).toEqual(['ESC1', 'ESC2']);
  });

  it('ESC3: certificate request agent EKU without restrictions', () => {
    const agent = shape('ESC3', (t) => (t.extensions.ekus = ['1.3.6.1.4.1.311.20.2.1']), user);
    expect(ids(agent)).toEqual(['ESC3']);
    expect(ids(shape('ok', (t) => ((t.extensions.ekus = ['1.3.6.1.4.1.311.20.2.1']), (t.permissions = [{ principal: 'group:Enrollment Agents', read: true, enroll: true, autoenroll: false }])), user))).toEqual([]);
  });

  it('ESC9: no security extension on an authentication template (and the MS-CRTD flag says so)', () => {
    const esc9 = shape('ESC9', (t) => (t.extensions.securityExtension = false), user);
    const f = lintTemplate(esc9);
    expect(f.map((x) => x.id)).toEqual(['ESC9']);
    expect(f[0]!.fix).toMatch(/securityExtension/);
    expect(enrollmentFlags(esc9) & 0x80000).toBe(0x80000);
    expect(enrollmentFlags(user) & 0x80000).toBe(0);
    // A server-only template without the extension is not an authentication template.
    expect(ids(shape('srv', (t) => (t.extensions.securityExtension = false)))).toEqual([]);
  });

  it('ESC13: an issuance policy linked to a group', () => {
    const esc13 = shape('ESC13', (t) => (t.extensions.issuancePolicies = ['1.3.6.1.4.1.311.21.8.9.9']), user);
    expect(ids(esc13)).toEqual([]);
    expect(ids(esc13, { issuancePolicyGroupLinks: { '1.3.6.1.4.1.311.21.8.9.9': 'Domain Admins' } })).toEqual(['ESC13']);
  });

  it('ESC15: a schema-1 template with an enrollee-supplied subject', () => {
    const esc15 = shape('ESC15', (t) => (t.schemaVersion = 1));
    expect(ids(esc15)).toEqual(['ESC15']);
    expect(lintTemplate(esc15)[0]!.fix).toMatch(/schemaVersion 2/);
  });

  it('a finding is covered only by accepting its own id', () => {
    const f = lintTemplate(shape('both', (t) => (t.extensions.ekus = [])));
    expect(unacceptedFindings(f, ['esc1']).map((x) => x.id)).toEqual(['ESC2']);
    expect(unacceptedFindings(f, ['ESC1', 'ESC2'])).toEqual([]);
  });

  it('knows the broad groups by name and SID', () => {
    for (const g of ['authenticated', 'Domain Users', 'ADTEST\\Domain Computers', 'S-1-5-11', 'S-1-1-0', 'S-1-5-21-9-8-7-515', 'ldap:Domain Users']) expect(isBroadGroup(g), g).toBe(true);
    for (const g of ['Domain Admins', 'S-1-5-21-9-8-7-512', 'PKI Admins']) expect(isBroadGroup(g), g).toBe(false);
  });
});
