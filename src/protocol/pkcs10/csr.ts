import { createHash } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { NameAttribute, SanEntry } from '../../ca/types.js';
import { OpencesError } from '../../errors.js';
import { nameAttributes, nameToString, sanEntries } from './names.js';
import { KEY_OIDS, describeSpki, type CsrPublicKey } from './inspect.js';

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

function text(v: unknown): string | undefined {
  const b = (v as { valueBlock?: { value?: unknown } } | undefined)?.valueBlock;
  return typeof b?.value === 'string' ? b.value : undefined;
}

/** Decodes a PKCS#10 CertificationRequest (RFC 2986). Structure only; the signature is verified separately. */
export function parseCsr(der: Uint8Array): ParsedCsr {
  try {
    return parse(der);
  } catch (e) {
    // asn1js/pkijs throw plain Errors (or worse) on hostile input; the caller gets one typed error.
    if (e instanceof OpencesError) throw e;
    throw new OpencesError('badCsr', 'the certificate request is malformed');
  }
}

function parse(der: Uint8Array): ParsedCsr {
  if (der.length < 16) throw new OpencesError('badCsr', 'the certificate request is truncated');
  const asn = asn1js.fromBER(der);
  if (asn.offset === -1 || asn.result.error) throw new OpencesError('badCsr', 'the certificate request is not valid DER (truncated or corrupt)');
  if (asn.offset !== der.length) throw new OpencesError('badCsr', 'the certificate request has trailing bytes');
  let csr: pkijs.CertificationRequest;
  try {
    csr = new pkijs.CertificationRequest({ schema: asn.result });
  } catch {
    throw new OpencesError('badCsr', 'the data is not a PKCS#10 certificate request');
  }
  if (csr.version !== 0) throw new OpencesError('badCsr', `unsupported certificate request version ${csr.version}`);
  const subject = nameAttributes(csr.subject);
  // The exact SPKI bytes as sent: they are copied verbatim into the certificate.
  const info = (asn.result as asn1js.Sequence).valueBlock.value[0] as asn1js.Sequence;
  const spki = new Uint8Array(info.valueBlock.value[2]!.valueBeforeDecodeView);
  const { publicKey } = describeSpki(spki);

  let sans: SanEntry[] = [];
  let unsupportedSans: string[] = [];
  let templateName: string | undefined;
  let templateOid: ParsedCsr['templateOid'];
  const nameValuePairs: Record<string, string> = {};
  let challengePassword: string | undefined;
  const requestedExtensions: string[] = [];
  const attributes: CsrAttribute[] = [];

  try {
    for (const attr of csr.attributes ?? []) {
      attributes.push({ type: attr.type, values: attr.values.map((v) => new Uint8Array((v as asn1js.BaseBlock).toBER(false))) });
      if (attr.type === OID.extensionRequest) {
        const exts = new pkijs.Extensions({ schema: attr.values[0] });
        for (const ext of exts.extensions) {
          if (requestedExtensions.includes(ext.extnID)) throw new OpencesError('badCsr', `the request asks for extension ${ext.extnID} twice`);
          requestedExtensions.push(ext.extnID);
          if (ext.extnID === OID.subjectAltName) {
            const gn = new pkijs.GeneralNames({ schema: inner(ext.extnValue.valueBlock.valueHexView) });
            ({ sans, unsupported: unsupportedSans } = sanEntries(gn));
          } else if (ext.extnID === OID.msCertificateTemplateName) {
            templateName = text(inner(ext.extnValue.valueBlock.valueHexView));
          } else if (ext.extnID === OID.msCertificateTemplate) {
            const seq = inner(ext.extnValue.valueBlock.valueHexView);
            const [oid, major, minor] = seq instanceof asn1js.Sequence ? seq.valueBlock.value : [];
            if (!(oid instanceof asn1js.ObjectIdentifier)) throw new OpencesError('badCsr', 'the certificate template extension (1.3.6.1.4.1.311.21.7) is malformed');
            templateOid = {
              oid: oid.valueBlock.toString(),
              majorVersion: major instanceof asn1js.Integer ? major.valueBlock.valueDec : undefined,
              minorVersion: minor instanceof asn1js.Integer ? minor.valueBlock.valueDec : undefined,
            };
          }
        }
      } else if (attr.type === OID.msEnrollmentNameValuePair) {
        for (const v of attr.values) {
          const [n, val] = v instanceof asn1js.Sequence ? v.valueBlock.value : [];
          const name = text(n);
          const value = text(val);
          if (name !== undefined && value !== undefined) nameValuePairs[name] = value;
        }
      } else if (attr.type === OID.challengePassword) {
        challengePassword = text(attr.values[0]);
      }
    }
  } catch (e) {
    if (e instanceof OpencesError) throw e;
    throw new OpencesError('badCsr', 'the certificate request has a malformed attribute or extension');
  }

  return {
    der,
    subject,
    subjectString: nameToString(subject),
    spki,
    publicKey,
    sans,
    unsupportedSans,
    templateName,
    templateOid,
    nameValuePairs,
    challengePassword,
    signatureAlgorithm: csr.signatureAlgorithm.algorithmId,
    requestedExtensions,
    attributes,
    sha256: createHash('sha256').update(der).digest('hex'),
  };
}

/** Decodes an extension value that must be exactly one DER element. */
function inner(bytes: Uint8Array): asn1js.AsnType {
  const r = asn1js.fromBER(bytes);
  if (r.offset === -1 || r.result.error || r.offset !== bytes.length) throw new OpencesError('badCsr', 'a requested extension value is not valid DER');
  return r.result;
}
