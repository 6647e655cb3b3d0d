import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { Agent } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, pemOf } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { buildSignedData } from '../../src/protocol/pkcs7/index.js';
import { listTemplates } from '../../src/store/template-repo.js';
import { templatesToYaml } from '../../src/policy/template-yaml.js';
import { fixedClock } from '../../src/clock.js';
import { HRESULT } from '../../src/errors.js';
import type { SoapReply } from '../helpers/soap-client.js';

/**
 * Renewal belongs to the certificate's owner (issue #16 item 1), on a real server in PostgreSQL
 * mode: alice renewing with bob's certificate and key, a disabled and a deleted owner — refused;
 * the owner's own renewal and key-based renewal still issued; identity-built names from the
 * owner's identity now.
 */
describe('renewal belongs to the owner of the certificate being renewed', () => {
  let s: TestServer;
  let agent: Agent;
  const clock = fixedClock(new Date());
  const PASSWORD = 'Renew-S3cret';
  beforeAll(async () => {
    s = await startTestServer({ clock });
    agent = new Agent({ connect: { ca: s.rootPem } });
    for (const name of ['alice', 'bob', 'carol', 'dev2', 'dev3']) await runOperation(s.core, 'user.add', { name, password: PASSWORD, email: `${name}@old.example` }, 'test');
    const all = await listTemplates(s.core.db);
    const user = all.find((t) => t.name === 'User')!;
    const web = all.find((t) => t.name === 'WebServer')!;
    // ShortUser: names built from the account (CN, e-mail, UPN), renewable after 7 of its 10 days.
    const shortUser = { ...structuredClone(user), name: 'ShortUser', displayName: 'Short user', oid: `${user.oid}.91`, validityPeriodSeconds: 10 * 86400, renewalPeriodSeconds: 3 * 86400 };
    // Kbr: enrollee-supplied names, and the certificate alone may renew itself (key-based renewal).
    const kbr = { ...structuredClone(web), name: 'Kbr', displayName: 'Key-based renewal', oid: `${web.oid}.92`, validityPeriodSeconds: 10 * 86400, renewalPeriodSeconds: 3 * 86400, permissions: [{ principal: 'user:dev2', read: true, enroll: true, autoenroll: false }, { principal: 'user:dev3', read: true, enroll: true, autoenroll: false }] };
    kbr.enrollment.allowKeyBasedRenewal = true;
    kbr.extensions.ekus = ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'];
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([shortUser, kbr]) }, 'test');
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const cesUser = () => `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
  const cesCert = () => `${s.url}${cesPath('opences Issuing CA', 'Certificate')}`;

  async function enroll(user: string, template: string, subject = 'CN=ignored', sans: string[] = []): Promise<{ certDer: Uint8Array; keyPem: string }> {
    const csr = makeCsr({ key: 'ec:P-256', subject, sans, templateName: template });
    const u = cesUser();
    const r = await postSoap(u, buildRstRequest({ to: u, securityHeaderXml: usernameHeader({ username: user, password: PASSWORD, created: clock.now() }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
    const out = parseRstrResponse(r.env!);
    if (out.disposition !== 'issued') throw new Error(r.body);
    return { certDer: out.certificateDer, keyPem: csr.keyPem };
  }
  /** A renewal PKCS#7 signed with `signer`'s certificate and key, sent by `caller` with their password. */
  const renewAs = (caller: string, signer: { certDer: Uint8Array; keyPem: string }): Promise<SoapReply> => {
    const newCsr = makeCsr({ key: 'ec:P-256', subject: `CN=${caller}` }).csrDer;
    const der = buildSignedData({ content: newCsr, contentType: '1.2.840.113549.1.7.1', signerCertDer: signer.certDer, signerKey: createPrivateKey(signer.keyPem) });
    const u = cesUser();
    return postSoap(u, buildRstRequest({ to: u, securityHeaderXml: usernameHeader({ username: caller, password: PASSWORD, created: clock.now() }), requestType: 'renew', token: { valueType: 'pkcs7', der } }), agent);
  };
  /** Key-based renewal: the certificate authenticates (TLS) and signs the renewal itself. */
  const renewWithTls = async (cur: { certDer: Uint8Array; keyPem: string }): Promise<SoapReply> => {
    const tls = new Agent({ connect: { ca: s.rootPem, cert: pemOf(cur.certDer), key: cur.keyPem } });
    try {
      const newCsr = makeCsr({ key: 'ec:P-256', subject: 'CN=ignored' }).csrDer;
      const der = buildSignedData({ content: newCsr, contentType: '1.2.840.113549.1.7.1', signerCertDer: cur.certDer, signerKey: createPrivateKey(cur.keyPem) });
      return await postSoap(cesCert(), buildRstRequest({ to: cesCert(), requestType: 'renew', token: { valueType: 'pkcs7', der } }), tls);
    } finally {
      await tls.close();
    }
  };
  const inWindow = async <T>(f: () => Promise<T>): Promise<T> => {
    clock.advance(8 * 86400_000);
    try {
      return await f();
    } finally {
      clock.advance(-8 * 86400_000);
    }
  };
  const subjectOf = (der: Uint8Array): string => new X509Certificate(Buffer.from(der)).subject;

  it("alice cannot renew bob's certificate though she signs with bob's certificate and key: CERTSRV_E_BAD_RENEWAL_SUBJECT, audited with both identities, also once bob is disabled", async () => {
    const bobs = await enroll('bob', 'ShortUser');
    expect(subjectOf(bobs.certDer)).toContain('CN=bob');
    await inWindow(async () => {
      const r = await renewAs('alice', bobs);
      const f = parseFault(r.env!);
      expect(f?.reason, r.body).toMatch(/belongs to bob; only its owner may renew it/);
      expect(f?.detail?.errorCode).toBe(HRESULT.CERTSRV_E_BAD_RENEWAL_SUBJECT);
      await runOperation(s.core, 'user.disable', { name: 'bob' }, 'test');
      try {
        const again = parseFault((await renewAs('alice', bobs)).env!);
        expect(again?.detail?.errorCode).toBe(HRESULT.CERTSRV_E_BAD_RENEWAL_SUBJECT);
      } finally {
        await runOperation(s.core, 'user.enable', { name: 'bob' }, 'test');
      }
    });
    const ev = (await s.core.audit.list({ type: 'enroll.renew', limit: 20 })).filter((e) => e.outcome === 'denied');
    expect(ev.length).toBeGreaterThanOrEqual(2);
    expect(ev[0]).toMatchObject({ principal: 'alice', details: { owner: 'bob', ownerIdentity: 'account:bob', caller: 'alice', callerIdentity: 'account:alice' } });
    // nothing was issued for bob's name to alice
    const issuedToAlice = await s.core.db.query<{ subject: string }>(`SELECT subject FROM certificates WHERE requester = 'alice'`);
    expect(issuedToAlice.rows.map((r) => r.subject).join()).not.toMatch(/bob/);
  });

  it('a different spelling of the owner is still the owner; the request records the canonical identity', async () => {
    const bobs = await enroll('bob', 'ShortUser');
    const r = await inWindow(() => renewAs('BOB', bobs));
    const out = parseRstrResponse(r.env!);
    expect(out.disposition, r.body).toBe('issued');
    const row = (await s.core.db.query<{ requester: string; requester_kind: string; requester_key: string }>('SELECT requester, requester_kind, requester_key FROM requests WHERE id = $1', [out.requestId])).rows[0];
    expect(row).toEqual({ requester: 'bob', requester_kind: 'account', requester_key: 'account:bob' });
  });

  it("the owner's own renewal is issued with names built from the owner's identity now, not copied from the old certificate", async () => {
    const old = await enroll('carol', 'ShortUser');
    expect(new X509Certificate(Buffer.from(old.certDer)).subjectAltName).toContain('carol@old.example');
    // the directory (here: the account) changes carol's e-mail address
    await s.core.db.query(`UPDATE accounts SET email = 'carol@new.example', updated_at = now() WHERE name = 'carol'`);
    s.core.usernameAuth.invalidate('carol');
    const r = await inWindow(() => renewAs('carol', old));
    const out = parseRstrResponse(r.env!);
    expect(out.disposition, r.body).toBe('issued');
    if (out.disposition !== 'issued') return;
    const renewed = new X509Certificate(Buffer.from(out.certificateDer));
    expect(renewed.subjectAltName).toContain('carol@new.example');
    expect(renewed.subjectAltName).not.toContain('carol@old.example');
    expect(renewed.subject).toContain('CN=carol');
  });

  it('key-based renewal is refused once the owner is disabled, and issued again once enabled', async () => {
    const cur = await enroll('dev2', 'Kbr', 'CN=kbr2.example.test', ['DNS:kbr2.example.test']);
    await runOperation(s.core, 'user.disable', { name: 'dev2' }, 'test');
    try {
      const refused = await inWindow(() => renewWithTls(cur));
      expect(parseFault(refused.env!)?.reason, refused.body).toBe('authentication failed');
      const why = (await s.core.audit.list({ type: 'auth.failure', limit: 5 })).map((e) => e.reason);
      expect(why).toEqual(expect.arrayContaining([expect.stringMatching(/its owner, the account dev2, is disabled/)]));
    } finally {
      await runOperation(s.core, 'user.enable', { name: 'dev2' }, 'test');
    }
    const ok = await inWindow(() => renewWithTls(cur));
    const out = parseRstrResponse(ok.env!);
    expect(out.disposition, ok.body).toBe('issued');
    if (out.disposition === 'issued') expect(subjectOf(out.certificateDer)).toBe('CN=kbr2.example.test');
  });

  it('key-based renewal is refused once the owner account is deleted', async () => {
    const cur = await enroll('dev3', 'Kbr', 'CN=kbr3.example.test', ['DNS:kbr3.example.test']);
    // there is no `user delete` verb: the account disappears from the directory (database) underneath
    await s.core.db.query(`DELETE FROM accounts WHERE name = 'dev3'`);
    s.core.usernameAuth.invalidate('dev3');
    const refused = await inWindow(() => renewWithTls(cur));
    expect(parseFault(refused.env!)?.reason, refused.body).toBe('authentication failed');
    const why = (await s.core.audit.list({ type: 'auth.failure', limit: 5 })).map((e) => e.reason);
    expect(why).toEqual(expect.arrayContaining([expect.stringMatching(/its owner, the account dev3, does not exist/)]));
  });
});
