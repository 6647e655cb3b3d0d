import { createHash, createPublicKey } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { NameAttribute, SanEntry } from '../../ca/types.js';
import { OpencesError } from '../../errors.js';
import { nameAttributes, nameToString, sanEntries } from './names.js';

export const OID = {
  extensionRequest: '1.2.840.113549.1.9.14',
  challengePassword: '1.2.840.113549.1.9.7',
  msEnrollmentNameValuePair: '1.3.6.1.4.1.311.13.2.1',
  msCertificateTemplateName: '1.3.6.1.4.1.311.20.2',
  msCertificateTemplate: '1.3.6.1.4.1.311.21.7',
  subjectAltName: '2.5.29.17',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecPublicKey: '1.2.840.10045.2.1',
  dsa: '1.2.840.10040.4.1',
  ed25519: '1.3.101.112',
  ed448: '1.3.101.113',
} as const;

const CURVES: Record<string, string> = {
  '1.2.840.10045.3.1.7': 'P-256',
  '1.3.132.0.34': 'P-384',
  '1.3.132.0.35': 'P-521',
  '1.3.132.0.10': 'secp256k1',
};

export interface CsrPublicKey {
  algorithm: 'RSA' | 'EC' | 'DSA' | 'Ed25519' | 'Ed448' | 'unknown';
  /** RSA modulus bits, EC curve bits, DSA p bits. */
  bits: number;
  curve?: string;
  /** RSA public exponent. */
  exponent?: number;
  oid: string;
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
  sha256: string;
}

function text(v: unknown): string | undefined {
  const b = (v as { valueBlock?: { value?: unknown } } | undefined)?.valueBlock;
  return typeof b?.value === 'string' ? b.value : undefined;
}

/** Decodes a PKCS#10 CertificationRequest (RFC 2986). Structure only; the signature is verified separately. */
export function parseCsr(der: Uint8Array): ParsedCsr {
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
  const subject = nameAttributes(csr.subject);
  const spki = new Uint8Array(csr.subjectPublicKeyInfo.toSchema().toBER(false));
  const publicKey = describeKey(csr.subjectPublicKeyInfo, spki);

  let sans: SanEntry[] = [];
  let unsupportedSans: string[] = [];
  let templateName: string | undefined;
  let templateOid: ParsedCsr['templateOid'];
  const nameValuePairs: Record<string, string> = {};
  let challengePassword: string | undefined;
  const requestedExtensions: string[] = [];

  try {
    for (const attr of csr.attributes ?? []) {
      if (attr.type === OID.extensionRequest) {
        const exts = new pkijs.Extensions({ schema: attr.values[0] });
        for (const ext of exts.extensions) {
          requestedExtensions.push(ext.extnID);
          if (ext.extnID === OID.subjectAltName) {
            const gn = new pkijs.GeneralNames({ schema: asn1js.fromBER(ext.extnValue.valueBlock.valueHexView).result });
            ({ sans, unsupported: unsupportedSans } = sanEntries(gn));
          } else if (ext.extnID === OID.msCertificateTemplateName) {
            templateName = text(asn1js.fromBER(ext.extnValue.valueBlock.valueHexView).result);
          } else if (ext.extnID === OID.msCertificateTemplate) {
            const seq = asn1js.fromBER(ext.extnValue.valueBlock.valueHexView).result as asn1js.Sequence;
            const [oid, major, minor] = seq.valueBlock.value;
            if (oid instanceof asn1js.ObjectIdentifier) {
              templateOid = {
                oid: oid.valueBlock.toString(),
                majorVersion: major instanceof asn1js.Integer ? major.valueBlock.valueDec : undefined,
                minorVersion: minor instanceof asn1js.Integer ? minor.valueBlock.valueDec : undefined,
              };
            }
          }
        }
      } else if (attr.type === OID.msEnrollmentNameValuePair) {
        for (const v of attr.values) {
          const [n, val] = (v as asn1js.Sequence).valueBlock.value;
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
    sha256: createHash('sha256').update(der).digest('hex'),
  };
}

function describeKey(info: pkijs.PublicKeyInfo, spki: Uint8Array): CsrPublicKey {
  const oid = info.algorithm.algorithmId;
  if (oid === OID.rsaEncryption || oid === OID.dsa || oid === OID.ed25519 || oid === OID.ed448) {
    let key;
    try {
      key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    } catch {
      throw new OpencesError('badPublicKey', 'the public key in the request cannot be decoded');
    }
    const d = key.asymmetricKeyDetails ?? {};
    if (oid === OID.rsaEncryption) return { algorithm: 'RSA', bits: d.modulusLength ?? 0, exponent: Number(d.publicExponent ?? 0n), oid };
    if (oid === OID.dsa) return { algorithm: 'DSA', bits: d.modulusLength ?? 0, oid };
    return { algorithm: oid === OID.ed25519 ? 'Ed25519' : 'Ed448', bits: oid === OID.ed25519 ? 256 : 456, oid };
  }
  if (oid === OID.ecPublicKey) {
    const params = info.algorithm.algorithmParams as asn1js.ObjectIdentifier | undefined;
    const curveOid = params instanceof asn1js.ObjectIdentifier ? params.valueBlock.toString() : '';
    const curve = CURVES[curveOid] ?? curveOid;
    const bits = curve === 'P-256' || curve === 'secp256k1' ? 256 : curve === 'P-384' ? 384 : curve === 'P-521' ? 521 : 0;
    return { algorithm: 'EC', bits, curve, oid };
  }
  return { algorithm: 'unknown', bits: 0, oid };
}
