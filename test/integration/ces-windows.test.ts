/**
 * MS-WSTEP as a Windows client sees it (#14): fault Action and detail, InvalidRequest, and the CMC
 * full response — RFC 2797 status, Microsoft's add-attributes control, signed by the issuing CA —
 * for issued, pending and denied answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate, createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Element as XElement } from '@xmldom/xmldom';
import { join } from 'node:path';
import { Agent } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, openssl, opensslStatus, tmp, writeTmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { WSTEP, buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { CMC_OID, parsePkiResponse } from '../../src/protocol/cmc/index.js';
import { NS, WSA_FAULT_ACTION } from '../../src/protocol/soap/namespaces.js';
import { WCF_DIAGNOSTICS_NS } from '../../src/protocol/soap/build.js';
import { buildRequestEnvelope } from '../../src/protocol/soap/build.js';
import { HRESULT } from '../../src/errors.js';
import { fixedClock } from '../../src/clock.js';
import type { SoapEnvelope } from '../../src/protocol/soap/envelope.js';
import { compareElements, find, kids, parseXml, textOf } from '../helpers/xml-compare.js';
import { decodeSignedData } from '../../src/protocol/pkcs7/index.js';
import { windowsFullPkcs7 } from '../helpers/full-pkcs7.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('MS-WSTEP faults and CMC responses as ADCS sends them', () => {
  let s: TestServer;
  let agent: Agent;
  let url: string;
  const clock = fixedClock(new Date());
  beforeAll(async () => {
    s = await startTestServer({ clock });
    agent = new Agent({ connect: { ca: s.rootPem } });
    url = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    await runOperation(s.core, 'user.add', { name: 'carol', password: 'C4rol-pass' }, 'test');
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const rst = (o: Omit<Parameters<typeof buildRstRequest>[0], 'to' | 'securityHeaderXml'>, password = 'C4rol-pass') =>
    postSoap(url, buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'carol', password, created: clock.now() }), ...o }), agent);
  const headerNames = (xml: string): string[] => kids(find(parseXml(xml), NS.soap12, 'Header')!).map((h) => `{${h.namespaceURI}}${h.localName}`);
  const root = () => join(s.dataDir, 'certs/root_ca.crt');

  /** openssl cms -verify against our root; returns the eContent and the printed structure. */
  const cmsVerify = (der: Uint8Array): { content: Buffer; printed: string } => {
    const d = tmp();
    const inFile = writeTmp(d, 'full.der', der);
    const outFile = join(d, 'content.der');
    const v = opensslStatus(['cms', '-verify', '-inform', 'DER', '-in', inFile, '-CAfile', root(), '-purpose', 'any', '-binary', '-out', outFile]);
    expect(v.out).toMatch(/Verification successful/);
    expect(v.code).toBe(0);
    return { content: Buffer.from(openssl(['base64', '-in', outFile]).replace(/\s/g, ''), 'base64'), printed: openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', inFile]) };
  };
  /** What MS-WSTEP §4.1.1.2's response carries: v1 status, signer the issuing CA, certificates a DER SET OF. */
  const checkCaSigned = (der: Uint8Array) => {
    const { printed } = cmsVerify(der);
    expect(printed).toMatch(/eContentType: id-cct-PKIResponse/);
    const r = parsePkiResponse(der);
    expect(r.signers).toHaveLength(1);
    expect(r.signers[0]!.signatureValid).toBe(true);
    expect(Buffer.from(r.signers[0]!.certificateDer!).equals(Buffer.from(s.core.ca.info().issuingCertificate))).toBe(true);
    expect(r.signers[0]!.signedAttributes.map((a) => a.type).sort()).toEqual(['1.2.840.113549.1.9.3', '1.2.840.113549.1.9.4']);
    const sorted = [...r.certificates].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(r.certificates.map((c) => Buffer.from(c).toString('hex'))).toEqual(sorted.map((c) => Buffer.from(c).toString('hex')));
    expect(r.statuses).toHaveLength(1);
    expect(r.statuses[0]!.version).toBe(1);
    expect(r.controls[0]).toMatchObject({ bodyPartId: 1, type: CMC_OID.statusInfo });
    return r;
  };
  const detailFault = (r: { status: number; body: string; env: SoapEnvelope | null }) => {
    expect(r.status, r.body).toBe(500);
    const env = r.env!;
    expect(env.header.action).toBe(WSTEP.faultAction);
    // As WCF writes its faults: Action, RelatesTo, then the diagnostics ActivityId; no MessageID.
    expect(headerNames(r.body)).toEqual([`{${NS.wsa}}Action`, `{${NS.wsa}}RelatesTo`, `{${WCF_DIAGNOSTICS_NS}}ActivityId`]);
    const activity = new RegExp(`<ActivityId CorrelationId="([0-9a-f-]{36})" xmlns="${WCF_DIAGNOSTICS_NS}">([0-9a-f-]{36})</ActivityId>`).exec(r.body);
    // As WCF writes it: the activity's GUID, and a GUID of the message as CorrelationId.
    expect(activity).not.toBeNull();
    expect(activity![1]).not.toBe(activity![2]);
    const f = parseFault(env)!;
    expect(f.detail).toBeDefined();
    return f;
  };

  it('issued: the CMC response has the v1 status "Issued" and the add-attributes control with the certificate hash, signed by the issuing CA', async () => {
    const csr = makeCsr({ subject: 'CN=win.example.test', sans: ['DNS:win.example.test'], templateName: 'WebServer' });
    const r = await rst({ requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } });
    expect(r.status, r.body).toBe(200);
    expect(headerNames(r.body)).toEqual([`{${NS.wsa}}Action`, `{${WCF_DIAGNOSTICS_NS}}ActivityId`, `{${NS.wsa}}RelatesTo`]);
    const out = parseRstrResponse(r.env!);
    if (out.disposition !== 'issued') throw new Error(r.body);
    const cmc = checkCaSigned(out.fullResponseDer!);
    expect(cmc).toMatchObject({ status: 'success', statusString: 'Issued', bodyList: [1] });
    expect(cmc.certificates.some((c) => Buffer.from(c).equals(Buffer.from(out.certificateDer)))).toBe(true);
    expect(cmc.certificates).toHaveLength(1 + s.core.ca.info().chain.length);
    // 1.3.6.1.4.1.311.10.10.1: CmcAddAttributesInfo { 0, { 1 }, { szOID_ISSUED_CERT_HASH: SHA-1 } }, byte for byte as in MS-WSTEP §4.1.1.2.
    expect(cmc.controls[1]!.bodyPartId).toBe(2);
    expect(cmc.controls[1]!.type).toBe(CMC_OID.msCmcAddAttributes);
    const hash = createHash('sha1').update(out.certificateDer).digest('hex');
    expect(Buffer.from(cmc.controls[1]!.values[0]!).toString('hex')).toBe(`302f0201003003020101312530230609${'2b0601040182371511'}31160414${hash}`);
    expect(cmc.controls).toHaveLength(2);
  });

  it('pending: the CA signs a v1 status "pending" with the request id as pend token', async () => {
    const csr = makeCsr({ subject: 'CN=wait.example.test', sans: ['DNS:wait.example.test'], templateName: 'WebServerApproval' });
    const r = await rst({ requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } });
    const p = parseRstrResponse(r.env!);
    if (p.disposition !== 'pending') throw new Error(r.body);
    const cmc = checkCaSigned(p.fullResponseDer!);
    expect(cmc).toMatchObject({ status: 'pending', statusString: 'Taken Under Submission', bodyList: [1] });
    const token = Buffer.alloc(4);
    token.writeUInt32LE(Number(p.requestId));
    expect(Buffer.from(cmc.pendInfo!.token).equals(token)).toBe(true);
    expect(cmc.certificates).toHaveLength(s.core.ca.info().chain.length);
    // polled: the same signed pending answer
    const again = parseRstrResponse((await rst({ requestType: 'queryTokenStatus', requestId: p.requestId })).env!);
    expect(checkCaSigned(again.fullResponseDer!).status).toBe('pending');
  });

  it("a CA manager's denial: WSDetailFault Action, InvalidRequest true, the request id and a CA-signed failed response with the manager's words", async () => {
    const csr = makeCsr({ subject: 'CN=nope.example.test', sans: ['DNS:nope.example.test'], templateName: 'WebServerApproval' });
    const p = parseRstrResponse((await rst({ requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } })).env!);
    await runOperation(s.core, 'request.deny', { id: p.requestId, reason: 'not our host' }, 'local:manager');
    const f = detailFault(await rst({ requestType: 'queryTokenStatus', requestId: p.requestId }));
    expect(f.detail).toMatchObject({ invalidRequest: true, requestId: p.requestId, errorCode: HRESULT.CERTSRV_E_TEMPLATE_DENIED });
    const cmc = checkCaSigned(f.detail!.binaryResponseDer!);
    expect(cmc).toMatchObject({ status: 'failed', failInfo: 2 });
    expect(cmc.statusString).toContain('not our host');
  });

  it('a policy denial (RSA-1024): WSDetailFault Action, InvalidRequest true, a CA-signed failed response', async () => {
    const f = detailFault(await rst({ requestType: 'issue', token: { valueType: 'pkcs10', der: makeCsr({ key: 'rsa:1024', templateName: 'WebServer' }).csrDer } }));
    expect(f.detail).toMatchObject({ invalidRequest: true, errorCode: HRESULT.NTE_BAD_KEY_LENGTH });
    expect(f.detail!.requestId).toMatch(/^\d+$/);
    expect(checkCaSigned(f.detail!.binaryResponseDer!)).toMatchObject({ status: 'failed', failInfo: 2 });
  });

  it('an undecodable request: InvalidRequest true and BinaryResponse nil (nothing recorded to answer for), as ADCS answers', async () => {
    const r = await rst({ requestType: 'issue', token: { valueType: 'pkcs10', der: Buffer.from('3003020100', 'hex') } });
    const f = detailFault(r);
    expect(f.code).toBe('Sender');
    expect(f.detail).toMatchObject({ invalidRequest: true, requestId: undefined, binaryResponseDer: undefined });
    expect(r.body).toContain('<BinaryResponse xsi:nil="true"/>');
  });

  it('not the request: a wrong password and an unknown request id keep InvalidRequest false', async () => {
    const bad = detailFault(await rst({ requestType: 'issue', token: { valueType: 'pkcs10', der: makeCsr({ templateName: 'WebServer' }).csrDer } }, 'wrong'));
    expect(bad.detail!.invalidRequest).toBe(false);
    const unknown = detailFault(await rst({ requestType: 'queryTokenStatus', requestId: '999999' }));
    expect(unknown.detail).toMatchObject({ invalidRequest: false, errorCode: HRESULT.CERTSRV_E_NO_REQUEST });
  });

  describe("CertEnroll's Full PKCS#7 (SKI signer, no certificates, the PKCS#10's own signature broken)", () => {
    const certCount = async (): Promise<number> => Number((await s.core.db.query<{ n: string }>('SELECT count(*) AS n FROM certificates')).rows[0]!.n);

    it('is issued: the outer signature by the request key proves possession, and the CA re-checks it', async () => {
      const csr = makeCsr({ subject: 'CN=full7.example.test', sans: ['DNS:full7.example.test'], templateName: 'WebServer' });
      const { der } = windowsFullPkcs7(csr, { breakInner: true });
      const r = await rst({ requestType: 'issue', token: { valueType: 'pkcs7', der } });
      const out = parseRstrResponse(r.env!);
      expect(out.disposition, r.body).toBe('issued');
      if (out.disposition !== 'issued') return;
      expect(openssl(['x509', '-inform', 'DER', '-noout', '-ext', 'subjectAltName'], Buffer.from(out.certificateDer))).toContain('DNS:full7.example.test');
    });

    it('is refused when the outer signature is by another key (named as the request key, or as itself)', async () => {
      const csr = makeCsr({ subject: 'CN=forged7.example.test', sans: ['DNS:forged7.example.test'], templateName: 'WebServer' });
      const other = makeCsr();
      const before = await certCount();
      for (const der of [windowsFullPkcs7(csr, { breakInner: true, signerKeyPem: other.keyPem }).der, windowsFullPkcs7(csr, { breakInner: true, signerKeyPem: other.keyPem, skiKeyPem: other.keyPem }).der]) {
        const f = detailFault(await rst({ requestType: 'issue', token: { valueType: 'pkcs7', der } }));
        expect(f.reason).toMatch(/proof of possession failed/);
        expect(f.detail).toMatchObject({ invalidRequest: true, errorCode: HRESULT.NTE_BAD_SIGNATURE });
      }
      expect(await certCount()).toBe(before);
    });
  });

  it('faults without an enrollment detail (CEP) keep the WS-Addressing fault action, with the ActivityId after RelatesTo', async () => {
    const cep = `${s.url}${cepPath('UsernamePassword')}`;
    const r = await postSoap(cep, buildRequestEnvelope({ action: 'urn:not-an-action', to: cep, messageId: 'urn:uuid:11111111-2222-3333-4444-555555555555', bodyXml: '<x xmlns="urn:x"/>' }), agent);
    expect(r.status).toBe(500);
    expect(r.env!.header.action).toBe(WSA_FAULT_ACTION);
    expect(r.env!.header.relatesTo).toBe('urn:uuid:11111111-2222-3333-4444-555555555555');
    expect(headerNames(r.body)).toEqual([`{${NS.wsa}}Action`, `{${NS.wsa}}RelatesTo`, `{${WCF_DIAGNOSTICS_NS}}ActivityId`]);
    expect(parseFault(r.env!)!.detail).toBeUndefined();
    expect(UUID.test(r.body.match(/<ActivityId[^>]*>([^<]+)</)![1]!)).toBe(true);
  });
  describe('the MS-WSTEP §4 examples replayed and compared element by element (test/fixtures/wstep/README.md)', () => {
    const FIX = join(__dirname, '../fixtures/wstep');
    const fixture = (name: string) => readFileSync(join(FIX, name), 'utf8');
    const qname = (e: XElement) => `{${e.namespaceURI}}${e.localName}`;
    const header = (doc: XElement) => kids(find(doc, NS.soap12, 'Header')!);
    const body = (doc: XElement) => find(doc, NS.soap12, 'Body')!;
    /** The published request with our endpoint in a:To and real credentials (the examples carry none). */
    const replayable = (xml: string) => xml.replace('</s:Header>', `<a:To s:mustUnderstand="1">${url}</a:To>${usernameHeader({ username: 'carol', password: 'C4rol-pass', created: clock.now() })}</s:Header>`);
    const replay = (xml: string) => postSoap(url, replayable(xml), agent);

    /** What a CMC full response is made of, without what is specific to the instance (hashes, keys, names). */
    const cmcShape = (der: Uint8Array, leaf: Uint8Array) => {
      const sd = decodeSignedData(der);
      const r = parsePkiResponse(der);
      const leafCert = new X509Certificate(Buffer.from(leaf));
      return {
        signedDataVersion: sd.version,
        contentType: sd.contentType,
        controls: r.controls.map((c) => ({ bodyPartId: c.bodyPartId, type: c.type, values: c.values.map((v) => (c.type === CMC_OID.msCmcAddAttributes ? Buffer.from(v).toString('hex').slice(0, -40) : Buffer.from(v).toString('hex'))) })),
        statuses: r.statuses.map((x) => ({ version: x.version, code: x.code, statusString: x.statusString, bodyList: x.bodyList })),
        signers: r.signers.map((x) => ({
          sid: x.sid.kind,
          signedAttributes: x.signedAttributes.map((a) => a.type).sort(),
          valid: x.signatureValid,
          // the CA that issued the certificate signs the response
          issuerOfTheCertificate: leafCert.checkIssued(new X509Certificate(Buffer.from(x.certificateDer!))),
        })),
        certificates: r.certificates.length,
        certificatesInSetOfOrder: r.certificates.every((c, i) => i === 0 || Buffer.compare(Buffer.from(r.certificates[i - 1]!), Buffer.from(c)) < 0),
        certificateIncluded: r.certificates.some((c) => Buffer.from(c).equals(Buffer.from(leaf))),
      };
    };

    it("4.1.1.1 → 4.1.1.2: an issue request answered as the example is, and the CMC full response built as the example's", async () => {
      const csr = makeCsr({ subject: 'CN=example.test', templateName: 'User' });
      // Our request in place of the example's (a 2009 SHA-1 PKCS#10, labelled #PKCS7 as there).
      const request = fixture('ms-wstep-4.1.1.1-request.xml').replace(/(#PKCS7" xmlns="[^"]*">)[^<]*</, `$1${csr.csrDer.toString('base64')}<`);
      const r = await replay(request);
      expect(r.status, r.body).toBe(200);
      const ours = parseXml(r.body);
      const example = parseXml(fixture('ms-wstep-4.1.1.2-response.xml'));
      // Header: Action, ActivityId, RelatesTo in that order; the Action and the RelatesTo (the example's MessageID, replayed) equal.
      expect(header(ours).map(qname)).toEqual(header(example).map(qname));
      for (const i of [0, 2]) expect(textOf(header(ours)[i]!)).toBe(textOf(header(example)[i]!));
      expect(header(ours)[0]!.getAttributeNS(NS.soap12, 'mustUnderstand')).toBe('1');
      const diffs = compareElements(body(example), body(ours), { sameValue: (p) => /\/(TokenType|DispositionMessage)$/.test(p) });
      expect(diffs).toEqual([]);
      // Attributes the comparison above does not look at.
      const bst = (doc: XElement) => [...doc.getElementsByTagNameNS(NS.wsse, 'BinarySecurityToken')];
      expect(bst(ours).map((b) => [b.getAttribute('ValueType'), b.getAttribute('EncodingType')])).toEqual(bst(example).map((b) => [b.getAttribute('ValueType'), b.getAttribute('EncodingType')]));
      const lang = (doc: XElement) => find(doc, NS.wstep, 'DispositionMessage')!.getAttributeNS('http://www.w3.org/XML/1998/namespace', 'lang');
      expect(lang(ours)).toBe(lang(example));
      // The CMC full responses, decoded: the same controls, status, signer and certificates.
      const der = (doc: XElement, i: number) => Buffer.from(textOf(bst(doc)[i]!).replace(/\s/g, ''), 'base64');
      const ourShape = cmcShape(der(ours, 0), der(ours, 1));
      expect(ourShape).toEqual(cmcShape(der(example, 0), der(example, 1)));
      expect(ourShape.signers[0]).toMatchObject({ valid: true, issuerOfTheCertificate: true });
      expect(ourShape.certificatesInSetOfOrder).toBe(true);
    });

    it("the retrieve-pending example: a poll for our pending request answers pending; for an unknown one, a fault with the example's header", async () => {
      const csr = makeCsr({ subject: 'CN=poll.example.test', sans: ['DNS:poll.example.test'], templateName: 'WebServerApproval' });
      const p = parseRstrResponse((await rst({ requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } })).env!);
      const poll = (id: string) => replay(fixture('ms-wstep-4-retrieve-pending-request.xml').replace('>65</RequestID>', `>${id}</RequestID>`));
      // The first poll gets a MessageID of its own: a message ID is accepted once per caller
      // (replay protection), and the second poll below keeps the example's, to compare RelatesTo.
      const pending = parseRstrResponse((await replay(fixture('ms-wstep-4-retrieve-pending-request.xml').replace('>65</RequestID>', `>${p.requestId!}</RequestID>`).replace('urn:uuid:ce330bb2-0ca2-473b-a29a-19e9264666ff', `urn:uuid:${randomUUID()}`))).env!);
      expect(pending).toMatchObject({ disposition: 'pending', requestId: p.requestId });
      // The example's answer is WCF's internal-error fault; ours for a request it does not know is
      // an MS-WSTEP fault, with the same header (Action, RelatesTo, ActivityId) and fault skeleton.
      const r = await poll('999999');
      expect(r.status).toBe(500);
      const ours = parseXml(r.body);
      const example = parseXml(fixture('ms-wstep-4-retrieve-pending-response.xml'));
      expect(header(ours).map(qname)).toEqual(header(example).map(qname));
      expect(textOf(header(ours)[1]!)).toBe(textOf(header(example)[1]!));
      const fault = (doc: XElement) => kids(find(doc, NS.soap12, 'Fault')!).map(qname);
      expect(fault(ours).slice(0, 2)).toEqual(fault(example));
      expect(parseFault(r.env!)!.detail).toMatchObject({ errorCode: HRESULT.CERTSRV_E_NO_REQUEST, invalidRequest: false });
    });

    it('the key exchange example: refused with an MS-WSTEP fault (key archival is not offered)', async () => {
      const f = detailFault(await replay(fixture('ms-wstep-4-ket-request.xml')));
      expect(f.reason).toMatch(/not supported/);
      expect(f.detail).toMatchObject({ errorCode: HRESULT.E_INVALIDARG, invalidRequest: true });
      // The example's answer: the CA's exchange certificate in a KeyExchangeToken, which opences does not have.
      expect(find(parseXml(fixture('ms-wstep-4-ket-response.xml')), NS.wst, 'KeyExchangeToken')).toBeDefined();
    });
  });
});
