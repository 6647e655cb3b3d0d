import { OpencesError } from '../errors.js';
import { parseCsr, type ParsedCsr } from '../protocol/pkcs10/index.js';
import { parsePkiData } from '../protocol/cmc/index.js';
import { parseSignedData } from '../protocol/pkcs7/index.js';
import type { RequestFormat } from '../store/request-repo.js';
import type { TemplateHints } from '../policy/template-choice.js';

const ID_CCT_PKIDATA = '1.3.6.1.5.5.7.12.2';

export interface DecodedRequest {
  format: RequestFormat;
  csrDer: Uint8Array;
  csr: ParsedCsr;
  /** Name/value pairs from CMC attributes and the CSR (CertificateTemplate, ccm, rmd…). */
  attributes: Record<string, string>;
  cmcNameValuePairs: Record<string, string>;
  /** The PKCS#7/CMS signer when the request came wrapped in SignedData (renewals). */
  signer?: { certificateDer?: Uint8Array; signatureValid: boolean; digestAlgorithm?: string; signatureHash?: string; signingAlgorithm?: string };
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
  const attributes = { ...csr.nameValuePairs, ...cmcPairs };
  return {
    format,
    csrDer,
    csr,
    attributes,
    cmcNameValuePairs: cmcPairs,
    signer,
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
