import { describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { opensslRootCa, osslTime } from '../../helpers/openssl-ca.js';
import { parseCrls, partnerRevocation, type StoredCrl } from '../../../src/auth/partner-crl.js';

/** CRLs made by `openssl ca`, judged by partnerRevocation directly: what counts, what fails closed. */
describe('partner CRL evaluation', () => {
  const root = opensslRootCa('unit Root');
  const issuing = root.subordinate('unit Issuing');
  const leaf = issuing.issue('leaf', { key: 'ec', san: 'email:leaf@unit.test' });
  const other = issuing.issue('other', { key: 'ec', san: 'email:other@unit.test' });
  const chain = [leaf.certPem, issuing.certPem, root.certPem].map((p) => new X509Certificate(p));
  const opts = { now: new Date(), graceMs: 0, mode: 'leaf' as const };
  const stored = (crl: { der: Buffer }): StoredCrl => ({ ...parseCrls(crl.der)[0]!, source: 'file' });
  const before = stored(issuing.crl());
  issuing.revoke(leaf.certFile, 'superseded');

  it('a plain CRL: listed is revoked, unlisted is fine; PEM and DER read the same', async () => {
    const crl = issuing.crl();
    expect(parseCrls(Buffer.from(crl.pem))[0]!.issuerName).toBe(parseCrls(crl.der)[0]!.issuerName);
    expect(await partnerRevocation(chain, [stored(crl)], opts)).toMatch(/^client certificate \w+ is revoked by CN=unit Issuing since .* \(superseded\)$/);
    expect(await partnerRevocation([new X509Certificate(other.certPem), ...chain.slice(1)], [stored(crl)], opts)).toBeNull();
  });

  it('indirect and reason-partitioned CRLs are not believed; a users-only CRL is', async () => {
    const indirect = issuing.crl({ extensions: ['issuingDistributionPoint = critical, @idp_i', '[idp_i]', 'fullname = URI:http://unit.test/i.crl', 'indirectCRL = TRUE'] });
    expect(await partnerRevocation(chain, [stored(indirect)], opts)).toMatch(/no valid CRL from CN=unit Issuing \(.*indirect or partitioned/);
    const someReasons = issuing.crl({ extensions: ['issuingDistributionPoint = critical, @idp_r', '[idp_r]', 'fullname = URI:http://unit.test/r.crl', 'onlysomereasons = keyCompromise'] });
    expect(await partnerRevocation(chain, [stored(someReasons)], opts)).toMatch(/indirect or partitioned/);
    const usersOnly = issuing.crl({ extensions: ['issuingDistributionPoint = critical, @idp_u', '[idp_u]', 'fullname = URI:http://unit.test/u.crl', 'onlyuser = TRUE'] });
    expect(await partnerRevocation(chain, [stored(usersOnly)], opts)).toMatch(/is revoked/);
  });

  it('a delta CRL (critical deltaCRLIndicator) is not a full CRL: refused', async () => {
    const delta = issuing.crl({ extensions: ['2.5.29.27 = critical, ASN1:INTEGER:1'] });
    expect(await partnerRevocation(chain, [stored(delta)], opts)).toMatch(/unsupported critical extension 2\.5\.29\.27/);
  });

  it('a CRL issued in the future is ignored; a stale one fails closed unless within the grace period', async () => {
    const future = issuing.crl({ lastUpdate: osslTime(new Date(Date.now() + 86400_000)), nextUpdate: osslTime(new Date(Date.now() + 2 * 86400_000)) });
    expect(await partnerRevocation(chain, [stored(future)], opts)).toMatch(/no valid CRL from CN=unit Issuing$/);
    const stale = stored(issuing.crl({ lastUpdate: osslTime(new Date(Date.now() - 2 * 3600_000)), nextUpdate: osslTime(new Date(Date.now() - 3600_000)) }));
    const otherChain = [new X509Certificate(other.certPem), ...chain.slice(1)];
    expect(await partnerRevocation(otherChain, [stale], opts)).toMatch(/is stale/);
    expect(await partnerRevocation(otherChain, [stale], { ...opts, graceMs: 2 * 3600_000 })).toBeNull();
  });

  it('chain mode needs the root’s CRL for the intermediate; leaf mode does not', async () => {
    const crl = stored(issuing.crl());
    const otherChain = [new X509Certificate(other.certPem), ...chain.slice(1)];
    expect(await partnerRevocation(otherChain, [crl], { ...opts, mode: 'chain' })).toMatch(/^intermediate CN=unit Issuing .*: no valid CRL from CN=unit Root$/);
    expect(await partnerRevocation(otherChain, [crl, stored(root.crl())], { ...opts, mode: 'chain' })).toBeNull();
  });

  it('rejects what is not a CRL', () => {
    expect(() => parseCrls(Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'))).toThrow(/no "X509 CRL" PEM block/);
    expect(() => parseCrls(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]))).toThrow(/not a CRL/);
  });

  // Last: it edits the partner CA's database (releases a hold, un-revokes the leaf).
  it('a revocation listed by any verified CRL counts, whatever the order or an equal thisUpdate; a hold ends when a newer CRL drops it', async () => {
    const after = stored(issuing.crl());
    expect(await partnerRevocation(chain, [before, after], opts)).toMatch(/is revoked/);
    expect(await partnerRevocation(chain, [after, before], opts)).toMatch(/is revoked/);

    const held = issuing.issue('held', { key: 'ec' });
    const heldChain = [new X509Certificate(held.certPem), ...chain.slice(1)];
    issuing.revoke(held.certFile, 'certificateHold');
    const onHold = stored(issuing.crl({ lastUpdate: osslTime(new Date(Date.now() - 3600_000)), nextUpdate: osslTime(new Date(Date.now() + 3600_000)) }));
    expect(await partnerRevocation(heldChain, [onHold], opts)).toMatch(/is revoked .*\(certificateHold\)/);
    // The partner releases the hold (removeFromCRL in its database: the entry goes away).
    const { readFileSync, writeFileSync } = await import('node:fs');
    const index = `${issuing.dir}/index.txt`;
    writeFileSync(index, readFileSync(index, 'utf8').split('\n').map((l) => (l.includes('CN=held') ? l.replace(/^R\t(\S+)\t\S+\t/, 'V\t$1\t\t') : l)).join('\n'));
    const released = stored(issuing.crl());
    expect(await partnerRevocation(heldChain, [onHold, released], opts)).toBeNull();
    // …but a revocation for good is not undone that way: a newer CRL without the superseded leaf changes nothing.
    writeFileSync(index, readFileSync(index, 'utf8').split('\n').map((l) => (l.includes('CN=leaf') ? l.replace(/^R\t(\S+)\t\S+\t/, 'V\t$1\t\t') : l)).join('\n'));
    const dropped = stored(issuing.crl({ hours: 48 }));
    expect(await partnerRevocation(chain, [dropped], opts)).toBeNull();
    expect(await partnerRevocation(chain, [after, dropped], opts)).toMatch(/is revoked .*\(superseded\)/);
  });
});
