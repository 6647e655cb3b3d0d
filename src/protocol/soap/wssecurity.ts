import { OpencesError } from '../../errors.js';
import { decodeBase64Token } from '../pkcs10/base64.js';
import { NS, PASSWORD_DIGEST, PASSWORD_TEXT } from './namespaces.js';
import { child, childElements, esc, text, type El } from './xml.js';

export interface UsernameTokenHeader {
  username: string;
  password: string;
  /** Always PasswordText: digests are refused at parse time (we keep password hashes, not passwords). */
  passwordType: string;
  nonce?: Uint8Array;
  created?: Date;
}

export interface TimestampHeader {
  id?: string;
  created?: Date;
  expires?: Date;
  element: El;
}

export interface BinarySecurityTokenHeader {
  id?: string;
  valueType?: string;
  element: El;
}

export interface SecurityHeader {
  element: El;
  usernameToken?: UsernameTokenHeader;
  timestamp?: TimestampHeader;
  binarySecurityTokens: BinarySecurityTokenHeader[];
  /** The ds:Signature element; verification happens in src/auth/message-signature.ts. */
  signature?: El;
  hasSignature: boolean;
  hasBinarySecurityToken: boolean;
}

// xs:dateTime as WS-Security uses it; without a zone the value is UTC (WS-Security 1.1 §10).
const DATE_TIME = /^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/;

/** Parses an xs:dateTime; a value without a zone is taken as UTC. Undefined for undefined input. */
export function parseDateTime(s: string | undefined, what: string): Date | undefined {
  if (s === undefined) return undefined;
  const t = s.trim();
  if (!DATE_TIME.test(t)) throw new OpencesError('malformed', `${what} is not an xs:dateTime`, { field: what });
  const d = new Date(/(Z|[+-]\d{2}:\d{2})$/.test(t) ? t : `${t}Z`);
  if (Number.isNaN(d.getTime())) throw new OpencesError('malformed', `${what} is not a valid date`, { field: what });
  return d;
}

function usernameToken(e: El): UsernameTokenHeader {
  const userEl = child(e, NS.wsse, 'Username');
  if (!userEl) throw new OpencesError('malformed', 'the UsernameToken has no Username');
  const pw = child(e, NS.wsse, 'Password');
  if (!pw) throw new OpencesError('malformed', 'the UsernameToken has no Password');
  // The profile defines Type unqualified; cepces qualifies it with the wsse prefix. Accept both.
  const passwordType = (pw.getAttribute('Type') || pw.getAttributeNS(NS.wsse, 'Type') || PASSWORD_TEXT).trim();
  if (passwordType === PASSWORD_DIGEST) throw new OpencesError('unsupported', 'PasswordDigest UsernameTokens are not supported: send PasswordText over TLS');
  if (passwordType !== PASSWORD_TEXT) throw new OpencesError('unsupported', `the UsernameToken password type ${passwordType.slice(0, 200)} is not supported (PasswordText is)`);
  const nonceText = text(child(e, NS.wsse, 'Nonce'));
  return {
    username: (text(userEl) ?? '').trim(),
    password: text(pw) ?? '',
    passwordType,
    nonce: nonceText !== undefined && nonceText.trim() !== '' ? decodeBase64Token(nonceText, 'UsernameToken Nonce') : undefined,
    created: parseDateTime(text(child(e, NS.wsu, 'Created')), 'UsernameToken Created'),
  };
}

/** The wsse:Security header: UsernameToken, Timestamp, BinarySecurityTokens and whether a signature is present. */
export function parseSecurityHeader(sec: El): SecurityHeader {
  const out: SecurityHeader = { element: sec, binarySecurityTokens: [], hasSignature: false, hasBinarySecurityToken: false };
  for (const e of childElements(sec)) {
    if (e.namespaceURI === NS.wsse && e.localName === 'UsernameToken') {
      if (out.usernameToken) throw new OpencesError('malformed', 'the Security header carries more than one UsernameToken');
      out.usernameToken = usernameToken(e);
    } else if (e.namespaceURI === NS.wsu && e.localName === 'Timestamp') {
      if (out.timestamp) throw new OpencesError('malformed', 'the Security header carries more than one Timestamp');
      out.timestamp = {
        id: e.getAttributeNS(NS.wsu, 'Id') || undefined,
        created: parseDateTime(text(child(e, NS.wsu, 'Created')), 'Timestamp Created'),
        expires: parseDateTime(text(child(e, NS.wsu, 'Expires')), 'Timestamp Expires'),
        element: e,
      };
    } else if (e.namespaceURI === NS.wsse && e.localName === 'BinarySecurityToken') {
      out.binarySecurityTokens.push({ id: e.getAttributeNS(NS.wsu, 'Id') || undefined, valueType: e.getAttribute('ValueType')?.trim() || undefined, element: e });
      out.hasBinarySecurityToken = true;
    } else if (e.namespaceURI === NS.ds && e.localName === 'Signature') {
      if (out.signature) throw new OpencesError('malformed', 'the Security header carries more than one Signature');
      out.signature = e;
      out.hasSignature = true;
    }
  }
  return out;
}

/** xs:dateTime in whole seconds, as cepces and WCF write it. */
export function formatDateTime(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Client side: a wsse:Security header with a PasswordText UsernameToken (prefixes s, wsse, wsu). */
export function buildUsernameTokenHeader(o: { username: string; password: string; nonce?: Uint8Array; created?: Date }): string {
  return (
    `<wsse:Security s:mustUnderstand="1" xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}"><wsse:UsernameToken>` +
    `<wsse:Username>${esc(o.username)}</wsse:Username><wsse:Password Type="${PASSWORD_TEXT}">${esc(o.password)}</wsse:Password>` +
    (o.nonce ? `<wsse:Nonce>${Buffer.from(o.nonce).toString('base64')}</wsse:Nonce>` : '') +
    (o.created ? `<wsu:Created>${formatDateTime(o.created)}</wsu:Created>` : '') +
    `</wsse:UsernameToken></wsse:Security>`
  );
}
