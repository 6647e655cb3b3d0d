import { describe, expect, it } from 'vitest';
import { lintCertificate, type LintInput } from '../../../src/ca/lint.js';
import { octetString, oid, seq, tlv } from '../../../src/ca/der.js';
import { HRESULT } from '../../../src/errors.js';

const T = Date.parse('2026-12-03T10:00:00Z');
const ext = (id: string): Buffer => seq(oid(id), octetString(Buffer.from([0x30, 0x00])));
/** A certificate the profile allows: the base every case below breaks in one place. */
const good = (): LintInput => ({
  serial: Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex'),
  subject: [{ type: 'CN', value: 'www.example.test' }],
  sans: [{ type: 'dns', value: 'www.example.test' }],
  notBefore: new Date(T),
  notAfter: new Date(T + 86400_000),
  caNotBefore: new Date(T - 86400_000),
  caNotAfter: new Date(T + 365 * 86400_000),
  extensions: [ext('2.5.29.15'), ext('2.5.29.37')],
});

function outcome(over: Partial<LintInput>): { kind: string; message: string; hresult?: number } | null {
  try {
    lintCertificate({ ...good(), ...over });
    return null;
  } catch (e) {
    const err = e as { kind: string; message: string; details: { hresult?: number } };
    return { kind: err.kind, message: err.message, hresult: err.details.hresult };
  }
}

/**
 * Pre-issuance lint: whatever the RA decided, the CA does not sign a certificate that breaks the
 * profile. Our own faults are internal (a retry may succeed); faults of the names asked for are
 * policy denials the RA turns into a denied request.
 */
describe('pre-issuance lint', () => {
  it('signs the profile as it is, a certificate with only a subject or only SANs, and one ending with the CA', () => {
    expect(outcome({})).toBeNull();
    expect(outcome({ sans: [] })).toBeNull();
    expect(outcome({ subject: [] })).toBeNull();
    expect(outcome({ notAfter: new Date(T + 365 * 86400_000) })).toBeNull();
    expect(outcome({ notBefore: new Date(T - 86400_000) })).toBeNull();
    expect(outcome({ caNotBefore: undefined, notBefore: new Date(0) })).toBeNull();
    expect(outcome({ serial: undefined })).toBeNull();
    expect(outcome({ serial: Buffer.from('7f0000000000000001', 'hex') })).toBeNull();
    expect(outcome({ serial: Buffer.alloc(20, 0x11) })).toBeNull();
    expect(outcome({ sans: [{ type: 'dns', value: '*.example.test' }, { type: 'email', value: 'not a dns name' }] })).toBeNull();
    // One-character labels are labels (RFC 1035), first, middle and last.
    expect(outcome({ sans: [{ type: 'dns', value: 'a.b.example.test' }, { type: 'dns', value: 'x' }, { type: 'dns', value: 'host.example.t' }] })).toBeNull();
  });

  it.each<[string, Partial<LintInput>, string]>([
    ['no names at all', { subject: [], sans: [] }, 'neither a subject nor a subject alternative name'],
    ['a subject CN over the RFC 5280 bound', { subject: [{ type: 'CN', value: 'x'.repeat(65) }] }, 'the subject CN has 65 characters; RFC 5280 allows at most 64'],
    ['a DNS name with a space', { sans: [{ type: 'dns', value: 'www example.test' }] }, 'bad DNS name www example.test'],
    ['a DNS label starting with a hyphen', { sans: [{ type: 'dns', value: '-www.example.test' }] }, 'bad DNS name -www.example.test'],
  ])('refuses %s as a policy denial of the request', (_, over, why) => {
    expect(outcome(over)).toEqual({ kind: 'policyDenied', message: `pre-issuance lint failed: ${why}`, hresult: HRESULT.CERTSRV_E_BAD_REQUESTSUBJECT });
  });

  it.each<[string, Partial<LintInput>, string]>([
    ['notAfter equal to notBefore', { notAfter: new Date(T) }, 'notAfter is not after notBefore'],
    ['validity past the issuing CA', { notAfter: new Date(T + 365 * 86400_000 + 1) }, 'validity extends beyond the issuing CA'],
    ['validity before the issuing CA', { notBefore: new Date(T - 86400_000 - 1) }, 'validity starts before the issuing CA'],
    ['a 21-octet serial', { serial: Buffer.alloc(21, 0x11) }, 'serial number longer than 20 octets'],
    ['a negative serial', { serial: Buffer.from('800000000000000001', 'hex') }, 'serial number would be negative'],
    ['a zero serial', { serial: Buffer.alloc(9) }, 'serial number is zero'],
    ['a serial of 8 octets (fewer than 64 random bits)', { serial: Buffer.from('0102030405060708', 'hex') }, 'serial number has fewer than 64 random bits'],
    ['an extension twice', { extensions: [ext('2.5.29.15'), ext('2.5.29.37'), ext('2.5.29.15')] }, 'duplicate extension'],
    ['an extension that is not a SEQUENCE', { extensions: [ext('2.5.29.15'), tlv(0x31, [oid('2.5.29.37'), octetString(Buffer.from([0x30, 0x00]))])] }, 'malformed extension'],
  ])('refuses %s as its own (internal) fault', (_, over, why) => {
    expect(outcome(over)).toEqual({ kind: 'internal', message: `pre-issuance lint failed: ${why}`, hresult: undefined });
  });
});
