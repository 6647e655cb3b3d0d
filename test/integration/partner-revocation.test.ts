import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { startTestServer, freePort, type TestServer } from '../helpers/server.js';
import { postSoap } from '../helpers/soap-client.js';
import { makeCsr } from '../helpers/openssl.js';
import { opensslRootCa, osslTime, type OpensslCa } from '../helpers/openssl-ca.js';
import { signedRst } from '../helpers/wssec-sign.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { buildGetPoliciesRequest, parseGetPoliciesResponse } from '../../src/protocol/xcep/index.js';
import { parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { fixedClock } from '../../src/clock.js';

type Leaf = ReturnType<OpensslCa['issue']>;
const der = (pem: string): Uint8Array => new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
const b64 = (b: Uint8Array | string): string => Buffer.from(b).toString('base64');

/** A partner PKI made with `openssl ca`: root → issuing CA → client certificates (RSA, so they can sign WS-Security messages). */
function partnerPki(org: string) {
  const root = opensslRootCa(`${org} Root`);
  const issuing = root.subordinate(`${org} Issuing`);
  const leaf = (user: string, o: Parameters<OpensslCa['issue']>[1] = {}): Leaf => issuing.issue(user, { san: `email:${user}@${org}.test`, ...o });
  return { root, issuing, leaf };
}

describe('partner certificates revoked by the partner’s own CRLs', () => {
  let s: TestServer;
  let plain: Agent;
  const acme = partnerPki('acme');
  const good = acme.leaf('good');
  const revoked = acme.leaf('gone');
  const expired = acme.leaf('old', { startDate: osslTime(new Date(Date.now() - 20 * 86400_000)), endDate: osslTime(new Date(Date.now() - 86400_000)) });
  acme.issuing.revoke(revoked.certFile, 'keyCompromise');
  const acmeCrl = acme.issuing.crl({ hours: 24 });

  beforeAll(async () => {
    s = await startTestServer();
    plain = new Agent({ connect: { ca: s.rootPem } });
    // The CRL file as an operator gets it from the partner (DER here; PEM works too).
    await runOperation(s.core, 'partner.add', { name: 'acme', rootsPem: acme.root.certPem, intermediatesPem: acme.issuing.certPem, mapFrom: 'email', templates: ['WebServer'], crls: [b64(acmeCrl.der)] }, 'test');
  });
  afterAll(async () => {
    await plain?.close();
    await s?.stop();
  });

  const cep = () => `${s.url}${cepPath('Certificate')}`;
  const ces = () => `${s.url}${cesPath('opences Issuing CA', 'Certificate')}`;
  const tlsAs = (l: Leaf, chainPem: string) => new Agent({ connect: { ca: s.rootPem, cert: l.certPem + chainPem, key: l.keyPem } });
  const csrB64 = () => b64(makeCsr({ subject: 'CN=partner.acme.test', sans: ['DNS:partner.acme.test'], templateName: 'WebServer' }).csrDer);
  const policies = (agent: Agent) => postSoap(cep(), buildGetPoliciesRequest({ to: cep() }), agent);
  const signed = (l: Leaf) => postSoap(ces(), signedRst({ to: ces(), certDer: der(l.certPem), keyPem: l.keyPem, tokenB64: csrB64() }), plain);
  const lastFailure = async () => (await s.core.audit.list({ type: 'auth.failure', limit: 1 }))[0];
  const expectRefused = async (r: { status: number; body: string; env: Parameters<typeof parseFault>[0] | null }, reason: RegExp, principal = 'partner:acme') => {
    expect(r.status, r.body).toBe(500);
    expect(parseFault(r.env!)?.reason).toBe('authentication failed');
    const ev = await lastFailure();
    expect(ev?.reason).toMatch(reason);
    if (principal) expect(ev?.principal).toBe(principal);
  };

  it('a good partner certificate still works over TLS and as a WS-Security signer', async () => {
    const pol = await policies(tlsAs(good, acme.issuing.certPem));
    expect(pol.status, pol.body).toBe(200);
    expect(parseGetPoliciesResponse(pol.env!).policies!.map((p) => p.attributes.commonName)).toEqual(['WebServer']);
    const r = await signed(good);
    expect(r.status, r.body).toBe(200);
    const out = parseRstrResponse(r.env!);
    expect(out.disposition).toBe('issued');
    const row = (await s.core.db.query<{ requester: string }>('SELECT requester FROM requests WHERE id = $1', [out.requestId])).rows[0];
    expect(row?.requester).toBe('partner:acme/good@acme.test');
  });

  it('a certificate revoked in the partner’s CRL is refused on the TLS path and the WS-Security path, each audited', async () => {
    await expectRefused(await policies(tlsAs(revoked, acme.issuing.certPem)), new RegExp(`client certificate ${revoked.serial.replace(/^0+/, '')} is revoked by CN=acme Issuing .*\\(keyCompromise\\)`));
    await expectRefused(await signed(revoked), /is revoked by CN=acme Issuing/);
  });

  it('an expired partner certificate (notAfter in the past, from openssl ca) is refused on both paths, each audited', async () => {
    await expectRefused(await policies(tlsAs(expired, acme.issuing.certPem)), /is expired or not yet valid/, '');
    await expectRefused(await signed(expired), /is expired or not yet valid/, '');
  });

  it('a CRL signed by another key is not believed: the partner’s certificates fail closed', async () => {
    // Same issuer name, different key: a forged CRL that does not list anyone.
    const forger = partnerPki('acme');
    const forged = forger.issuing.crl({ hours: 48 });
    const other = partnerPki('forge');
    await runOperation(s.core, 'partner.add', { name: 'forge', rootsPem: other.root.certPem, intermediatesPem: other.issuing.certPem, mapFrom: 'email', templates: ['WebServer'], crls: [b64(forged.der)] }, 'test');
    // forge's issuer is "forge Issuing": the forged CRL is for "acme Issuing" — no CRL for forge's issuer at all.
    await expectRefused(await policies(tlsAs(other.leaf('x'), other.issuing.certPem)), /no valid CRL from CN=forge Issuing/, 'partner:forge');
    // A CRL with the right issuer name but the wrong key: refused at load time when the issuer is a registered CA…
    const twin = partnerPki('twin');
    const twinForged = partnerPki('twin').issuing.crl().pem;
    await expect(runOperation(s.core, 'partner.add', { name: 'twin', rootsPem: twin.root.certPem, intermediatesPem: twin.issuing.certPem, mapFrom: 'email', templates: ['WebServer'], crls: [b64(twinForged)] }, 'test')).rejects.toThrow(
      /the CRL from CN=twin Issuing is not usable: signature does not verify/,
    );
    // …and not believed at use time when the issuing CA is known only from the client's handshake.
    await runOperation(s.core, 'partner.add', { name: 'twin', rootsPem: twin.root.certPem, mapFrom: 'email', templates: ['WebServer'], crls: [b64(twinForged)] }, 'test');
    await expectRefused(await policies(tlsAs(twin.leaf('y'), twin.issuing.certPem)), /no valid CRL from CN=twin Issuing \(a CRL loaded from a file signature does not verify/, 'partner:twin');
  });

  it('a stale CRL (past nextUpdate) fails closed; a newer CRL loaded with partner crl restores access; a grace period is configurable', async () => {
    const beta = partnerPki('beta');
    const b = beta.leaf('svc');
    const stale = beta.issuing.crl({ lastUpdate: osslTime(new Date(Date.now() - 3 * 86400_000)), nextUpdate: osslTime(new Date(Date.now() - 3600_000)) });
    await runOperation(s.core, 'partner.add', { name: 'beta', rootsPem: beta.root.certPem, intermediatesPem: beta.issuing.certPem, mapFrom: 'email', templates: ['WebServer'], crls: [b64(stale.der)] }, 'test');
    await expectRefused(await policies(tlsAs(b, beta.issuing.certPem)), /the CRL from CN=beta Issuing is stale \(nextUpdate/, 'partner:beta');
    await expectRefused(await signed(b), /is stale/, 'partner:beta');

    await runOperation(s.core, 'partner.crl', { name: 'beta', crls: [b64(beta.issuing.crl({ hours: 2 }).pem)] }, 'test');
    expect((await policies(tlsAs(b, beta.issuing.certPem))).status).toBe(200);
    // Going back to the older CRL is refused: it would un-revoke whatever the newer one lists.
    await expect(runOperation(s.core, 'partner.crl', { name: 'beta', crls: [b64(stale.der)] }, 'test')).rejects.toThrow(/already has a newer CRL/);

    const gamma = partnerPki('gamma');
    const g = gamma.leaf('svc');
    const gStale = gamma.issuing.crl({ lastUpdate: osslTime(new Date(Date.now() - 3 * 86400_000)), nextUpdate: osslTime(new Date(Date.now() - 3600_000)) });
    await runOperation(s.core, 'partner.add', { name: 'gamma', rootsPem: gamma.root.certPem, intermediatesPem: gamma.issuing.certPem, mapFrom: 'email', templates: ['WebServer'], crls: [b64(gStale.der)], crlGraceHours: 2 }, 'test');
    expect((await policies(tlsAs(g, gamma.issuing.certPem))).status).toBe(200);
  });

  it('with crlCheck chain, the intermediate must be covered by the root’s CRL too', async () => {
    const delta = partnerPki('delta');
    const d = delta.leaf('svc');
    await runOperation(s.core, 'partner.add', { name: 'delta', rootsPem: delta.root.certPem, intermediatesPem: delta.issuing.certPem, mapFrom: 'email', templates: ['WebServer'], crls: [b64(delta.issuing.crl().der)], crlCheck: 'chain' }, 'test');
    await expectRefused(await policies(tlsAs(d, delta.issuing.certPem)), /intermediate CN=delta Issuing .*: no valid CRL from CN=delta Root/, 'partner:delta');
    await runOperation(s.core, 'partner.crl', { name: 'delta', crls: [b64(delta.root.crl().der)] }, 'test');
    expect((await policies(tlsAs(d, delta.issuing.certPem))).status).toBe(200);
  });
});

describe('partner CRLs fetched from a distribution URL', () => {
  // The server's clock is pinned and moved past a CRL's nextUpdate by the test: no sleeping, and a
  // slow machine cannot let a short-lived CRL go stale before the test means it to.
  const clock = fixedClock(new Date());
  let s: TestServer;
  let http: Server;
  let plain: Agent;
  let served: Buffer = Buffer.alloc(0);
  let hits = 0;
  const web = partnerPki('web');
  const alice = web.leaf('alice');
  const bob = web.leaf('bob');

  beforeAll(async () => {
    http = createServer((req, res) => {
      hits++;
      res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(served);
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    s = await startTestServer({ clock });
    plain = new Agent({ connect: { ca: s.rootPem } });
  });
  afterAll(async () => {
    await plain?.close();
    await s?.stop();
    await new Promise((r) => http?.close(r));
  });

  const cep = () => `${s.url}${cepPath('Certificate')}`;
  const tlsAs = (l: Leaf) => new Agent({ connect: { ca: s.rootPem, cert: l.certPem + web.issuing.certPem, key: l.keyPem } });
  const policies = (l: Leaf) => postSoap(cep(), buildGetPoliciesRequest({ to: cep() }), tlsAs(l));

  it('fetches the CRL once, uses it until its nextUpdate, then fetches the next one and sees the revocation', async () => {
    clock.set(new Date());
    served = web.issuing.crl({ seconds: 30 }).der;
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/web-issuing.crl`;
    await runOperation(s.core, 'partner.add', { name: 'web', rootsPem: web.root.certPem, intermediatesPem: web.issuing.certPem, mapFrom: 'email', templates: ['WebServer'], crlUrls: [url] }, 'test');
    expect((await policies(alice)).status).toBe(200);
    expect((await policies(bob)).status).toBe(200);
    expect(hits).toBe(1);
    const listed = (await runOperation(s.core, 'partner.list', {}, 'test')) as { name: string; crls: { source: string; url?: string }[] }[];
    expect(listed.find((p) => p.name === 'web')?.crls).toEqual([expect.objectContaining({ source: 'url', url })]);

    web.issuing.revoke(bob.certFile, 'affiliationChanged');
    served = web.issuing.crl({ hours: 1 }).der;
    clock.advance(60_000); // past the first CRL's nextUpdate
    const r = await policies(bob);
    expect(parseFault(r.env!)?.reason).toBe('authentication failed');
    expect((await s.core.audit.list({ type: 'auth.failure', limit: 1 }))[0]?.reason).toMatch(/is revoked by CN=web Issuing .*\(affiliationChanged\)/);
    expect(hits).toBe(2);
    expect((await policies(alice)).status).toBe(200);
    expect(hits).toBe(2);
  });

  it('an unreachable distribution point with nothing cached fails closed, and the fetch failure is audited', async () => {
    const down = partnerPki('down');
    const url = `http://127.0.0.1:${await freePort()}/nothing.crl`;
    await runOperation(s.core, 'partner.add', { name: 'down', rootsPem: down.root.certPem, intermediatesPem: down.issuing.certPem, mapFrom: 'email', templates: ['WebServer'], crlUrls: [url] }, 'test');
    const l = down.leaf('svc');
    const r = await postSoap(cep(), buildGetPoliciesRequest({ to: cep() }), new Agent({ connect: { ca: s.rootPem, cert: l.certPem + down.issuing.certPem, key: l.keyPem } }));
    expect(parseFault(r.env!)?.reason).toBe('authentication failed');
    expect((await s.core.audit.list({ type: 'auth.failure', limit: 1 }))[0]?.reason).toMatch(/partner down: client certificate \w+: no valid CRL from CN=down Issuing/);
    const fetchFailure = (await s.core.audit.list({ type: 'partner.crl.fetch', limit: 1 }))[0];
    expect(fetchFailure).toMatchObject({ outcome: 'failure', details: { partner: 'down', url } });
  });
});
