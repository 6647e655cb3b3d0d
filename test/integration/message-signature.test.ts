import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr } from '../helpers/openssl.js';
import { signedRst } from '../helpers/wssec-sign.js';
import { runOperation } from '../../src/ops/operations.js';
import { cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';

describe('WS-Security X.509 message signatures on the _Certificate CES endpoint', () => {
  let s: TestServer;
  let agent: Agent;
  let alice: { certDer: Uint8Array; keyPem: string };
  let mallory: { certDer: Uint8Array; keyPem: string };
  const url = () => `${s.url}${cesPath('opences Issuing CA', 'Certificate')}`;
  const token = () => Buffer.from(makeCsr({ subject: 'CN=signed.example.test', sans: ['DNS:signed.example.test'], templateName: 'WebServer' }).csrDer).toString('base64');

  async function userCert(name: string, password: string): Promise<{ certDer: Uint8Array; keyPem: string }> {
    const csr = makeCsr({ key: 'rsa:2048', subject: `CN=${name}`, templateName: 'User' });
    const u = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const r = await postSoap(u, buildRstRequest({ to: u, securityHeaderXml: usernameHeader({ username: name, password }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
    const out = parseRstrResponse(r.env!);
    if (out.disposition !== 'issued') throw new Error(r.body);
    return { certDer: out.certificateDer, keyPem: csr.keyPem };
  }

  beforeAll(async () => {
    s = await startTestServer();
    agent = new Agent({ connect: { ca: s.rootPem } });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret' }, 'test');
    await runOperation(s.core, 'user.add', { name: 'mallory', password: 'M4llory' }, 'test');
    alice = await userCert('alice', 'S3cret');
    mallory = await userCert('mallory', 'M4llory');
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const send = (xml: string) => postSoap(url(), xml, agent);
  const refusedWith = async (xml: string, reason: RegExp): Promise<void> => {
    const r = await send(xml);
    expect(r.status, r.body).toBe(500);
    expect(parseFault(r.env!)?.reason).toBe('authentication failed');
    const ev = (await s.core.audit.list({ type: 'auth.failure', limit: 1 }))[0];
    expect(ev?.reason).toMatch(reason);
  };

  it('issues for a correctly signed request, as the signer', async () => {
    const r = await send(signedRst({ to: url(), ...alice, tokenB64: token() }));
    expect(r.status, r.body).toBe(200);
    const out = parseRstrResponse(r.env!);
    const row = (await s.core.db.query<{ requester: string }>('SELECT requester FROM requests WHERE id = $1', [out.requestId])).rows[0];
    expect(row?.requester).toBe('alice');
  });

  it('refuses a moved Body (signed Body wrapped in a header, unsigned Body in its place)', async () => {
    const signed = signedRst({ to: url(), ...alice, tokenB64: token() });
    const body = /<s:Body wsu:Id="Body">[\s\S]*<\/s:Body>/.exec(signed)![0];
    const evil = body.replace('wsu:Id="Body"', 'wsu:Id="Evil"').replace('signed.example.test', 'evil.example.test');
    const wrapped = signed.replace(body, evil).replace('</s:Header>', `<Wrapper xmlns="urn:x">${body.replace('<s:Body', '<s:Body').replace('</s:Body>', '</s:Body>')}</Wrapper></s:Header>`);
    await refusedWith(wrapped, /the Body is not signed/);
  });

  it('refuses a duplicated Id', async () => {
    const signed = signedRst({ to: url(), ...alice, tokenB64: token() });
    await refusedWith(signed.replace('</s:Header>', '<x:Dummy xmlns:x="urn:x" wsu:Id="Body">copy</x:Dummy></s:Header>'), /the Id "Body" occurs 2 times/);
  });

  it('refuses a signature over a different element (Timestamp only)', async () => {
    await refusedWith(signedRst({ to: url(), ...alice, tokenB64: token(), signBody: false }), /the Body is not signed/);
  });

  it('refuses an unsigned Timestamp', async () => {
    await refusedWith(signedRst({ to: url(), ...alice, tokenB64: token(), signTimestamp: false }), /the Timestamp is not signed/);
  });

  it('refuses a KeyInfo swap: someone else’s certificate in the token, or a second token', async () => {
    const signed = signedRst({ to: url(), ...alice, tokenB64: token() });
    const swapped = signed.replace(Buffer.from(alice.certDer).toString('base64'), Buffer.from(mallory.certDer).toString('base64'));
    await refusedWith(swapped, /the signature value does not verify/);
    const second = signed.replace('</wsse:Security>', `<wsse:BinarySecurityToken wsu:Id="Other" ValueType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3">${Buffer.from(mallory.certDer).toString('base64')}</wsse:BinarySecurityToken></wsse:Security>`);
    await refusedWith(second, /exactly one BinarySecurityToken/);
  });

  it('is not fooled by comment injection: the service reads exactly the signed text', async () => {
    const signed = signedRst({ to: url(), ...alice, tokenB64: token() });
    // Comments are outside exclusive c14n: the signature still verifies, and the text we read is unchanged.
    const injected = signed.replace('200512/Issue</wst:RequestType>', '200512/Iss<!-- x -->ue</wst:RequestType>');
    const r = await send(injected);
    expect(r.status, r.body).toBe(200);
  });

  it('refuses a tampered Body and an expired Timestamp', async () => {
    const original = token();
    const signed = signedRst({ to: url(), ...alice, tokenB64: original });
    await refusedWith(signed.replace(original, token()), /the digest of #Body does not match/);
    await refusedWith(signedRst({ to: url(), ...alice, tokenB64: token(), created: new Date(Date.now() - 60 * 60_000) }), /Timestamp Created is too old/);
    await refusedWith(signedRst({ to: url(), ...alice, tokenB64: token(), created: new Date(Date.now() - 60_000), expires: new Date(Date.now() - 6 * 60_000) }), /the Timestamp has expired/);
  });

  it('refuses a Created a year old even when the signed Expires is ten years ahead, and a Timestamp dated in the future', async () => {
    const year = 365 * 24 * 3600_000;
    await refusedWith(signedRst({ to: url(), ...alice, tokenB64: token(), created: new Date(Date.now() - year), expires: new Date(Date.now() + 10 * year) }), /Timestamp Created is too old/);
    await refusedWith(signedRst({ to: url(), ...alice, tokenB64: token(), created: new Date(Date.now() + 11 * 60_000) }), /Timestamp Created is in the future/);
  });

  it('refuses SHA-1 signatures and digests (auth.messageSignature.allowSha1 is off by default)', async () => {
    await refusedWith(signedRst({ to: url(), ...alice, tokenB64: token(), sha1: true }), /rsa-sha1 uses SHA-1/);
  });

  it('accepts a signed message once: the same bytes again, or with a new unsigned MessageID, are refused', async () => {
    const signed = signedRst({ to: url(), ...alice, tokenB64: token() });
    expect((await send(signed)).status).toBe(200);
    const issuedBefore = (await s.core.db.query('SELECT 1 FROM certificates')).rowCount;
    await refusedWith(signed, /message replayed \(its MessageID was used before\)/);
    const newId = signed.replace(/<a:MessageID>[^<]*<\/a:MessageID>/, `<a:MessageID>urn:uuid:${crypto.randomUUID()}</a:MessageID>`);
    expect(newId).not.toBe(signed);
    await refusedWith(newId, /message replayed \(its signature was used before\)/);
    const noId = signed.replace(/<a:MessageID>[^<]*<\/a:MessageID>/, '');
    await refusedWith(noId, /message replayed \(its signature was used before\)/);
    expect((await s.core.db.query('SELECT 1 FROM certificates')).rowCount).toBe(issuedBefore);
  });
});
