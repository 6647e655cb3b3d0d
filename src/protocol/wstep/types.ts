export const WSTEP = {
  action: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep',
  responseAction: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RSTRC/wstep',
  /**
   * The Action of a fault carrying CertificateEnrollmentWSDetail, as ADCS's CES sends it (captured in
   * openSUSE/cepces issue #81): the Windows Web Services API matches a fault's Action before it reads
   * the detail (WsGetFaultErrorDetail).
   */
  faultAction: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RequestSecurityTokenCertificateEnrollmentWSDetailFault',
  issue: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue',
  renew: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/Renew',
  queryTokenStatus: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment/QueryTokenStatus',
  /** Key exchange token (MS-WSTEP 3.1.4.2.2): recognised only to refuse it clearly. */
  ket: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/KET',
  valueTypes: {
    pkcs10: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS10',
    pkcs7: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS7',
    cmc: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment#CMC',
  },
  /**
   * The ValueTypes MS-WSTEP's own examples (§4.1.1, §4.1.5) use, in the WS-Security secext
   * namespace; ADCS answers with `…secext-1.0.xsd#PKCS7` for the full response too.
   */
  secextValueTypes: {
    pkcs10: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#PKCS10',
    pkcs7: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#PKCS7',
  },
} as const;

export type RequestKind = 'issue' | 'renew' | 'queryTokenStatus';
export type TokenFormat = 'pkcs10' | 'pkcs7' | 'cmc';

export interface RstRequest {
  requestType: RequestKind;
  tokenType?: string;
  /**
   * The request. `valueType` is what the DER is (a token labelled PKCS7 that is not a CMS
   * ContentInfo is reported as pkcs10: MS-WSTEP's example 4.1.1.1 labels a PKCS#10 that way);
   * `declaredValueType` is the attribute as sent.
   */
  token?: { valueType: TokenFormat; der: Uint8Array; declaredValueType: string };
  /** Present for QueryTokenStatus (and Renew when given); ignored for Issue (MS-WSTEP 3.1.4.2.1.1). */
  requestId?: string;
  additionalContext: { name: string; value: string }[];
}

export interface RstParseOptions {
  /** Largest decoded token accepted, in bytes. */
  maxTokenBytes: number;
}

export type RstrResult =
  | { disposition: 'issued'; requestId?: string; certificateDer: Uint8Array; fullResponseDer?: Uint8Array; message?: string }
  | { disposition: 'pending'; requestId?: string; referenceUri?: string; fullResponseDer?: Uint8Array; message?: string };

export interface EnrollmentFaultDetail {
  /** HRESULT as an unsigned 32-bit number (compare with HRESULT.* in src/errors.ts). */
  errorCode?: number;
  invalidRequest?: boolean;
  requestId?: string;
  binaryResponseDer?: Uint8Array;
}

export interface SoapFaultInfo {
  /** Sender, Receiver, MustUnderstand, VersionMismatch (the SOAP 1.2 code's local name). */
  code: string;
  subcode?: string;
  reason: string;
  detail?: EnrollmentFaultDetail;
}
