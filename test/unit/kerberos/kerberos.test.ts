import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpencesError } from '../../../src/errors.js';
import { createKerberosAuthenticator, type KerberosAuthenticator } from '../../../src/auth/kerberos.js';
import { negotiateToken } from '../../../src/auth/negotiate-client.js';
import { startKdc, type Kdc } from '../../helpers/kdc.js';

/**
 * Server and client side of HTTP Negotiate against a real MIT KDC, in one process: GSSAPI reads
 * KRB5_CONFIG, KRB5CCNAME (client) and KRB5_KTNAME (server) from this process's environment.
 */
describe('Kerberos Negotiate against a real KDC', () => {
  let kdc: Kdc;
  let auth: KerberosAuthenticator;
  const env = { ...process.env };
  beforeAll(async () => {
    // A 2 s clock skew lets the expiry test see a ticket go stale within seconds.
    kdc = await startKdc({ clockSkew: 2 });
    kdc.addUser('alice', 'Al1ce-pass');
    kdc.addUser('bob', 'B0b-pass');
    kdc.addService('HTTP/otherhost');
    const keytab = kdc.addService('HTTP/localhost');
    process.env.KRB5_CONFIG = kdc.krb5Conf;
    process.env.KRB5CCNAME = `FILE:${kdc.kinit('alice', 'Al1ce-pass')}`;
    auth = await createKerberosAuthenticator({ keytab, servicePrincipal: 'HTTP@localhost', groupMapping: { 'alice@OPENCES.TEST': ['staff'], '@OPENCES.TEST': ['employees'] } });
  });
  afterAll(async () => {
    process.env = env;
    await kdc?.stop();
  });

  const refusal = async (header: string | undefined): Promise<OpencesError> => {
    try {
      await auth.authenticate(header);
    } catch (e) {
      if (e instanceof OpencesError) return e;
      throw e;
    }
    throw new Error('accepted');
  };

  it('accepts alice\'s token for HTTP@localhost, with her principal and a mutual-auth token', async () => {
    const token = await negotiateToken('HTTP@localhost');
    const r = await auth.authenticate(`Negotiate ${token}`);
    expect(r.principal).toMatchObject({ name: 'alice@OPENCES.TEST', upn: 'alice@OPENCES.TEST', method: 'kerberos', realm: 'OPENCES.TEST' });
    expect(r.principal.groups).toEqual(['authenticated', 'staff', 'employees']);
    expect(r.responseToken).toMatch(/^[A-Za-z0-9+/]+=*$/);
    // The response token is a SPNEGO NegTokenResp ([1] context tag 0xa1).
    expect(Buffer.from(r.responseToken!, 'base64')[0]).toBe(0xa1);
  });

  it('knows bob from his own ticket cache', async () => {
    process.env.KRB5CCNAME = `FILE:${kdc.kinit('bob', 'B0b-pass')}`;
    try {
      const r = await auth.authenticate(`Negotiate ${await negotiateToken('HTTP@localhost')}`);
      expect(r.principal.name).toBe('bob@OPENCES.TEST');
      expect(r.principal.groups).toEqual(['authenticated', 'employees']);
    } finally {
      process.env.KRB5CCNAME = `FILE:${kdc.kinit('alice', 'Al1ce-pass')}`;
    }
  });

  it('refuses a token for another service', async () => {
    const e = await refusal(`Negotiate ${await negotiateToken('HTTP@otherhost')}`);
    expect(e.kind).toBe('unauthenticated');
    expect(String(e.details.reason)).not.toBe('');
  });

  it('refuses garbage, a missing header and other schemes', async () => {
    for (const h of ['Negotiate Z2FyYmFnZQ==', 'Negotiate YIIBBgYGKwYBBQUCoA==', undefined, 'Basic YWxpY2U6QWwxY2UtcGFzcw==']) {
      expect((await refusal(h)).kind, String(h)).toBe('unauthenticated');
    }
  });

  it('refuses a replayed token (GSSAPI replay cache)', async () => {
    const token = await negotiateToken('HTTP@localhost');
    expect((await auth.authenticate(`Negotiate ${token}`)).principal.name).toBe('alice@OPENCES.TEST');
    const e = await refusal(`Negotiate ${token}`);
    expect(e.kind).toBe('unauthenticated');
    expect(String(e.details.reason)).toMatch(/replay/i);
  });

  it('refuses a token whose ticket has expired', async () => {
    const cc = kdc.kinit('alice', 'Al1ce-pass', `${kdc.dir}/ccache_short`, { lifetime: '2s' });
    process.env.KRB5CCNAME = `FILE:${cc}`;
    let token: string;
    try {
      token = await negotiateToken('HTTP@localhost');
    } finally {
      process.env.KRB5CCNAME = `FILE:${kdc.kinit('alice', 'Al1ce-pass')}`;
    }
    // Past the ticket's end plus the 2 s clock skew.
    await new Promise((r) => setTimeout(r, 4_500));
    const e = await refusal(`Negotiate ${token}`);
    expect(e.kind).toBe('unauthenticated');
    expect(String(e.details.reason)).toMatch(/expired|skew/i);
  }, 20_000);

  it('client side: no ticket → unauthenticated, telling the user to kinit', async () => {
    const saved = process.env.KRB5CCNAME;
    process.env.KRB5CCNAME = `FILE:${kdc.dir}/no-such-ccache`;
    try {
      const e = await negotiateToken('HTTP@localhost').catch((x: unknown) => x);
      expect(e).toBeInstanceOf(OpencesError);
      expect((e as OpencesError).kind).toBe('unauthenticated');
      expect((e as OpencesError).message).toMatch(/kinit/);
    } finally {
      process.env.KRB5CCNAME = saved;
    }
  });
});
