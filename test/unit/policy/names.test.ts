import { describe, expect, it } from 'vitest';
import type { Principal } from '../../../src/auth/principal.js';
import type { SanEntry } from '../../../src/ca/types.js';
import { HRESULT, OpencesError } from '../../../src/errors.js';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import { nameBoundsProblem } from '../../../src/policy/name-bounds.js';
import { checkSan, decideSubject, validDnsName } from '../../../src/policy/subject.js';
import type { Template } from '../../../src/policy/template.js';
import { chooseTemplateName, type TemplateHints } from '../../../src/policy/template-choice.js';
import { thrown } from '../../helpers/thrown.js';

const ARC = '1.3.6.1.4.1.311.21.8.5.5';
const templates = defaultTemplates(ARC);
const T = (name: string): Template => structuredClone(templates.find((t) => t.name === name)!);
const dns = (n: number): SanEntry[] => Array.from({ length: n }, (_, i) => ({ type: 'dns', value: `h${i}.example.test` }));

describe('name bounds at their edges (src/policy/name-bounds.ts)', () => {
  it('32 subject attributes, not 33', () => {
    const attrs = (n: number) => Array.from({ length: n }, () => ({ type: 'OU', value: 'x' }));
    expect(nameBoundsProblem(attrs(32), [])).toBeNull();
    expect(nameBoundsProblem(attrs(33), [])).toBe('the subject has 33 attributes; at most 32 are allowed');
  });

  it('attribute types without a bound of their own take ub-match (128); a DC is one DNS label', () => {
    expect(nameBoundsProblem([{ type: 'SN', value: 'a'.repeat(128) }], [])).toBeNull();
    expect(nameBoundsProblem([{ type: 'SN', value: 'a'.repeat(129) }], [])).toBe('the subject SN has 129 characters; RFC 5280 allows at most 128');
    expect(nameBoundsProblem([{ type: 'DC', value: 'a'.repeat(64) }], [])).toMatch(/allows at most 63$/);
  });

  it('at most 256 SANs whatever the caller allows, and fewer when it says so', () => {
    expect(nameBoundsProblem([], dns(256))).toBeNull();
    expect(nameBoundsProblem([], dns(257), 1000)).toBe('the request asks for 257 subject alternative names; at most 256 are allowed');
    expect(nameBoundsProblem([], dns(2), 2)).toBeNull();
    expect(nameBoundsProblem([], dns(3), 2)).toBe('the request asks for 3 subject alternative names; at most 2 are allowed');
  });

  it('bounds each SAN by its type, and shows at most 40 printable characters of a hostile value', () => {
    const label = 'a'.repeat(63);
    const at253 = `${label}.${label}.${label}.${'a'.repeat(61)}`;
    expect(at253).toHaveLength(253);
    expect(nameBoundsProblem([], [{ type: 'dns', value: at253 }])).toBeNull();
    expect(nameBoundsProblem([], [{ type: 'dns', value: `${at253}a` }])).toBe(`the dns subject alternative name "${'a'.repeat(40)}…" has 254 characters; at most 253 are allowed`);
    // An IP address is at most 39 characters; a 40-character value is shown whole, control characters as '?'.
    expect(nameBoundsProblem([], [{ type: 'ip', value: `\n${'1'.repeat(39)}` }])).toBe(`the ip subject alternative name "?${'1'.repeat(39)}" has 40 characters; at most 39 are allowed`);
    expect(nameBoundsProblem([], [{ type: 'uri', value: `https://x/${'a'.repeat(1014)}` }])).toBeNull();
    expect(nameBoundsProblem([], [{ type: 'uri', value: `https://x/${'a'.repeat(1015)}` }])).toMatch(/1025 characters; at most 1024/);
    // Characters, not UTF-16 units: 253 two-unit characters are within the DNS bound.
    expect(nameBoundsProblem([], [{ type: 'dns', value: '😀'.repeat(253) }])).toBeNull();
  });
});

describe('DNS names and SAN syntax (src/policy/subject.ts)', () => {
  it.each([
    ['a', true],
    ['', false],
    ['www.example.test.', false],
    ['*.example.test', true],
    ['www.*.test', false],
    ['*', false],
    ['a-b.test', true],
    ['a-.test', false],
  ] as const)('%j valid: %s', (n, v) => {
    expect(validDnsName(n)).toBe(v);
  });

  it('253 characters at most', () => {
    const label = 'a'.repeat(63);
    expect(validDnsName(`${label}.${label}.${label}.${'a'.repeat(61)}`)).toBe(true);
    expect(validDnsName(`${label}.${label}.${label}.${'a'.repeat(62)}`)).toBe(false);
  });

  it('checks each SAN type by its syntax', () => {
    expect(checkSan({ type: 'ip', value: '2001:db8::1' })).toBeNull();
    expect(checkSan({ type: 'ip', value: '999.1.1.1' })).toBe('"999.1.1.1" is not an IP address');
    expect(checkSan({ type: 'email', value: 'alice@example.test' })).toBeNull();
    expect(checkSan({ type: 'email', value: 'Alice <alice@example.test>' })).toBe('"Alice <alice@example.test>" is not an e-mail address');
    expect(checkSan({ type: 'upn', value: 'alice@AD.TEST' })).toBeNull();
    expect(checkSan({ type: 'upn', value: 'alice' })).toBe('"alice" is not a user principal name');
    expect(checkSan({ type: 'uri', value: 'https://example.test/a' })).toBeNull();
    expect(checkSan({ type: 'uri', value: 'no scheme' })).toBe('"no scheme" is not a URI');
    // A scheme starts with a letter, at the start of the value.
    expect(checkSan({ type: 'uri', value: '1http://x' })).toMatch(/not a URI/);
    expect(checkSan({ type: 'uri', value: ' https://x' })).toMatch(/not a URI/);
    expect(checkSan({ type: 'uri', value: 'https://example.test/a b' })).toMatch(/not a URI/);
    expect(checkSan({ type: 'dns', value: 'bad_name.test' })).toBe('"bad_name.test" is not a valid DNS name');
  });
});

const alice: Principal = { name: 'alice', groups: ['authenticated'], method: 'username' };
const refusedWith = (d: ReturnType<typeof decideSubject>) => ('refused' in d ? { reason: d.reason, hresult: d.hresult } : null);

describe('subject decisions at their edges (src/policy/subject.ts)', () => {
  it('an enrollee-supplied subject drops empty attributes; a strict template names each refused SAN type once', () => {
    const d = decideSubject({ principal: alice, template: T('WebServer'), requestedSubject: [{ type: 'O', value: '' }, { type: 'CN', value: 'www.example.test' }], requestedSans: [] });
    expect('refused' in d ? d.reason : d.subject).toEqual([{ type: 'CN', value: 'www.example.test' }]);
    const strict = T('WebServer');
    strict.subject.strict = true;
    const r = refusedWith(decideSubject({ principal: alice, template: strict, requestedSubject: [], requestedSans: [{ type: 'upn', value: 'a@x' }, { type: 'upn', value: 'b@x' }, { type: 'email', value: 'c@x' }] }));
    expect(r).toEqual({ reason: 'the template WebServer does not allow the enrollee to supply upn, email names', hresult: HRESULT.CERTSRV_E_BAD_REQUESTSUBJECT });
  });

  it('refuses a host-like CN that is no DNS name on a server-authentication template only', () => {
    const ask = (t: Template, cn: string) => refusedWith(decideSubject({ principal: alice, template: t, requestedSubject: [{ type: 'CN', value: cn }], requestedSans: [] }));
    expect(ask(T('WebServer'), 'bad_host.example.test')?.reason).toBe('the common name "bad_host.example.test" is not a valid DNS name');
    // An e-mail-like CN or a CN with spaces is not a host name.
    expect(ask(T('WebServer'), 'ops_team@example.test')).toBeNull();
    expect(ask(T('WebServer'), 'Ops Team v1.2')).toBeNull();
    const signing = T('WebServer');
    signing.extensions.ekus = ['1.3.6.1.5.5.7.3.3'];
    expect(ask(signing, 'bad_host.example.test')).toBeNull();
  });

  it('a host-like CN is a whole value without spaces; only DNS names are lowercased', () => {
    const ask = (cn: string) => refusedWith(decideSubject({ principal: alice, template: T('WebServer'), requestedSubject: [{ type: 'CN', value: cn }], requestedSans: [] }));
    expect(ask('Ops bad_x.test')).toBeNull();
    expect(ask('bad_x.test Ops')).toBeNull();
    const d = decideSubject({ principal: alice, template: T('WebServer'), requestedSubject: [], requestedSans: [{ type: 'ip', value: '2001:DB8::1' }, { type: 'dns', value: 'WWW.Example.Test' }] });
    expect('refused' in d ? d.reason : d.sans).toEqual([{ type: 'ip', value: '2001:DB8::1' }, { type: 'dns', value: 'www.example.test' }]);
  });

  it('only a CN is held to host-name syntax; only refused SAN types are recorded as dropped; a required SAN is one of its kind', () => {
    const o = decideSubject({ principal: alice, template: T('WebServer'), requestedSubject: [{ type: 'O', value: 'bad_x.test' }], requestedSans: [{ type: 'dns', value: 'www.example.test' }] });
    expect('refused' in o ? o.reason : o.dropped).toEqual({});
    const req = T('WebServer');
    req.subject.requireSan = ['dns'];
    expect(refusedWith(decideSubject({ principal: alice, template: req, requestedSubject: [{ type: 'CN', value: 'x' }], requestedSans: [{ type: 'ip', value: '10.0.0.1' }] }))?.hresult).toBe(HRESULT.CERTSRV_E_SUBJECT_DNS_REQUIRED);
  });

  it('refuses a request that would carry no name, and each missing required SAN with its own HRESULT', () => {
    expect(refusedWith(decideSubject({ principal: alice, template: T('WebServer'), requestedSubject: [], requestedSans: [] }))).toEqual({ reason: 'the certificate would have neither a subject nor a subject alternative name', hresult: HRESULT.CERTSRV_E_SUBJECT_ALT_NAME_REQUIRED });
    const upn = T('WebServer');
    upn.subject.requireSan = ['upn'];
    expect(refusedWith(decideSubject({ principal: alice, template: upn, requestedSubject: [{ type: 'CN', value: 'x' }], requestedSans: [] }))?.hresult).toBe(HRESULT.CERTSRV_E_SUBJECT_UPN_REQUIRED);
    const email = T('WebServer');
    email.subject.requireSan = ['email'];
    expect(refusedWith(decideSubject({ principal: alice, template: email, requestedSubject: [{ type: 'CN', value: 'x' }], requestedSans: [] }))).toEqual({ reason: 'the template WebServer requires a EMAIL subject alternative name, and none is available', hresult: HRESULT.CERTSRV_E_SUBJECT_EMAIL_REQUIRED });
    const m = decideSubject({ principal: alice, template: T('Machine'), requestedSubject: [], requestedSans: [] });
    expect(refusedWith(m)?.hresult).toBe(HRESULT.CERTSRV_E_SUBJECT_DNS_REQUIRED);
  });

  it('builds names from the identity: a DNS name as CN for machines, the display name otherwise, cut at 64 characters', () => {
    const ws: Principal = { name: 'WS1$@AD.TEST', displayName: 'Workstation One', groups: ['authenticated'], method: 'kerberos', dnsName: 'ws1.ad.test' };
    const m = decideSubject({ principal: ws, template: T('Machine'), requestedSubject: [], requestedSans: [] });
    expect('refused' in m ? m.reason : { subject: m.subject, sans: m.sans }).toEqual({ subject: [{ type: 'CN', value: 'ws1.ad.test' }], sans: [{ type: 'dns', value: 'ws1.ad.test' }] });
    const long: Principal = { ...alice, displayName: 'D'.repeat(70), upn: 'alice@ad.test' };
    const u = decideSubject({ principal: long, template: T('User'), requestedSubject: [], requestedSans: [] });
    // No e-mail address: no E attribute and no e-mail SAN; the UPN is the principal's own.
    expect('refused' in u ? u.reason : { subject: u.subject, sans: u.sans }).toEqual({ subject: [{ type: 'CN', value: 'D'.repeat(64) }], sans: [{ type: 'upn', value: 'alice@ad.test' }] });
  });

  it('the CN comes from the DNS name only on templates that build a DNS SAN; e-mail only in the full format', () => {
    const ws: Principal = { name: 'WS1$@AD.TEST', displayName: 'Workstation One', groups: ['authenticated'], method: 'kerberos', dnsName: 'ws1.ad.test', email: 'ws1@ad.test' };
    const u = T('User');
    u.subject.fromIdentity = { subjectFormat: 'commonName', sanDns: false, sanUpn: false, sanEmail: false };
    const d = decideSubject({ principal: ws, template: u, requestedSubject: [], requestedSans: [] });
    expect('refused' in d ? d.reason : { subject: d.subject, sans: d.sans, dropped: d.dropped }).toEqual({ subject: [{ type: 'CN', value: 'Workstation One' }], sans: [], dropped: {} });
    const m = T('Machine');
    m.subject.requireSan = [];
    const noDns = decideSubject({ principal: { ...ws, dnsName: undefined, displayName: undefined }, template: m, requestedSubject: [], requestedSans: [] });
    expect('refused' in noDns ? noDns.reason : { subject: noDns.subject, sans: noDns.sans }).toEqual({ subject: [{ type: 'CN', value: 'WS1$@AD.TEST' }], sans: [] });
  });

  it('a requested name of another type is another name, even with the same value', () => {
    const p: Principal = { ...alice, email: 'alice@example.test' };
    const strict = T('User');
    strict.subject.strict = true;
    const sans = decideSubject({ principal: p, template: strict, requestedSubject: [], requestedSans: [{ type: 'upn', value: 'alice@example.test' }, { type: 'email', value: 'alice' }] });
    expect(refusedWith(sans)?.reason).toMatch(/may not supply subject alternative names/);
    const subject = decideSubject({ principal: p, template: strict, requestedSubject: [{ type: 'O', value: 'alice' }, { type: 'E', value: 'alice@example.test' }], requestedSans: [] });
    expect(refusedWith(subject)?.reason).toMatch(/may not supply a subject/);
  });

  it('a request that asks for exactly the identity names (SANs in either case) drops nothing; strict mode accepts it', () => {
    const p: Principal = { ...alice, email: 'alice@example.test' };
    const strict = T('User');
    strict.subject.strict = true;
    const d = decideSubject({ principal: p, template: strict, requestedSubject: [{ type: 'CN', value: 'alice' }, { type: 'E', value: 'alice@example.test' }], requestedSans: [{ type: 'email', value: 'ALICE@example.test' }, { type: 'upn', value: 'alice' }] });
    expect('refused' in d ? d.reason : d.dropped).toEqual({});
    // The same attributes in another order are another subject.
    const swapped = decideSubject({ principal: p, template: strict, requestedSubject: [{ type: 'E', value: 'alice@example.test' }, { type: 'CN', value: 'alice' }], requestedSans: [] });
    expect(refusedWith(swapped)?.reason).toBe("the template User builds the subject from the requester's identity; the request may not supply a subject");
    // Fewer SANs than the identity's is not the identity's list.
    const fewer = decideSubject({ principal: p, template: strict, requestedSubject: [], requestedSans: [{ type: 'upn', value: 'alice' }] });
    expect(refusedWith(fewer)?.reason).toMatch(/may not supply subject alternative names/);
  });
});

describe('which template a request names, at its edges (src/policy/template-choice.ts)', () => {
  const none = { additionalContext: [], cmcNameValuePairs: {}, csrNameValuePairs: {} };

  it('matches the name (case-insensitively, trimmed), then the display name, then the OID', () => {
    expect(chooseTemplateName({ ...none, additionalContext: [{ name: 'certificateTEMPLATE', value: ' webserver ' }] }, templates).name).toBe('WebServer');
    expect(chooseTemplateName({ ...none, csrTemplateName: 'computer' }, templates).name).toBe('Machine');
    expect(chooseTemplateName({ ...none, csrTemplateName: `${ARC}.1` }, templates).name).toBe('User');
    // A template named like another's display name wins over it.
    const clash = [...templates, { ...T('User'), name: 'Computer', displayName: 'Clash', oid: `${ARC}.9` }];
    expect(chooseTemplateName({ ...none, csrTemplateName: 'Computer' }, clash).name).toBe('Computer');
  });

  it('names where an unknown template was found, for each place a client can put it', () => {
    const where = (h: Partial<TemplateHints>) => thrown(() => chooseTemplateName({ ...none, ...h }, templates)).message;
    expect(where({ additionalContext: [{ name: 'CertificateTemplate', value: 'Nope' }] })).toBe('the request names the template "Nope" (in the AdditionalContext item CertificateTemplate), which does not exist');
    expect(where({ csrNameValuePairs: { CertificateTemplate: 'Nope' } })).toBe('the request names the template "Nope" (in the request\'s CertificateTemplate attribute), which does not exist');
    expect(where({ csrTemplateName: 'Nope' })).toBe('the request names the template "Nope" (in the certificate template name extension (1.3.6.1.4.1.311.20.2)), which does not exist');
    expect(where({ csrTemplateOid: '1.2.3' })).toBe('the request names the template "1.2.3" (in the certificate template extension (1.3.6.1.4.1.311.21.7)), which does not exist');
    expect(where({})).toBe('the request does not name a certificate template (looked in AdditionalContext, CMC and request attributes, and the template extensions)');
    // An AdditionalContext item of another name is not the template.
    expect(where({ additionalContext: [{ name: 'Other', value: 'User' }] })).toMatch(/does not name a certificate template/);
  });

  it('skips empty values and other pairs, and refuses an unknown or disabled template naming where it was found', () => {
    expect(chooseTemplateName({ ...none, additionalContext: [{ name: 'CertificateTemplate', value: '' }, { name: 'Other', value: 'User' }], cmcNameValuePairs: { Other: 'User', certificateTemplate: '' }, csrNameValuePairs: { CertificateTemplate: 'Machine' } }, templates).name).toBe('Machine');
    expect(thrown(() => chooseTemplateName({ ...none, cmcNameValuePairs: { CertificateTemplate: ' Nope ' } }, templates))).toMatchObject({ kind: 'templateNotFound', message: 'the request names the template "Nope" (in the CMC CertificateTemplate attribute), which does not exist' });
    expect(thrown(() => chooseTemplateName({ ...none, csrTemplateOid: `${ARC}.5` }, templates))).toMatchObject({ kind: 'templateNotFound', message: 'the template WebServerECDSA is disabled' });
  });
});
