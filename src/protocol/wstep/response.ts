import { OpencesError } from '../../errors.js';
import { decodeBase64Token } from '../pkcs10/base64.js';
import type { SoapEnvelope } from '../soap/envelope.js';
import { parseSoapFault } from '../soap/fault.js';
import { BASE64_ENCODING, NS, X509V3 } from '../soap/namespaces.js';
import { child, children, esc, isNil, optionalText, text } from '../soap/xml.js';
import { WSTEP, type RstrResult, type SoapFaultInfo } from './types.js';

// ---- server side. Element names, namespaces and order follow MS-WSTEP §4.1.1.2 (what ADCS sends)
// and what cepces reads (wstep/types.py: RequestedSecurityToken/BinarySecurityToken, or
// RequestedSecurityToken/SecurityTokenReference/Reference@URI, and RequestID as an unsigned int).

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
const WSSE = `xmlns:wsse="${NS.wsse}"`;
const RSTRC_OPEN = `<RequestSecurityTokenResponseCollection xmlns="${NS.wst}"><RequestSecurityTokenResponse><TokenType>${X509V3}</TokenType>`;
const RSTRC_CLOSE = '</RequestSecurityTokenResponse></RequestSecurityTokenResponseCollection>';

/** cepces parses RequestID with an unsigned 32-bit converter and polls with int(RequestID). */
function checkRequestId(id: string): string {
  if (!/^\d{1,10}$/.test(id) || Number(id) > 0xffffffff) throw new OpencesError('internal', `request id ${id.slice(0, 40)} is not an unsigned 32-bit decimal number`);
  return id;
}

function disposition(message: string): string {
  return `<DispositionMessage xml:lang="en-US" xmlns="${NS.wstep}">${esc(message)}</DispositionMessage>`;
}

function fullResponse(der: Uint8Array | undefined): string {
  // ValueType as ADCS writes it in MS-WSTEP §4.1.1.2 (secext namespace, #PKCS7).
  return der ? `<wsse:BinarySecurityToken ${WSSE} ValueType="${WSTEP.secextValueTypes.pkcs7}" EncodingType="${BASE64_ENCODING}">${b64(der)}</wsse:BinarySecurityToken>` : '';
}

const requestIdEl = (id: string): string => `<RequestID xmlns="${NS.wstep}">${checkRequestId(id)}</RequestID>`;

/**
 * The RSTRC body for an issued certificate: TokenType, DispositionMessage, the full response
 * (CMC/PKCS#7 with the chain), RequestedSecurityToken with the end-entity certificate alone, RequestID.
 */
export function buildRstrIssued(o: { requestId: string; certificateDer: Uint8Array; fullResponseDer: Uint8Array; message?: string }): string {
  return (
    RSTRC_OPEN +
    disposition(o.message ?? 'Issued') +
    fullResponse(o.fullResponseDer) +
    `<RequestedSecurityToken><wsse:BinarySecurityToken ${WSSE} ValueType="${X509V3}" EncodingType="${BASE64_ENCODING}">${b64(o.certificateDer)}</wsse:BinarySecurityToken></RequestedSecurityToken>` +
    requestIdEl(o.requestId) +
    RSTRC_CLOSE
  );
}

/**
 * The pending RSTRC body (MS-WSTEP 3.1.4.2.1.1): no certificate, but a reference the client polls.
 * cepces stores `RequestID,URI` and sends its QueryTokenStatus to that URI: make it the CES URL.
 */
export function buildRstrPending(o: { requestId: string; message: string; referenceUri: string; fullResponseDer?: Uint8Array }): string {
  return (
    RSTRC_OPEN +
    disposition(o.message) +
    fullResponse(o.fullResponseDer) +
    `<RequestedSecurityToken><wsse:SecurityTokenReference ${WSSE}><wsse:Reference URI="${esc(o.referenceUri)}"/></wsse:SecurityTokenReference></RequestedSecurityToken>` +
    requestIdEl(o.requestId) +
    RSTRC_CLOSE
  );
}

/**
 * wstep:CertificateEnrollmentWSDetail (MS-WSTEP 3.1.4.1.3.7) for s:Detail, in sequence order
 * BinaryResponse, ErrorCode, InvalidRequest, RequestID, each nil when absent. ErrorCode is the
 * HRESULT as Windows writes it: a signed 32-bit int (0x80094012 → -2146877422).
 */
export function buildEnrollmentFaultDetail(o: { binaryResponseDer?: Uint8Array; errorCode: number; invalidRequest: boolean; requestId?: string }): string {
  return (
    `<CertificateEnrollmentWSDetail xmlns="${NS.wstep}" xmlns:xsi="${NS.xsi}">` +
    (o.binaryResponseDer ? `<BinaryResponse>${b64(o.binaryResponseDer)}</BinaryResponse>` : '<BinaryResponse xsi:nil="true"/>') +
    `<ErrorCode>${o.errorCode | 0}</ErrorCode><InvalidRequest>${o.invalidRequest ? 'true' : 'false'}</InvalidRequest>` +
    (o.requestId ? `<RequestID>${esc(o.requestId)}</RequestID>` : '<RequestID xsi:nil="true"/>') +
    `</CertificateEnrollmentWSDetail>`
  );
}

// ---- client side

/** Client side: the issued or pending answer in an RSTRC. Faults are read with parseFault first. */
export function parseRstrResponse(env: SoapEnvelope): RstrResult {
  const op = env.operation;
  if (!op || op.namespaceURI !== NS.wst || op.localName !== 'RequestSecurityTokenResponseCollection') {
    throw new OpencesError('malformed', 'the answer is not a WS-Trust RequestSecurityTokenResponseCollection');
  }
  const all = children(op, NS.wst, 'RequestSecurityTokenResponse');
  if (all.length !== 1) throw new OpencesError('malformed', `the answer holds ${all.length} RequestSecurityTokenResponse elements (MS-WSTEP allows exactly one)`);
  const r = all[0]!;
  const message = optionalText(child(r, NS.wstep, 'DispositionMessage'));
  const ridEl = child(r, NS.wstep, 'RequestID');
  const requestId = ridEl && !isNil(ridEl) ? optionalText(ridEl) : undefined;
  const full = child(r, NS.wsse, 'BinarySecurityToken');
  const fullText = full ? (text(full) ?? '') : '';
  const fullResponseDer = fullText.trim() ? decodeBase64Token(fullText, 'full response') : undefined;
  const rst = child(r, NS.wst, 'RequestedSecurityToken');
  const certEl = child(rst, NS.wsse, 'BinarySecurityToken');
  const certText = certEl ? (text(certEl) ?? '') : '';
  if (certText.trim()) return { disposition: 'issued', requestId, certificateDer: decodeBase64Token(certText, 'certificate'), fullResponseDer, message };
  const ref = child(child(rst, NS.wsse, 'SecurityTokenReference'), NS.wsse, 'Reference');
  if (!ref && !requestId) throw new OpencesError('malformed', 'the answer holds neither a certificate nor a pending reference');
  return { disposition: 'pending', requestId, referenceUri: ref?.getAttribute('URI')?.trim() || undefined, fullResponseDer, message };
}

/** Client side: a SOAP fault with MS-WSTEP's CertificateEnrollmentWSDetail when present; null when the Body is no fault. */
export function parseFault(env: SoapEnvelope): SoapFaultInfo | null {
  const f = parseSoapFault(env);
  if (!f) return null;
  const out: SoapFaultInfo = { code: f.code, reason: f.reason };
  if (f.subcode) out.subcode = f.subcode;
  const d = child(f.detailElement, NS.wstep, 'CertificateEnrollmentWSDetail');
  if (!d || isNil(d)) return out;
  const br = child(d, NS.wstep, 'BinaryResponse');
  const brText = br && !isNil(br) ? (text(br) ?? '') : '';
  const ecEl = child(d, NS.wstep, 'ErrorCode');
  const ec = ecEl && !isNil(ecEl) ? optionalText(ecEl) : undefined;
  if (ec !== undefined && !/^[+-]?\d{1,10}$/.test(ec)) throw new OpencesError('malformed', 'the fault detail ErrorCode is not an integer');
  const ir = optionalText(child(d, NS.wstep, 'InvalidRequest'));
  const ridEl = child(d, NS.wstep, 'RequestID');
  out.detail = {
    errorCode: ec === undefined ? undefined : Number(ec) >>> 0,
    invalidRequest: ir === 'true' || ir === '1',
    requestId: ridEl && !isNil(ridEl) ? optionalText(ridEl) : undefined,
    binaryResponseDer: brText.trim() ? decodeBase64Token(brText, 'BinaryResponse') : undefined,
  };
  return out;
}
