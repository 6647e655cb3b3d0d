import { describe, expect, it } from 'vitest';
import { NS, PASSWORD_DIGEST, PASSWORD_TEXT, parseEnvelope } from '../../../../src/protocol/soap/index.js';
import { parseDateTime, type SecurityHeader } from '../../../../src/protocol/soap/wssecurity.js';
import { OpencesError } from '../../../../src/errors.js';
import { thrown } from '../../../helpers/thrown.js';

const OPTS = { maxBytes: 1 << 20 };
const security = (inner: string): SecurityHeader =>
  parseEnvelope(`<s:Envelope xmlns:s="${NS.soap12}" xmlns:o="${NS.wsse}" xmlns:u="${NS.wsu}"><s:Header><o:Security>${inner}</o:Security></s:Header><s:Body/></s:Envelope>`, OPTS).header.security!;


const ut = (inner: string): string => `<o:UsernameToken>${inner}</o:UsernameToken>`;

/**
 * The WS-Security header as the authenticators read it: one of each token (two UsernameTokens
 * or Timestamps are two answers to "who" and "when"), dates that mean one instant, and only the
 * password type we can check.
 */
describe('WS-Security header', () => {
  it('reads a UsernameToken: the name trimmed, the password as sent, nonce and Created', () => {
    const t = security(ut(`<o:Username> alice </o:Username><o:Password Type="${PASSWORD_TEXT}"> p w </o:Password><o:Nonce>AAEC</o:Nonce><u:Created>2026-12-03T10:00:00Z</u:Created>`)).usernameToken!;
    expect(t).toMatchObject({ username: 'alice', password: ' p w ', passwordType: PASSWORD_TEXT });
    expect([...t.nonce!]).toEqual([0, 1, 2]);
    expect(t.created!.toISOString()).toBe('2026-12-03T10:00:00.000Z');
    // No Type means PasswordText; an empty Nonce is no nonce; an empty password is a password.
    const bare = security(ut('<o:Username>bob</o:Username><o:Password/><o:Nonce> </o:Nonce>')).usernameToken!;
    expect(bare).toMatchObject({ username: 'bob', password: '', passwordType: PASSWORD_TEXT, nonce: undefined, created: undefined });
    // The Type qualified with the wsse prefix, as cepces writes it.
    expect(security(ut(`<o:Username>c</o:Username><o:Password o:Type="${PASSWORD_TEXT}">x</o:Password>`)).usernameToken!.passwordType).toBe(PASSWORD_TEXT);
  });

  it('refuses a UsernameToken without Username or Password, a digest, an unknown password type, and a second token', () => {
    expect(thrown(() => security(ut('<o:Password>x</o:Password>'))).message).toBe('the UsernameToken has no Username');
    expect(thrown(() => security(ut('<o:Username>a</o:Username>'))).message).toBe('the UsernameToken has no Password');
    expect(thrown(() => security(ut(`<o:Username>a</o:Username><o:Password Type="${PASSWORD_DIGEST}">x</o:Password>`)))).toMatchObject({ kind: 'unsupported', message: 'PasswordDigest UsernameTokens are not supported: send PasswordText over TLS' });
    expect(thrown(() => security(ut('<o:Username>a</o:Username><o:Password Type="urn:other">x</o:Password>')))).toMatchObject({ kind: 'unsupported', message: 'the UsernameToken password type urn:other is not supported (PasswordText is)' });
    const one = ut('<o:Username>a</o:Username><o:Password>x</o:Password>');
    expect(thrown(() => security(one + one)).message).toBe('the Security header carries more than one UsernameToken');
  });

  it('reads a Timestamp with its Id, refuses a second one, and a second Signature', () => {
    const ts = '<u:Timestamp u:Id="_0"><u:Created>2026-12-03T10:00:00.5Z</u:Created><u:Expires>2026-12-03T10:05:00+01:00</u:Expires></u:Timestamp>';
    const t = security(ts).timestamp!;
    expect(t.id).toBe('_0');
    expect(t.created!.toISOString()).toBe('2026-12-03T10:00:00.500Z');
    expect(t.expires!.toISOString()).toBe('2026-12-03T09:05:00.000Z');
    expect(security('<u:Timestamp/>').timestamp).toMatchObject({ id: undefined, created: undefined, expires: undefined });
    expect(thrown(() => security(ts + ts)).message).toBe('the Security header carries more than one Timestamp');
    const sig = `<ds:Signature xmlns:ds="${NS.ds}"/>`;
    expect(thrown(() => security(sig + sig)).message).toBe('the Security header carries more than one Signature');
  });

  it('lists every BinarySecurityToken with its Id and trimmed ValueType; elements in other namespaces are not tokens', () => {
    const s = security('<o:BinarySecurityToken u:Id="a" ValueType=" v1 ">AA</o:BinarySecurityToken><o:BinarySecurityToken>BB</o:BinarySecurityToken>');
    expect(s.binarySecurityTokens.map((b) => [b.id, b.valueType])).toEqual([['a', 'v1'], [undefined, undefined]]);
    expect(s.hasBinarySecurityToken).toBe(true);
    const foreign = security(`<x:UsernameToken xmlns:x="urn:x"/><x:Timestamp xmlns:x="urn:x"/><x:BinarySecurityToken xmlns:x="urn:x"/><x:Signature xmlns:x="urn:x"/>`);
    expect([foreign.usernameToken, foreign.timestamp, foreign.signature, foreign.binarySecurityTokens, foreign.hasSignature, foreign.hasBinarySecurityToken]).toEqual([undefined, undefined, undefined, [], false, false]);
  });

  it('xs:dateTime: a value without a zone is UTC, offsets are applied, anything else is refused naming the field', () => {
    expect(parseDateTime(undefined, 'X')).toBeUndefined();
    expect(parseDateTime(' 2026-12-03T10:00:00 ', 'X')!.toISOString()).toBe('2026-12-03T10:00:00.000Z');
    expect(parseDateTime('2026-12-03T10:00:00-02:30', 'X')!.toISOString()).toBe('2026-12-03T12:30:00.000Z');
    for (const bad of ['2026-12-03', '2026-12-03 10:00:00Z', 'x2026-12-03T10:00:00Z', '2026-12-03T10:00:00Zx', '2026-12-03T10:00:00.Z']) {
      expect(thrown(() => parseDateTime(bad, 'Timestamp Created')), bad).toMatchObject({ kind: 'malformed', message: 'Timestamp Created is not an xs:dateTime', details: { field: 'Timestamp Created' } });
    }
    expect(thrown(() => parseDateTime('2026-13-45T10:00:00Z', 'Timestamp Expires'))).toMatchObject({ message: 'Timestamp Expires is not a valid date', details: { field: 'Timestamp Expires' } });
  });
});
