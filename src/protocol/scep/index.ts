export * from './oids.js';
export * from './envelope.js';
export * from './pki-message.js';
export * from './caps.js';
