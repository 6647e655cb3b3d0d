export * from './oids.js';
export * from './signed-data.js';
export * from './build.js';
export type { CertificateIds } from './certificate.js';
export { signedByRequestKey } from './possession.js';
