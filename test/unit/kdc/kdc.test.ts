import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { startKdc, type Kdc } from '../../helpers/kdc.js';

describe('throwaway MIT KDC (test/helpers/kdc.ts)', () => {
  let kdc: Kdc;
  beforeAll(async () => {
    kdc = await startKdc();
  });
  afterAll(async () => {
    await kdc?.stop();
  });

  it('starts with a multi-line [realms] block and its krb5.conf on disk', () => {
    expect(kdc.realm).toBe('OPENCES.TEST');
    expect(existsSync(kdc.krb5Conf)).toBe(true);
  });

  it('kinit gets a TGT that klist shows, and kvno gets HTTP/localhost matching the keytab', () => {
    kdc.addUser('alice', 'Al1ce-pass');
    const keytab = kdc.addService('HTTP/localhost');
    const cc = kdc.kinit('alice', 'Al1ce-pass');
    const klist = kdc.run('/usr/bin/klist', ['-c', `FILE:${cc}`]);
    expect(klist).toContain('Default principal: alice@OPENCES.TEST');
    expect(klist).toContain('krbtgt/OPENCES.TEST@OPENCES.TEST');
    // kvno -k checks the service ticket against the keytab's key: proves the keytab is the one the KDC issues for.
    const kvno = kdc.run('/usr/bin/kvno', ['-c', `FILE:${cc}`, '-k', keytab, 'HTTP/localhost@OPENCES.TEST']);
    expect(kvno).toMatch(/HTTP\/localhost@OPENCES\.TEST: kvno = \d+, keytab entry valid/);
    expect(kdc.run('/usr/bin/klist', ['-k', keytab])).toContain('HTTP/localhost@OPENCES.TEST');
  });

  it('refuses a wrong password and an unknown service', () => {
    expect(() => kdc.kinit('alice', 'wrong')).toThrow(/kinit/);
    const cc = kdc.kinit('alice', 'Al1ce-pass');
    expect(() => kdc.run('/usr/bin/kvno', ['-c', `FILE:${cc}`, 'HTTP/nosuchhost@OPENCES.TEST'])).toThrow(/not found/i);
  });

  it('stop() ends the KDC and removes its directory', async () => {
    const other = await startKdc({ realm: 'OTHER.TEST' });
    other.addUser('bob', 'B0b-pass');
    expect(other.kinit('bob', 'B0b-pass')).toContain(other.dir);
    await other.stop();
    expect(existsSync(other.dir)).toBe(false);
    await other.stop(); // idempotent
  });
});
