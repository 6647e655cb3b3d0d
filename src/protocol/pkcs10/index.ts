export * from './base64.js';
export * from './csr.js';
export * from './verify.js';
export * from './inspect.js';
