export * from './pki-data.js';
