import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildFaultEnvelope, buildResponseEnvelope, parseEnvelope } from '../../../../src/protocol/soap/index.js';
import { WSTEP, buildEnrollmentFaultDetail, buildRstRequest, buildRstrIssued, buildRstrPending, parseFault, parseRst, parseRstrResponse } from '../../../../src/protocol/wstep/index.js';
import { HRESULT, OpencesError } from '../../../../src/errors.js';
import { extractElement, validateXml } from '../../../helpers/xsd.js';

const FIX = join(__dirname, '../../../fixtures/soap');
const XSD = join(__dirname, '../../../../wsdl/wstep.xsd');
const XML_XSD = { 'http://www.w3.org/2001/xml.xsd': join(FIX, 'xml.xsd') };
const RST = readFileSync(join(FIX, 'cepces-rst-issue-request.xml'), 'utf8');
const OPTS = { maxBytes: 1 << 20 };
const LIMITS = { maxTokenBytes: 64 * 1024 };
const rst = (xml: string, limits = LIMITS) => parseRst(parseEnvelope(xml, OPTS), limits);
const b64Of = (xml: string): string => /<ns2:BinarySecurityToken[^>]*>([^<]*)</.exec(xml)![1]!;
const CSR = Buffer.from(b64Of(RST).replace(/\s+/g, ''), 'base64');

describe('parseRst', () => {
  it('reads the cepces Issue capture: PKCS#10 token with PEM line breaks', () => {
    const r = rst(RST);
    expect(r).toMatchObject({ requestType: 'issue', tokenType: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3', additionalContext: [] });
    expect(r.requestId).toBeUndefined();
    expect(r.token!.valueType).toBe('pkcs10');
    expect(r.token!.declaredValueType).toBe(WSTEP.valueTypes.pkcs10);
    expect(Buffer.from(r.token!.der).equals(CSR)).toBe(true);
    expect(r.token!.der[0]).toBe(0x30);
  });

  it('strips carriage-return character references and CRLFs before decoding', () => {
    const crlf = RST.replace(b64Of(RST), b64Of(RST).replace(/\n/g, '&#xD;\r\n  '));
    expect(Buffer.from(rst(crlf).token!.der).equals(CSR)).toBe(true);
  });

  it('reads a QueryTokenStatus poll as cepces sends it: empty token, RequestID after it', () => {
    const poll = RST.replace('200512/Issue', '200512/Issue'.replace('200512/Issue', 'x'))
      .replace(/<ns4:RequestType>[^<]*</, `<ns4:RequestType>${WSTEP.queryTokenStatus}<`)
      .replace(/(<ns2:BinarySecurityToken[^>]*>)[^<]*(<\/ns2:BinarySecurityToken>)/, '$1$2<ns5:RequestID xmlns:ns5="http://schemas.microsoft.com/windows/pki/2009/01/enrollment">42</ns5:RequestID>');
    expect(rst(poll)).toEqual({ requestType: 'queryTokenStatus', tokenType: expect.any(String), requestId: '42', additionalContext: [] });
    expect(() => rst(poll.replace('>42<', '><'))).toThrow(/QueryTokenStatus needs a RequestID/);
  });

  it('reads MS-WSTEP 4.1.1.1: secext #PKCS7 ValueType on a PKCS#10, nil RequestID, default namespaces', () => {
    const xml = `<s:Envelope xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><a:Action s:mustUnderstand="1">
${WSTEP.action}</a:Action></s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><RequestSecurityToken xmlns="http://docs.oasis-open.org/ws-sx/ws-trust/200512">
<TokenType>http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3</TokenType><RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</RequestType>
<BinarySecurityToken EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary" ValueType="${WSTEP.secextValueTypes.pkcs7}" xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">${CSR.toString('base64').replace(/(.{64})/g, '$1 ')}</BinarySecurityToken>
<RequestID xsi:nil="true" xmlns="http://schemas.microsoft.com/windows/pki/2009/01/enrollment" /></RequestSecurityToken></s:Body></s:Envelope>`;
    const r = rst(xml);
    expect(r.token).toMatchObject({ valueType: 'pkcs10', declaredValueType: WSTEP.secextValueTypes.pkcs7 });
    expect(r.requestId).toBeUndefined();
    // A real ContentInfo keeps its PKCS7 label.
    const ci = Buffer.from('3080060b2a864886f70d010907020100', 'hex');
    expect(rst(xml.replace(/(<BinarySecurityToken[^>]*>)[^<]*/, `$1${ci.toString('base64')}`)).token!.valueType).toBe('pkcs7');
  });

  it('reads AdditionalContext, ignores a RequestID in an Issue, refuses KET, enforces the token limit', () => {
    const ctx = RST.replace('</ns4:RequestSecurityToken>', '<ns5:RequestID xmlns:ns5="http://schemas.microsoft.com/windows/pki/2009/01/enrollment">7</ns5:RequestID><ac:AdditionalContext xmlns:ac="http://schemas.xmlsoap.org/ws/2006/12/authorization"><ac:ContextItem Name="CertificateTemplate"><ac:Value>WebServer</ac:Value></ac:ContextItem><ac:ContextItem Name="ccm"><ac:Value>host1</ac:Value></ac:ContextItem></ac:AdditionalContext></ns4:RequestSecurityToken>');
    const r = rst(ctx);
    expect(r.additionalContext).toEqual([{ name: 'CertificateTemplate', value: 'WebServer' }, { name: 'ccm', value: 'host1' }]);
    expect(r.requestId).toBeUndefined();
    expect(() => rst(RST.replace('200512/Issue', '200512/KET'))).toThrow(/KET\) are not supported/);
    expect(() => rst(RST, { maxTokenBytes: 100 })).toThrow(expect.objectContaining({ kind: 'tooLarge' }));
    expect(() => rst(RST.replace('#X509v3</ns4:TokenType>', '#X509PKIPathv1</ns4:TokenType>'))).toThrow(/TokenType .* is not supported/);
    expect(() => rst(RST.replace(/<ns2:BinarySecurityToken[\s\S]*<\/ns2:BinarySecurityToken>/, ''))).toThrow(/no BinarySecurityToken/);
  });

  it('round-trips the client builder (renew with a UsernameToken, issue with context)', () => {
    const der = new Uint8Array(Buffer.from('3080060b2a864886f70d010907020100', 'hex'));
    const xml = buildRstRequest({ to: 'https://h/CA_CES_UsernamePassword/service.svc/CES', requestType: 'renew', token: { valueType: 'pkcs7', der }, usernameToken: { username: 'alice', password: 'pw', created: new Date(0) }, additionalContext: [{ name: 'rmd', value: 'example.test' }] });
    const env = parseEnvelope(xml, OPTS);
    expect(env.header).toMatchObject({ action: WSTEP.action, to: 'https://h/CA_CES_UsernamePassword/service.svc/CES' });
    expect(env.header.security!.usernameToken).toMatchObject({ username: 'alice', password: 'pw', created: new Date(0) });
    const r = parseRst(env, LIMITS);
    expect(r).toMatchObject({ requestType: 'renew', additionalContext: [{ name: 'rmd', value: 'example.test' }] });
    expect([...r.token!.der]).toEqual([...der]);
    expect(rst(buildRstRequest({ to: 'x', requestType: 'queryTokenStatus', requestId: '9' }))).toMatchObject({ requestType: 'queryTokenStatus', requestId: '9' });
  });
});

describe('RSTR and fault builders', () => {
  const cert = new Uint8Array([0x30, 0x82, 0x01, 0x0a, 1, 2, 3]);
  const full = new Uint8Array([0x30, 0x80, 9, 9]);

  it('issued: RequestedSecurityToken holds the X509v3 certificate; the PKCS7 full response beside it; in ADCS order', () => {
    const body = buildRstrIssued({ requestId: '61', certificateDer: cert, fullResponseDer: full });
    const order = ['<TokenType>', '<DispositionMessage xml:lang="en-US"', `ValueType="${WSTEP.secextValueTypes.pkcs7}"`, '<RequestedSecurityToken><wsse:BinarySecurityToken', '#X509v3"', '<RequestID'];
    const at = order.map((s) => body.indexOf(s));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    const env = parseEnvelope(buildResponseEnvelope({ action: WSTEP.responseAction, relatesTo: 'urn:uuid:r', bodyXml: body }), OPTS);
    expect(env.header.action).toBe('http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RSTRC/wstep');
    const r = parseRstrResponse(env);
    expect(r).toMatchObject({ disposition: 'issued', requestId: '61', message: 'Issued' });
    expect(r.disposition === 'issued' && [...r.certificateDer]).toEqual([...cert]);
    expect([...r.fullResponseDer!]).toEqual([...full]);
  });

  it('pending: a SecurityTokenReference/Reference URI and no BinarySecurityToken inside RequestedSecurityToken', () => {
    const body = buildRstrPending({ requestId: '65', message: 'Taken Under Submission', referenceUri: 'https://ca.example.test/CA_CES_Kerberos/service.svc/CES?a=1&b=2' });
    expect(body).toMatch(/<RequestedSecurityToken><wsse:SecurityTokenReference [^>]*><wsse:Reference URI="[^"]*&amp;b=2"\/><\/wsse:SecurityTokenReference><\/RequestedSecurityToken>/);
    const r = parseRstrResponse(parseEnvelope(buildResponseEnvelope({ action: WSTEP.responseAction, bodyXml: body }), OPTS));
    expect(r).toEqual({ disposition: 'pending', requestId: '65', referenceUri: 'https://ca.example.test/CA_CES_Kerberos/service.svc/CES?a=1&b=2', message: 'Taken Under Submission', fullResponseDer: undefined });
    // cepces polls with int(RequestID) and reads it as an unsigned 32-bit value.
    expect(() => buildRstrPending({ requestId: 'abc', message: 'x', referenceUri: 'u' })).toThrow(OpencesError);
    expect(() => buildRstrIssued({ requestId: '4294967296', certificateDer: cert, fullResponseDer: full })).toThrow(/unsigned 32-bit/);
  });

  it('DispositionMessage and CertificateEnrollmentWSDetail validate against the MS-WSTEP schema', async () => {
    const detail = buildEnrollmentFaultDetail({ errorCode: HRESULT.CERTSRV_E_TEMPLATE_DENIED, invalidRequest: true, requestId: '12' });
    expect((await validateXml(extractElement(detail, 'CertificateEnrollmentWSDetail'), XSD, { imports: XML_XSD })).errors).toEqual([]);
    const nils = buildEnrollmentFaultDetail({ errorCode: HRESULT.E_UNEXPECTED, invalidRequest: false, binaryResponseDer: full });
    expect((await validateXml(extractElement(nils, 'CertificateEnrollmentWSDetail'), XSD, { imports: XML_XSD })).valid).toBe(true);
    const disp = extractElement(buildRstrIssued({ requestId: '1', certificateDer: cert, fullResponseDer: full }), 'DispositionMessage');
    expect((await validateXml(disp, XSD, { imports: XML_XSD })).valid).toBe(true);
    const misordered = detail.replace(/(<ErrorCode>[^<]*<\/ErrorCode>)(<InvalidRequest>[^<]*<\/InvalidRequest>)/, '$2$1');
    expect((await validateXml(extractElement(misordered, 'CertificateEnrollmentWSDetail'), XSD, { imports: XML_XSD })).valid).toBe(false);
  });

  it('fault detail: ErrorCode as Windows writes it (signed 32-bit), nil where absent, read back unsigned', () => {
    const detail = buildEnrollmentFaultDetail({ errorCode: HRESULT.CERTSRV_E_TEMPLATE_DENIED, invalidRequest: true });
    expect(detail).toContain('<BinaryResponse xsi:nil="true"/><ErrorCode>-2146877422</ErrorCode><InvalidRequest>true</InvalidRequest><RequestID xsi:nil="true"/>');
    const env = parseEnvelope(buildFaultEnvelope({ code: 'Receiver', reason: 'Denied by Policy Module', detailXml: detail, relatesTo: 'urn:uuid:q' }), OPTS);
    expect(parseFault(env)).toEqual({ code: 'Receiver', reason: 'Denied by Policy Module', detail: { errorCode: 0x80094012, invalidRequest: true, requestId: undefined, binaryResponseDer: undefined } });
    expect(parseFault(parseEnvelope(buildFaultEnvelope({ code: 'Sender', reason: 'authentication failed' }), OPTS))).toEqual({ code: 'Sender', reason: 'authentication failed' });
    expect(parseFault(parseEnvelope(RST, OPTS))).toBeNull();
  });

  it('reads the WCF fault of MS-WSTEP 4.1.4.2 (subcode, no detail)', () => {
    const xml = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header><a:Action s:mustUnderstand="1">http://schemas.microsoft.com/net/2005/12/windowscommunicationfoundation/dispatcher/fault</a:Action></s:Header><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value xmlns:a="http://schemas.microsoft.com/net/2005/12/windowscommunicationfoundation/dispatcher">a:InternalServiceFault</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">The server was unable to process the request due to an internal error.</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>`;
    expect(parseFault(parseEnvelope(xml, OPTS))).toEqual({ code: 'Receiver', subcode: '{http://schemas.microsoft.com/net/2005/12/windowscommunicationfoundation/dispatcher}InternalServiceFault', reason: 'The server was unable to process the request due to an internal error.' });
  });
});
