export const WSTEP = {
  action: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep',
  responseAction: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RSTRC/wstep',
  issue: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue',
  renew: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/Renew',
  queryTokenStatus: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment/QueryTokenStatus',
  valueTypes: {
    pkcs10: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS10',
    pkcs7: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS7',
    cmc: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment#CMC',
  },
} as const;

export type RequestKind = 'issue' | 'renew' | 'queryTokenStatus';
export type TokenFormat = 'pkcs10' | 'pkcs7' | 'cmc';

export interface RstRequest {
  requestType: RequestKind;
  tokenType?: string;
  token?: { valueType: TokenFormat; der: Uint8Array };
  requestId?: string;
  additionalContext: { name: string; value: string }[];
}

export type RstrResult =
  | { disposition: 'issued'; requestId?: string; certificateDer: Uint8Array; fullResponseDer?: Uint8Array; message?: string }
  | { disposition: 'pending'; requestId?: string; referenceUri?: string; fullResponseDer?: Uint8Array; message?: string };

export interface SoapFaultInfo {
  code: string;
  reason: string;
  detail?: { errorCode?: number; invalidRequest?: boolean; requestId?: string; binaryResponseDer?: Uint8Array };
}
