import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeCsr, openssl, opensslAsync, opensslStatus, tmp, writeTmp } from '../helpers/openssl.js';
import { X509Certificate } from 'node:crypto';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { runOperation } from '../../src/ops/operations.js';
import { cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseRstrResponse } from '../../src/protocol/wstep/index.js';

describe('opences serve on a fresh data directory', () => {
  let s: TestServer;
  let agent: Agent;
  beforeAll(async () => {
    s = await startTestServer();
    agent = new Agent({ connect: { ca: s.rootPem } });
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  it('lays out the data directory like step-ca, with private keys 0600 in a 0700 directory', () => {
    for (const f of ['certs/root_ca.crt', 'certs/issuing_ca.crt', 'certs/tls.crt']) expect(existsSync(join(s.dataDir, f))).toBe(true);
    expect(statSync(join(s.dataDir, 'secrets')).mode & 0o777).toBe(0o700);
    expect(statSync(join(s.dataDir, 'secrets', 'tls.key')).mode & 0o777).toBe(0o600);
  });

  it('serves TLS that openssl s_client verifies against the root, and root → issuing → TLS verifies', async () => {
    const r = await opensslAsync(['s_client', '-connect', `127.0.0.1:${s.http.httpsPort}`, '-servername', 'localhost', '-verify_return_error', '-verify_hostname', 'localhost', '-CAfile', join(s.dataDir, 'certs/root_ca.crt')]);
    expect(r.out).toContain('Verify return code: 0 (ok)');
    const d = tmp();
    const tlsPem = readFileSync(join(s.dataDir, 'certs/tls.crt'), 'utf8');
    const leaf = writeTmp(d, 'leaf.pem', tlsPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!);
    const v = opensslStatus(['verify', '-CAfile', join(s.dataDir, 'certs/root_ca.crt'), '-untrusted', join(s.dataDir, 'certs/issuing_ca.crt'), leaf]);
    expect(v.code).toBe(0);
    expect(openssl(['x509', '-in', leaf, '-noout', '-ext', 'subjectAltName'])).toContain('DNS:localhost');
  });

  it('answers /healthz, /readyz (database reachable) and /metrics', async () => {
    const h = await request(`${s.url.replace('localhost', '127.0.0.1')}/healthz`, { dispatcher: new Agent({ connect: { ca: s.rootPem, servername: 'localhost' } }) });
    expect(h.statusCode).toBe(200);
    expect(await h.body.json()).toEqual({ status: 'ok' });
    const r = await request(`${s.url}/readyz`, { dispatcher: agent });
    expect(r.statusCode).toBe(200);
    expect(await r.body.json()).toMatchObject({ status: 'ready' });
    const m = await request(`${s.url}/metrics`, { dispatcher: agent });
    expect(m.statusCode).toBe(200);
    expect(await m.body.text()).toContain('opences_requests_total');
  });

  it('publishes CA certificates and CRLs over plain HTTP under /pki/', async () => {
    const slug = s.core.ca.info().slug;
    const crt = await request(`${s.pkiUrl}/pki/${slug}.crt`);
    expect(crt.statusCode).toBe(200);
    expect(crt.headers['content-type']).toContain('application/pkix-cert');
    const der = Buffer.from(await crt.body.arrayBuffer());
    expect(der.equals(Buffer.from(s.core.ca.info().issuingCertificate))).toBe(true);
    const crl = await request(`${s.pkiUrl}/pki/${slug}.crl`);
    expect(crl.statusCode).toBe(200);
    const d = tmp();
    const f = writeTmp(d, 'ca.crl', Buffer.from(await crl.body.arrayBuffer()));
    const v = opensslStatus(['crl', '-inform', 'DER', '-in', f, '-noout', '-CAfile', join(s.dataDir, 'certs/issuing_ca.crt')]);
    expect(v.out).toContain('verify OK');
    const root = await request(`${s.pkiUrl}/pki/opences_Root_CA.crl`);
    expect(root.statusCode).toBe(200);
    await root.body.arrayBuffer();
    // The delta CRL, also under ADCS's name <ca>+.crl: the same bytes, with a delta CRL indicator.
    const delta = Buffer.from(await (await request(`${s.pkiUrl}/pki/${slug}-delta.crl`)).body.arrayBuffer());
    const adcs = await request(`${s.pkiUrl}/pki/${slug}+.crl`);
    expect(adcs.statusCode).toBe(200);
    expect(Buffer.from(await adcs.body.arrayBuffer()).equals(delta)).toBe(true);
    expect(openssl(['crl', '-inform', 'DER', '-in', writeTmp(d, 'delta.crl', delta), '-noout', '-text'])).toContain('Delta CRL Indicator');
    // Certificates name the delta too (Freshest CRL), beside the base CRL in their CDP.
    const tlsText = openssl(['x509', '-in', join(s.dataDir, 'certs/tls.crt'), '-noout', '-text']);
    expect(tlsText).toMatch(new RegExp(`Freshest CRL:\\s+Full Name:\\s+URI:http://[^\\s]+/pki/${slug}-delta\\.crl`));
    for (const bad of ['/pki/../secrets/tls.key', '/pki/%2e%2e%2fsecrets%2ftls.key', '/pki/nope.crt', '/pki/x.pem', `/pki/${slug}+.crt`, '/pki/+.crl']) {
      const r = await request(`${s.pkiUrl}${bad}`);
      expect(r.statusCode).toBe(404);
      await r.body.text();
    }
  });
});

describe('restart and concurrent start', () => {
  it('keeps the CA identity and issued certificates across a restart on the same data directory', async () => {
    const dataDir = tmp('opences-restart-');
    const a = await startTestServer({ embedded: true, dataDir });
    const root1 = readFileSync(join(dataDir, 'certs/root_ca.crt'), 'utf8');
    // Enrollments on the embedded database, several at once (recorded by grouped statements).
    await runOperation(a.core, 'user.add', { name: 'alice', password: 'S3cret', groups: [] }, 'test');
    const url = `${a.url}${cesPath(a.core.ca.info().name, 'UsernamePassword')}`;
    const ag = new Agent({ connect: { ca: a.rootPem } });
    const serials = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const csr = makeCsr({ subject: `CN=lite${i}.example.test`, sans: [`DNS:lite${i}.example.test`], templateName: 'WebServer' });
        const r = await postSoap(url, buildRstRequest({ to: url, requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer }, securityHeaderXml: usernameHeader({ username: 'alice', password: 'S3cret' }) }), ag);
        const out = parseRstrResponse(r.env!);
        expect(out.disposition, r.body.slice(0, 400)).toBe('issued');
        return new X509Certificate(Buffer.from((out as { certificateDer: Uint8Array }).certificateDer)).serialNumber.toLowerCase();
      }),
    );
    await ag.close();
    const recorded = await a.core.db.query<{ serial: string; status: string }>('SELECT c.serial, q.status FROM certificates c JOIN requests q ON q.id = c.request_id WHERE c.template = $1', ['WebServer']);
    expect(recorded.rows.map((r) => r.serial.replace(/^0+/, '')).sort()).toEqual(serials.map((x) => x.replace(/^0+/, '')).sort());
    expect(recorded.rows.every((r) => r.status === 'issued')).toBe(true);
    const issued1 = (await a.core.db.query('SELECT count(*)::int AS n FROM certificates')).rows[0];
    await a.stop();
    const b = await startTestServer({ embedded: true, dataDir });
    expect(readFileSync(join(dataDir, 'certs/root_ca.crt'), 'utf8')).toBe(root1);
    expect((await b.core.db.query('SELECT count(*)::int AS n FROM certificates')).rows[0]).toEqual(issued1);
    await b.stop();
  }, 120_000);
});
