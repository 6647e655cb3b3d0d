import { describe, expect, it } from 'vitest';
import { generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { BoundedCache } from '../../../src/bounded-cache.js';
import { FailureLimiter } from '../../../src/auth/rate-limit.js';
import { certificateSans, SAN_CACHE_MAX, sanCacheSize } from '../../../src/auth/certificate-names.js';
import { verifyCsrSignature, VERIFIED_MAX, verifiedMemoSize } from '../../../src/protocol/pkcs10/verify.js';
import { bitString, integer, oid, seq, set, implicitCons } from '../../../src/ca/der.js';
import { encodeName } from '../../../src/ca/name.js';
import { buildCertificate } from '../../../src/ca/certificate-builder.js';
import { KeyObjectSigner } from '../../../src/ca/keys/file.js';
import { newSerial } from '../../../src/ca/serial.js';

/**
 * Every memo whose keys come from requests stays within its bound however many distinct requests
 * arrive (issue #19: workers must not grow with traffic). Each is filled past its bound here.
 */
describe('BoundedCache', () => {
  it('holds at most maxEntries after ten times as many distinct keys, keeping the most recent', () => {
    const c = new BoundedCache<string, number>(100);
    for (let i = 0; i < 1000; i++) c.set(`k${i}`, i);
    expect(c.size).toBe(100);
    expect(c.get('k999')).toBe(999);
    expect(c.get('k0')).toBeUndefined();
  });

  it('drops the least recently used entry: a hit keeps an entry', () => {
    const c = new BoundedCache<string, number>(2);
    c.set('a', 1).set('b', 2);
    expect(c.get('a')).toBe(1);
    c.set('c', 3);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe(1);
    expect(c.get('c')).toBe(3);
  });

  it('forgets entries older than the ttl, on read and when new ones arrive', () => {
    let now = 0;
    const c = new BoundedCache<string, number>(1000, 10, () => now);
    for (let i = 0; i < 500; i++) c.set(`old${i}`, i);
    now = 11;
    expect(c.get('old1')).toBeUndefined();
    c.set('new', 1);
    // The expired ones went with the first write after they expired.
    expect(c.size).toBe(1);
  });

  it('deleteWhere drops the matching entries only', () => {
    const c = new BoundedCache<string, { account: string }>(10);
    c.set('1', { account: 'alice' }).set('2', { account: 'bob' }).set('3', { account: 'alice' });
    c.deleteWhere((v) => v.account === 'alice');
    expect(c.size).toBe(1);
    expect(c.get('2')).toEqual({ account: 'bob' });
  });
});

describe('request-keyed memos stay within their bounds', () => {
  it('the failed sign-in limiter tracks at most maxKeys keys under a flood of distinct addresses', () => {
    const l = new FailureLimiter(5, 60_000, () => 1_000, 1_000);
    for (let i = 0; i < 10_000; i++) l.fail(`198.51.100.${i}`);
    expect(l.size).toBeLessThanOrEqual(1_000);
    // The latest key still counts its failures.
    for (let i = 0; i < 5; i++) l.fail('203.0.113.9');
    expect(l.isLimited('203.0.113.9')).toBe(true);
  });

  it('the SAN memo of client certificates holds at most SAN_CACHE_MAX certificates', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const signer = new KeyObjectSigner('P-256', key.privateKey, 'sync');
    const name = encodeName([{ type: 'CN', value: 'memo test' }]);
    for (let i = 0; i < SAN_CACHE_MAX + 50; i++) {
      const der = await buildCertificate(signer, { serial: newSerial((n) => randomBytes(n)).bytes, issuerName: name, subjectName: name, notBefore: new Date(0), notAfter: new Date(4e12), spki: signer.spki, extensions: [] });
      certificateSans(new X509Certificate(Buffer.from(der)));
    }
    expect(sanCacheSize()).toBe(SAN_CACHE_MAX);
  });

  it('the memo of verified CSR signatures holds at most VERIFIED_MAX requests', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const spki = key.publicKey.export({ type: 'spki', format: 'der' });
    for (let i = 0; i < VERIFIED_MAX + 50; i++) {
      const info = seq(integer(0), encodeName([{ type: 'CN', value: `h${i}` }]), spki, implicitCons(0, []));
      const csr = new Uint8Array(seq(info, seq(oid('1.2.840.10045.4.3.2')), bitString(sign('sha256', info, { key: key.privateKey, dsaEncoding: 'der' }))));
      expect(await verifyCsrSignature(csr)).toBe(true);
    }
    expect(verifiedMemoSize()).toBe(VERIFIED_MAX);
  });
});
