import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCsr, openssl, opensslStatus, tmp, writeTmp } from '../../helpers/openssl.js';
import { fixedClock } from '../../../src/clock.js';
import { crlEntries, deltaEntries } from '../../../src/ca/crl.js';
import { countRevoked, listCertificates } from '../../../src/store/certificate-repo.js';
import { newRequestId, order, setupCa, type CaFixture } from './ca-fixture.js';

const T0 = new Date('2026-04-01T08:00:00Z');

describe('CRLs (RSA-2048 CA)', () => {
  let f: CaFixture;
  const clock = fixedClock(T0);
  const serials: Record<string, string> = {};

  async function issue(name: string): Promise<string> {
    const csr = makeCsr();
    const cert = await f.ca.issue(order(await newRequestId(f.db, csr.csrDer), csr.csrDer, { subject: [{ type: 'CN', value: `${name}.example.test` }], sans: [{ type: 'dns', value: `${name}.example.test` }] }, clock.now().getTime()));
    serials[name] = cert.serial;
    return cert.serial;
  }
  const text = (der: Uint8Array): string => openssl(['crl', '-inform', 'DER', '-noout', '-text'], Buffer.from(der));
  const verifyWith = (der: Uint8Array, caPem: string) => {
    const d = tmp();
    return opensslStatus(['crl', '-inform', 'DER', '-in', writeTmp(d, 'c.der', der), '-noout', '-CAfile', writeTmp(d, 'ca.pem', caPem)]);
  };
  const number = (t: string): number => Number(/CRL Number: \n\s+(\d+)/.exec(t)![1]);
  /** The entry block of one serial in `openssl crl -text` output. */
  const entry = (t: string, serial: string): string | null => {
    const m = new RegExp(`Serial Number: ${serial.toUpperCase()}\\n([\\s\\S]*?)(?=Serial Number:|Signature Algorithm|$)`).exec(t);
    return m ? m[1]! : null;
  };

  beforeAll(async () => {
    f = await setupCa('RSA-2048', { clock });
  });
  afterAll(async () => f?.db.close());

  it('refuses a delta CRL before any full CRL', async () => {
    await expect(f.ca.publishCrl({ delta: true })).rejects.toMatchObject({ kind: 'conflict', message: expect.stringMatching(/full CRL before a delta/) });
  });

  it('lists revoked serials with their reasons (none for unspecified), verifies, and lives 7 days', async () => {
    for (const n of ['compromised', 'held', 'plain', 'valid']) await issue(n);
    await f.ca.revoke(serials.compromised!, 'keyCompromise');
    await f.ca.revoke(serials.held!, 'certificateHold');
    await f.ca.revoke(serials.plain!, 'unspecified');
    expect(await countRevoked(f.db)).toBe(3);
    expect(await countRevoked(f.db, f.h.issuing.id)).toBe(3);
    expect((await listCertificates(f.db, { revoked: true })).map((c) => c.serial).sort()).toEqual([serials.compromised, serials.held, serials.plain].sort());

    const crl = await f.ca.publishCrl();
    const t = text(crl);
    expect(t).toMatch(/Issuer: CN ?= ?Test Issuing CA, O ?= ?opences/);
    expect(t).toContain('Last Update: Apr  1 08:00:00 2026 GMT');
    expect(t).toContain('Next Update: Apr  8 08:00:00 2026 GMT');
    expect(t).toContain('X509v3 Authority Key Identifier');
    expect(entry(t, serials.compromised!)).toMatch(/CRL Reason Code: \n\s+Key Compromise/);
    expect(entry(t, serials.held!)).toMatch(/Certificate Hold/);
    expect(entry(t, serials.plain!)).not.toBeNull();
    expect(entry(t, serials.plain!)).not.toContain('Reason');
    expect(entry(t, serials.valid!)).toBeNull();
    const v = verifyWith(crl, f.issuingPem);
    expect(v.out).toContain('verify OK');
    expect(Buffer.from((await f.ca.latestCrl())!).equals(Buffer.from(crl))).toBe(true);
    expect(crlEntries(crl)).toEqual(new Map([[serials.compromised!, 1], [serials.held!, 6], [serials.plain!, 0]]));
  });

  it('publishes delta CRLs with the base number: new revocations, changed reasons, released holds as removeFromCRL', async () => {
    const base = number(text((await f.ca.latestCrl())!));
    clock.advance(3600_000);
    await issue('later');
    await f.ca.revoke(serials.later!, 'superseded');
    await f.ca.unrevoke(serials.held!);
    const delta = await f.ca.publishCrl({ delta: true });
    const t = text(delta);
    expect(t).toMatch(new RegExp(`Delta CRL Indicator: critical\\n\\s+${base}`));
    expect(number(t)).toBe(base + 1);
    expect(t).toContain('Next Update: Apr  2 09:00:00 2026 GMT');
    expect(entry(t, serials.later!)).toMatch(/Superseded/);
    expect(entry(t, serials.held!)).toMatch(/Remove From CRL/);
    expect(entry(t, serials.compromised!)).toBeNull(); // unchanged since the base
    expect(verifyWith(delta, f.issuingPem).out).toContain('verify OK');
    expect(Buffer.from((await f.ca.latestCrl({ delta: true }))!).equals(Buffer.from(delta))).toBe(true);

    // the next full CRL has the next number and the current state
    const full = text(await f.ca.publishCrl());
    expect(number(full)).toBe(base + 2);
    expect(entry(full, serials.held!)).toBeNull();
    expect(entry(full, serials.later!)).toMatch(/Superseded/);
  });

  it('numbers concurrent publications uniquely and in order', async () => {
    const crls = await Promise.all([1, 2, 3, 4].map(() => f.ca.publishCrl()));
    const nums = crls.map((c) => number(text(c))).sort((a, b) => a - b);
    expect(new Set(nums).size).toBe(4);
    expect(nums[3]! - nums[0]!).toBe(3);
  });

  it("publishes the root's empty CRL, signed by the root, numbered on its own", async () => {
    const crl = await f.ca.publishRootCrl();
    const t = text(crl);
    expect(t).toMatch(/Issuer: CN ?= ?Test Root CA/);
    expect(t).toContain('No Revoked Certificates');
    expect(number(t)).toBe(1);
    expect(verifyWith(crl, f.rootPem).out).toContain('verify OK');
  });

  it('only a certificate on hold can be unrevoked', async () => {
    await expect(f.ca.unrevoke(serials.compromised!)).rejects.toMatchObject({ kind: 'conflict', message: expect.stringMatching(/permanently/) });
    await expect(f.ca.unrevoke(serials.valid!)).rejects.toMatchObject({ kind: 'conflict', message: expect.stringMatching(/not revoked/) });
    await expect(f.ca.revoke(serials.compromised!, 'keyCompromise')).rejects.toMatchObject({ kind: 'conflict' });
  });

  it('drops entries a day after the certificate expired', async () => {
    const later = fixedClock(new Date('2027-06-01T00:00:00Z')); // the test certificates ran for a year
    const ca = await f.engine({ clock: later });
    expect(text(await ca.publishCrl())).toContain('No Revoked Certificates');
  });
});

describe('delta computation', () => {
  it('lists new and changed entries and releases holds', () => {
    const now = new Date();
    const base = new Map([['aa', 1], ['bb', 6], ['cc', 6], ['dd', 0]]);
    const current = [
      { serial: 'aa', revokedAt: now, reason: 1 }, // unchanged
      { serial: 'cc', revokedAt: now, reason: 1 }, // hold → key compromise
      { serial: 'dd', revokedAt: now, reason: 0 }, // unchanged
      { serial: 'ee', revokedAt: now, reason: 4 }, // new
    ];
    expect(deltaEntries(base, current, now).map((e) => [e.serial, e.reason])).toEqual([['bb', 8], ['cc', 1], ['ee', 4]]);
  });
});
