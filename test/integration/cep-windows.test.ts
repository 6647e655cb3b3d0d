import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { X509Certificate, generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import type { Element as XElement } from '@xmldom/xmldom';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { extractElement, validateXml } from '../helpers/xsd.js';
import { checkWsdl } from '../helpers/wsdl.js';
import { childEl, compareElements, find, kids, parseXml, textOf } from '../helpers/xml-compare.js';
import { makeCsr, tmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { buildGetPoliciesRequest, parseGetPoliciesResponse, OID_GROUP } from '../../src/protocol/xcep/index.js';
import { buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { NS } from '../../src/protocol/soap/namespaces.js';
import { WCF_DIAGNOSTICS_NS } from '../../src/protocol/soap/build.js';
import { esc } from '../../src/protocol/soap/xml.js';
import { extension, keyUsage, subjectKeyIdentifier, templateInformation } from '../../src/ca/extensions.js';
import { bitString, bmp, ia5, implicitPrim, integer, seq, utf8 } from '../../src/ca/der.js';
import { attribute, buildTestCsr } from '../unit/pkcs10/csr-builder.js';
import { listTemplates } from '../../src/store/template-repo.js';
import { templatesToYaml } from '../../src/policy/template-yaml.js';
import type { Template } from '../../src/policy/template.js';

/**
 * What a Windows client sees of our policy service: the MS-XCEP §4 examples replayed and compared
 * element by element (test/fixtures/xcep/README.md), the service description a proxy generator
 * reads, and a schema-3 (CNG) ECDSA template from GetPolicies to an issued certificate.
 */
const FIX = join(__dirname, '../fixtures/xcep');
const XSD = join(__dirname, '../../wsdl/xcep.xsd');
const fixture = (name: string) => readFileSync(join(FIX, name), 'utf8');
const iso = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');

/** A published example request with our endpoint, fresh timestamps and real credentials in place of "Removed". */
function replayable(xml: string, o: { to: string; username: string; password: string; lastUpdate?: string }): string {
  const now = new Date();
  let out = xml
    .replace(/<a:To s:mustUnderstand="1">[^<]*<\/a:To>/, `<a:To s:mustUnderstand="1">${esc(o.to)}</a:To>`)
    .replace(/<a:MessageID>[^<]*<\/a:MessageID>/, `<a:MessageID>urn:uuid:${randomUUID()}</a:MessageID>`)
    .replace(/<u:Created>[^<]*<\/u:Created>/, `<u:Created>${iso(now)}</u:Created>`)
    .replace(/<u:Expires>[^<]*<\/u:Expires>/, `<u:Expires>${iso(new Date(now.getTime() + 300_000))}</u:Expires>`)
    .replace(/<o:Username>[\s\S]*?<\/o:Username>/, `<o:Username>${esc(o.username)}</o:Username>`)
    .replace(/<o:Password>[\s\S]*?<\/o:Password>/, `<o:Password>${esc(o.password)}</o:Password>`);
  if (o.lastUpdate) out = out.replace(/<lastUpdate>[^<]*<\/lastUpdate>/, `<lastUpdate>${o.lastUpdate}</lastUpdate>`);
  return out;
}

/** The EFS template of MS-XCEP 4.1.1.2, as an opences template. */
function efsTemplate(like: Template): Template {
  const t = structuredClone(like);
  Object.assign(t, { name: 'EFS', displayName: 'Basic EFS', oid: `${like.oid}.6`, schemaVersion: 1, majorRevision: 3, minorRevision: 1, validityPeriodSeconds: 31536000, renewalPeriodSeconds: 3628800 });
  t.privateKey = { algorithms: ['RSA'], minimalKeyLength: 2048, keySpec: 1, exportable: true, providers: ['Microsoft Enhanced Cryptographic Provider v1.0', 'Microsoft Base Cryptographic Provider v1.0'], strongProtection: false };
  t.extensions = { ekus: ['1.3.6.1.4.1.311.10.3.4'], keyUsage: ['digitalSignature', 'keyEncipherment'], keyUsageCritical: true, issuancePolicies: [], templateInformation: true };
  t.permissions = [{ principal: 'user:carol', read: true, enroll: true, autoenroll: false }];
  return t;
}

describe('MS-XCEP as a Windows client sees it', () => {
  let s: TestServer;
  let agent: Agent;
  let url: string;
  let ces: string;
  let efs: Template;
  let ecdsa: Template;
  beforeAll(async () => {
    s = await startTestServer({ config: { 'policy.friendlyName': 'Contoso Enrollment Policy' } });
    agent = new Agent({ connect: { ca: s.rootPem } });
    url = `${s.url}${cepPath('UsernamePassword')}`;
    ces = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    await runOperation(s.core, 'user.add', { name: 'carol', password: 'C4rol-pass', groups: [] }, 'test');
    await runOperation(s.core, 'user.add', { name: 'dave', password: 'D4ve-pass', groups: ['staff'] }, 'test');
    const all = await listTemplates(s.core.db);
    efs = efsTemplate(all.find((t) => t.name === 'User')!);
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([efs]) }, 'test');
    await runOperation(s.core, 'template.enable', { name: 'WebServerECDSA' }, 'test');
    ecdsa = (await listTemplates(s.core.db)).find((t) => t.name === 'WebServerECDSA')!;
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const getPolicies = (user: string, password: string) => postSoap(url, buildGetPoliciesRequest({ to: url, securityHeaderXml: usernameHeader({ username: user, password }) }), agent);

  describe('the MS-XCEP section 4 examples (test/fixtures/xcep), replayed', () => {
    it('4.1.1.1 gets an answer shaped as 4.1.1.2: order, namespaces, nil-ness and the values that are not instance-specific', async () => {
      const r = await postSoap(url, replayable(fixture('ms-xcep-4.1.1.1-request.xml'), { to: url, username: 'carol', password: 'C4rol-pass' }), agent);
      expect(r.status, r.body).toBe(200);
      const example = parseXml(fixture('ms-xcep-4.1.1.2-response.xml'));
      const ours = parseXml(r.body);
      // The header: the same Action, understood.
      const action = (d: XElement) => find(d, NS.wsa, 'Action')!;
      expect(textOf(action(ours))).toBe(textOf(action(example)));
      expect(action(ours).getAttributeNS(NS.soap12, 'mustUnderstand')).toBe('1');
      // As WCF: Action, then the diagnostics ActivityId, then RelatesTo (the request's MessageID).
      const header = kids(find(ours, NS.soap12, 'Header')!);
      expect(header.map((h) => h.localName)).toEqual(['Action', 'ActivityId', 'RelatesTo']);
      expect(header[1]!.namespaceURI).toBe(WCF_DIAGNOSTICS_NS);
      expect(textOf(header[1]!)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      const exBody = find(example, NS.xcep, 'GetPoliciesResponse')!;
      const ourBody = find(ours, NS.xcep, 'GetPoliciesResponse')!;
      // OID references resolve inside each message; pair repeated items by what they mean.
      const oidTable = (root: XElement) => new Map(kids(childEl(root, 'oIDs')!).map((o) => [textOf(childEl(o, 'oIDReferenceID')!), { value: textOf(childEl(o, 'value')!), group: textOf(childEl(o, 'group')!) }]));
      const exOids = oidTable(exBody);
      const ourOids = oidTable(ourBody);
      const extOid = (ext: XElement, table: typeof exOids) => table.get(textOf(childEl(ext, 'oIDReference')!))?.value;
      const TEMPLATE_NAME_EXT = '1.3.6.1.4.1.311.20.2';
      const rules: Parameters<typeof compareElements>[2] = {
        // Everything not named here is instance-specific (policyID, references, URIs, certificate) or checked below.
        sameValue: (p) =>
          /\/(policyFriendlyName|nextUpdateHours|commonName|policySchema|validityPeriodSeconds|renewalPeriodSeconds|enroll|autoEnroll|minimalKeyLength|keySpec|provider|majorRevision|minorRevision|critical|clientAuthentication|priority|renewalOnly|enrollPermission|cAReference|cAReferenceID|group|defaultName)$/.test(p) ||
          p.endsWith('/extensions/extension/value'),
        // We send the MS-CRTD flag words for every schema; the example's schema-1 template has none.
        nilMayDiffer: (p) => /\/attributes\/(privateKeyFlags|subjectNameFlags|enrollmentFlags|generalFlags)$/.test(p),
        pair: (p, ex, ou) => {
          if (p.endsWith('/policies/policy')) return [[ex[0]!, ou.find((x) => textOf(find(x, NS.xcep, 'commonName')!) === 'EFS')!]];
          if (p.endsWith('/cryptoProviders/provider')) return ex.map((e) => [e, ou.find((x) => textOf(x) === textOf(e))!]);
          if (p.endsWith('/uris/cAURI')) {
            // We serve the UsernamePassword and Certificate endpoints here (Kerberos needs a keytab).
            const auth = (x: XElement) => textOf(childEl(x, 'clientAuthentication')!);
            expect(ou.map(auth).every((a) => ex.map(auth).includes(a))).toBe(true);
            return ou.map((o) => [ex.find((e) => auth(e) === auth(o))!, o]);
          }
          if (p.endsWith('/extensions/extension')) {
            // The example's schema-1 template carries the template-name extension; ours carries the
            // template-information extension (1.3.6.1.4.1.311.21.7) instead, checked below.
            return ex.filter((e) => extOid(e, exOids) !== TEMPLATE_NAME_EXT).map((e) => [e, ou.find((o) => extOid(o, ourOids) === extOid(e, exOids))!]);
          }
          if (p.endsWith('/oIDs/oID')) {
            const key = (x: XElement) => `${textOf(childEl(x, 'group')!)}|${textOf(childEl(x, 'group')!) === '9' ? textOf(childEl(x, 'defaultName')!) : textOf(childEl(x, 'value')!)}`;
            return ex.filter((e) => textOf(childEl(e, 'value')!) !== TEMPLATE_NAME_EXT).map((e) => [e, ou.find((o) => key(o) === key(e))!]);
          }
          return undefined;
        },
      };
      // The EKU value is elided in the example ("…"): compared as OID references below, not as text.
      const significant = (d: string[]) => d.filter((x) => !/extensions\/extension\/value: "MCAG/.test(x));
      expect(significant(compareElements(exBody, ourBody, rules))).toEqual([]);
      // the comparison has teeth: a hash reference on this schema-1 policy, or a provider less, is seen
      const efsXml = (xml: string) => xml.replace(/(<commonName>EFS<\/commonName>[\s\S]*?)<hashAlgorithmOIDReference xsi:nil="true"\/>/, '$1<hashAlgorithmOIDReference>0</hashAlgorithmOIDReference>');
      expect(significant(compareElements(exBody, find(parseXml(efsXml(r.body)), NS.xcep, 'GetPoliciesResponse')!, rules))).toEqual([expect.stringMatching(/hashAlgorithmOIDReference: nil in the example only/)]);
      const oneProvider = r.body.replace('<provider>Microsoft Base Cryptographic Provider v1.0</provider>', '');
      expect(significant(compareElements(exBody, find(parseXml(oneProvider), NS.xcep, 'GetPoliciesResponse')!, rules))).toEqual([expect.stringMatching(/cryptoProviders\/provider: the answer has fewer items/)]);
      // The references of our EFS policy resolve to what the example's do.
      const ourEfs = parseGetPoliciesResponse(r.env!).policies!.find((p) => p.attributes.commonName === 'EFS')!;
      expect(ourOids.get(String(ourEfs.policyOIDReference))).toEqual({ value: efs.oid, group: '9' });
      expect(ourEfs.attributes.extensions!.map((e) => ourOids.get(String(e.oIDReference))!.value).sort()).toEqual(['1.3.6.1.4.1.311.21.7', '2.5.29.15', '2.5.29.37']);
      expect(textOf(find(ourBody, NS.xcep, 'policyID')!)).toMatch(/^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$/);
      // And the whole answer is valid MS-XCEP.
      expect((await validateXml(extractElement(r.body, 'GetPoliciesResponse'), XSD)).errors).toEqual([]);
    });

    it('4.1.2.1 (lastUpdate after the last change) gets exactly 4.1.2.2: policiesNotChanged, and nil policies, cAs and oIDs', async () => {
      // The published lastUpdate ("20090-03-15-T09:38:46") is not an xs:dateTime; a well-formed time after our last change stands in for it.
      const later = iso(new Date(Date.now() + 60_000)).replace('Z', '');
      const r = await postSoap(url, replayable(fixture('ms-xcep-4.1.2.1-request.xml'), { to: url, username: 'carol', password: 'C4rol-pass', lastUpdate: later }), agent);
      expect(r.status, r.body).toBe(200);
      const example = find(parseXml(fixture('ms-xcep-4.1.2.2-response.xml')), NS.xcep, 'GetPoliciesResponse')!;
      const ours = find(parseXml(r.body), NS.xcep, 'GetPoliciesResponse')!;
      expect(compareElements(example, ours, { sameValue: (p) => !p.endsWith('/policyID') })).toEqual([]);
      // a full answer is not taken for it
      const full = find(parseXml((await getPolicies('carol', 'C4rol-pass')).body), NS.xcep, 'GetPoliciesResponse')!;
      expect(compareElements(example, full, { sameValue: (p) => !p.endsWith('/policyID') }).length).toBeGreaterThan(0);
      expect((await validateXml(extractElement(r.body, 'GetPoliciesResponse'), XSD)).errors).toEqual([]);
    });

    it('4.1.2.1 as published (an unreadable lastUpdate) gets the full policy, not a fault', async () => {
      const r = await postSoap(url, replayable(fixture('ms-xcep-4.1.2.1-request.xml'), { to: url, username: 'carol', password: 'C4rol-pass' }), agent);
      expect(r.status, r.body).toBe(200);
      const p = parseGetPoliciesResponse(r.env!);
      expect(p.policiesNotChanged).toBeUndefined();
      expect(p.policies!.map((x) => x.attributes.commonName)).toContain('EFS');
    });
  });

  it('policyID is stable: the same for every caller and every call', async () => {
    const ids = new Set<string>();
    for (const [u, pw] of [['carol', 'C4rol-pass'], ['carol', 'C4rol-pass'], ['dave', 'D4ve-pass']] as const) {
      const r = await getPolicies(u, pw);
      expect(r.status, r.body).toBe(200);
      ids.add(parseGetPoliciesResponse(r.env!).policyID);
    }
    expect([...ids]).toEqual([s.core.deployment.policyId]);
  });

  it('honours requestFilter: the listed template OIDs only, and no schema-3 template for a client older than version 3', async () => {
    const only = await postSoap(url, buildGetPoliciesRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'carol', password: 'C4rol-pass' }), policyOids: [efs.oid, ecdsa.oid] }), agent);
    expect(parseGetPoliciesResponse(only.env!).policies!.map((p) => p.attributes.commonName).sort()).toEqual(['EFS', 'WebServerECDSA']);
    const old = await postSoap(url, buildGetPoliciesRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'carol', password: 'C4rol-pass' }), clientVersion: 2, serverVersion: 6 }), agent);
    const names = parseGetPoliciesResponse(old.env!).policies!.map((p) => p.attributes.commonName);
    expect(names).toContain('EFS');
    expect(names).not.toContain('WebServerECDSA');
    // and the unfiltered answer (cached per filter) still has both
    expect(parseGetPoliciesResponse((await getPolicies('carol', 'C4rol-pass')).env!).policies!.map((p) => p.attributes.commonName)).toEqual(expect.arrayContaining(['EFS', 'WebServerECDSA', 'WebServer']));
  });

  describe('the service description (?singleWsdl, ?wsdl, ?xsd=xsd0)', () => {
    const get = async (u: string) => {
      const r = await request(u, { dispatcher: agent });
      return { status: r.statusCode, type: String(r.headers['content-type']), text: await r.body.text() };
    };

    it('CEP ?singleWsdl is self-contained and passes an offline WSDL check; its schema validates the real request and answer', async () => {
      const w = await get(`${url}?singleWsdl`);
      expect(w.status).toBe(200);
      expect(w.type).toMatch(/^text\/xml/);
      expect(w.text).not.toMatch(/schemaLocation=|<wsdl:import/);
      const answer = extractElement((await getPolicies('carol', 'C4rol-pass')).body, 'GetPoliciesResponse');
      const request = extractElement(buildGetPoliciesRequest({ to: url }).replace('<p:GetPolicies ', `<p:GetPolicies xmlns:xsi="${NS.xsi}" `), 'GetPolicies');
      const c = await checkWsdl(w.text, [answer, request]);
      expect(c.errors).toEqual([]);
      expect(c.schemas).toHaveLength(1);
      // the check has teeth: a message naming an element no schema declares fails
      expect((await checkWsdl(w.text.replace('element="xcep:GetPoliciesResponse"', 'element="xcep:GetPoliciesAnswer"'), [])).errors.join()).toMatch(/names \{[^}]+\}GetPoliciesAnswer, which no inline schema declares/);
    });

    it('CEP ?wsdl imports its schema from this endpoint (?xsd=xsd0), which serves wsdl/xcep.xsd; unknown schemas are 404', async () => {
      const w = await get(`${url}?wsdl`);
      expect(w.status).toBe(200);
      expect(w.text).toContain(`schemaLocation="${url}?xsd=xsd0"`);
      expect(w.text).not.toContain('http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/xcep.xsd');
      const x = await get(`${url}?xsd=xsd0`);
      expect(x.status).toBe(200);
      expect(x.text).toBe(readFileSync(XSD, 'utf8'));
      expect((await get(`${url}?xsd=xsd1`)).status).toBe(404);
    });

    it('CES ?singleWsdl passes the same offline check', async () => {
      const w = await get(`${ces}?singleWsdl`);
      expect(w.status).toBe(200);
      const c = await checkWsdl(w.text);
      expect(c.errors).toEqual([]);
      expect(w.text).toContain(`location="${ces}"`);
    });

    it('zeep (a WSDL proxy generator) builds clients from both ?singleWsdl with every network fetch refused', async () => {
      const dir = tmp('opences-zeep-');
      try {
        const files = [];
        for (const [name, u] of [['cep', url], ['ces', ces]] as const) {
          const f = join(dir, `${name}.wsdl`);
          writeFileSync(f, (await get(`${u}?singleWsdl`)).text);
          files.push(f);
        }
        const script = [
          'import sys, zeep, zeep.transports',
          'class Offline(zeep.transports.Transport):',
          '    def load(self, url):',
          '        if url.startswith(("http:", "https:")): raise RuntimeError("network fetch refused: " + url)',
          '        return super().load(url)',
          'for f in sys.argv[1:]:',
          '    c = zeep.Client(f, transport=Offline())',
          '    for svc in c.wsdl.services.values():',
          '        for port in svc.ports.values():',
          '            print(port.binding_options["address"], *sorted(port.binding._operations))',
        ].join('\n');
        const r = spawnSync('/usr/bin/python3', ['-c', script, ...files], { encoding: 'utf8', timeout: 60_000 });
        if (r.error || /No module named 'zeep'/.test(r.stderr)) throw new Error(`zeep is needed for this test: apt-get install python3-zeep (${r.error?.message ?? r.stderr.trim()})`);
        expect(r.stderr).not.toMatch(/Traceback/);
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout.trim().split('\n')).toEqual([`${url} GetPolicies`, `${ces} RequestSecurityToken2`]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('a schema-3 (CNG) ECDSA template', () => {
    it('is listed by GetPolicies as MS-XCEP requires: schema 3, the ECDSA_P256 algorithm and SHA-256 as OID references, a KSP, no keySpec', async () => {
      const r = await getPolicies('carol', 'C4rol-pass');
      expect(r.status, r.body).toBe(200);
      expect((await validateXml(extractElement(r.body, 'GetPoliciesResponse'), XSD)).errors).toEqual([]);
      const resp = parseGetPoliciesResponse(r.env!);
      const a = resp.policies!.find((p) => p.attributes.commonName === 'WebServerECDSA')!.attributes;
      const oid = (ref: number | undefined) => resp.oIDs!.find((o) => o.oIDReferenceID === ref);
      expect(a.policySchema).toBe(3);
      expect(a.privateKey).toMatchObject({ minimalKeyLength: 256, keySpec: undefined, keyUsageProperty: 2, cryptoProviders: ['Microsoft Software Key Storage Provider'] });
      expect(oid(a.privateKey.algorithmOIDReference)).toMatchObject({ value: '1.2.840.10045.3.1.7', group: OID_GROUP.publicKey });
      expect(oid(a.hashAlgorithmOIDReference)).toMatchObject({ value: '2.16.840.1.101.3.4.2.1', group: OID_GROUP.hash });
      // In the same answer a schema-2 template has a nil hash (MS-XCEP 3.1.4.1.3.1).
      expect(resp.policies!.find((p) => p.attributes.commonName === 'WebServer')!.attributes.hashAlgorithmOIDReference).toBeUndefined();
      expect(r.body).toMatch(/<commonName>WebServer<\/commonName><policySchema>2<\/policySchema>[\s\S]*?<hashAlgorithmOIDReference xsi:nil="true"\/>/);
    });

    const rst = (csrDer: Uint8Array) =>
      postSoap(ces, buildRstRequest({ to: ces, securityHeaderXml: usernameHeader({ username: 'carol', password: 'C4rol-pass' }), requestType: 'issue', token: { valueType: 'pkcs10', der: csrDer } }), agent);

    it('issues for a P-256 key, with the template extension, and refuses RSA and P-384 keys', async () => {
      const good = makeCsr({ key: 'ec:P-256', subject: 'CN=ec.example.test', sans: ['DNS:ec.example.test'], templateName: 'WebServerECDSA' });
      const r = await rst(good.csrDer);
      expect(r.status, r.body).toBe(200);
      const out = parseRstrResponse(r.env!);
      if (out.disposition !== 'issued') throw new Error(`not issued: ${r.body}`);
      expect(Buffer.from(out.certificateDer).includes(Buffer.from(templateInformation(ecdsa.oid, ecdsa.majorRevision, ecdsa.minorRevision)))).toBe(true);
      for (const key of ['rsa:2048', 'ec:P-384'] as const) {
        const bad = makeCsr({ key, subject: 'CN=ec.example.test', sans: ['DNS:ec.example.test'], templateName: 'WebServerECDSA' });
        const f = await rst(bad.csrDer);
        expect(f.status, f.body).toBe(500);
        expect(parseFault(f.env!)?.reason ?? f.body).toMatch(/the template does not allow (RSA|P-384) keys/);
      }
    });
  });

  it('issues for a request shaped as certenroll makes one for a CNG template: template by 1.3.6.1.4.1.311.21.7 only, KSP, OS and client attributes', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const csr = buildTestCsr({
      key: privateKey,
      subject: [{ type: 'CN', value: 'web1.example.test' }],
      extensions: [
        templateInformation(ecdsa.oid, ecdsa.majorRevision, ecdsa.minorRevision),
        extension('2.5.29.17', false, seq(implicitPrim(2, Buffer.from('web1.example.test')))),
        keyUsage(['digitalSignature'], true),
        subjectKeyIdentifier(spki),
      ],
      attributes: [
        attribute('1.3.6.1.4.1.311.13.2.3', ia5('10.0.22631.2')), // OS version
        attribute('1.3.6.1.4.1.311.21.20', seq(integer(5), utf8('WEB1.example.test'), utf8('EXAMPLE\\admin'), utf8('certreq.exe'))), // client information
        attribute('1.3.6.1.4.1.311.13.2.2', seq(integer(0), bmp('Microsoft Software Key Storage Provider'), bitString(Buffer.alloc(0)))), // enrollment CSP (KSP)
      ],
    });
    const r = await postSoap(ces, buildRstRequest({ to: ces, securityHeaderXml: usernameHeader({ username: 'carol', password: 'C4rol-pass' }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr } }), agent);
    expect(r.status, r.body).toBe(200);
    const out = parseRstrResponse(r.env!);
    if (out.disposition !== 'issued') throw new Error(`not issued: ${r.body}`);
    const cert = new X509Certificate(Buffer.from(out.certificateDer));
    expect(cert.subject).toBe('CN=web1.example.test');
    expect(cert.subjectAltName).toBe('DNS:web1.example.test');
    expect(Buffer.from(out.certificateDer).includes(Buffer.from(templateInformation(ecdsa.oid, ecdsa.majorRevision, ecdsa.minorRevision)))).toBe(true);
  });

  it('every certificate issued carries the template extension (else Windows reports CERTSRV_E_PROPERTY_EMPTY)', async () => {
    const templates = await listTemplates(s.core.db);
    for (const name of ['WebServer', 'EFS', 'User']) {
      const t = templates.find((x) => x.name === name)!;
      const key = name === 'EFS' ? 'rsa:2048' : 'ec:P-256';
      const csr = makeCsr({ key, subject: 'CN=t.example.test', sans: ['DNS:t.example.test'], templateName: name });
      const user = name === 'EFS' ? ['carol', 'C4rol-pass'] : ['dave', 'D4ve-pass'];
      const r = await postSoap(ces, buildRstRequest({ to: ces, securityHeaderXml: usernameHeader({ username: user[0]!, password: user[1]! }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
      expect(r.status, r.body).toBe(200);
      const out = parseRstrResponse(r.env!);
      if (out.disposition !== 'issued') throw new Error(`${name} not issued: ${r.body}`);
      expect(Buffer.from(out.certificateDer).includes(Buffer.from(templateInformation(t.oid, t.majorRevision, t.minorRevision))), name).toBe(true);
    }
  });
});
