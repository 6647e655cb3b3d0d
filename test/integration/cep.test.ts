import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, refreshCapture, usernameHeader } from '../helpers/soap-client.js';
import { extractElement, validateXml } from '../helpers/xsd.js';
import { runOperation } from '../../src/ops/operations.js';
import { buildGetPoliciesRequest, parseGetPoliciesResponse } from '../../src/protocol/xcep/index.js';
import { cepPath } from '../../src/http/endpoints.js';
import { templatesFromYaml, templatesToYaml } from '../../src/policy/template-yaml.js';
import { listTemplates } from '../../src/store/template-repo.js';
import { parseFault } from '../../src/protocol/wstep/index.js';

const CAPTURE = readFileSync(join(__dirname, '../fixtures/soap/cepces-getpolicies-request.xml'), 'utf8');
const XSD = join(__dirname, '../../wsdl/xcep.xsd');

describe('CEP GetPolicies over HTTPS with UsernameToken', () => {
  let s: TestServer;
  let agent: Agent;
  let url: string;
  beforeAll(async () => {
    // Hostile bodies are answered at once here (200 of them in a row below); the tarpit's delay
    // has its own tests (tarpit.test.ts, hostile-soap.test.ts).
    s = await startTestServer({ config: { tarpit: { delayMs: 0 } } });
    agent = new Agent({ connect: { ca: s.rootPem } });
    url = `${s.url}${cepPath('UsernamePassword')}`;
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret', groups: ['staff'] }, 'test');
    await runOperation(s.core, 'user.add', { name: 'bob', password: 'B0b-pass', groups: [] }, 'test');
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const getPolicies = (user: string, password: string, lastUpdate?: Date) =>
    postSoap(url, buildGetPoliciesRequest({ to: url, securityHeaderXml: usernameHeader({ username: user, password }), lastUpdate }), agent);

  it('answers the exact request cepces sent, and the response validates against the MS-XCEP schema', async () => {
    const r = await postSoap(url, refreshCapture(CAPTURE, { to: url, password: 'S3cret' }), agent);
    expect(r.status, r.body).toBe(200);
    expect(r.body).toContain('<a:RelatesTo>urn:uuid:');
    expect(r.body).toContain('http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPoliciesResponse');
    const v = await validateXml(extractElement(r.body, 'GetPoliciesResponse'), XSD);
    expect(v.errors).toEqual([]);
    expect(v.valid).toBe(true);
    // the check has teeth: elements out of schema order are refused
    const swapped = extractElement(r.body, 'GetPoliciesResponse').replace(/<policySchema>(\d)<\/policySchema>/, '').replace('<certificateValidity>', '<policySchema>2</policySchema><certificateValidity>');
    expect((await validateXml(swapped.replace(/(<commonName>[^<]*<\/commonName>)(<policySchema>)/, '$2'), XSD)).valid).toBe(false);
    const resp = parseGetPoliciesResponse(r.env!);
    expect(resp.policies!.map((p) => p.attributes.commonName).sort()).toEqual(['Machine', 'User', 'WebServer', 'WebServerApproval']);
    expect(resp.policyID).toMatch(/^\{[0-9A-F-]{36}\}$/);
    // every reference resolves inside the message
    const oidIds = new Set(resp.oIDs!.map((o) => o.oIDReferenceID));
    const caIds = new Set(resp.cAs!.map((c) => c.cAReferenceID));
    for (const p of resp.policies!) {
      expect(oidIds.has(p.policyOIDReference)).toBe(true);
      for (const c of p.cAs ?? []) expect(caIds.has(c)).toBe(true);
    }
    const ca = resp.cAs![0]!;
    expect(Buffer.from(ca.certificate).equals(Buffer.from(s.core.ca.info().issuingCertificate))).toBe(true);
    expect(ca.uris).toEqual([
      { clientAuthentication: 4, uri: `${s.url}/opences_Issuing_CA_CES_UsernamePassword/service.svc/CES`, priority: 1, renewalOnly: false },
      { clientAuthentication: 8, uri: `${s.url}/opences_Issuing_CA_CES_Certificate/service.svc/CES`, priority: 1, renewalOnly: false },
    ]);
    const web = resp.policies!.find((p) => p.attributes.commonName === 'WebServer')!;
    expect(web.attributes.subjectNameFlags! & 0x1).toBe(1); // enrollee supplies subject
    const approval = resp.policies!.find((p) => p.attributes.commonName === 'WebServerApproval')!;
    expect(approval.attributes.enrollmentFlags! & 0x2).toBe(2); // pend all requests
  });

  it('answers alike on the exact path (served without express) and on other spellings of it (through express)', async () => {
    const strip = (b: string): string => b.replace(/<a:RelatesTo>[^<]*<\/a:RelatesTo>/, '').replace(/<ActivityId [^>]*>[^<]*<\/ActivityId>/, '');
    const at = async (u: string) => {
      const r = await postSoap(u, buildGetPoliciesRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'alice', password: 'S3cret' }) }), agent);
      expect(r.status, `${u}: ${r.body.slice(0, 300)}`).toBe(200);
      return r;
    };
    const direct = await at(url);
    expect(direct.headers['content-type']).toBe('application/soap+xml; charset=utf-8');
    expect(Number(direct.headers['content-length'])).toBe(Buffer.byteLength(direct.body));
    for (const u of [`${url}/`, `${url}?x=1`, `${s.url}${cepPath('UsernamePassword').toLowerCase()}`]) expect(strip((await at(u)).body)).toBe(strip(direct.body));
    // A bad request on the direct path gets the same fault as anywhere else.
    const bad = await postSoap(url, '<not-soap/>', agent);
    expect(bad.status).toBe(500); // as WCF answers every fault
    expect(bad.headers['content-type']).toBe('application/soap+xml; charset=utf-8');
    expect(bad.body).toContain('not a SOAP envelope');
  });

  it('lists exactly the templates the caller may enroll for, and a permission change shows on the next call', async () => {
    const before = parseGetPoliciesResponse((await getPolicies('bob', 'B0b-pass')).env!);
    expect(before.policies!.map((p) => p.attributes.commonName)).toContain('WebServer');
    // Narrow WebServer to the group staff: alice keeps it, bob loses it.
    const all = await listTemplates(s.core.db);
    const web = all.find((t) => t.name === 'WebServer')!;
    web.permissions = [{ principal: 'group:staff', read: true, enroll: true, autoenroll: false }];
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([web]) }, 'test');
    const bob = parseGetPoliciesResponse((await getPolicies('bob', 'B0b-pass')).env!);
    expect(bob.policies!.map((p) => p.attributes.commonName).sort()).toEqual(['Machine', 'User', 'WebServerApproval']);
    const alice = parseGetPoliciesResponse((await getPolicies('alice', 'S3cret')).env!);
    expect(alice.policies!.map((p) => p.attributes.commonName).sort()).toEqual(['Machine', 'User', 'WebServer', 'WebServerApproval']);
    // a disabled template disappears for everyone
    await runOperation(s.core, 'template.disable', { name: 'Machine' }, 'test');
    const after = parseGetPoliciesResponse((await getPolicies('alice', 'S3cret')).env!);
    expect(after.policies!.map((p) => p.attributes.commonName)).not.toContain('Machine');
    await runOperation(s.core, 'template.enable', { name: 'Machine' }, 'test');
    expect(templatesFromYaml(templatesToYaml([web]))[0]).toEqual(web);
  });

  it('says policiesNotChanged when the client is up to date', async () => {
    const r = parseGetPoliciesResponse((await getPolicies('alice', 'S3cret', new Date(Date.now() + 60_000))).env!);
    expect(r.policiesNotChanged).toBe(true);
    expect(r.policies).toBeUndefined();
    const old = parseGetPoliciesResponse((await getPolicies('alice', 'S3cret', new Date('2020-01-01T00:00:00Z'))).env!);
    expect(old.policiesNotChanged).toBeUndefined(); // nil, as ADCS answers (MS-XCEP 4.1.1.2)
    expect(old.policies!.length).toBeGreaterThan(0);
  });

  it('serves the WSDL at ?wsdl and ?singleWsdl with this endpoint as the address', async () => {
    for (const q of ['wsdl', 'singleWsdl']) {
      const r = await request(`${url}?${q}`, { dispatcher: agent });
      expect(r.statusCode).toBe(200);
      const text = await r.body.text();
      expect(text).toContain('wsdl:definitions');
      expect(text).toContain(`location="${url}"`);
    }
  });

  describe('bad input gets a clear SOAP fault, fast, and the process stays flat', () => {
    const cases: [string, () => string | Buffer, RegExp][] = [
      ['XXE (external entity)', () => `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&e;</s:Body></s:Envelope>`, /document type declarations are not allowed/],
      ['billion laughs', () => `<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&c;</s:Body></s:Envelope>`, /document type declarations are not allowed/],
      ['a body that is not XML', () => 'this is not xml at all {', /not well-formed XML|not a SOAP envelope/],
      ['a SOAP 1.1 envelope', () => CAPTURE.replace(/http:\/\/www\.w3\.org\/2003\/05\/soap-envelope/g, 'http://schemas.xmlsoap.org/soap/envelope/'), /SOAP 1\.1 is not supported/],
      ['the wrong namespace', () => CAPTURE.replace(/http:\/\/www\.w3\.org\/2003\/05\/soap-envelope/g, 'urn:not-soap'), /wrong namespace/],
      ['a wrong Action', () => refreshCapture(CAPTURE, { to: 'x', password: 'S3cret' }).replace('IPolicy/GetPolicies<', 'IPolicy/Nope<'), /action .* is not supported/],
      ['a wrong password', () => refreshCapture(CAPTURE, { to: 'x', password: 'wrong' }), /^authentication failed$/],
      ['an unknown user', () => refreshCapture(CAPTURE, { to: 'x', username: 'mallory@example.test', password: 'S3cret' }), /^authentication failed$/],
      ['no Security header', () => CAPTURE.replace(/<ns2:Security[\s\S]*<\/ns2:Security>/, ''), /^authentication failed$/],
      ['a body of 10 MiB', () => Buffer.alloc(10 * 1024 * 1024, 'a'), /exceeds the limit/],
      ['GetPolicies without a client', () => refreshCapture(CAPTURE, { to: 'x', password: 'S3cret' }).replace(/<ns4:client>[\s\S]*<\/ns4:client>/, ''), /no client element/],
    ];
    for (const [name, body, reason] of cases) {
      it(`refuses ${name}`, async () => {
        const r = await postSoap(url, body(), agent);
        expect(r.status).toBe(500);
        const f = parseFault(r.env!);
        expect(f, r.body).not.toBeNull();
        expect(f!.reason).toMatch(reason);
        expect(r.body).not.toMatch(/at [A-Za-z]+ \(|node_modules|\.ts:\d+/); // no stack traces
      });
    }

    it('keeps memory flat across 200 hostile requests', async () => {
      const bomb = cases[1]![1]();
      const big = Buffer.alloc(2 * 1024 * 1024, 'a');
      globalThis.gc?.();
      const before = process.memoryUsage().rss;
      for (let i = 0; i < 100; i++) {
        await postSoap(url, bomb, agent);
        await postSoap(url, big, agent);
      }
      globalThis.gc?.();
      const grown = process.memoryUsage().rss - before;
      expect(grown).toBeLessThan(150 * 1024 * 1024);
    });

    it('refuses a replayed GetPolicies (the same message again), and audits it', async () => {
      const message = refreshCapture(CAPTURE, { to: url, password: 'S3cret' });
      expect((await postSoap(url, message, agent)).status).toBe(200);
      const again = await postSoap(url, message, agent);
      expect(again.status).toBe(500);
      expect(parseFault(again.env!)!.reason).toBe('authentication failed');
      const rows = await s.core.audit.list({ type: 'auth.failure' });
      expect(rows.some((r) => r.reason?.includes('message replayed'))).toBe(true);
      // Remembered in the database, which every worker and node shares (src/auth/replay.ts).
      expect((await s.core.db.query('SELECT 1 FROM replay_seen')).rowCount).toBeGreaterThan(0);
    });

    it('audits failed logins without the password', async () => {
      await postSoap(url, refreshCapture(CAPTURE, { to: 'x', username: 'carol', password: 'Hunter2-secret' }), agent);
      const rows = await s.core.audit.list({ type: 'auth.failure' });
      expect(rows.some((r) => r.principal === 'carol')).toBe(true);
      const all = JSON.stringify(await s.core.db.query('SELECT * FROM audit_events'));
      expect(all).not.toContain('Hunter2-secret');
    });
  });
});
