import { createHash } from 'node:crypto';
import type { NameAttribute, SanEntry } from '../../ca/types.js';
import { OpencesError } from '../../errors.js';
import { checkDer, contents, elements, isSingleElement, malformed, oidString, readTlv, smallInteger, text } from '../der-reader.js';
import { nameAttributesFromDer, nameToString, sanEntriesFromDer } from './names.js';
import { KEY_OIDS, spkiPublicKey, type CsrPublicKey } from './inspect.js';

export const OID = {
  extensionRequest: '1.2.840.113549.1.9.14',
  challengePassword: '1.2.840.113549.1.9.7',
  msEnrollmentNameValuePair: '1.3.6.1.4.1.311.13.2.1',
  msCertificateTemplateName: '1.3.6.1.4.1.311.20.2',
  msCertificateTemplate: '1.3.6.1.4.1.311.21.7',
  subjectAltName: '2.5.29.17',
  ...KEY_OIDS,
} as const;


export type { CsrPublicKey };

/** One request attribute as it came: type and the DER of each value in its SET. */
export interface CsrAttribute {
  type: string;
  values: Uint8Array[];
}

export interface ParsedCsr {
  der: Uint8Array;
  subject: NameAttribute[];
  subjectString: string;
  /** DER SubjectPublicKeyInfo, copied verbatim into the certificate. */
  spki: Uint8Array;
  publicKey: CsrPublicKey;
  sans: SanEntry[];
  /** SAN kinds we cannot honour (x400Address…); policy refuses them. */
  unsupportedSans: string[];
  /** 1.3.6.1.4.1.311.20.2 (BMPString template name) — certmonger and cepces put it here. */
  templateName?: string;
  /** 1.3.6.1.4.1.311.21.7 template OID and version. */
  templateOid?: { oid: string; majorVersion?: number; minorVersion?: number };
  /** 1.3.6.1.4.1.311.13.2.1 name/value pairs (CertificateTemplate:…, ccm, rmd…). */
  nameValuePairs: Record<string, string>;
  challengePassword?: string;
  signatureAlgorithm: string;
  /** Every requested extension OID, to spot what we do not honour. */
  requestedExtensions: string[];
  /** All attributes, raw (extensionRequest included), for callers that need more than the above. */
  attributes: CsrAttribute[];
  sha256: string;
}

/** Decodes a PKCS#10 CertificationRequest (RFC 2986). Structure only; the signature is verified separately. */
export function parseCsr(der: Uint8Array): ParsedCsr {
  try {
    return parse(der);
  } catch (e) {
    // Whatever else hostile input provokes (a RangeError…), the caller gets one typed error.
    if (e instanceof OpencesError && (e.kind === 'badCsr' || e.kind === 'badPublicKey')) throw e;
    throw new OpencesError('badCsr', 'the certificate request is malformed');
  }
}

function notPkcs10(): never {
  throw new OpencesError('badCsr', 'the data is not a PKCS#10 certificate request');
}

/** Runs `f`, turning anything but a badCsr into a badCsr with `message`. */
function orBadCsr<T>(message: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof OpencesError && (e.kind === 'badCsr' || e.kind === 'badPublicKey')) throw e;
    throw new OpencesError('badCsr', message);
  }
}

/**
 * CertificationRequest ::= SEQUENCE { CertificationRequestInfo, AlgorithmIdentifier, BIT STRING },
 * walked over the DER headers (no asn1js/pkijs object trees: ~20 µs instead of ~600 µs).
 */
function parse(der: Uint8Array): ParsedCsr {
  if (der.length < 16) throw new OpencesError('badCsr', 'the certificate request is truncated');
  // Every constructed element must be whole and end where its parent ends (DER, definite lengths).
  const end = orBadCsr('the certificate request is not valid DER (truncated or corrupt)', () => {
    const top = readTlv(der);
    const topEnd = top.header + top.length;
    checkDer(der.subarray(0, topEnd));
    return topEnd;
  });
  if (end !== der.length) throw new OpencesError('badCsr', 'the certificate request has trailing bytes');

  const { version, nameDer, spki, attrsDer, signatureAlgorithm } = orBadCsr('the data is not a PKCS#10 certificate request', () => {
    if (der[0] !== 0x30) notPkcs10();
    const parts = elements(der);
    if (parts.length !== 3) notPkcs10();
    const [info, alg, sig] = parts as [Uint8Array, Uint8Array, Uint8Array];
    if (info[0] !== 0x30 || alg[0] !== 0x30 || sig[0] !== 0x03) notPkcs10();
    const fields = elements(info);
    if (fields.length < 3 || fields.length > 4) notPkcs10();
    const [v, name, spkiTlv, attrs] = fields as [Uint8Array, Uint8Array, Uint8Array, Uint8Array | undefined];
    if (v[0] !== 0x02 || name[0] !== 0x30 || spkiTlv[0] !== 0x30 || (attrs && attrs[0] !== 0xa0)) notPkcs10();
    const spkiParts = elements(spkiTlv);
    if (spkiParts.length !== 2 || spkiParts[0]![0] !== 0x30 || spkiParts[1]![0] !== 0x03) notPkcs10();
    const algParts = elements(alg);
    if (algParts.length < 1 || algParts.length > 2) notPkcs10();
    return { version: v, nameDer: name, spki: spkiTlv, attrsDer: attrs, signatureAlgorithm: oidString(algParts[0]!) };
  });
  const v = contents(version);
  if (v.length === 0) notPkcs10();
  if (v.some((b) => b !== 0)) {
    const n = BigInt.asIntN(v.length * 8, BigInt(`0x${Buffer.from(v).toString('hex')}`));
    throw new OpencesError('badCsr', `unsupported certificate request version ${n}`);
  }
  const subject = orBadCsr('the data is not a PKCS#10 certificate request', () => nameAttributesFromDer(nameDer));
  // The exact SPKI bytes as sent (a copy): they go verbatim into the certificate.
  const spkiCopy = new Uint8Array(spki);
  const publicKey = spkiPublicKey(spkiCopy);

  let sans: SanEntry[] = [];
  let unsupportedSans: string[] = [];
  let templateName: string | undefined;
  let templateOid: ParsedCsr['templateOid'];
  const nameValuePairs: Record<string, string> = {};
  let challengePassword: string | undefined;
  const requestedExtensions: string[] = [];
  const attributes: CsrAttribute[] = [];

  if (attrsDer) {
    orBadCsr('the certificate request has a malformed attribute or extension', () => {
      for (const attr of elements(attrsDer)) {
        if (attr[0] !== 0x30) malformed('an Attribute is not a SEQUENCE');
        const parts = elements(attr);
        if (parts.length !== 2 || parts[1]![0] !== 0x31) malformed('an Attribute is not {type, SET OF value}');
        const type = oidString(parts[0]!);
        const values = elements(parts[1]!);
        attributes.push({ type, values: values.map((x) => new Uint8Array(x)) });
        if (type === OID.extensionRequest) {
          const exts = values[0];
          if (!exts || exts[0] !== 0x30) malformed('extensionRequest is not a SEQUENCE OF Extension');
          for (const ext of elements(exts)) {
            const { id, value } = extension(ext);
            if (requestedExtensions.includes(id)) throw new OpencesError('badCsr', `the request asks for extension ${id} twice`);
            requestedExtensions.push(id);
            if (id === OID.subjectAltName) {
              ({ sans, unsupported: unsupportedSans } = sanEntriesFromDer(inner(value)));
            } else if (id === OID.msCertificateTemplateName) {
              templateName = text(inner(value));
            } else if (id === OID.msCertificateTemplate) {
              templateOid = templateExtension(inner(value));
            }
          }
        } else if (type === OID.msEnrollmentNameValuePair) {
          for (const pair of values) {
            if (pair[0] !== 0x30) continue;
            const [n, val] = elements(pair);
            const name = text(n);
            const value = text(val);
            if (name !== undefined && value !== undefined) nameValuePairs[name] = value;
          }
        } else if (type === OID.challengePassword) {
          challengePassword = text(values[0]);
        }
      }
    });
  }

  return {
    der,
    subject,
    subjectString: nameToString(subject),
    spki: spkiCopy,
    publicKey,
    sans,
    unsupportedSans,
    templateName,
    templateOid,
    nameValuePairs,
    challengePassword,
    signatureAlgorithm,
    requestedExtensions,
    attributes,
    sha256: createHash('sha256').update(der).digest('hex'),
  };
}

/** Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } */
function extension(ext: Uint8Array): { id: string; value: Uint8Array } {
  if (ext[0] !== 0x30) malformed('an Extension is not a SEQUENCE');
  const parts = elements(ext);
  if (parts.length === 3 ? parts[1]![0] !== 0x01 : parts.length !== 2) malformed('an Extension is not {extnID, critical, extnValue}');
  const value = parts[parts.length - 1]!;
  if (value[0] !== 0x04) malformed('an extnValue is not an OCTET STRING');
  return { id: oidString(parts[0]!), value: contents(value) };
}

/** An extension value that must be exactly one DER element. */
function inner(bytes: Uint8Array): Uint8Array {
  try {
    if (!isSingleElement(bytes)) throw new Error('trailing bytes');
    checkDer(bytes);
    return bytes;
  } catch {
    throw new OpencesError('badCsr', 'a requested extension value is not valid DER');
  }
}

/** 1.3.6.1.4.1.311.21.7 CertificateTemplate ::= SEQUENCE { templateID OID, major INTEGER OPTIONAL, minor INTEGER OPTIONAL } */
function templateExtension(tlv: Uint8Array): NonNullable<ParsedCsr['templateOid']> {
  let oid: string | undefined;
  let items: Uint8Array[] = [];
  try {
    if (tlv[0] === 0x30) {
      items = elements(tlv);
      if (items[0]) oid = oidString(items[0]);
    }
  } catch {
    oid = undefined;
  }
  if (oid === undefined) throw new OpencesError('badCsr', 'the certificate template extension (1.3.6.1.4.1.311.21.7) is malformed');
  const int = (t: Uint8Array | undefined): number | undefined => {
    if (!t || t[0] !== 0x02) return undefined;
    try {
      return smallInteger(t);
    } catch {
      return undefined;
    }
  };
  return { oid, majorVersion: int(items[1]), minorVersion: int(items[2]) };
}
