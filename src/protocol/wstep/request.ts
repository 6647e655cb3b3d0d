import { OpencesError } from '../../errors.js';
import { decodeBase64Token } from '../pkcs10/base64.js';
import { buildRequestEnvelope } from '../soap/build.js';
import type { SoapEnvelope } from '../soap/envelope.js';
import { BASE64_ENCODING, NS, X509V3 } from '../soap/namespaces.js';
import { buildUsernameTokenHeader } from '../soap/wssecurity.js';
import { child, children, esc, isNil, optionalText, text, type El } from '../soap/xml.js';
import { WSTEP, type RequestKind, type RstParseOptions, type RstRequest, type TokenFormat } from './types.js';

const KINDS: Record<string, RequestKind> = { [WSTEP.issue]: 'issue', [WSTEP.renew]: 'renew', [WSTEP.queryTokenStatus]: 'queryTokenStatus' };
const FORMATS: Record<string, TokenFormat> = {
  [WSTEP.valueTypes.pkcs10]: 'pkcs10',
  [WSTEP.valueTypes.pkcs7]: 'pkcs7',
  [WSTEP.valueTypes.cmc]: 'cmc',
  [WSTEP.secextValueTypes.pkcs10]: 'pkcs10',
  [WSTEP.secextValueTypes.pkcs7]: 'pkcs7',
};
// WS-Security spells it #Base64Binary, MS-WSTEP #base64binary.
const ENCODINGS = new Set([BASE64_ENCODING.toLowerCase()]);
const MAX_CONTEXT_ITEMS = 64;

function single(op: El, ns: string, local: string): El | undefined {
  const found = children(op, ns, local);
  if (found.length > 1) throw new OpencesError('malformed', `the RequestSecurityToken has more than one ${local}`, { field: local });
  return found[0];
}

/** True when the DER starts like a CMS ContentInfo: SEQUENCE { OBJECT IDENTIFIER, … }. */
export function isContentInfo(der: Uint8Array): boolean {
  if (der.length < 4 || der[0] !== 0x30) return false;
  const l = der[1]!;
  const skip = l < 0x80 ? 2 : 2 + (l & 0x7f);
  return der[skip] === 0x06;
}

function token(bst: El, opts: RstParseOptions): RstRequest['token'] {
  const raw = text(bst) ?? '';
  const declared = (bst.getAttribute('ValueType') ?? '').trim();
  let valueType = FORMATS[declared];
  if (!valueType) throw new OpencesError('unsupported', `BinarySecurityToken ValueType ${declared.slice(0, 200) || '(none)'} is not supported (PKCS10, PKCS7 and CMC are)`, { field: 'ValueType' });
  const enc = (bst.getAttribute('EncodingType') ?? '').trim();
  if (enc && !ENCODINGS.has(enc.toLowerCase())) throw new OpencesError('unsupported', `BinarySecurityToken EncodingType ${enc.slice(0, 200)} is not supported (base64binary is)`, { field: 'EncodingType' });
  // Refuse before decoding what is certainly too large (base64 is 4/3 of the bytes, plus line breaks).
  if (raw.length > Math.ceil((opts.maxTokenBytes * 4) / 3) * 2 + 4096) throw new OpencesError('tooLarge', `the request token exceeds ${opts.maxTokenBytes} bytes`);
  const der = decodeBase64Token(raw, 'BinarySecurityToken');
  if (der.length > opts.maxTokenBytes) throw new OpencesError('tooLarge', `the request token of ${der.length} bytes exceeds ${opts.maxTokenBytes} bytes`);
  if (valueType === 'pkcs7' && !isContentInfo(der)) valueType = 'pkcs10';
  return { valueType, der, declaredValueType: declared };
}

/** Server side: a WS-Trust 1.3 RequestSecurityToken as MS-WSTEP profiles it (3.1.4.1.3.3). */
export function parseRst(env: SoapEnvelope, opts: RstParseOptions): RstRequest {
  const op = env.operation;
  if (!op || op.namespaceURI !== NS.wst || op.localName !== 'RequestSecurityToken') {
    throw new OpencesError('malformed', `the body holds ${op ? `{${op.namespaceURI ?? ''}}${op.localName}` : 'nothing'}, not a WS-Trust RequestSecurityToken`);
  }
  const rt = optionalText(single(op, NS.wst, 'RequestType'));
  if (!rt) throw new OpencesError('malformed', 'the RequestSecurityToken has no RequestType (MS-WSTEP 3.1.4.2.1)', { field: 'RequestType' });
  if (rt === WSTEP.ket) throw new OpencesError('unsupported', 'key exchange token requests (KET) are not supported: key archival is not offered');
  const requestType = KINDS[rt];
  if (!requestType) throw new OpencesError('unsupported', `RequestType ${rt.slice(0, 200)} is not supported (Issue, Renew and QueryTokenStatus are)`, { field: 'RequestType' });
  const tokenType = optionalText(single(op, NS.wst, 'TokenType'));
  if (tokenType !== undefined && tokenType !== X509V3) throw new OpencesError('unsupported', `TokenType ${tokenType.slice(0, 200)} is not supported (X509v3 is)`, { field: 'TokenType' });

  const ridEl = single(op, NS.wstep, 'RequestID');
  const requestIdText = ridEl && !isNil(ridEl) ? optionalText(ridEl) : undefined;
  if (requestIdText !== undefined && !/^\d{1,18}$/.test(requestIdText)) throw new OpencesError('malformed', 'RequestID is not a request number', { field: 'RequestID' });

  const bst = single(op, NS.wsse, 'BinarySecurityToken');
  // A poll (QueryTokenStatus) may carry an empty token element (cepces sends one); it is ignored.
  const tok = bst && (text(bst) ?? '').trim() !== '' && requestType !== 'queryTokenStatus' ? token(bst, opts) : undefined;
  if (requestType !== 'queryTokenStatus' && !tok) throw new OpencesError('malformed', 'the request carries no BinarySecurityToken with a certificate request', { field: 'BinarySecurityToken' });
  if (requestType === 'queryTokenStatus' && requestIdText === undefined) throw new OpencesError('malformed', 'QueryTokenStatus needs a RequestID (MS-WSTEP 3.1.4.2.1.2)', { field: 'RequestID' });

  const additionalContext: { name: string; value: string }[] = [];
  const ctx = single(op, NS.ac, 'AdditionalContext');
  if (ctx && !isNil(ctx)) {
    const list = children(ctx, NS.ac, 'ContextItem');
    if (list.length > MAX_CONTEXT_ITEMS) throw new OpencesError('malformed', `AdditionalContext has more than ${MAX_CONTEXT_ITEMS} items`);
    for (const item of list) {
      const name = (item.getAttribute('Name') ?? '').trim();
      const valueEl = child(item, NS.ac, 'Value');
      const value = valueEl && !isNil(valueEl) ? (text(valueEl) ?? '').trim() : '';
      if (name) additionalContext.push({ name: name.slice(0, 256), value: value.slice(0, 4096) });
    }
  }
  const out: RstRequest = { requestType, additionalContext };
  if (tokenType !== undefined) out.tokenType = tokenType;
  if (tok) out.token = tok;
  // MS-WSTEP 3.1.4.2.1.1: a RequestID inside an Issue request SHOULD be ignored.
  if (requestType !== 'issue' && requestIdText !== undefined) out.requestId = requestIdText;
  return out;
}

export interface RstRequestOptions {
  /** The CES URL (WS-Addressing To). */
  to: string;
  requestType: RequestKind;
  token?: { valueType: TokenFormat; der: Uint8Array };
  requestId?: string;
  additionalContext?: { name: string; value: string }[];
  /** A ready wsse:Security header (the prefix `s` is bound to SOAP 1.2). */
  securityHeaderXml?: string;
  /** Or: a PasswordText UsernameToken header built here. */
  usernameToken?: { username: string; password: string; nonce?: Uint8Array; created?: Date };
  messageId?: string;
}

/** Client side: an RST envelope in the order MS-WSTEP's examples use. */
export function buildRstRequest(o: RstRequestOptions): string {
  const rt = o.requestType === 'issue' ? WSTEP.issue : o.requestType === 'renew' ? WSTEP.renew : WSTEP.queryTokenStatus;
  const security = o.securityHeaderXml ?? (o.usernameToken ? buildUsernameTokenHeader(o.usernameToken) : undefined);
  const token = o.token
    ? `<wsse:BinarySecurityToken ValueType="${WSTEP.valueTypes[o.token.valueType]}" EncodingType="${BASE64_ENCODING}" wsu:Id="">${Buffer.from(o.token.der).toString('base64')}</wsse:BinarySecurityToken>`
    : '';
  const ctx = o.additionalContext?.length
    ? `<ac:AdditionalContext xmlns:ac="${NS.ac}">${o.additionalContext.map((c) => `<ac:ContextItem Name="${esc(c.name)}"><ac:Value>${esc(c.value)}</ac:Value></ac:ContextItem>`).join('')}</ac:AdditionalContext>`
    : '';
  const body =
    `<wst:RequestSecurityToken xmlns:wst="${NS.wst}" xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}" xmlns:ep="${NS.wstep}">` +
    `<wst:TokenType>${X509V3}</wst:TokenType><wst:RequestType>${rt}</wst:RequestType>${token}` +
    `${o.requestId ? `<ep:RequestID>${esc(o.requestId)}</ep:RequestID>` : ''}${ctx}</wst:RequestSecurityToken>`;
  return buildRequestEnvelope({ action: WSTEP.action, to: o.to, messageId: o.messageId, securityHeaderXml: security, bodyXml: body });
}
