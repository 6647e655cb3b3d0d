import { OpencesError } from '../../errors.js';
import { decodeBase64Token } from '../pkcs10/base64.js';
import type { SoapEnvelope } from '../soap/envelope.js';
import { BASE64_ENCODING, NS, X509V3 } from '../soap/namespaces.js';
import { child, children, esc, isNil, optionalText, text } from '../soap/xml.js';
import { WSTEP, type RstrResult, type SoapFaultInfo } from './types.js';

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const WSSE = `xmlns:wsse="${NS.wsse}"`;

function rstr(inner: string): string {
  return `<RequestSecurityTokenResponseCollection xmlns="${NS.wst}"><RequestSecurityTokenResponse>${inner}</RequestSecurityTokenResponse></RequestSecurityTokenResponseCollection>`;
}

function head(message: string): string {
  return `<TokenType>${X509V3}</TokenType><DispositionMessage xml:lang="en-US" xmlns="${NS.wstep}">${esc(message)}</DispositionMessage>`;
}

function fullResponse(der: Uint8Array | undefined): string {
  return der ? `<wsse:BinarySecurityToken ${WSSE} ValueType="${WSTEP.valueTypes.pkcs7}" EncodingType="${BASE64_ENCODING}">${b64(der)}</wsse:BinarySecurityToken>` : '';
}

const requestIdEl = (id: string): string => `<RequestID xmlns="${NS.wstep}">${esc(id)}</RequestID>`;

/** MS-WSTEP issued answer: the full response (CMC/PKCS#7 with chain) and the end-entity certificate. */
export function buildRstrIssued(o: { requestId: string; certificateDer: Uint8Array; fullResponseDer: Uint8Array; message?: string }): string {
  return rstr(
    head(o.message ?? 'Issued') +
      fullResponse(o.fullResponseDer) +
      `<RequestedSecurityToken><wsse:BinarySecurityToken ${WSSE} ValueType="${X509V3}" EncodingType="${BASE64_ENCODING}">${b64(o.certificateDer)}</wsse:BinarySecurityToken></RequestedSecurityToken>` +
      requestIdEl(o.requestId),
  );
}

/** MS-WSTEP pending answer (3.1.4.2.1.1): a reference the client polls instead of a certificate. */
export function buildRstrPending(o: { requestId: string; message: string; referenceUri: string; fullResponseDer?: Uint8Array }): string {
  return rstr(
    head(o.message) +
      fullResponse(o.fullResponseDer) +
      `<RequestedSecurityToken><wsse:SecurityTokenReference ${WSSE}><wsse:Reference URI="${esc(o.referenceUri)}"/></wsse:SecurityTokenReference></RequestedSecurityToken>` +
      requestIdEl(o.requestId),
  );
}

/** CertificateEnrollmentWSDetail (MS-WSTEP 2.2.4.1) for faults; ErrorCode as Windows writes it (signed 32-bit). */
export function buildEnrollmentFaultDetail(o: { binaryResponseDer?: Uint8Array; errorCode: number; invalidRequest: boolean; requestId?: string }): string {
  return (
    `<CertificateEnrollmentWSDetail xmlns="${NS.wstep}" xmlns:xsi="${NS.xsi}">` +
    (o.binaryResponseDer ? `<BinaryResponse>${b64(o.binaryResponseDer)}</BinaryResponse>` : '<BinaryResponse xsi:nil="true"/>') +
    `<ErrorCode>${o.errorCode | 0}</ErrorCode><InvalidRequest>${o.invalidRequest}</InvalidRequest>` +
    (o.requestId ? `<RequestID>${esc(o.requestId)}</RequestID>` : '<RequestID xsi:nil="true"/>') +
    `</CertificateEnrollmentWSDetail>`
  );
}

// ---- client side

export function parseRstrResponse(env: SoapEnvelope): RstrResult {
  const op = env.operation;
  if (!op || op.namespaceURI !== NS.wst || op.localName !== 'RequestSecurityTokenResponseCollection') throw new OpencesError('malformed', 'the answer is not a RequestSecurityTokenResponseCollection');
  const r = child(op, NS.wst, 'RequestSecurityTokenResponse');
  if (!r) throw new OpencesError('malformed', 'the answer holds no RequestSecurityTokenResponse');
  const message = optionalText(child(r, NS.wstep, 'DispositionMessage'));
  const requestId = optionalText(child(r, NS.wstep, 'RequestID'));
  const full = children(r, NS.wsse, 'BinarySecurityToken')[0];
  const fullResponseDer = full && text(full)?.trim() ? decodeBase64Token(text(full)!, 'full response') : undefined;
  const rst = child(r, NS.wst, 'RequestedSecurityToken');
  const certEl = child(rst, NS.wsse, 'BinarySecurityToken');
  if (certEl && text(certEl)?.trim()) return { disposition: 'issued', requestId, certificateDer: decodeBase64Token(text(certEl)!, 'certificate'), fullResponseDer, message };
  const ref = child(child(rst, NS.wsse, 'SecurityTokenReference'), NS.wsse, 'Reference');
  return { disposition: 'pending', requestId, referenceUri: ref?.getAttribute('URI') ?? undefined, fullResponseDer, message };
}

export function parseFault(env: SoapEnvelope): SoapFaultInfo | null {
  const f = env.operation;
  if (!f || f.namespaceURI !== NS.soap12 || f.localName !== 'Fault') return null;
  const code = text(child(child(f, NS.soap12, 'Code'), NS.soap12, 'Value'))?.trim() ?? '';
  const reason = text(child(child(f, NS.soap12, 'Reason'), NS.soap12, 'Text'))?.trim() ?? '';
  const d = child(child(f, NS.soap12, 'Detail'), NS.wstep, 'CertificateEnrollmentWSDetail');
  if (!d) return { code, reason };
  const br = child(d, NS.wstep, 'BinaryResponse');
  const ec = optionalText(child(d, NS.wstep, 'ErrorCode'));
  return {
    code,
    reason,
    detail: {
      errorCode: ec === undefined ? undefined : Number(ec) >>> 0,
      invalidRequest: optionalText(child(d, NS.wstep, 'InvalidRequest')) === 'true',
      requestId: optionalText(child(d, NS.wstep, 'RequestID')),
      binaryResponseDer: br && !isNil(br) && text(br)?.trim() ? decodeBase64Token(text(br)!, 'BinaryResponse') : undefined,
    },
  };
}
