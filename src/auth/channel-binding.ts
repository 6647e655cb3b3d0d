import { createHash } from 'node:crypto';
import { OpencesError } from '../errors.js';
import { contents, elements, oidString, readTlv } from '../protocol/der-reader.js';
import { decrypt, supportedEnctype } from './krb5-crypto.js';
import type { KeytabEntry } from './keytab.js';

/**
 * Kerberos channel binding (Extended Protection for Authentication): a client that binds its
 * Negotiate token to the TLS connection puts the MD5 of the channel bindings — for HTTPS,
 * `tls-server-end-point:` + the hash of the server's certificate (RFC 5929) — into the GSSAPI
 * checksum of its AP-REQ authenticator (RFC 4121 §4.1.1, the Bnd field). A token made for another
 * TLS connection (a man in the middle with its own certificate) then carries other bindings.
 *
 * The `kerberos` package accepts security contexts with GSS_C_NO_CHANNEL_BINDINGS and exposes no
 * way to pass any (its src/unix/kerberos_gss.cc), so MIT GSSAPI never compares them. We read them
 * ourselves, after GSSAPI has accepted the token (so it is authentic, fresh and for us): decrypt
 * the ticket with the service key from the keytab, take its session key, decrypt the authenticator
 * and read Bnd from its 0x8003 checksum.
 */
export type ChannelBindingMode = 'off' | 'when-present' | 'required';

const OID_SPNEGO = '1.3.6.1.5.5.2';
const OID_KRB5 = ['1.2.840.113554.1.2.2', '1.2.840.48018.1.2.2'];
const GSS_CHECKSUM = 0x8003;
const USAGE_TICKET = 2;
const USAGE_AUTHENTICATOR = 11;

const bad = (why: string): never => {
  throw new OpencesError('unauthenticated', `the Kerberos token's channel bindings cannot be read: ${why}`);
};

// Signature algorithm OID → hash for tls-server-end-point (RFC 5929 §4.1: MD5 and SHA-1 become SHA-256).
const SIG_HASH: Record<string, string> = {
  '1.2.840.113549.1.1.4': 'sha256',
  '1.2.840.113549.1.1.5': 'sha256',
  '1.2.840.10045.4.1': 'sha256',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

/** RFC 5929 tls-server-end-point for a certificate (DER): its hash with its signature's hash function. */
export function tlsServerEndPoint(certDer: Uint8Array): Buffer {
  const [, sigAlg] = elements(certDer);
  if (!sigAlg) throw new OpencesError('internal', 'the TLS certificate does not parse');
  const oid = oidString(elements(sigAlg)[0]!);
  // RSASSA-PSS and the rest: SHA-256, what Windows and requests-gssapi use when in doubt.
  return createHash(SIG_HASH[oid] ?? 'sha256').update(certDer).digest();
}

/** The MD5 of gss_channel_bindings_struct (RFC 4121 §4.1.1.2) with no addresses, as clients send it. */
export function bindingsHash(applicationData: Buffer): Buffer {
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n, 0);
    return b;
  };
  return createHash('md5').update(Buffer.concat([u32(0), u32(0), u32(0), u32(0), u32(applicationData.length), applicationData])).digest();
}

/** What the bindings of a token made for a connection to a server with this certificate hash to. */
export const expectedBindings = (certDer: Uint8Array): Buffer => bindingsHash(Buffer.concat([Buffer.from('tls-server-end-point:'), tlsServerEndPoint(certDer)]));

/** The element of a SEQUENCE under context tag [n] (explicit tagging: the inner TLV), or undefined. */
function field(seq: Uint8Array, n: number): Uint8Array | undefined {
  const e = elements(seq).find((x) => x[0] === (0xa0 | n));
  return e ? contents(e) : undefined;
}

function need(seq: Uint8Array, n: number, what: string): Uint8Array {
  return field(seq, n) ?? bad(`no ${what}`);
}

function int(tlv: Uint8Array): number {
  if (tlv[0] !== 0x02) bad('expected an INTEGER');
  const c = contents(tlv);
  if (c.length === 0 || c.length > 6) bad('an INTEGER out of range');
  let v = c[0]! & 0x80 ? -1 : 0;
  for (const byte of c) v = v * 256 + byte;
  return v;
}

function str(tlv: Uint8Array): string {
  return Buffer.from(contents(tlv)).toString('utf8');
}

/** The SEQUENCE inside an [APPLICATION n] wrapper. */
function app(tlv: Uint8Array, n: number, what: string): Uint8Array {
  if (tlv[0] !== (0x60 | n)) bad(`expected ${what}`);
  const inner = contents(tlv);
  if (inner[0] !== 0x30) bad(`${what} is not a SEQUENCE`);
  return inner;
}

/** The AP-REQ inside a Negotiate token: SPNEGO NegTokenInit's mechToken, or a bare Kerberos GSS token. */
export function apReqOf(token: Uint8Array, depth = 0): Uint8Array {
  if (depth > 1) bad('nested too deeply');
  if (token[0] !== 0x60) bad('not a GSS-API initial context token');
  const body = contents(token);
  const oidTlv = body.subarray(0, readTlv(body).header + readTlv(body).length);
  const oid = oidString(oidTlv);
  const rest = body.subarray(oidTlv.length);
  if (oid === OID_SPNEGO) {
    if (rest[0] !== 0xa0) bad('not a SPNEGO NegTokenInit');
    const init = contents(rest);
    const mech = field(init, 2) ?? bad('the NegTokenInit carries no mechToken');
    if (mech[0] !== 0x04) bad('mechToken is not an OCTET STRING');
    return apReqOf(contents(mech), depth + 1);
  }
  if (!OID_KRB5.includes(oid)) bad(`mechanism ${oid} is not Kerberos`);
  if (rest[0] !== 0x01 || rest[1] !== 0x00) bad('not a Kerberos AP-REQ token');
  const ap = rest.subarray(2);
  return ap.subarray(0, readTlv(ap).header + readTlv(ap).length);
}

interface Encrypted {
  etype: number;
  kvno?: number;
  cipher: Buffer;
}

function encrypted(seq: Uint8Array): Encrypted {
  const kvno = field(seq, 1);
  const cipher = need(seq, 2, 'cipher');
  if (cipher[0] !== 0x04) bad('cipher is not an OCTET STRING');
  return { etype: int(need(seq, 0, 'etype')), ...(kvno ? { kvno: int(kvno) } : {}), cipher: Buffer.from(contents(cipher)) };
}

/** The encryption types of a token's ticket and authenticator (diagnostics and tests). */
export function tokenEnctypes(token: Uint8Array): { ticket: number; authenticator: number } {
  const apReq = app(apReqOf(token), 14, 'an AP-REQ');
  const ticket = app(need(apReq, 3, 'ticket'), 1, 'a Ticket');
  return { ticket: encrypted(need(ticket, 3, 'ticket enc-part')).etype, authenticator: encrypted(need(apReq, 4, 'authenticator')).etype };
}

/**
 * The Bnd field of an accepted token's authenticator: null when the client sent no bindings (16
 * zero bytes, or no GSS checksum), else the 16-byte MD5. `keys` are the service's keytab entries.
 */
export function tokenBindings(token: Uint8Array, keys: KeytabEntry[]): Buffer | null {
  const apReq = app(apReqOf(token), 14, 'an AP-REQ');
  const ticket = app(need(apReq, 3, 'ticket'), 1, 'a Ticket');
  const realm = str(need(ticket, 1, 'realm'));
  const sname = elements(need(need(ticket, 2, 'sname'), 1, 'name-string')).map(str).join('/');
  const encTicket = encrypted(need(ticket, 3, 'ticket enc-part'));
  if (!supportedEnctype(encTicket.etype)) bad(`the ticket's encryption type ${encTicket.etype} is not supported`);
  const candidates = keys.filter((k) => k.principal === sname && k.realm === realm && k.etype === encTicket.etype);
  const ordered = [...candidates.filter((k) => k.kvno === encTicket.kvno), ...candidates.filter((k) => k.kvno !== encTicket.kvno)];
  if (!ordered.length) bad(`no key for ${sname}@${realm} (enctype ${encTicket.etype}) in the keytab`);
  let plain: Buffer | null = null;
  for (const k of ordered) {
    try {
      plain = decrypt(encTicket.etype, k.key, USAGE_TICKET, encTicket.cipher);
      break;
    } catch {
      // another kvno, maybe
    }
  }
  if (!plain) return bad('the ticket does not decrypt with the keytab');
  const encPart = app(plain.subarray(0, readTlv(plain).header + readTlv(plain).length), 3, 'an EncTicketPart');
  const keySeq = need(encPart, 1, 'session key');
  const sessionType = int(need(keySeq, 0, 'keytype'));
  const keyValue = need(keySeq, 1, 'keyvalue');
  if (keyValue[0] !== 0x04) bad('keyvalue is not an OCTET STRING');
  const session = Buffer.from(contents(keyValue));
  const encAuth = encrypted(need(apReq, 4, 'authenticator'));
  if (encAuth.etype !== sessionType) bad('the authenticator is not encrypted with the session key type');
  const authPlain = decrypt(encAuth.etype, session, USAGE_AUTHENTICATOR, encAuth.cipher);
  const auth = app(authPlain.subarray(0, readTlv(authPlain).header + readTlv(authPlain).length), 2, 'an Authenticator');
  const cksum = field(auth, 3);
  if (!cksum) return null;
  if (int(need(cksum, 0, 'cksumtype')) !== GSS_CHECKSUM) return null;
  const value = need(cksum, 1, 'checksum');
  if (value[0] !== 0x04) bad('checksum is not an OCTET STRING');
  const c = Buffer.from(contents(value));
  if (c.length < 20 || c.readUInt32LE(0) !== 16) bad('the GSS checksum has no 16-byte Bnd field');
  const bnd = c.subarray(4, 20);
  return bnd.every((x) => x === 0) ? null : Buffer.from(bnd);
}

/**
 * The decision: `null` when the token may stand, else why not. `expected` is what this
 * connection's bindings hash to (null: not a TLS connection we know the certificate of).
 */
export function checkBindings(mode: ChannelBindingMode, got: Buffer | null, expected: Buffer | null): string | null {
  if (mode === 'off') return null;
  if (got === null) return mode === 'required' ? 'the token carries no channel bindings, and auth.kerberos.channelBinding is required' : null;
  if (expected === null) return 'the token carries channel bindings, but this connection has no TLS certificate to check them against';
  return got.equals(expected) ? null : 'the token was made for another TLS connection (its channel bindings do not match this server\'s certificate)';
}
