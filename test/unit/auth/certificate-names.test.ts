import { describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openssl, tmp, writeTmp } from '../../helpers/openssl.js';
import { certificateSans, firstSan } from '../../../src/auth/certificate-names.js';
import { sanEntries } from '../../../src/http/admin/client-cert.js';

/** A self-signed certificate made by openssl with the given [alt] section lines. */
function certWith(altLines: string[]): X509Certificate {
  const d = tmp();
  const cnf = writeTmp(d, 'c.cnf', ['[req]', 'distinguished_name = dn', 'x509_extensions = ext', 'prompt = no', '[dn]', 'CN = mallory', '[ext]', 'subjectAltName = @alt', '[alt]', ...altLines, ''].join('\n'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(d, 'k.pem'), '-out', join(d, 'c.pem'), '-config', cnf, '-days', '2']);
  return new X509Certificate(readFileSync(join(d, 'c.pem')));
}

describe('subject alternative names read from the DER', () => {
  it('reads every kind we map: UPN, e-mail, DNS, URI, IP', () => {
    const c = certWith(['otherName.1 = 1.3.6.1.4.1.311.20.2.3;UTF8:alice@example.com', 'email.1 = alice@mail.example.com', 'DNS.1 = host.example.com', 'URI.1 = https://example.com/a', 'IP.1 = 192.0.2.7']);
    expect(certificateSans(c)).toEqual([
      { type: 'upn', value: 'alice@example.com' },
      { type: 'email', value: 'alice@mail.example.com' },
      { type: 'dns', value: 'host.example.com' },
      { type: 'uri', value: 'https://example.com/a' },
      { type: 'ip', value: '192.0.2.7' },
    ]);
    expect(firstSan(c, 'upn')).toBe('alice@example.com');
  });

  it('finds no UPN or e-mail in a DNS name crafted to print like them (node prints it unquoted)', () => {
    const c = certWith(['DNS.1 = x othername:UPN::alice@example.com email:alice@example.com y']);
    // What a pattern over node's text would have believed:
    expect(/othername:\s*UPN::?([^,\s]+)/i.exec(c.subjectAltName ?? '')?.[1]).toBe('alice@example.com');
    expect(certificateSans(c)).toEqual([{ type: 'dns', value: 'x othername:UPN::alice@example.com email:alice@example.com y' }]);
    expect(firstSan(c, 'upn')).toBeUndefined();
    expect(firstSan(c, 'email')).toBeUndefined();
    expect(sanEntries(c)).toEqual(['dns:x othername:UPN::alice@example.com email:alice@example.com y']);
  });

  it('finds nothing in a certificate without the extension', () => {
    const d = tmp();
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(d, 'k.pem'), '-out', join(d, 'c.pem'), '-subj', '/CN=plain', '-days', '2']);
    expect(certificateSans(new X509Certificate(readFileSync(join(d, 'c.pem'))))).toEqual([]);
  });
});
