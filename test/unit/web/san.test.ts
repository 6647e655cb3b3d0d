import { describe, expect, it } from 'vitest';
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralNames } from '@peculiar/asn1-x509';
import { ipBytes, parseSans, subjectAltNameDer } from '../../../src/web/enroll/san.js';

/** The enrollment page's subject alternative names (src/web/enroll/san.ts): parsing and DER. */
describe('web enrollment SANs', () => {
  it('reads bare names as DNS (IP when they are addresses) and type:value as that type', () => {
    expect(parseSans('www.example.test, example.test 192.0.2.1 2001:db8::1 ip:10.0.0.1', ['dns', 'ip'])).toEqual([
      { type: 'dns', value: 'www.example.test' },
      { type: 'dns', value: 'example.test' },
      { type: 'ip', value: '192.0.2.1' },
      { type: 'ip', value: '2001:db8::1' },
      { type: 'ip', value: '10.0.0.1' },
    ]);
    expect(parseSans('email:a@example.test upn:a@corp.test uri:https://example.test/x', ['email', 'upn', 'uri']).map((s) => s.type)).toEqual(['email', 'upn', 'uri']);
    expect(parseSans('  ', ['dns'])).toEqual([]);
  });

  it('refuses a type the template does not take, and an address that is none', () => {
    expect(() => parseSans('email:a@example.test', ['dns', 'ip'])).toThrow('this template does not take email names (email:a@example.test)');
    expect(() => parseSans('192.0.2.1', ['dns'])).toThrow('does not take ip names');
    expect(() => parseSans('ip:300.1.1.1', ['ip'])).toThrow('300.1.1.1 is not an IP address');
    expect(() => parseSans('ip:www.example.test', ['ip', 'dns'])).toThrow('is not an IP address');
  });

  it.each([
    ['192.0.2.1', [192, 0, 2, 1]],
    ['::1', [...Array(15).fill(0), 1]],
    ['2001:db8::10', [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 0x10]],
    ['fe80:0:0:0:0:0:0:1', [0xfe, 0x80, ...Array(13).fill(0), 1]],
  ])('ipBytes(%s)', (text, bytes) => {
    expect([...ipBytes(text)!]).toEqual(bytes);
  });

  it.each(['256.0.0.1', '1.2.3', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::1', 'fe80::1::', 'g::1', ':'])('ipBytes(%s) is null', (text) => {
    expect(ipBytes(text)).toBeNull();
  });

  it('encodes GeneralNames that an independent decoder reads back', () => {
    const der = subjectAltNameDer(parseSans('www.example.test ip:192.0.2.1 ip:2001:db8::1 email:a@example.test upn:a@corp.test uri:https://example.test/', ['dns', 'ip', 'email', 'upn', 'uri']));
    const names = AsnConvert.parse(der, GeneralNames);
    expect(names.map((n) => n.dNSName ?? n.iPAddress ?? n.rfc822Name ?? n.uniformResourceIdentifier ?? n.otherName?.typeId)).toEqual(['www.example.test', '192.0.2.1', '2001:db8::1', 'a@example.test', '1.3.6.1.4.1.311.20.2.3', 'https://example.test/']);
  });
});
