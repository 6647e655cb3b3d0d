import { OpencesError } from '../../errors.js';
import { decodeBase64Token } from '../pkcs10/base64.js';
import { NS, PASSWORD_TEXT } from './namespaces.js';
import { child, childElements, text, type El } from './xml.js';

export interface UsernameTokenHeader {
  username: string;
  password: string;
  passwordType: string;
  nonce?: Uint8Array;
  created?: Date;
}

export interface SecurityHeader {
  element: El;
  usernameToken?: UsernameTokenHeader;
  timestamp?: { id?: string; created?: Date; expires?: Date; element: El };
  binarySecurityTokens: { id?: string; valueType?: string; element: El }[];
  signature?: El;
}

function parseDate(s: string | undefined, what: string): Date | undefined {
  if (s === undefined) return undefined;
  const d = new Date(s.trim());
  if (Number.isNaN(d.getTime())) throw new OpencesError('malformed', `${what} is not a valid date`);
  return d;
}

export function parseSecurityHeader(sec: El): SecurityHeader {
  const out: SecurityHeader = { element: sec, binarySecurityTokens: [] };
  for (const e of childElements(sec)) {
    if (e.namespaceURI === NS.wsse && e.localName === 'UsernameToken') {
      if (out.usernameToken) throw new OpencesError('malformed', 'more than one UsernameToken');
      const username = text(child(e, NS.wsse, 'Username'))?.trim() ?? '';
      const pw = child(e, NS.wsse, 'Password');
      const passwordType = pw?.getAttribute('Type') || pw?.getAttributeNS(NS.wsse, 'Type') || PASSWORD_TEXT;
      if (passwordType !== PASSWORD_TEXT) throw new OpencesError('unsupported', 'only PasswordText UsernameTokens are supported (over TLS)');
      const nonceText = text(child(e, NS.wsse, 'Nonce'));
      out.usernameToken = {
        username,
        password: text(pw) ?? '',
        passwordType,
        nonce: nonceText !== undefined ? decodeBase64Token(nonceText, 'UsernameToken Nonce') : undefined,
        created: parseDate(text(child(e, NS.wsu, 'Created')), 'UsernameToken Created'),
      };
    } else if (e.namespaceURI === NS.wsu && e.localName === 'Timestamp') {
      out.timestamp = {
        id: e.getAttributeNS(NS.wsu, 'Id') || undefined,
        created: parseDate(text(child(e, NS.wsu, 'Created')), 'Timestamp Created'),
        expires: parseDate(text(child(e, NS.wsu, 'Expires')), 'Timestamp Expires'),
        element: e,
      };
    } else if (e.namespaceURI === NS.wsse && e.localName === 'BinarySecurityToken') {
      out.binarySecurityTokens.push({ id: e.getAttributeNS(NS.wsu, 'Id') || undefined, valueType: e.getAttribute('ValueType') || undefined, element: e });
    } else if (e.namespaceURI === NS.ds && e.localName === 'Signature') {
      out.signature = e;
    }
  }
  return out;
}
