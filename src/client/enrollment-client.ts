import { X509Certificate } from 'node:crypto';
import { OpencesError } from '../errors.js';
import { parsePkiResponse } from '../protocol/cmc/index.js';
import { buildGetPoliciesRequest, parseGetPoliciesResponse, type XcepResponse } from '../protocol/xcep/index.js';
import { buildRstRequest, parseRstrResponse, type TokenFormat } from '../protocol/wstep/index.js';
import type { SoapTransport } from './transport.js';

export type EnrollResult =
  | { status: 'issued'; requestId: string; certificate: Uint8Array; chain: Uint8Array[]; message?: string }
  | { status: 'pending'; requestId: string; referenceUri?: string; message?: string };

/** A template the caller may use, with where to enroll for it. */
export interface PolicyTemplate {
  name: string;
  schema: number;
  enroll: boolean;
  /** The caller's Autoenroll permission (MS-XCEP permission.autoEnroll). */
  autoEnroll: boolean;
  /** The template's own CT_FLAG_AUTO_ENROLLMENT (MS-CRTD msPKI-Enrollment-Flag 0x20): it is meant for auto-enrollment. */
  autoEnrollmentFlag: boolean;
  validityPeriodSeconds: number;
  renewalPeriodSeconds: number;
  /** Enrollment URLs of the CAs that issue it, best priority first, with their auth type (2 Kerberos, 4 username, 8 certificate). */
  enrollmentUrls: { uri: string; clientAuthentication: number; priority?: number; renewalOnly?: boolean }[];
}

/**
 * The typed enrollment client (what ICertRequest/ICertPolicy were for C++ programs): GetPolicies,
 * Issue, QueryTokenStatus and Renew over MS-XCEP/MS-WSTEP. Private keys never pass through here —
 * only requests the caller built.
 */
export class EnrollmentClient {
  constructor(private readonly transport: SoapTransport) {}

  async getPolicies(cepUrl: string): Promise<{ raw: XcepResponse; templates: PolicyTemplate[] }> {
    const env = await this.transport.post(cepUrl, buildGetPoliciesRequest({ to: cepUrl, securityHeaderXml: this.transport.securityHeader() }));
    const raw = parseGetPoliciesResponse(env);
    const cas = new Map((raw.cAs ?? []).map((c) => [c.cAReferenceID, c]));
    const templates = (raw.policies ?? []).map((p) => ({
      name: p.attributes.commonName,
      schema: p.attributes.policySchema,
      enroll: p.attributes.enroll,
      autoEnroll: p.attributes.autoEnroll,
      autoEnrollmentFlag: ((p.attributes.enrollmentFlags ?? 0) & 0x20) !== 0,
      validityPeriodSeconds: p.attributes.validityPeriodSeconds,
      renewalPeriodSeconds: p.attributes.renewalPeriodSeconds,
      enrollmentUrls: (p.cAs ?? [])
        .flatMap((ref) => cas.get(ref)?.uris ?? [])
        .sort((a, b) => (a.priority ?? 0) - (b.priority ?? 0)),
    }));
    return { raw, templates };
  }

  async issue(cesUrl: string, request: { format: TokenFormat; der: Uint8Array; template?: string; additionalContext?: { name: string; value: string }[] }): Promise<EnrollResult> {
    const ctx = [...(request.template ? [{ name: 'CertificateTemplate', value: request.template }] : []), ...(request.additionalContext ?? [])];
    return this.rst(cesUrl, { requestType: 'issue', token: { valueType: request.format, der: request.der }, additionalContext: ctx });
  }

  async renew(cesUrl: string, pkcs7: Uint8Array): Promise<EnrollResult> {
    return this.rst(cesUrl, { requestType: 'renew', token: { valueType: 'pkcs7', der: pkcs7 } });
  }

  async queryStatus(cesUrl: string, requestId: string): Promise<EnrollResult> {
    if (!/^\d+$/.test(requestId)) throw new OpencesError('malformed', `"${requestId}" is not a request ID`);
    return this.rst(cesUrl, { requestType: 'queryTokenStatus', requestId });
  }

  private async rst(cesUrl: string, o: Omit<Parameters<typeof buildRstRequest>[0], 'to' | 'securityHeaderXml'>): Promise<EnrollResult> {
    const env = await this.transport.post(cesUrl, buildRstRequest({ to: cesUrl, securityHeaderXml: this.transport.securityHeader(), ...o }));
    const r = parseRstrResponse(env);
    const requestId = r.requestId ?? '';
    if (r.disposition === 'pending') return { status: 'pending', requestId, referenceUri: r.referenceUri, message: r.message };
    const chain = r.fullResponseDer ? pathOrder(r.certificateDer, parsePkiResponse(r.fullResponseDer).certificates.filter((c) => Buffer.compare(Buffer.from(c), Buffer.from(r.certificateDer)) !== 0)) : [];
    return { status: 'issued', requestId, certificate: r.certificateDer, chain, message: r.message };
  }
}

/**
 * The chain from the certificate up (issuing CA, then root): a CMC response carries its
 * certificates as a DER SET OF, sorted by encoding, not by path. Certificates off the path follow.
 */
function pathOrder(leaf: Uint8Array, others: Uint8Array[]): Uint8Array[] {
  const rest = others.map((der) => ({ der, x: new X509Certificate(Buffer.from(der)) }));
  const out: Uint8Array[] = [];
  let current = new X509Certificate(Buffer.from(leaf));
  for (;;) {
    const at = rest.findIndex((c) => current.checkIssued(c.x));
    if (at < 0) break;
    const [next] = rest.splice(at, 1);
    out.push(next!.der);
    if (next!.x.checkIssued(next!.x)) break; // self-signed: the root
    current = next!.x;
  }
  return [...out, ...rest.map((c) => c.der)];
}
