import { describe, expect, it } from 'vitest';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import { formatFinding, hasAuthenticationEku, isBroadGroup, lintTemplate } from '../../../src/policy/template-lint.js';
import type { Template } from '../../../src/policy/template.js';

const defaults = defaultTemplates('1.3.6.1.4.1.311.21.8.3.3');
const web = defaults.find((t) => t.name === 'WebServer')!;
const user = defaults.find((t) => t.name === 'User')!;
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const AGENT = '1.3.6.1.4.1.311.20.2.1';

function shape(name: string, f: (t: Template) => void, base: Template = web): Template {
  const t: Template = structuredClone({ ...base, name });
  f(t);
  return t;
}
const ids = (t: Template, o = {}) => lintTemplate(t, o).map((x) => x.id);
const grant = (principal: string, enroll: boolean, autoenroll: boolean) => [{ principal, read: true, enroll, autoenroll }];

// The lint refuses a template write unless its findings are accepted: a finding it misses is an
// ESC-exploitable template written silently, and a finding it invents blocks a safe one.
describe('template lint: who counts as broad, and when (src/policy/template-lint.ts)', () => {
  it('knows every broad group by name and well-known SID, whatever the spelling of a domain prefix', () => {
    for (const g of ['Everyone', 'USERS', 'Authenticated Users', 'S-1-5-32-545', 's-1-5-7', 'S-1-1-0', 'S-1-5-21-1004336348-1177238915-682003330-513', 'ADTEST\\Everyone', 'a\\b\\Domain Users']) expect(isBroadGroup(g), g).toBe(true);
    for (const g of ['S-1-5-21-1-2-3-5130', 'S-1-5-21-1-2-513', 'xS-1-5-21-1-2-3-513', 'ADTEST\\Domain Admins', 'Users2', '']) expect(isBroadGroup(g), g).toBe(false);
  });

  it('autoenroll is enrolling; read alone is not; a user entry named like a group is not a group', () => {
    const esc1 = (t: Template) => ((t.extensions.ekus = [CLIENT_AUTH]), t);
    expect(ids(shape('auto', (t) => ((t.permissions = grant('GROUP:Everyone', false, true)), esc1(t))))).toEqual(['ESC1']);
    expect(ids(shape('read', (t) => ((t.permissions = grant('group:Everyone', false, false)), esc1(t))))).toEqual([]);
    expect(ids(shape('user', (t) => ((t.permissions = grant('user:Everyone', true, false)), esc1(t))))).toEqual([]);
    // A user whose name ends like a broad group is still a user.
    expect(ids(shape('userx', (t) => ((t.permissions = grant('user:xEveryone', true, false)), esc1(t))))).toEqual([]);
  });

  it('an enrollment-agent signature is a control like approval; ESC9 needs none of that, only an authentication EKU', () => {
    expect(ids(shape('ra', (t) => ((t.extensions.ekus = []), (t.raSignatures = 1)), user))).toEqual([]);
    expect(ids(shape('pend', (t) => ((t.extensions.ekus = [AGENT]), (t.enrollment.pendAllRequests = true)), user))).toEqual([]);
    expect(ids(shape('esc9', (t) => ((t.extensions.securityExtension = false), (t.enrollment.pendAllRequests = true)), user))).toEqual(['ESC9']);
    expect(ids(shape('esc9b', (t) => ((t.extensions.securityExtension = false), (t.extensions.ekus = [])), user))).toEqual(['ESC2', 'ESC9']);
    expect(hasAuthenticationEku(shape('srv', (t) => (t.extensions.ekus = ['1.3.6.1.5.5.7.3.1'])))).toBe(false);
  });

  it('ESC13 only for a linked policy the template carries, and only when enrollment is unattended', () => {
    const links = { issuancePolicyGroupLinks: { '1.2.3.4': 'Domain Admins', '1.2.3.5': 'Tier0' } };
    expect(ids(shape('other', (t) => (t.extensions.issuancePolicies = ['1.2.3.9']), user), links)).toEqual([]);
    expect(ids(shape('pend', (t) => ((t.extensions.issuancePolicies = ['1.2.3.4']), (t.enrollment.pendAllRequests = true)), user), links)).toEqual([]);
    const two = lintTemplate(shape('two', (t) => (t.extensions.issuancePolicies = ['1.2.3.4', '1.2.3.5']), user), links);
    expect(two[0]!.reason).toBe('the issuance policies 1.2.3.4 (linked to group Domain Admins), 1.2.3.5 (linked to group Tier0) make every holder a member of that group at logon, and enrollment needs no approval');
    const one = lintTemplate(shape('one', (t) => (t.extensions.issuancePolicies = ['1.2.3.5']), user), links);
    expect(one[0]!.reason).toBe('the issuance policy 1.2.3.5 (linked to group Tier0) makes every holder a member of that group at logon, and enrollment needs no approval');
  });

  it('ESC15 needs an enrollee-supplied subject and unattended enrollment', () => {
    expect(ids(shape('v1', (t) => (t.schemaVersion = 1), user))).toEqual([]);
    expect(ids(shape('v1p', (t) => ((t.schemaVersion = 1), (t.enrollment.pendAllRequests = true))))).toEqual([]);
    const f = lintTemplate(shape('v1e', (t) => ((t.schemaVersion = 1), (t.extensions.ekus = ['1.3.6.1.5.5.7.3.1']))));
    expect(f[0]!.reason).toMatch(/ask for client authentication or a request agent on top of 1\.3\.6\.1\.5\.5\.7\.3\.1$/);
  });
});

describe('template lint: what a finding says', () => {
  it('ESC1 names the SAN types and EKUs that make it, or says there is no EKU', () => {
    const withSans = lintTemplate(shape('a', (t) => (t.extensions.ekus = ['1.3.6.1.5.5.7.3.1', CLIENT_AUTH])))[0]!;
    expect(withSans.reason.startsWith(`the enrollee supplies the subject and dns/ip names, the certificate has an authentication EKU (${CLIENT_AUTH}), no manager approves it, and group:authenticated may enroll: `)).toBe(true);
    const bare = lintTemplate(shape('b', (t) => ((t.extensions.ekus = []), (t.subject.allowedSanTypes = []))))[0]!;
    expect(bare.reason).toMatch(/^the enrollee supplies the subject, the certificate has no EKU \(\w+ purpose\), no manager/);
  });

  it('every finding says why and names the template field that fixes it', () => {
    const links = { issuancePolicyGroupLinks: { '1.2.3.4': 'Domain Admins' } };
    const f = (t: Template) => lintTemplate(t, links)[0]!;
    const esc2 = f(shape('n', (t) => (t.extensions.ekus = ['2.5.29.37.0']), user));
    expect([esc2.id, esc2.fix]).toEqual(['ESC2', expect.stringMatching(/^list the EKUs the certificates are for \(extensions\.ekus\)/)]);
    const esc3 = f(shape('a', (t) => (t.extensions.ekus = [AGENT]), user));
    expect([esc3.reason, esc3.fix]).toEqual([expect.stringMatching(/its holder can request certificates on behalf of /), expect.stringMatching(/enrollment agents' own group only, or set enrollment\.pendAllRequests/)]);
    const esc9 = f(shape('s', (t) => (t.extensions.securityExtension = false), user));
    expect(esc9.reason).toMatch(/^the template leaves out the SID security extension \(CT_FLAG_NO_SECURITY_EXTENSION\)/);
    const esc13 = f(shape('p', (t) => (t.extensions.issuancePolicies = ['1.2.3.4']), user));
    expect([esc13.id, esc13.fix]).toEqual(['ESC13', expect.stringMatching(/^remove the group link from the issuance policy OID/)]);
    const esc15 = lintTemplate(shape('v1', (t) => ((t.schemaVersion = 1), (t.extensions.ekus = ['1.3.6.1.5.5.7.3.1']))))[0]!;
    expect(esc15.reason).toMatch(/^a schema-1 template with an enrollee-supplied subject: Windows CAs take application policies/);
  });

  it('lists every broad group and every authentication EKU; ESC15 falls back to the template EKUs when there are none', () => {
    const two = lintTemplate(shape('two', (t) => ((t.extensions.ekus = [CLIENT_AUTH, '1.3.6.1.4.1.311.20.2.2']), (t.permissions = [...grant('group:authenticated', true, false), ...grant('group:Everyone', false, true)]))))[0]!;
    expect(two.reason).toContain(`has an authentication EKU (${CLIENT_AUTH}, 1.3.6.1.4.1.311.20.2.2), no manager approves it, and group:authenticated, group:Everyone may enroll`);
    const v1 = lintTemplate(shape('v1', (t) => ((t.schemaVersion = 1), (t.extensions.ekus = []))));
    expect(v1.map((f) => f.id)).toEqual(['ESC1', 'ESC2', 'ESC15']);
    expect(v1[2]!.reason).toMatch(/on top of the template's EKUs$/);
    const v1two = lintTemplate(shape('v1two', (t) => ((t.schemaVersion = 1), (t.extensions.ekus = ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.3']))));
    expect(v1two[0]!.reason).toMatch(/on top of 1\.3\.6\.1\.5\.5\.7\.3\.1, 1\.3\.6\.1\.5\.5\.7\.3\.3$/);
  });

  it('ESC2 says which of no EKU and the all-purpose EKU it is; ESC3 names its holder; each is formatted with its fix', () => {
    expect(lintTemplate(shape('n', (t) => (t.extensions.ekus = []), user))[0]!.reason).toMatch(/^the certificate has no EKU, so it is good for every purpose/);
    expect(lintTemplate(shape('a', (t) => (t.extensions.ekus = ['2.5.29.37.0']), user))[0]!.reason).toMatch(/^the certificate has the \w+-purpose EKU \(2\.5\.29\.37\.0\), so/);
    const esc3 = lintTemplate(shape('Agents', (t) => (t.extensions.ekus = [AGENT]), user))[0]!;
    expect(formatFinding(esc3)).toBe(`Agents: ESC3: ${esc3.reason}\n  fix: ${esc3.fix}`);
    expect(esc3.template).toBe('Agents');
  });
});
