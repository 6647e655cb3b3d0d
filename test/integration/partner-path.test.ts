import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { freshTestDb, type TestDb } from '../helpers/db.js';
import { opensslCustomCa, opensslRootCa, osslTime, type OpensslCa } from '../helpers/openssl-ca.js';
import { AuditLog } from '../../src/audit/log.js';
import { systemClock } from '../../src/clock.js';
import { CertificateAuthenticator } from '../../src/auth/certificate.js';
import { addPartner, PartnerRegistry, type PartnerMatch } from '../../src/auth/partners.js';

/**
 * RFC 5280 path checks on partner certificates (src/auth/partners.ts `pathTo`): hierarchies made
 * with `openssl ca`, checked through the PartnerRegistry and the CertificateAuthenticator against a
 * real PostgreSQL schema.
 */
const der = (pem: string): Uint8Array => new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
const x509 = (pem: string): X509Certificate => new X509Certificate(pem);
const days = (n: number): string => osslTime(new Date(Date.now() + n * 86400_000));

describe('partner certificate paths: RFC 5280 checks', () => {
  let db: TestDb;
  let audit: AuditLog;
  let registry: PartnerRegistry;
  let auth: CertificateAuthenticator;

  // acme: an expired root and, with the same key and name, its renewal; a second, separate root that expired.
  const acmeOld = opensslCustomCa('acme Root', { startDate: days(-60), endDate: days(-1) });
  const acmeNew = opensslCustomCa('acme Root', { keyFrom: acmeOld, days: 60 });
  const acmeGone = opensslCustomCa('acme Old Root', { startDate: days(-60), endDate: days(-1) });
  // beta: one root with a variety of intermediates.
  const beta = opensslRootCa('beta Root');
  const noCertSign = opensslCustomCa('beta NoCertSign', { parent: beta, ext: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,digitalSignature,cRLSign'] });
  const len0 = opensslCustomCa('beta Len0', { parent: beta, ext: ['basicConstraints=critical,CA:TRUE,pathlen:0', 'keyUsage=critical,keyCertSign,cRLSign'] });
  const underLen0 = opensslCustomCa('beta Under Len0', { parent: len0 });
  const len1 = opensslCustomCa('beta Len1', { parent: beta, ext: ['basicConstraints=critical,CA:TRUE,pathlen:1', 'keyUsage=critical,keyCertSign,cRLSign'] });
  const underLen1 = opensslCustomCa('beta Under Len1', { parent: len1 });
  const notCa = opensslCustomCa('beta NotCA', { parent: beta, ext: ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,keyCertSign'] });
  const dnsOnly = opensslCustomCa('beta Example', { parent: beta, ext: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign', 'nameConstraints=critical,permitted;DNS:example.test,excluded;DNS:bad.example.test,permitted;email:.example.test'] });
  const dirOnly = opensslCustomCa('beta Dir', { parent: beta, ext: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign', 'nameConstraints=critical,permitted;dirName:nc_dir'], sections: '[nc_dir]\nCN=svc.beta\n' });
  const expiredInt = opensslCustomCa('beta Expired Issuing', { parent: beta, startDate: days(-20), endDate: days(-1) });

  const leafOf = (ca: OpensslCa, user: string, san = `email:${user}@beta.test`) => ca.issue(user, { san, key: 'ec' });

  beforeAll(async () => {
    db = await freshTestDb();
    audit = new AuditLog(db, systemClock);
    await addPartner(db, { name: 'acme', roots: [der(acmeOld.certPem), der(acmeNew.certPem), der(acmeGone.certPem)], mapFrom: 'email', templates: ['WebServer'] });
    await addPartner(db, { name: 'beta', roots: [der(beta.certPem)], mapFrom: 'email', templates: ['WebServer'] });
    registry = new PartnerRegistry(db, { clock: systemClock, audit });
    auth = new CertificateAuthenticator({ db, clock: systemClock, audit, issuers: () => [], partners: registry });
  });
  afterAll(async () => db?.close());

  const match = (leaf: { certPem: string }, chain: OpensslCa[] = []): Promise<PartnerMatch | null> => registry.match(x509(leaf.certPem), chain.map((c) => x509(c.certPem)));
  const principal = async (leaf: { certPem: string }, chain: OpensslCa[] = []): Promise<string | undefined> => {
    const m = await match(leaf, chain);
    if (!m) throw new Error('no partner matched');
    if ('refused' in m) throw new Error(m.refused);
    return m.principal.name;
  };
  const refused = async (leaf: { certPem: string }, chain: OpensslCa[] = []): Promise<string> => {
    const m = await match(leaf, chain);
    if (!m || !('refused' in m)) throw new Error(`expected a refusal, got ${m ? m.principal.name : 'null'}`);
    return m.refused;
  };

  it('an expired partner root stops vouching; the renewed root (same key and name) still does', async () => {
    // The leaf verifies under both acme roots; the expired one comes first in the partner's list.
    const leaf = acmeNew.issue('svc1', { san: 'email:svc1@acme.test', key: 'ec' });
    expect(await principal(leaf)).toBe('partner:acme/svc1@acme.test');
    // A leaf under the separate root that expired: refused, and the reason says why.
    const old = acmeGone.issue('svc2', { san: 'email:svc2@acme.test', key: 'ec', days: 1 });
    expect(await refused(old)).toMatch(/^partner acme: the path to CN=acme Old Root is refused: CN=acme Old Root expired on \d{4}-\d\d-\d\dT/);
  });

  it('the refusal lands in the auth.failure audit event with the partner as principal', async () => {
    const old = acmeGone.issue('svc3', { san: 'email:svc3@acme.test', key: 'ec', days: 1 });
    await expect(auth.authenticate(der(old.certPem), '127.0.0.1')).rejects.toThrow('authentication failed');
    const ev = (await audit.list({ type: 'auth.failure', limit: 1 }))[0];
    expect(ev?.principal).toBe('partner:acme');
    expect(ev?.reason).toMatch(/partner acme: the path to CN=acme Old Root is refused: CN=acme Old Root expired on/);
    // A certificate from nobody's root: no partner, the usual reason.
    const stranger = opensslRootCa('stranger Root').issue('x', { san: 'email:x@stranger.test', key: 'ec' });
    expect(await match(stranger)).toBeNull();
    await expect(auth.authenticate(der(stranger.certPem), '127.0.0.1')).rejects.toThrow('authentication failed');
    expect((await audit.list({ type: 'auth.failure', limit: 1 }))[0]?.reason).toMatch(/is not issued by a trusted CA/);
  });

  it('a good chain through an intermediate works (client-sent chain)', async () => {
    expect(await principal(leafOf(len0, 'ok0'), [len0])).toBe('partner:beta/ok0@beta.test');
  });

  it('an intermediate whose keyUsage lacks keyCertSign is refused', async () => {
    expect(await refused(leafOf(noCertSign, 'ku'), [noCertSign])).toBe('partner beta: the path to CN=beta Root is refused: CN=beta NoCertSign has a keyUsage without keyCertSign');
  });

  it('an intermediate that is not CA:TRUE, or expired, is refused with the reason', async () => {
    expect(await refused(leafOf(notCa, 'nca'), [notCa])).toMatch(/CN=beta NotCA is not a CA certificate/);
    expect(await refused(leafOf(expiredInt, 'exp', 'email:exp@beta.test'), [expiredInt])).toMatch(/CN=beta Expired Issuing expired on/);
  });

  it('pathLenConstraint: pathlen:0 with a second intermediate below is refused; pathlen:1 allows it', async () => {
    expect(await refused(leafOf(underLen0, 'deep0'), [underLen0, len0])).toBe(
      'partner beta: the path to CN=beta Root is refused: CN=beta Len0 allows 0 intermediate CAs below it (pathLenConstraint), the path has 1',
    );
    expect(await principal(leafOf(underLen1, 'deep1'), [underLen1, len1])).toBe('partner:beta/deep1@beta.test');
  });

  it('a refused path does not stop the search: the same leaf through another, valid chain is accepted', async () => {
    // The client sends an expired intermediate too; the registered one (partner-level) is the good path.
    const leaf = leafOf(len1, 'multi');
    expect(await principal(leaf, [expiredInt, len1])).toBe('partner:beta/multi@beta.test');
  });

  it('nameConstraints: permitted and excluded dNSName and rfc822Name subtrees are enforced on the leaf', async () => {
    expect(await principal(dnsOnly.issue('a', { san: 'DNS:a.example.test,email:a@mail.example.test', key: 'ec' }), [dnsOnly])).toBe('partner:beta/a@mail.example.test');
    expect(await principal(dnsOnly.issue('apex', { san: 'DNS:example.test,email:apex@x.example.test', key: 'ec' }), [dnsOnly])).toBe('partner:beta/apex@x.example.test');
    expect(await refused(dnsOnly.issue('evil', { san: 'DNS:evil.test,email:e@mail.example.test', key: 'ec' }), [dnsOnly])).toBe(
      'partner beta: the path to CN=beta Root is refused: CN=evil has the dNSName evil.test outside the permitted subtrees (example.test) of CN=beta Example (nameConstraints)',
    );
    expect(await refused(dnsOnly.issue('notexample', { san: 'DNS:notexample.test,email:n@mail.example.test', key: 'ec' }), [dnsOnly])).toMatch(/dNSName notexample.test outside the permitted subtrees/);
    expect(await refused(dnsOnly.issue('bad', { san: 'DNS:x.bad.example.test,email:b@mail.example.test', key: 'ec' }), [dnsOnly])).toMatch(/has the dNSName x.bad.example.test within the excluded subtree bad.example.test of CN=beta Example/);
    // ".example.test" permits mailboxes at subdomains only, not at example.test itself or elsewhere.
    expect(await refused(dnsOnly.issue('m1', { san: 'DNS:m.example.test,email:m1@example.test', key: 'ec' }), [dnsOnly])).toMatch(/has the rfc822Name m1@example.test outside the permitted subtrees \(\.example\.test\)/);
    expect(await refused(dnsOnly.issue('m2', { san: 'DNS:m.example.test,email:m2@evil.test', key: 'ec' }), [dnsOnly])).toMatch(/rfc822Name m2@evil.test outside/);
  });

  it('the same certificate authenticates again from the cache, with the same verdicts', async () => {
    const good = leafOf(len0, 'again');
    for (let i = 0; i < 3; i++) expect(await principal(good, [len0])).toBe('partner:beta/again@beta.test');
    const bad = leafOf(noCertSign, 'again-bad');
    for (let i = 0; i < 3; i++) expect(await refused(bad, [noCertSign])).toMatch(/keyUsage without keyCertSign/);
  });

  it('nameConstraints: a permitted directoryName is a prefix of the subject DN', async () => {
    expect(await principal(dirOnly.issue('svc.beta', { san: 'email:svc@beta.test', key: 'ec' }), [dirOnly])).toBe('partner:beta/svc@beta.test');
    expect(await refused(dirOnly.issue('other', { san: 'email:other@beta.test', key: 'ec' }), [dirOnly])).toBe(
      'partner beta: the path to CN=beta Root is refused: CN=other has the directoryName CN=other outside the permitted subtrees (CN=svc.beta) of CN=beta Dir (nameConstraints)',
    );
  });
});
