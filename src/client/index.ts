export { EnrollmentClient, type EnrollResult, type PolicyTemplate } from './enrollment-client.js';
export { SoapTransport, type ClientAuth, type TransportOptions } from './transport.js';
export { EnrollmentDenied } from './errors.js';
export { newKeyPair, buildCsr, parseSubject, parseSan, type RequesterKeyType } from './request-builder.js';
export { buildPkcs12, type Pkcs12Input } from './pkcs12.js';
export { parseInf, type InfRequest } from './inf.js';
