/** SCEP (RFC 8894) attribute OIDs, message types, statuses and the CMS algorithms it uses. */

/** SCEP signed attributes (id-attributes, 2.16.840.1.113733.1.9.x). */
export const SCEP_OID = {
  messageType: '2.16.840.1.113733.1.9.2',
  pkiStatus: '2.16.840.1.113733.1.9.3',
  failInfo: '2.16.840.1.113733.1.9.4',
  senderNonce: '2.16.840.1.113733.1.9.5',
  recipientNonce: '2.16.840.1.113733.1.9.6',
  transactionID: '2.16.840.1.113733.1.9.7',
} as const;

export const ENVELOPED_DATA_OID = '1.2.840.113549.1.7.3';

/** messageType values (RFC 8894 §3.2.1.2; UpdateReq 18 from the drafts, handled as RenewalReq). */
export const MESSAGE_TYPE = {
  CertRep: 3,
  RenewalReq: 17,
  UpdateReq: 18,
  PKCSReq: 19,
  CertPoll: 20,
  GetCert: 21,
  GetCRL: 22,
} as const;
export type MessageTypeName = keyof typeof MESSAGE_TYPE;

export const PKI_STATUS = { SUCCESS: 0, FAILURE: 2, PENDING: 3 } as const;
export type PkiStatusName = keyof typeof PKI_STATUS;

/** failInfo values (RFC 8894 §3.2.1.4). */
export const FAIL_INFO = { badAlg: 0, badMessageCheck: 1, badRequest: 2, badTime: 3, badCertId: 4 } as const;
export type FailInfoName = keyof typeof FAIL_INFO;

/** Content-encryption algorithms: modern ones always, the legacy ones only for a profile that allows them. */
export type ContentCipher = 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc' | 'des-ede3-cbc' | 'des-cbc';
export const CONTENT_CIPHERS: Record<string, { name: ContentCipher; keyBytes: number; ivBytes: number; legacy: boolean }> = {
  '2.16.840.1.101.3.4.1.2': { name: 'aes-128-cbc', keyBytes: 16, ivBytes: 16, legacy: false },
  '2.16.840.1.101.3.4.1.22': { name: 'aes-192-cbc', keyBytes: 24, ivBytes: 16, legacy: false },
  '2.16.840.1.101.3.4.1.42': { name: 'aes-256-cbc', keyBytes: 32, ivBytes: 16, legacy: false },
  '1.2.840.113549.3.7': { name: 'des-ede3-cbc', keyBytes: 24, ivBytes: 8, legacy: true },
  '1.3.14.3.2.7': { name: 'des-cbc', keyBytes: 8, ivBytes: 8, legacy: true },
};
export const CONTENT_CIPHER_OID: Record<ContentCipher, string> = Object.fromEntries(Object.entries(CONTENT_CIPHERS).map(([o, c]) => [c.name, o])) as Record<ContentCipher, string>;

export const KEY_TRANSPORT = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsaesOaep: '1.2.840.113549.1.1.7',
} as const;
