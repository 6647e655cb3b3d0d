import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { Agent } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, pemOf } from '../helpers/openssl.js';
import { signedRst } from '../helpers/wssec-sign.js';
import { fixedClock } from '../../src/clock.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { buildGetPoliciesRequest } from '../../src/protocol/xcep/index.js';
import { buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';

/**
 * A certificate this CA issued, used after its notAfter: the server's clock is injected and moved
 * past the certificate's validity (the client's TLS stack still checks the server against real time).
 */
describe('an expired client certificate from our own CA', () => {
  const clock = fixedClock(new Date());
  let s: TestServer;
  let plain: Agent;
  let alice: { certDer: Uint8Array; keyPem: string; notAfter: Date };
  const cep = () => `${s.url}${cepPath('Certificate')}`;
  const ces = () => `${s.url}${cesPath('opences Issuing CA', 'Certificate')}`;

  beforeAll(async () => {
    s = await startTestServer({ clock });
    plain = new Agent({ connect: { ca: s.rootPem } });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret' }, 'test');
    const csr = makeCsr({ key: 'rsa:2048', subject: 'CN=alice', templateName: 'User' });
    const u = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const r = await postSoap(u, buildRstRequest({ to: u, securityHeaderXml: usernameHeader({ username: 'alice', password: 'S3cret', created: clock.now() }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), plain);
    const out = parseRstrResponse(r.env!);
    if (out.disposition !== 'issued') throw new Error(r.body);
    alice = { certDer: out.certificateDer, keyPem: csr.keyPem, notAfter: new Date(new X509Certificate(Buffer.from(out.certificateDer)).validTo) };
  });
  afterAll(async () => {
    await plain?.close();
    await s?.stop();
  });

  const viaTls = () => postSoap(cep(), buildGetPoliciesRequest({ to: cep() }), new Agent({ connect: { ca: s.rootPem, cert: pemOf(alice.certDer), key: alice.keyPem } }));
  const viaSignature = () => postSoap(ces(), signedRst({ to: ces(), certDer: alice.certDer, keyPem: alice.keyPem, created: clock.now(), tokenB64: Buffer.from(makeCsr({ subject: 'CN=x.example.test', sans: ['DNS:x.example.test'], templateName: 'WebServer' }).csrDer).toString('base64') }), plain);

  it('works while valid, on both paths', async () => {
    expect((await viaTls()).status).toBe(200);
    const r = await viaSignature();
    expect(r.status, r.body).toBe(200);
  });

  it('is refused after notAfter on the TLS path and the WS-Security path, with a fault and an audit event each', async () => {
    clock.set(new Date(alice.notAfter.getTime() + 60_000));
    for (const send of [viaTls, viaSignature]) {
      const before = (await s.core.audit.list({ type: 'auth.failure' })).length;
      const r = await send();
      expect(r.status, r.body).toBe(500);
      expect(parseFault(r.env!)?.reason).toBe('authentication failed');
      const events = await s.core.audit.list({ type: 'auth.failure' });
      expect(events.length).toBe(before + 1);
      expect(events[0]).toMatchObject({ outcome: 'failure', method: 'certificate' });
      expect(events[0]?.reason).toMatch(/client certificate [0-9A-F]+ is expired or not yet valid/i);
    }
  });
});
