import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openssl, tmp } from '../../helpers/openssl.js';
import { RemoteCa } from '../../../src/ca/backends/remote.js';
import type { IssuanceOrder } from '../../../src/ca/types.js';

/** A self-signed certificate for localhost: the stub CA node's TLS identity, and the client's. */
function selfSigned(): { ca: string; cert: string; key: string } {
  const d = tmp();
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(d, 'k.pem'), '-out', join(d, 'c.pem'), '-subj', '/CN=localhost', '-days', '1', '-addext', 'subjectAltName=DNS:localhost']);
  return { ca: readFileSync(join(d, 'c.pem'), 'utf8'), cert: readFileSync(join(d, 'c.pem'), 'utf8'), key: readFileSync(join(d, 'k.pem'), 'utf8') };
}

/** An HTTPS server on loopback that hands each request to `answer` with its whole body. */
async function startStub(pems: { cert: string; key: string }, answer: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer({ cert: pems.cert, key: pems.key }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => answer(req, body, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `https://localhost:${(server.address() as AddressInfo).port}` };
}

/** An order for the stub (which signs nothing). */
function order(id: string): IssuanceOrder {
  const now = new Date();
  return { orderId: id, template: 'WebServer', csrDer: new Uint8Array([0x30, 0]), subject: [{ type: 'CN', value: id }], sans: [], keyUsage: [], keyUsageCritical: false, ekus: [], issuancePolicies: [], notBefore: now, notAfter: new Date(now.getTime() + 1000), requester: 'x' };
}

/**
 * A CA node of the version before order batches: POST /ca/v1/orders only, 404 problem for
 * anything else (what src/http/ca-api.ts answered then). RemoteCa must notice once and go on one
 * order per call, so ces nodes can be upgraded before the ca node.
 */
describe('RemoteCa against a CA node without order batches', () => {
  let server: Server;
  let url = '';
  const paths: string[] = [];
  const bodies: string[] = [];
  let pems: { ca: string; cert: string; key: string };

  beforeAll(async () => {
    pems = selfSigned();
    ({ server, url } = await startStub(pems, (req, body, res) => {
      paths.push(req.url ?? '');
      bodies.push(body);
      if (req.method === 'POST' && req.url === '/ca/v1/orders') {
        const o = JSON.parse(body) as { orderId: string; notBefore: string; notAfter: string };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ serial: `0${o.orderId}`, certificate: Buffer.from(`cert ${o.orderId}`).toString('base64'), chain: [], notBefore: o.notBefore, notAfter: o.notAfter, replayed: false }));
        return;
      }
      res.writeHead(404, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ title: 'notFound', status: 404, detail: 'no such CA API resource', kind: 'notFound' }));
    }));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('tries one batch, then sends each order alone and answers every one', async () => {
    const rc = new RemoteCa({ url, certPem: pems.cert, keyPem: pems.key, caBundlePem: pems.ca, info: { name: '', slug: '', issuingCertificate: new Uint8Array(), rootCertificate: new Uint8Array(), chain: [] }, retries: 0 });
    const first = await Promise.all(['1', '2', '3'].map((id) => rc.issue(order(id))));
    expect(first.map((c) => c.serial)).toEqual(['01', '02', '03']);
    expect(Buffer.from(first[1]!.der).toString()).toBe('cert 2');
    expect(paths.filter((p) => p === '/ca/v1/orders/batch')).toHaveLength(1);
    expect(paths.filter((p) => p === '/ca/v1/orders')).toHaveLength(3);
    // Remembered: the next burst goes one by one straight away.
    await Promise.all(['4', '5'].map((id) => rc.issue(order(id))));
    expect(paths.filter((p) => p === '/ca/v1/orders/batch')).toHaveLength(1);
    expect(paths.filter((p) => p === '/ca/v1/orders')).toHaveLength(5);
    await rc.close();
  });

  it('asks once what the CA node understands, and sends it no issuance audit event it would refuse', async () => {
    const rc = new RemoteCa({ url, certPem: pems.cert, keyPem: pems.key, caBundlePem: pems.ca, info: { name: '', slug: '', issuingCertificate: new Uint8Array(), rootCertificate: new Uint8Array(), chain: [] }, retries: 0 });
    const audit = { at: new Date(), event: JSON.stringify({ type: 'certificate.issue', outcome: 'success', method: 'username', requestId: '6' }) };
    const asked = paths.filter((p) => p === '/ca/v1/features').length;
    const out = await Promise.all(['6', '7'].map((id) => rc.issue(order(id), { audit })));
    expect(out.map((c) => c.audited)).toEqual([false, false]);
    expect(paths.filter((p) => p === '/ca/v1/features')).toHaveLength(asked + 1);
    expect(bodies.filter((b) => b.includes('issuanceAudit'))).toEqual([]);
    await rc.issue(order('8'), { audit });
    expect(paths.filter((p) => p === '/ca/v1/features')).toHaveLength(asked + 1);
    await rc.close();
  });
});

/**
 * A CA node of this version, as RemoteCa sees it over the wire: batches, features, and answers it
 * holds back until the test lets them go. Shows what travels: whether the chain comes once per
 * batch, and how many batches are at the CA at once.
 */
describe('RemoteCa against a CA node with order batches', () => {
  let server: Server;
  let url = '';
  let pems: { ca: string; cert: string; key: string };
  let features: string[] = [];
  const batches: { orders: { orderId: string; notBefore: string; notAfter: string; fullResponse?: true }[]; chainOnce?: boolean }[] = [];
  const responsesAsked: string[] = [];
  let held: (() => void)[] = [];
  let holding = false;
  const chain = [Buffer.from('issuing CA certificate'), Buffer.from('root CA certificate')];
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

  beforeAll(async () => {
    pems = selfSigned();
    ({ server, url } = await startStub(pems, (req, body, res) => {
      const json = (status: number, v: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(v));
      };
      if (req.url === '/ca/v1/features') return json(200, { features });
      if (req.url === '/ca/v1/responses') {
        const { requestId } = JSON.parse(body) as { requestId: string };
        responsesAsked.push(requestId);
        return json(200, { response: b64(Buffer.from(`signed response for ${requestId}`)) });
      }
      if (req.url !== '/ca/v1/orders/batch') return json(404, { title: 'notFound', status: 404, detail: 'no such CA API resource', kind: 'notFound' });
      const batch = JSON.parse(body) as (typeof batches)[number];
      batches.push(batch);
      const answer = () =>
        json(200, {
          results: batch.orders.map((o) => ({ issued: { serial: `0${o.orderId}`, certificate: b64(Buffer.from(`cert ${o.orderId}`)), ...(batch.chainOnce ? {} : { chain: chain.map(b64) }), notBefore: o.notBefore, notAfter: o.notAfter, replayed: false, ...(o.fullResponse ? { fullResponse: b64(Buffer.from(`full response ${o.orderId}`)) } : {}) } })),
          ...(batch.chainOnce ? { chain: chain.map(b64) } : {}),
        });
      if (holding) held.push(answer);
      else answer();
    }));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const client = () => new RemoteCa({ url, certPem: pems.cert, keyPem: pems.key, caBundlePem: pems.ca, info: { name: 'CA', slug: 'ca', issuingCertificate: chain[0]!, rootCertificate: chain[1]!, chain }, retries: 0 });
  const until = async (ok: () => boolean) => {
    for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(ok()).toBe(true);
  };

  it('asks for the chain once per batch when the CA node offers it, and each certificate gets the chain', async () => {
    features = ['issuanceAudit', 'chainOnce'];
    batches.length = 0;
    const rc = client();
    const out = await Promise.all(['1', '2', '3'].map((id) => rc.issue(order(id))));
    expect(batches.map((b) => b.chainOnce)).toEqual([true]);
    for (const c of out) expect(c.chain.map(b64)).toEqual(chain.map(b64));
    // The chain this node knows already is not decoded again: the same bytes it holds.
    expect(out[0]!.chain[0]).toBe(chain[0]);
    await rc.close();
  });

  it('does not ask a CA node that does not offer it, and takes the chain from each certificate', async () => {
    features = ['issuanceAudit'];
    batches.length = 0;
    const rc = client();
    const out = await Promise.all(['4', '5'].map((id) => rc.issue(order(id))));
    expect(batches.map((b) => b.chainOnce)).toEqual([undefined]);
    for (const c of out) expect(c.chain.map(b64)).toEqual(chain.map(b64));
    await rc.close();
  });

  it('has at most two batches at the CA node; orders arriving meanwhile wait and leave together', async () => {
    features = ['issuanceAudit', 'chainOnce'];
    const rc = client();
    await rc.issue(order('6')); // features asked, connection open
    batches.length = 0;
    holding = true;
    const first = rc.issue(order('7'));
    await until(() => batches.length === 1);
    const second = rc.issue(order('8'));
    await until(() => batches.length === 2);
    const rest = ['9', '10', '11', '12'].map((id) => rc.issue(order(id)));
    await new Promise((r) => setTimeout(r, 200));
    expect(batches).toHaveLength(2);
    holding = false;
    held.shift()!();
    await first;
    await until(() => batches.length === 3);
    expect(batches[2]!.orders.map((o) => o.orderId)).toEqual(['9', '10', '11', '12']);
    for (const h of held.splice(0)) h();
    expect((await Promise.all([second, ...rest])).map((c) => c.serial)).toEqual(['08', '09', '010', '011', '012']);
    held = [];
    await rc.close();
  });
  it('a CA node that signs CMC responses signs the full response in the issuance round trip, and answers for recorded requests', async () => {
    features = ['issuanceAudit', 'chainOnce', 'fullResponse', 'pkiResponses'];
    batches.length = 0;
    const rc = client();
    const [withFull, without] = await Promise.all([rc.issue(order('31'), { fullResponse: true }), rc.issue(order('32'))]);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.orders.map((o) => o.fullResponse)).toEqual([true, undefined]);
    expect(Buffer.from(withFull.fullResponse!).toString()).toBe('full response 31');
    expect(without.fullResponse).toBeUndefined();
    expect(Buffer.from((await rc.pkiResponse('33'))!).toString()).toBe('signed response for 33');
    expect(responsesAsked).toEqual(['33']);
    await rc.close();
  });

  it('a CA node of an older version is asked for no full response and no response signature (the front end answers unsigned)', async () => {
    features = ['issuanceAudit', 'chainOnce'];
    batches.length = 0;
    responsesAsked.length = 0;
    const rc = client();
    const c = await rc.issue(order('41'), { fullResponse: true });
    expect(batches[0]!.orders[0]!.fullResponse).toBeUndefined();
    expect(c.fullResponse).toBeUndefined();
    expect(await rc.pkiResponse('41')).toBeNull();
    expect(responsesAsked).toEqual([]);
    await rc.close();
  });
});
