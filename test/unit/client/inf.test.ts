import { describe, expect, it } from 'vitest';
import { parseInf } from '../../../src/client/inf.js';

describe('certreq INF request files (parseInf)', () => {
  it("reads Microsoft's own example (learn.microsoft.com, Windows > Certificate Enrollment API > PKCS #10 Request)", () => {
    // Verbatim from https://learn.microsoft.com/en-us/windows/win32/seccertenroll/pkcs--10-request
    const inf = ['[NewRequest]', 'Subject="cn=TestCN,o=TestOrg"', 'RequestType=pkcs10', '', '[RequestAttributes]', 'CertificateTemplate=User', ''].join('\r\n');
    const r = parseInf(inf);
    expect(r.subject).toEqual([
      { type: 'CN', value: 'TestCN' },
      { type: 'O', value: 'TestOrg' },
    ]);
    expect(r.format).toBe('pkcs10');
    expect(r.template).toBe('User');
    // certreq's defaults: an RSA key of 2048 bits
    expect(r.keyType).toBe('RSA-2048');
    expect(r.sans).toBeUndefined();
    expect(r.notes).toEqual([]);
  });

  it('reads a typical web-server INF: Windows key-store settings ignored with notes, SANs across _continue_ lines, [Strings]', () => {
    const inf = `
[Version]
Signature="$Windows NT$"

[Strings]
szOID_SUBJECT_ALT_NAME2 = "2.5.29.17"
szOID_ENHANCED_KEY_USAGE = "2.5.29.37"
szOID_PKIX_KP_SERVER_AUTH = "1.3.6.1.5.5.7.3.1"

[NewRequest]
Subject = "CN=www.example.com, OU=Web, O=""Example, Inc."", L=Redmond, S=Washington, C=US"   ; the usual shape
Exportable = TRUE
KeyLength = 3072
KeySpec = 1
KeyUsage = 0xa0
MachineKeySet = True
SMIME = False
ProviderName = "Microsoft RSA SChannel Cryptographic Provider"
ProviderType = 12
RequestType = CMC
FriendlyName = "www cert"
HashAlgorithm = sha256

[EnhancedKeyUsageExtension]
OID = 1.3.6.1.5.5.7.3.1

[Extensions]
%szOID_SUBJECT_ALT_NAME2% = "{text}"
_continue_ = "dns=www.example.com&"
_continue_ = "dns=example.com&ipaddress=192.0.2.10&"
_continue_ = "upn=web@example.com&email=webmaster@example.com&url=https://www.example.com/"
%szOID_ENHANCED_KEY_USAGE% = "{text}%szOID_PKIX_KP_SERVER_AUTH%"
Critical = 2.5.29.17

[RequestAttributes]
CertificateTemplate = WebServer
`;
    const r = parseInf(inf, 'web.inf');
    expect(r.subject).toEqual([
      { type: 'CN', value: 'www.example.com' },
      { type: 'OU', value: 'Web' },
      { type: 'O', value: 'Example, Inc.' },
      { type: 'L', value: 'Redmond' },
      { type: 'ST', value: 'Washington' },
      { type: 'C', value: 'US' },
    ]);
    expect(r.keyType).toBe('RSA-3072');
    expect(r.exportable).toBe(true);
    expect(r.format).toBe('cmc');
    expect(r.template).toBe('WebServer');
    expect(r.sans).toEqual([
      { type: 'dns', value: 'www.example.com' },
      { type: 'dns', value: 'example.com' },
      { type: 'ip', value: '192.0.2.10' },
      { type: 'upn', value: 'web@example.com' },
      { type: 'email', value: 'webmaster@example.com' },
      { type: 'uri', value: 'https://www.example.com/' },
    ]);
    const notes = r.notes.join('\n');
    // in file order
    expect(r.notes.map((n) => Number(/line (\d+)/.exec(n)![1]))).toEqual([12, 14, 15, 16, 17, 18, 19, 21, 22, 25, 32, 33]);
    expect(notes).toContain('web.inf line 21: FriendlyName ignored');
    expect(notes).toContain('web.inf line 12: Exportable ignored');
    expect(notes).toContain('web.inf line 18: ProviderName ignored');
    expect(notes).toContain('web.inf line 25: OID 1.3.6.1.5.5.7.3.1 ignored: the template sets the enhanced key usage');
    expect(notes).toContain('web.inf line 32: extension 2.5.29.37 (enhanced key usage) ignored');
    expect(notes).toContain('web.inf line 33: Critical = 2.5.29.17 ignored');
  });

  it('knows the key algorithms: ECDSA_P256, ECDSA_P384, ECDSA with KeyLength, RSA lengths', () => {
    const kt = (lines: string[]) => parseInf(['[NewRequest]', ...lines].join('\n')).keyType;
    expect(kt(['KeyAlgorithm = ECDSA_P256'])).toBe('P-256');
    expect(kt(['KeyAlgorithm = ECDSA_P384', 'KeyLength = 384'])).toBe('P-384');
    expect(kt(['KeyAlgorithm = ECDSA', 'KeyLength = 256'])).toBe('P-256');
    expect(kt(['KeyAlgorithm = RSA', 'KeyLength = 4096'])).toBe('RSA-4096');
    expect(kt(['KeyLength = 2048'])).toBe('RSA-2048');
  });

  it('reads the SAN on one line and no trailing &', () => {
    expect(parseInf('[Extensions]\n2.5.29.17 = "{text}dns=a.example.com&dns=b.example.com"').sans).toEqual([
      { type: 'dns', value: 'a.example.com' },
      { type: 'dns', value: 'b.example.com' },
    ]);
  });

  it.each([
    ['[NewRequest]\nSubject = "CN=x"\n[Foo]\nA = 1', /line 3: unknown section \[Foo\]/],
    ['[NewRequest]\nSubject = "CN=x"\nColour = blue', /line 3: unknown key "Colour" in \[NewRequest\]/],
    ['Subject = "CN=x"', /line 1: .*outside any section/],
    ['[NewRequest]\nKeyAlgorithm = ECDH_P256', /line 2: KeyAlgorithm "ECDH_P256" is not supported; use RSA, ECDSA_P256 or ECDSA_P384/],
    ['[NewRequest]\nKeyLength = 1024', /line 2: KeyLength 1024 is not supported for RSA/],
    ['[NewRequest]\nKeyAlgorithm = ECDSA_P256\nKeyLength = 384', /line 3: KeyLength 384 does not match ECDSA_P256/],
    ['[NewRequest]\nRequestType = Cert', /line 2: RequestType "Cert" is not supported; use PKCS10 or CMC/],
    ['[NewRequest]\nExportable = maybe', /line 2: Exportable must be TRUE or FALSE/],
    ['[NewRequest]\nUseExistingKeySet = TRUE', /line 2: UseExistingKeySet = TRUE is not supported/],
    ['[NewRequest]\nPrivateKeyArchive = TRUE', /line 2: PrivateKeyArchive = TRUE is not supported: private keys never leave this machine/],
    ['[NewRequest]\nSubject = "CN=x\n', /line 2: a quoted value is not closed/],
    ['[NewRequest]\nSubject = "CN=x, FOO=y"', /line 2: Subject attribute "FOO" is not supported/],
    ['[NewRequest]\nSubject = "CN=a"\nsubject = "CN=b"', /line 3: subject is set twice \(first on line 2\)/],
    ['[Extensions]\n2.5.29.17 = "{text}"\n_continue_ = "dns=a.example&"\n_continue_ = "guid=f7c3ac41b8e8c84ba1ba1f3b9e4f9d1c"', /line 4: subject alternative name "guid=.*" is not supported; use dns=, upn=, email=, ipaddress= or url=/],
    ['[Extensions]\n2.5.29.17 = "{text}ipaddress=300.1.1.1"', /line 2: "300.1.1.1" is not an IP address/],
    ['[Extensions]\n2.5.29.17 = "{asn}MAA="', /line 2: only the "\{text\}" form of 2.5.29.17 is supported/],
    ['[Extensions]\n_continue_ = "dns=a&"', /line 2: _continue_ with no extension before it/],
    ['[Extensions]\n1.3.6.1.4.1.311.21.7 = "{text}x"', /line 2: extension 1.3.6.1.4.1.311.21.7 is not supported/],
    ['[Extensions]\n%szOID_X% = "{text}"', /line 2: %szOID_X% is not defined in \[Strings\]/],
    ['[RequestAttributes]\nSAN = "dns=a.example.com"', /line 2: the SAN request attribute is not supported; put the names in \[Extensions\]/],
    ['[RequestAttributes]\nCertificateTemplate = WebServer\nFoo = bar', /line 3: unknown request attribute "Foo"/],
    ['[Version]\nSignature = "$Linux$"', /line 2: Signature must be "\$Windows NT\$"/],
    ['[NewRequest]\nSubject = "CN=x"\n[NewRequest]', /line 3: section \[NewRequest\] appears twice \(first on line 1\)/],
  ])('refuses %j naming the line', (inf, msg) => {
    expect(() => parseInf(inf, 'req.inf')).toThrow(msg);
    expect(() => parseInf(inf, 'req.inf')).toThrow(/^req\.inf line \d+: /);
  });
});
