import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, openssl, tmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { fixedClock } from '../../src/clock.js';

interface Series {
  buckets: string[];
  templates: Record<string, number[]>;
}
interface Overview {
  issuedPerDay: Series;
  expiringPerWeek: Series;
  pendingRequests: number;
  crl: { number: number; ageSeconds: number } | null;
  audit: { head: { seq: number } | null };
}

const DAY = 86_400_000;

/**
 * Issue #22, what the console reads beyond the existing API: GET /api/v1/overview (aggregates per
 * day, week and template), the certificate search's status and expiry filters, a request's CSR and
 * what the RA dropped; and console sign-in with an admin client certificate.
 */
describe('console API additions and certificate sign-in', () => {
  const dir = tmp('ops-pki-');
  const f = (n: string): string => join(dir, n);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('root.key'), '-out', f('root.pem'), '-subj', '/O=Example Ops/CN=Ops Root', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  writeFileSync(f('leaf.ext'), 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/O=Example Ops/CN=audit-bot']);
  openssl(['x509', '-req', '-in', f('leaf.csr'), '-CA', f('root.pem'), '-CAkey', f('root.key'), '-CAcreateserial', '-out', f('leaf.pem'), '-days', '10', '-extfile', f('leaf.ext')]);
  const leaf = { cert: readFileSync(f('leaf.pem'), 'utf8'), key: readFileSync(f('leaf.key'), 'utf8') };

  const clock = fixedClock(new Date());
  let s: TestServer;
  let agent: Agent;
  let token: string;
  const serials: string[] = [];
  let pendingId = '';

  beforeAll(async () => {
    s = await startTestServer({ clock, config: { admin: { trustRoots: [f('root.pem')], certificates: [{ fingerprint: new X509Certificate(leaf.cert).fingerprint256, role: 'auditor' }] } } });
    agent = new Agent({ connect: { ca: s.rootPem } });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'Alice-pass-1' }, 'test');
    await runOperation(s.core, 'user.add', { name: 'carol' }, 'test');
    token = ((await runOperation(s.core, 'token.create', { role: 'cert-manager', principal: 'carol' }, 'test')) as { token: string }).token;
    const url = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const enroll = async (template: string, sans: string[]) => {
      const csr = makeCsr({ subject: 'CN=web.example.test', sans, templateName: template });
      return parseRstrResponse((await postSoap(url, buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'alice', password: 'Alice-pass-1' }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent)).env!);
    };
    for (let i = 0; i < 2; i++) {
      const r = await enroll('WebServer', ['DNS:web.example.test']);
      if (r.disposition !== 'issued') throw new Error(`WebServer enrollment answered ${r.disposition}`);
      serials.push(new X509Certificate(Buffer.from(r.certificateDer)).serialNumber.toLowerCase());
    }
    const p = await enroll('WebServerApproval', ['DNS:web.example.test', 'email:dropme@example.test']);
    expect(p.disposition).toBe('pending');
    pendingId = p.requestId!;
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const api = async <T>(path: string) => {
    const r = await request(`${s.url}/api/v1${path}`, { dispatcher: agent, headers: { authorization: `Bearer ${token}` } });
    expect(r.statusCode).toBe(200);
    return (await r.body.json()) as T;
  };

  it('counts issuance per day and expiry per week by template, pending requests, the CRL and the audit head', async () => {
    const o = await api<Overview>('/overview');
    expect(o.issuedPerDay.buckets).toHaveLength(30);
    expect(o.issuedPerDay.buckets.at(-1)).toBe(new Date(Math.floor(clock.now().getTime() / DAY) * DAY).toISOString());
    expect(o.issuedPerDay.templates.WebServer!.at(-1)).toBe(2);
    expect(o.issuedPerDay.templates.WebServer!.slice(0, -1).every((n) => n === 0)).toBe(true);
    expect(o.expiringPerWeek.buckets).toHaveLength(13);
    expect(o.expiringPerWeek.templates.WebServer).toBeUndefined(); // a year away
    expect(o.pendingRequests).toBe(1);
    expect(o.audit.head!.seq).toBeGreaterThan(0);

    // Five and a half weeks before the certificates expire, both fall in week 5 (counted from now).
    const notAfter = Date.parse(((await runOperation(s.core, 'cert.show', { serial: serials[0] }, 'test')) as { notAfter: string }).notAfter);
    clock.set(new Date(notAfter - 5.5 * 7 * DAY));
    const later = await api<Overview>('/overview');
    expect(later.expiringPerWeek.templates.WebServer).toEqual([0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    expect(later.issuedPerDay.templates.WebServer).toBeUndefined(); // issued long before these 30 days
    // A revoked certificate is no longer expected to expire.
    await runOperation(s.core, 'cert.revoke', { serial: serials[1], reason: 'superseded' }, 'test');
    expect((await api<Overview>('/overview')).expiringPerWeek.templates.WebServer![5]).toBe(1);
    clock.set(new Date());
  });

  it('searches certificates by status and expiry', async () => {
    const find = async (q: string) => (await api<{ serial: string }[]>(`/certificates?template=WebServer&${q}`)).map((c) => c.serial).sort();
    const notAfter = ((await runOperation(s.core, 'cert.show', { serial: serials[0] }, 'test')) as { notAfter: string }).notAfter;
    const day = notAfter.slice(0, 10);
    expect(await find('status=valid')).toEqual([serials[0]]);
    expect(await find('status=revoked')).toEqual([serials[1]]);
    expect(await find('status=expired')).toEqual([]);
    expect(await find(`expiresBefore=${day}`)).toEqual([]);
    expect(await find(`expiresAfter=${day}`)).toEqual([...serials].sort());
    expect(await find(`expiresBefore=${notAfter.slice(0, 4)}-12-31T23:59:59Z&expiresAfter=${day}`)).toEqual([...serials].sort());
    clock.set(new Date(Date.parse(notAfter) + DAY));
    expect(await find('status=expired')).toEqual([...serials].sort());
    expect(await find('status=valid')).toEqual([]);
    clock.set(new Date());
    const bad = await request(`${s.url}/api/v1/certificates?expiresBefore=tomorrow`, { dispatcher: agent, headers: { authorization: `Bearer ${token}` } });
    expect(bad.statusCode).toBe(400);
    expect(((await bad.body.json()) as { field: string }).field).toBe('query.expiresBefore');
  });

  it("shows a request's key and the names the RA dropped", async () => {
    const r = await api<{ csr: { subject: string; key: { algorithm: string; bits: number } }; dropped: { sans?: { type: string; value: string }[] } }>(`/requests/${pendingId}`);
    expect(r.csr.subject).toContain('CN=web.example.test');
    expect(r.csr.key).toMatchObject({ algorithm: 'EC', bits: 256 });
    expect(r.dropped.sans).toEqual([{ type: 'email', value: 'dropme@example.test' }]);
  });

  it('signs in to the console with an admin client certificate; the session needs that certificate', async () => {
    const withCert = new Agent({ connect: { ca: s.rootPem, cert: leaf.cert, key: leaf.key } });
    try {
      const r = await request(`${s.url}/console/session/certificate`, { method: 'POST', dispatcher: withCert });
      expect(r.statusCode).toBe(201);
      expect(await r.body.json()).toMatchObject({ principal: 'audit-bot', role: 'auditor', method: 'certificate' });
      const cookie = /^(__Host-opences-console=[^;]+);/.exec(String(r.headers['set-cookie']))![1]!;
      expect((await request(`${s.url}/api/v1/audit?limit=1`, { dispatcher: withCert, headers: { cookie } })).statusCode).toBe(200);
      // The same cookie over a connection without the certificate is refused.
      const bare = await request(`${s.url}/api/v1/audit?limit=1`, { dispatcher: agent, headers: { cookie } });
      expect(bare.statusCode).toBe(401);
      await bare.body.dump();
      // Without a certificate there is nothing to sign in with.
      const none = await request(`${s.url}/console/session/certificate`, { method: 'POST', dispatcher: agent });
      expect(none.statusCode).toBe(401);
      await none.body.dump();
      const start = (await s.core.audit.list({ type: 'web.session.start', limit: 10 })).find((e) => e.actor === 'audit-bot');
      expect(start).toMatchObject({ method: 'certificate', details: { channel: 'console', role: 'auditor' } });
    } finally {
      await withCert.close();
    }
  });
});
