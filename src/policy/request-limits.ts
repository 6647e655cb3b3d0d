import type { NameAttribute, SanEntry } from '../ca/types.js';
import { checkSignatureHash, digestName, signatureHash } from '../ca/signature-policy.js';
import { HRESULT, OpencesError } from '../errors.js';
import type { ParsedCsr } from '../protocol/pkcs10/csr.js';
import { splitCsr } from '../protocol/pkcs10/inspect.js';
import { MAX_SANS_CEILING, nameBoundsProblem } from './name-bounds.js';
import type { Template } from './template.js';

/**
 * What one request may ask for, checked by the registration authority before the request is
 * recorded as accepted: a request past a limit is denied with the reason (recorded, audited),
 * never accepted and left for the CA to refuse on every poll. A 389 KB CSR with 20,000 DNS names
 * once got a WebServer certificate carrying all of them; a 5,000-character CN passed here and
 * was refused only by the CA's lint.
 */
export const DEFAULT_MAX_SANS = 100;
/** A PKCS#10 of 256 long DNS names and an RSA-8192 key is ~70 KB; nothing legitimate is near 128 KiB. */
export const MAX_CSR_BYTES = 128 * 1024;
/** Requested extensions (a Windows request carries about eight). */
export const MAX_REQUESTED_EXTENSIONS = 32;
/** Attribute values in the request (extension request, name/value pairs, challenge password…). */
export const MAX_REQUEST_ATTRIBUTES = 64;

/** The template's SAN limit (requests.maxSans), within the ceiling every template shares. */
export function maxSansOf(t: Template): number {
  return Math.min(t.requests?.maxSans ?? DEFAULT_MAX_SANS, MAX_SANS_CEILING);
}

function deny(message: string, hresult: number = HRESULT.CERTSRV_E_BAD_REQUESTSUBJECT): never {
  throw new OpencesError('policyDenied', message, { hresult });
}

/** The signer of a CMC or PKCS#7 request, as the RA's decoder reports it. */
export interface RequestSigner {
  digestAlgorithm?: string;
  signatureHash?: string | null;
  signingAlgorithm?: string;
}

/** Sizes, counts and lengths of what the request asks for. Throws OpencesError('policyDenied') with the reason. */
export function checkRequestLimits(csr: ParsedCsr, template: Template): void {
  if (csr.der.length > MAX_CSR_BYTES) deny(`the certificate request is ${csr.der.length} bytes; at most ${MAX_CSR_BYTES} are accepted`, HRESULT.E_INVALIDARG);
  if (csr.requestedExtensions.length > MAX_REQUESTED_EXTENSIONS) deny(`the request asks for ${csr.requestedExtensions.length} extensions; at most ${MAX_REQUESTED_EXTENSIONS} are accepted`, HRESULT.E_INVALIDARG);
  const values = csr.attributes.reduce((n, a) => n + a.values.length, 0);
  if (values > MAX_REQUEST_ATTRIBUTES) deny(`the request carries ${values} attribute values; at most ${MAX_REQUEST_ATTRIBUTES} are accepted`, HRESULT.E_INVALIDARG);
  // Every requested name counts, whether the template keeps it, drops it or cannot honour it.
  const maxSans = maxSansOf(template);
  const asked = csr.sans.length + csr.unsupportedSans.length;
  if (asked > maxSans) deny(`the request asks for ${asked} subject alternative names; the template ${template.name} allows at most ${maxSans}`);
  const bounds = nameBoundsProblem(csr.subject, csr.sans, maxSans);
  if (bounds) deny(bounds);
}

/**
 * The hashes the request is signed with: its own signature and its CMC/PKCS#7 signer's. Throws
 * OpencesError('badSignature') with the reason (src/ca/signature-policy.ts; the CA re-checks the first).
 */
export function checkRequestSignatures(csr: ParsedCsr, template: Template, signer?: RequestSigner): void {
  const legacy = { allowSha1: template.requests?.allowSha1Signatures === true };
  const parts = splitCsr(csr.der);
  checkSignatureHash(signatureHash(parts.signatureAlgorithm, parts.signatureParams), 'the request signature', legacy, parts.signatureAlgorithm);
  if (signer) {
    const what = "the request's CMS signer";
    if (signer.digestAlgorithm !== undefined) checkSignatureHash(digestName(signer.digestAlgorithm), `${what} digest`, legacy, signer.digestAlgorithm);
    if (signer.signatureHash !== undefined) checkSignatureHash(signer.signatureHash, `${what} signature`, legacy, signer.signingAlgorithm);
  }
}

/** The subject and SANs the certificate will carry (after the template decided): within the CA lint's bounds. */
export function checkCertificateNames(subject: readonly NameAttribute[], sans: readonly SanEntry[], template: Template): void {
  const bounds = nameBoundsProblem(subject, sans, maxSansOf(template));
  if (bounds) deny(bounds);
}
