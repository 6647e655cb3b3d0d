import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { aesCtsDecrypt, decrypt, nfold } from '../../../src/auth/krb5-crypto.js';
import { apReqOf, bindingsHash, checkBindings, tokenBindings } from '../../../src/auth/channel-binding.js';
import { parseKeytab } from '../../../src/auth/keytab.js';

describe('Kerberos crypto and channel-binding pieces', () => {
  it('n-folds as RFC 3961 appendix A.1 shows', () => {
    expect(nfold(Buffer.from('012345'), 8).toString('hex')).toBe('be072631276b1955');
    expect(nfold(Buffer.from('password'), 7).toString('hex')).toBe('78a07b6caf85fa');
    expect(nfold(Buffer.from('kerberos'), 8).toString('hex')).toBe('6b65726265726f73');
    expect(nfold(Buffer.from('kerberos'), 16).toString('hex')).toBe('6b65726265726f737b9b5b2b93132b93');
  });

  it('decrypts AES-CTS as RFC 3962 appendix B shows', () => {
    const key = Buffer.from('636869636b656e207465726979616b69', 'hex');
    expect(aesCtsDecrypt(key, Buffer.from('c6353568f2bf8cb4d8a580362da7ff7f97', 'hex')).toString('hex')).toBe('4920776f756c64206c696b652074686520');
  });

  it('refuses a ciphertext whose integrity tag does not verify, and an unknown enctype', () => {
    const key = Buffer.alloc(32, 7);
    expect(() => decrypt(18, key, 11, Buffer.alloc(60, 1))).toThrow(/integrity check failed/);
    expect(() => decrypt(23, Buffer.alloc(16, 7), 11, Buffer.alloc(60, 1))).toThrow(/integrity check failed/);
    expect(() => decrypt(1, key, 11, Buffer.alloc(60, 1))).toThrow(/not supported/);
    expect(() => decrypt(18, key, 11, Buffer.alloc(10))).toThrow(/too short/);
  });

  it('hashes channel bindings as gss_channel_bindings_struct with no addresses (RFC 4121 §4.1.1.2)', () => {
    const app = Buffer.from('tls-server-end-point:abc');
    const raw = Buffer.concat([Buffer.alloc(16), Buffer.from([app.length, 0, 0, 0]), app]);
    expect(bindingsHash(app).equals(createHash('md5').update(raw).digest())).toBe(true);
  });

  it('decides: when-present accepts none and refuses a mismatch; required refuses none; off accepts all', () => {
    const a = Buffer.alloc(16, 1);
    const b = Buffer.alloc(16, 2);
    expect(checkBindings('when-present', null, a)).toBeNull();
    expect(checkBindings('when-present', a, a)).toBeNull();
    expect(checkBindings('when-present', b, a)).toMatch(/another TLS connection/);
    expect(checkBindings('required', null, a)).toMatch(/no channel bindings/);
    expect(checkBindings('when-present', a, null)).toMatch(/no TLS certificate/);
    expect(checkBindings('off', b, a)).toBeNull();
  });

  it('reads garbage and non-Kerberos tokens as refusals, never crashes', () => {
    for (const t of [Buffer.from('garbage'), Buffer.from([0x60, 0x03, 0x06, 0x01, 0x00]), Buffer.from([0x60, 0x80]), Buffer.alloc(0)]) {
      expect(() => tokenBindings(t, []), t.toString('hex')).toThrow();
    }
    // SPNEGO around NTLM: not Kerberos.
    const ntlmOid = Buffer.from('060a2b0601040182370202', 'hex');
    const inner = Buffer.concat([Buffer.from([0x60, ntlmOid.length + 2]), ntlmOid, Buffer.from([0x01, 0x00])]);
    expect(() => apReqOf(inner)).toThrow(/is not Kerberos/);
  });

  it('parses a keytab and refuses what is not one', () => {
    // One entry: HTTP/localhost@R, kvno 3, enctype 18, a 32-byte key.
    const str = (s: string): Buffer => Buffer.concat([Buffer.from([0, s.length]), Buffer.from(s)]);
    const key = Buffer.alloc(32, 9);
    const body = Buffer.concat([Buffer.from([0, 2]), str('R'), str('HTTP'), str('localhost'), Buffer.from([0, 0, 0, 1]), Buffer.alloc(4), Buffer.from([3]), Buffer.from([0, 18]), Buffer.from([0, 32]), key]);
    const size = Buffer.alloc(4);
    size.writeInt32BE(body.length, 0);
    expect(parseKeytab(Buffer.concat([Buffer.from([5, 2]), size, body]))).toEqual([{ principal: 'HTTP/localhost', realm: 'R', kvno: 3, etype: 18, key }]);
    expect(() => parseKeytab(Buffer.from('not a keytab'))).toThrow(/not a keytab/);
    expect(() => parseKeytab(Buffer.concat([Buffer.from([5, 2]), size, body.subarray(0, 10)]))).toThrow(/runs past the end/);
  });
});
