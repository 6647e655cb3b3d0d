import { randomUUID } from 'node:crypto';
import { OpencesError } from '../../errors.js';
import { decodeBase64Token } from '../pkcs10/base64.js';
import type { SoapEnvelope } from '../soap/envelope.js';
import { BASE64_ENCODING, NS, X509V3 } from '../soap/namespaces.js';
import { child, childElements, children, esc, optionalText, text } from '../soap/xml.js';
import { WSTEP, type RequestKind, type RstRequest, type TokenFormat } from './types.js';

const KINDS: Record<string, RequestKind> = { [WSTEP.issue]: 'issue', [WSTEP.renew]: 'renew', [WSTEP.queryTokenStatus]: 'queryTokenStatus' };
const FORMATS: Record<string, TokenFormat> = {
  [WSTEP.valueTypes.pkcs10]: 'pkcs10',
  [WSTEP.valueTypes.pkcs7]: 'pkcs7',
  [WSTEP.valueTypes.cmc]: 'cmc',
};

/** Server side: a WS-Trust RequestSecurityToken profiled by MS-WSTEP. */
export function parseRst(env: SoapEnvelope, opts: { maxTokenBytes: number }): RstRequest {
  const op = env.operation;
  if (!op || op.namespaceURI !== NS.wst || op.localName !== 'RequestSecurityToken') {
    throw new OpencesError('malformed', `the body holds ${op ? `{${op.namespaceURI ?? ''}}${op.localName}` : 'nothing'}, not a WS-Trust RequestSecurityToken`);
  }
  const rt = optionalText(child(op, NS.wst, 'RequestType'));
  if (!rt) throw new OpencesError('malformed', 'RequestSecurityToken has no RequestType');
  const requestType = KINDS[rt];
  if (!requestType) throw new OpencesError('unsupported', `RequestType ${rt} is not supported (Issue, Renew and QueryTokenStatus are)`);
  const tokenType = optionalText(child(op, NS.wst, 'TokenType'));
  if (tokenType && tokenType !== X509V3) throw new OpencesError('unsupported', `TokenType ${tokenType} is not supported (X509v3 is)`);

  const requestIdText = optionalText(child(op, NS.wstep, 'RequestID'));
  if (requestIdText !== undefined && !/^\d{1,18}$/.test(requestIdText)) throw new OpencesError('malformed', 'RequestID is not a request number');

  let token: RstRequest['token'];
  const bsts = children(op, NS.wsse, 'BinarySecurityToken');
  if (bsts.length > 1) throw new OpencesError('malformed', 'more than one BinarySecurityToken in the request');
  const bst = bsts[0];
  const raw = bst ? (text(bst) ?? '') : '';
  // A poll (QueryTokenStatus) may carry an empty token element (cepces does); it is ignored.
  if (bst && raw.trim() !== '') {
    const vt = bst.getAttribute('ValueType') ?? '';
    const valueType = FORMATS[vt];
    if (!valueType) throw new OpencesError('unsupported', `BinarySecurityToken ValueType ${vt || '(none)'} is not supported (PKCS10, PKCS7, CMC are)`);
    const enc = bst.getAttribute('EncodingType');
    if (enc && enc !== BASE64_ENCODING) throw new OpencesError('unsupported', `BinarySecurityToken EncodingType ${enc} is not supported`);
    // Base64 grows 4/3: refuse before decoding what is certainly too large.
    if (raw.length > Math.ceil((opts.maxTokenBytes * 4) / 3) + raw.length / 20 + 1024) throw new OpencesError('tooLarge', `the request token exceeds ${opts.maxTokenBytes} bytes`);
    const der = decodeBase64Token(raw, 'BinarySecurityToken');
    if (der.length > opts.maxTokenBytes) throw new OpencesError('tooLarge', `the request token exceeds ${opts.maxTokenBytes} bytes`);
    token = { valueType, der };
  }
  if (requestType !== 'queryTokenStatus' && !token) throw new OpencesError('malformed', 'the request carries no BinarySecurityToken with a certificate request');
  if (requestType === 'queryTokenStatus' && requestIdText === undefined) throw new OpencesError('malformed', 'QueryTokenStatus needs a RequestID');

  const additionalContext: { name: string; value: string }[] = [];
  const ctx = child(op, NS.ac, 'AdditionalContext');
  if (ctx) {
    for (const item of children(ctx, NS.ac, 'ContextItem')) {
      const name = item.getAttribute('Name') ?? '';
      const value = optionalText(child(item, NS.ac, 'Value')) ?? '';
      if (name) additionalContext.push({ name: name.slice(0, 256), value: value.slice(0, 4096) });
      if (additionalContext.length > 64) throw new OpencesError('malformed', 'too many AdditionalContext items');
    }
  }
  // MS-WSTEP 3.1.4.2.1.1: a RequestID inside an Issue request SHOULD be ignored.
  return { requestType, tokenType, token, requestId: requestType === 'issue' ? undefined : requestIdText, additionalContext };
}

/** Client side: an RST envelope. */
export function buildRstRequest(o: {
  to: string;
  requestType: RequestKind;
  token?: { valueType: TokenFormat; der: Uint8Array };
  requestId?: string;
  additionalContext?: { name: string; value: string }[];
  securityHeaderXml?: string;
  messageId?: string;
}): string {
  const rt = o.requestType === 'issue' ? WSTEP.issue : o.requestType === 'renew' ? WSTEP.renew : WSTEP.queryTokenStatus;
  const token = o.token
    ? `<wsse:BinarySecurityToken ValueType="${WSTEP.valueTypes[o.token.valueType]}" EncodingType="${BASE64_ENCODING}" wsu:Id="">${Buffer.from(o.token.der).toString('base64')}</wsse:BinarySecurityToken>`
    : '';
  const ctx = o.additionalContext?.length
    ? `<ac:AdditionalContext xmlns:ac="${NS.ac}">${o.additionalContext.map((c) => `<ac:ContextItem Name="${esc(c.name)}"><ac:Value>${esc(c.value)}</ac:Value></ac:ContextItem>`).join('')}</ac:AdditionalContext>`
    : '';
  return (
    `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="${NS.soap12}" xmlns:a="${NS.wsa}" xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}" xmlns:wst="${NS.wst}" xmlns:ep="${NS.wstep}">` +
    `<s:Header><a:Action s:mustUnderstand="1">${WSTEP.action}</a:Action><a:MessageID>${esc(o.messageId ?? `urn:uuid:${randomUUID()}`)}</a:MessageID>` +
    `<a:To s:mustUnderstand="1">${esc(o.to)}</a:To>${o.securityHeaderXml ?? ''}</s:Header>` +
    `<s:Body><wst:RequestSecurityToken><wst:TokenType>${X509V3}</wst:TokenType><wst:RequestType>${rt}</wst:RequestType>${token}` +
    `${o.requestId ? `<ep:RequestID>${esc(o.requestId)}</ep:RequestID>` : ''}${ctx}</wst:RequestSecurityToken></s:Body></s:Envelope>`
  );
}

export { childElements };
