import { OpencesError } from '../errors.js';
import { parseCsr, type ParsedCsr } from '../protocol/pkcs10/index.js';
import { parsePkiData } from '../protocol/cmc/index.js';
import { parseSignedData, signedByRequestKey } from '../protocol/pkcs7/index.js';
import type { RequestFormat } from '../store/request-repo.js';
import type { TemplateHints } from '../policy/template-choice.js';

const ID_CCT_PKIDATA = '1.3.6.1.5.5.7.12.2';

export interface DecodedRequest {
  format: RequestFormat;
  /** The request as received. */
  raw: Uint8Array;
  csrDer: Uint8Array;
  csr: ParsedCsr;
  /** Name/value pairs from CMC attributes and the CSR (CertificateTemplate, ccm, rmd…). */
  attributes: Record<string, string>;
  cmcNameValuePairs: Record<string, string>;
  /** The PKCS#7/CMS signer when the request came wrapped in SignedData (renewals). */
  signer?: { certificateDer?: Uint8Array; signatureValid: boolean; digestAlgorithm?: string; signatureHash?: string; signingAlgorithm?: string };
  /**
   * CertEnroll's "Full PKCS#7": the PKCS#10 wrapped in a SignedData with no certificate, signed by
   * the request's own key named by key identifier, and that signature verifies. It proves
   * possession of the key whether or not the PKCS#10's self-signature does (src/protocol/pkcs7/possession.ts).
   */
  possessionBySignedData: boolean;
  templateHints(additionalContext: { name: string; value: string }[]): TemplateHints;
}

/**
 * Turns the token of an RST into the PKCS#10 it carries plus everything around it that matters
 * for the decision. PKCS#7 may wrap a PKCS#10 or a CMC PKIData; CMC may be bare or signed.
 */
export async function decodeRequest(format: RequestFormat, raw: Uint8Array): Promise<DecodedRequest> {
  let csrDer: Uint8Array;
  let cmcPairs: Record<string, string> = {};
  let signer: DecodedRequest['signer'];
  if (format === 'pkcs10') {
    csrDer = raw;
  } else if (format === 'cmc') {
    const pki = parsePkiData(raw);
    const req = pki.requests[0];
    if (!req) throw new OpencesError('malformed', 'the CMC request carries no certification request');
    if (pki.requests.length > 1) throw new OpencesError('unsupported', 'CMC requests with more than one certification request are not supported');
    csrDer = req.csrDer;
    cmcPairs = pki.nameValuePairs;
    if (pki.signer) signer = pki.signer;
  } else {
    const sd = parseSignedData(raw);
    const s = sd.signers[0];
    signer = { certificateDer: s?.certificateDer, signatureValid: s?.signatureValid ?? false, digestAlgorithm: s?.digestAlgorithm, signatureHash: s?.signatureHash, signingAlgorithm: s?.signingAlgorithm };
    if (sd.contentType === ID_CCT_PKIDATA || looksLikePkiData(sd.content)) {
      const pki = parsePkiData(sd.content);
      const req = pki.requests[0];
      if (!req) throw new OpencesError('malformed', 'the CMC request inside the PKCS#7 carries no certification request');
      csrDer = req.csrDer;
      cmcPairs = pki.nameValuePairs;
    } else {
      csrDer = sd.content;
    }
  }
  const csr = parseCsr(csrDer);
  let possessionBySignedData = false;
  if (format === 'pkcs7' && signer && !signer.certificateDer) {
    // No certificate names the signer: is it the request's own key (CertEnroll's Full PKCS#7)?
    const own = signedByRequestKey(raw, csrDer, csr.spki);
    if (own) {
      possessionBySignedData = true;
      signer = { signatureValid: true, digestAlgorithm: own.digestAlgorithm, signatureHash: own.signatureHash, signingAlgorithm: own.signingAlgorithm };
    }
  }
  const attributes = { ...csr.nameValuePairs, ...cmcPairs };
  return {
    format,
    raw,
    csrDer,
    csr,
    attributes,
    cmcNameValuePairs: cmcPairs,
    signer,
    possessionBySignedData,
    templateHints: (additionalContext) => ({
      additionalContext,
      cmcNameValuePairs: cmcPairs,
      csrNameValuePairs: csr.nameValuePairs,
      csrTemplateName: csr.templateName,
      csrTemplateOid: csr.templateOid?.oid,
    }),
  };
}

function looksLikePkiData(content: Uint8Array): boolean {
  try {
    parseCsr(content);
    return false;
  } catch {
    return true;
  }
}
