import { describe, expect, it } from 'vitest';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import { templatesFromYaml, templatesToYaml } from '../../../src/policy/template-yaml.js';
import { enrollmentFlags, generalFlags, privateKeyFlags, subjectNameFlags } from '../../../src/policy/flags.js';
import { rightsFor, visibleTemplates } from '../../../src/policy/permissions.js';
import { decideSubject, validDnsName } from '../../../src/policy/subject.js';
import { chooseTemplateName } from '../../../src/policy/template-choice.js';
import type { Principal } from '../../../src/auth/principal.js';

const ARC = '1.3.6.1.4.1.311.21.8.1.2.3.4.5.6';
const T = defaultTemplates(ARC);
const byName = (n: string) => T.find((t) => t.name === n)!;

describe('template YAML (policy as code)', () => {
  it('round-trips every field of every default template', () => {
    expect(templatesFromYaml(templatesToYaml(T))).toEqual(T);
  });

  it('refuses an unknown key and names its line and path', () => {
    const yaml = templatesToYaml([byName('WebServer')]).replace('      strict: false\n', '      strict: false\n      colour: blue\n');
    const line = yaml.split('\n').findIndex((l) => l.includes('colour')) + 1;
    expect(() => templatesFromYaml(yaml)).toThrow(`line ${line}: templates[0].subject.colour: unknown key`);
  });

  it('names the path of a wrong type and of a bad OID', () => {
    expect(() => templatesFromYaml(templatesToYaml([byName('User')]).replace('minimalKeyLength: 2048', 'minimalKeyLength: lots'))).toThrow(/templates\[0\]\.privateKey\.minimalKeyLength/);
    expect(() => templatesFromYaml(templatesToYaml([byName('User')]).replace(/oid: [\d.]+/, 'oid: not-an-oid'))).toThrow(/templates\[0\]\.oid: must be a dotted OID/);
    expect(() => templatesFromYaml('templates: [')).toThrow(/^line \d+:/);
  });

  it('refuses a renewal period as long as the validity', () => {
    const y = templatesToYaml([byName('User')]).replace(/renewalPeriodSeconds: \d+/, 'renewalPeriodSeconds: 31536000');
    expect(() => templatesFromYaml(y)).toThrow(/renewalPeriodSeconds: must be shorter/);
  });
});

describe('MS-CRTD flags derived from templates', () => {
  it('WebServer: enrollee supplies subject and SAN; WebServerApproval pends all requests', () => {
    expect(subjectNameFlags(byName('WebServer'))).toBe(0x00000001 | 0x00010000);
    expect(enrollmentFlags(byName('WebServer'))).toBe(0);
    expect(enrollmentFlags(byName('WebServerApproval'))).toBe(0x00000002);
  });
  it('User: CN + e-mail in the subject, UPN and e-mail SANs, exportable key', () => {
    expect(subjectNameFlags(byName('User'))).toBe((0x40000000 | 0x20000000 | 0x02000000 | 0x04000000) >>> 0);
    expect(privateKeyFlags(byName('User'))).toBe(0x10);
  });
  it('Machine: DNS name as CN and DNS SAN, machine type', () => {
    expect(subjectNameFlags(byName('Machine'))).toBe((0x10000000 | 0x08000000) >>> 0); // requireSan dns adds the same bit
    expect(generalFlags(byName('Machine')) & 0x40).toBe(0x40);
    expect(generalFlags(byName('User')) & 0x40).toBe(0);
  });
});

const alice: Principal = { name: 'alice', groups: ['authenticated', 'staff'], method: 'username' };
const bob: Principal = { name: 'bob', groups: ['authenticated'], method: 'kerberos' };
const anon: Principal = { name: 'anonymous', groups: [], method: 'anonymous' };
const partner: Principal = { name: 'partner:acme/svc', groups: ['authenticated'], method: 'certificate', partner: 'acme' };

describe('permission matrix', () => {
  const staffOnly = { ...structuredClone(byName('WebServer')), name: 'StaffWeb', permissions: [{ principal: 'group:staff', read: true, enroll: true, autoenroll: false }] };
  const bobOnly = { ...structuredClone(byName('User')), name: 'BobUser', permissions: [{ principal: 'user:bob', read: true, enroll: false, autoenroll: true }] };
  const readOnly = { ...structuredClone(byName('User')), name: 'ReadOnly', permissions: [{ principal: 'group:authenticated', read: true, enroll: false, autoenroll: false }] };
  const all = [...T, staffOnly, bobOnly, readOnly];
  const names = (p: Principal, scope?: string[]) => visibleTemplates(p, all, scope).map((v) => v.template.name).sort();

  it.each([
    ['alice (staff)', alice, undefined, ['Machine', 'StaffWeb', 'User', 'WebServer', 'WebServerApproval']],
    ['bob (user ACL, autoenroll only)', bob, undefined, ['BobUser', 'Machine', 'User', 'WebServer', 'WebServerApproval']],
    ['an anonymous caller', anon, undefined, []],
    ['a partner without scope', partner, undefined, []],
    ['a partner scoped to WebServer', partner, ['WebServer'], ['WebServer']],
  ] as const)('%s sees exactly its templates', (_n, p, scope, expected) => {
    expect(names(p, scope ? [...scope] : undefined)).toEqual(expected);
  });

  it('reports the caller’s own rights', () => {
    expect(rightsFor(bob, bobOnly)).toEqual({ read: true, enroll: false, autoenroll: true });
    expect(rightsFor(alice, bobOnly)).toEqual({ read: false, enroll: false, autoenroll: false });
  });
});

describe('subject and SAN decisions', () => {
  it('drops what the template does not let the enrollee supply, and records it', () => {
    const d = decideSubject({ principal: { ...alice, email: 'alice@example.test' }, template: byName('User'), requestedSubject: [{ type: 'CN', value: 'Administrator' }], requestedSans: [{ type: 'dns', value: 'dc.example.test' }] });
    if ('refused' in d) throw new Error(d.reason);
    expect(d.subject).toEqual([{ type: 'CN', value: 'alice' }, { type: 'E', value: 'alice@example.test' }]);
    expect(d.sans).toEqual([{ type: 'upn', value: 'alice' }, { type: 'email', value: 'alice@example.test' }]);
    expect(d.dropped).toEqual({ subject: [{ type: 'CN', value: 'Administrator' }], sans: [{ type: 'dns', value: 'dc.example.test' }] });
  });

  it('refuses in strict mode instead of dropping', () => {
    const strict = structuredClone(byName('User'));
    strict.subject.strict = true;
    const d = decideSubject({ principal: alice, template: strict, requestedSubject: [], requestedSans: [{ type: 'dns', value: 'x.example.test' }] });
    expect('refused' in d && d.reason).toMatch(/may not supply subject alternative names/);
  });

  it('takes enrollee-supplied DNS names but refuses bad ones and drops disallowed SAN types', () => {
    const ok = decideSubject({ principal: alice, template: byName('WebServer'), requestedSubject: [{ type: 'CN', value: 'www.example.test' }], requestedSans: [{ type: 'dns', value: 'WWW.example.test' }, { type: 'email', value: 'a@b.test' }] });
    if ('refused' in ok) throw new Error(ok.reason);
    expect(ok.sans).toEqual([{ type: 'dns', value: 'www.example.test' }]);
    expect(ok.dropped.sans).toEqual([{ type: 'email', value: 'a@b.test' }]);
    const bad = decideSubject({ principal: alice, template: byName('WebServer'), requestedSubject: [], requestedSans: [{ type: 'dns', value: 'bad_name..test' }] });
    expect('refused' in bad).toBe(true);
  });

  it('requires the SANs the template requires', () => {
    const d = decideSubject({ principal: bob, template: byName('Machine'), requestedSubject: [], requestedSans: [] });
    expect('refused' in d ? d.reason : 'issued').toMatch(/requires a DNS subject alternative name/);
  });

  it.each([['www.example.test', true], ['*.example.test', true], ['*.test', false], ['a..b', false], ['-a.test', false], ['x'.repeat(64) + '.test', false]] as const)('DNS name %s valid: %s', (n, v) => {
    expect(validDnsName(n)).toBe(v);
  });
});

describe('which template a request names', () => {
  const none = { additionalContext: [], cmcNameValuePairs: {}, csrNameValuePairs: {} };
  it('looks in AdditionalContext, CMC, CSR attribute, name extension, OID extension — in that order', () => {
    expect(chooseTemplateName({ ...none, additionalContext: [{ name: 'CertificateTemplate', value: 'User' }], csrTemplateName: 'WebServer' }, T).name).toBe('User');
    expect(chooseTemplateName({ ...none, cmcNameValuePairs: { CertificateTemplate: 'Machine' }, csrTemplateName: 'WebServer' }, T).name).toBe('Machine');
    expect(chooseTemplateName({ ...none, csrNameValuePairs: { certificatetemplate: 'WebServerApproval' } }, T).name).toBe('WebServerApproval');
    expect(chooseTemplateName({ ...none, csrTemplateName: 'WebServer' }, T).name).toBe('WebServer');
    expect(chooseTemplateName({ ...none, csrTemplateOid: `${ARC}.2` }, T).name).toBe('Machine');
    expect(() => chooseTemplateName(none, T)).toThrow(/does not name a certificate template/);
  });
});

describe('schema-3 (CNG) templates in the model', () => {
  const ecdsa = () => structuredClone(byName('WebServerECDSA'));
  it('the default WebServerECDSA is schema 3, ECDSA P-256 only, signature key usage, and seeded disabled', () => {
    const t = ecdsa();
    expect(t).toMatchObject({ schemaVersion: 3, enabled: false, oid: `${ARC}.5` });
    expect(t.privateKey).toMatchObject({ algorithms: ['ECDSA_P256'], keyUsageProperty: ['sign'] });
    expect(t.extensions.keyUsage).toEqual(['digitalSignature']);
    expect(privateKeyFlags(t) >>> 16).toBe(0x0303);
  });

  it('round-trips keyUsageProperty and securityDescriptor through YAML', () => {
    const t = ecdsa();
    t.privateKey.securityDescriptor = 'D:P(A;;GA;;;SY)(A;;GA;;;BA)';
    expect(templatesFromYaml(templatesToYaml([t]))).toEqual([t]);
  });

  it('refuses a schema-3 template with more than one key algorithm, an enciphering ECDSA key, and CNG fields on schema 2', () => {
    const two = ecdsa();
    two.privateKey.algorithms = ['ECDSA_P256', 'ECDSA_P384'];
    expect(() => templatesFromYaml(templatesToYaml([two]))).toThrow(/privateKey\.algorithms: a schema-3 template names exactly one key algorithm/);
    const enc = ecdsa();
    enc.extensions.keyUsage = ['digitalSignature', 'keyEncipherment'];
    expect(() => templatesFromYaml(templatesToYaml([enc]))).toThrow(/extensions\.keyUsage: an ECDSA key cannot encipher/);
    const decrypt = ecdsa();
    decrypt.privateKey.keyUsageProperty = ['sign', 'decrypt'];
    expect(() => templatesFromYaml(templatesToYaml([decrypt]))).toThrow(/privateKey\.keyUsageProperty: an ECDSA key can only sign/);
    const v2 = structuredClone(byName('WebServer'));
    v2.privateKey.keyUsageProperty = ['sign'];
    expect(() => templatesFromYaml(templatesToYaml([v2]))).toThrow(/privateKey\.keyUsageProperty: needs schemaVersion 3/);
    const short = structuredClone(byName('WebServer'));
    short.privateKey.minimalKeyLength = 256;
    expect(() => templatesFromYaml(templatesToYaml([short]))).toThrow(/minimalKeyLength: must be at least 1024 when RSA keys are allowed/);
  });
});
