/** CMCStatus and CMCFailInfo (RFC 5272 §6.1.4), names ↔ numbers. */
export const CMC_STATUS = {
  success: 0,
  failed: 2,
  pending: 3,
  noSupport: 4,
  confirmRequired: 5,
  popRequired: 6,
  partial: 7,
} as const;

export type CmcStatusName = keyof typeof CMC_STATUS;
/** What our front ends answer with. */
export type CmcStatus = 'success' | 'failed' | 'pending';

export function statusName(code: number): CmcStatusName | 'unknown' {
  const e = Object.entries(CMC_STATUS).find(([, v]) => v === code);
  return e ? (e[0] as CmcStatusName) : 'unknown';
}

export const CMC_FAIL_INFO = {
  badAlg: 0,
  badMessageCheck: 1,
  badRequest: 2,
  badTime: 3,
  badCertId: 4,
  unsupportedExt: 5,
  mustArchiveKeys: 6,
  badIdentity: 7,
  popRequired: 8,
  popFailed: 9,
  noKeyReuse: 10,
  internalCAError: 11,
  tryLater: 12,
  authDataFail: 13,
} as const;

export type CmcFailInfoName = keyof typeof CMC_FAIL_INFO;
