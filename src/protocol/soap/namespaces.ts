/** Namespace URIs of SOAP 1.2, WS-Addressing 1.0, WS-Security 1.0/1.1, WS-Trust 1.3, MS-XCEP and MS-WSTEP. */
export const NS = {
  soap12: 'http://www.w3.org/2003/05/soap-envelope',
  soap11: 'http://schemas.xmlsoap.org/soap/envelope/',
  wsa: 'http://www.w3.org/2005/08/addressing',
  wsse: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd',
  wsu: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd',
  wsse11: 'http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  xml: 'http://www.w3.org/XML/1998/namespace',
  xcep: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy',
  wst: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512',
  wstep: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment',
  ac: 'http://schemas.xmlsoap.org/ws/2006/12/authorization',
} as const;

export const PASSWORD_TEXT = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText';
export const PASSWORD_DIGEST = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest';
export const X509V3 = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3';
export const BASE64_ENCODING = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary';
/** WS-Addressing 1.0 SOAP binding §6: the action of every fault message. */
export const WSA_FAULT_ACTION = 'http://www.w3.org/2005/08/addressing/soap/fault';
export const WSA_ANONYMOUS = 'http://www.w3.org/2005/08/addressing/anonymous';
