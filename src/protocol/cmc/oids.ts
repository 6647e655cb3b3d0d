/** CMC (RFC 5272) and Microsoft enrollment OIDs. */
export const CMC_OID = {
  /** id-cct-PKIData: the eContentType of a CMC request. */
  pkiData: '1.3.6.1.5.5.7.12.2',
  /** id-cct-PKIResponse. */
  pkiResponse: '1.3.6.1.5.5.7.12.3',
  statusInfo: '1.3.6.1.5.5.7.7.1',
  transactionId: '1.3.6.1.5.5.7.7.5',
  senderNonce: '1.3.6.1.5.5.7.7.6',
  recipientNonce: '1.3.6.1.5.5.7.7.7',
  regInfo: '1.3.6.1.5.5.7.7.18',
  responseInfo: '1.3.6.1.5.5.7.7.19',
  statusInfoV2: '1.3.6.1.5.5.7.7.25',
  /** szOID_ENROLLMENT_NAME_VALUE_PAIR: SEQUENCE { name BMPString, value BMPString }. */
  msEnrollNameValuePair: '1.3.6.1.4.1.311.13.2.1',
  /** szOID_CMC_ADD_ATTRIBUTES: CmcAddAttributesInfo (MS-WCCE), how Windows attaches attributes in CMC. */
  msCmcAddAttributes: '1.3.6.1.4.1.311.10.10.1',
  /** szOID_ISSUED_CERT_HASH: the SHA-1 of the issued certificate, in the Windows CA's add-attributes control. */
  msIssuedCertHash: '1.3.6.1.4.1.311.21.17',
} as const;
