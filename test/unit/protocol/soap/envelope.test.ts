import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildFaultEnvelope, buildResponseEnvelope, buildUsernameTokenHeader, esc, parseEnvelope, parseSoapFault, NS, PASSWORD_TEXT, WSA_FAULT_ACTION } from '../../../../src/protocol/soap/index.js';
import { OpencesError } from '../../../../src/errors.js';
import { thrown } from '../../../helpers/thrown.js';

const FIX = join(__dirname, '../../../fixtures/soap');
const GETPOL = readFileSync(join(FIX, 'cepces-getpolicies-request.xml'));
const RST = readFileSync(join(FIX, 'cepces-rst-issue-request.xml'));
const OPTS = { maxBytes: 1 << 20 };


describe('parseEnvelope on the cepces captures', () => {
  it('reads WS-Addressing and the UsernameToken of the GetPolicies capture', () => {
    const env = parseEnvelope(GETPOL, OPTS);
    expect(env.header.action).toBe('http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies');
    expect(env.header.messageId).toBe('urn:uuid:1030f1b3-aadb-447d-bdea-ab51facc2228');
    expect(env.header.to).toBe('https://localhost:9443/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP');
    expect(env.header.replyTo).toBeUndefined();
    const sec = env.header.security!;
    expect(sec.usernameToken).toMatchObject({ username: 'alice@example.test', password: 'S3cret', passwordType: PASSWORD_TEXT });
    expect(Buffer.from(sec.usernameToken!.nonce!).toString('base64')).toBe('Hxmd/mP00dyn0tnh3UwUTQ==');
    expect(sec.usernameToken!.created!.toISOString()).toBe('2026-11-25T03:48:37.000Z');
    expect(sec.hasSignature).toBe(false);
    expect(sec.hasBinarySecurityToken).toBe(false);
    expect(sec.timestamp).toBeUndefined();
    // No signature: read from the light tree alone, no xmldom document is built.
    expect(env.bodyElement.localName).toBe('Body');
    expect(env.document).toBeUndefined();
    expect(env.operation?.localName).toBe('GetPolicies');
  });

  it('reads the RST capture from a string as from bytes', () => {
    const a = parseEnvelope(RST, OPTS);
    const b = parseEnvelope(RST.toString('utf8'), OPTS);
    expect(a.header).toMatchObject({ action: b.header.action, messageId: 'urn:uuid:7c010ebe-97eb-47a6-9829-2faa492709c3' });
    expect(a.header.security!.usernameToken!.password).toBe('pw');
    expect(a.operation?.localName).toBe('RequestSecurityToken');
  });

  it('accepts a UTF-8 byte order mark and trims header whitespace (MS-XCEP 4.1.1.1 wraps values)', () => {
    const xml = GETPOL.toString('utf8').replace('<ns1:MessageID>urn', '<ns1:MessageID>\n   urn');
    const env = parseEnvelope(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(xml)]), OPTS);
    expect(env.header.messageId).toBe('urn:uuid:1030f1b3-aadb-447d-bdea-ab51facc2228');
  });

  it('reads a Timestamp, a BinarySecurityToken and a Signature as present', () => {
    const xml = `<s:Envelope xmlns:s="${NS.soap12}" xmlns:o="${NS.wsse}" xmlns:u="${NS.wsu}"><s:Header><o:Security s:mustUnderstand="1">` +
      `<u:Timestamp u:Id="_0"><u:Created>2009-03-26T00:58:51.549Z</u:Created><u:Expires>2009-03-26T01:03:51.549Z</u:Expires></u:Timestamp>` +
      `<o:BinarySecurityToken u:Id="x" ValueType="v">AAAA</o:BinarySecurityToken><ds:Signature xmlns:ds="${NS.ds}"/></o:Security></s:Header><s:Body/></s:Envelope>`;
    const sec = parseEnvelope(xml, OPTS).header.security!;
    expect(sec.timestamp).toMatchObject({ id: '_0' });
    expect(sec.timestamp!.created!.toISOString()).toBe('2009-03-26T00:58:51.549Z');
    expect(sec.timestamp!.expires!.toISOString()).toBe('2009-03-26T01:03:51.549Z');
    expect(sec.hasBinarySecurityToken && sec.hasSignature).toBe(true);
    expect(sec.binarySecurityTokens[0]).toMatchObject({ id: 'x', valueType: 'v' });
  });

  it('refuses what is not one SOAP 1.2 envelope', () => {
    expect(thrown(() => parseEnvelope('', OPTS)).kind).toBe('malformed');
    expect(thrown(() => parseEnvelope(GETPOL, { maxBytes: 100 })).kind).toBe('tooLarge');
    expect(thrown(() => parseEnvelope(`<s:Envelope xmlns:s="${NS.soap12}"><s:Body/><s:Body/></s:Envelope>`, OPTS)).message).toMatch(/more than one Body/);
    expect(thrown(() => parseEnvelope(`<s:Envelope xmlns:s="${NS.soap12}"><s:Body/><s:Header/></s:Envelope>`, OPTS)).message).toMatch(/unexpected element Header/);
    expect(thrown(() => parseEnvelope(`<x/>`, OPTS)).message).toMatch(/not a SOAP envelope/);
    expect(thrown(() => parseEnvelope(Buffer.from('\ufeff<a/>', 'utf16le'), OPTS)).kind).toBe('unsupported');
    const two = GETPOL.toString().replace('<ns1:MessageID>', '<ns1:Action>x</ns1:Action><ns1:MessageID>');
    expect(thrown(() => parseEnvelope(two, OPTS)).message).toMatch(/more than one WS-Addressing Action/);
    const digest = GETPOL.toString().replace('#PasswordText', '#PasswordDigest');
    expect(thrown(() => parseEnvelope(digest, OPTS))).toMatchObject({ kind: 'unsupported', message: expect.stringMatching(/PasswordDigest/) });
    const badDate = GETPOL.toString().replace('2026-11-25T03:48:37Z', 'yesterday');
    expect(thrown(() => parseEnvelope(badDate, OPTS)).message).toMatch(/UsernameToken Created is not an xs:dateTime/);
  });

  it('ignores a mustUnderstand header aimed at another role, and headers it understands', () => {
    const other = GETPOL.toString().replace('</ns0:Header>', '<x:T xmlns:x="urn:x" ns0:mustUnderstand="true" ns0:role="urn:someone-else">1</x:T></ns0:Header>');
    expect(parseEnvelope(other, OPTS).header.action).toMatch(/GetPolicies$/);
    const mine = GETPOL.toString().replace('</ns0:Header>', '<x:T xmlns:x="urn:x" ns0:mustUnderstand="true">1</x:T></ns0:Header>');
    expect(thrown(() => parseEnvelope(mine, OPTS))).toMatchObject({ kind: 'unsupported', details: { mustUnderstand: true } });
  });
});

describe('envelope builders', () => {
  it('builds a response with Action and RelatesTo that parses back', () => {
    const xml = buildResponseEnvelope({ action: 'urn:a&b', relatesTo: 'urn:uuid:1', bodyXml: '<x:Y xmlns:x="urn:y" xsi:nil="true"/>' });
    const env = parseEnvelope(xml, OPTS);
    expect(env.header).toMatchObject({ action: 'urn:a&b', relatesTo: 'urn:uuid:1' });
    expect(env.operation?.localName).toBe('Y');
  });

  it('builds a SOAP 1.2 fault with the WS-Addressing fault action, xml:lang and an escaped reason', () => {
    const xml = buildFaultEnvelope({ code: 'Sender', subcode: { ns: 'urn:sub', local: 'Bad' }, reason: 'no <client> & \u0001 "here"', relatesTo: 'urn:uuid:2', detailXml: '<d xmlns="urn:d">1</d>' });
    expect(xml).toContain('<s:Text xml:lang="en-US">');
    const env = parseEnvelope(xml, OPTS);
    expect(env.header.action).toBe(WSA_FAULT_ACTION);
    expect(env.header.relatesTo).toBe('urn:uuid:2');
    const f = parseSoapFault(env)!;
    expect(f).toMatchObject({ code: 'Sender', subcode: '{urn:sub}Bad', reason: 'no <client> &  "here"' });
    expect(f.detailElement?.firstChild).toBeTruthy();
    expect(parseSoapFault(parseEnvelope(buildFaultEnvelope({ code: 'Receiver', reason: 'x', action: 'urn:act' }), OPTS))).toMatchObject({ code: 'Receiver' });
  });

  it('escapes markup and drops characters XML cannot carry', () => {
    expect(esc(`a<b>&"c'\r\u0000\uFFFF\uD800z`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;&#xD;z');
    expect(esc('😀')).toBe('😀');
  });

  it('builds a UsernameToken header the parser reads back', () => {
    const sec = buildUsernameTokenHeader({ username: 'DOMAIN\\bob', password: 'p<w', nonce: new Uint8Array([1, 2, 3]), created: new Date('2026-01-02T03:04:05.678Z') });
    const env = parseEnvelope(`<s:Envelope xmlns:s="${NS.soap12}"><s:Header>${sec}</s:Header><s:Body/></s:Envelope>`, OPTS);
    const t = env.header.security!.usernameToken!;
    expect(t).toMatchObject({ username: 'DOMAIN\\bob', password: 'p<w' });
    expect([...t.nonce!]).toEqual([1, 2, 3]);
    expect(t.created!.toISOString()).toBe('2026-01-02T03:04:05.000Z');
  });
});
