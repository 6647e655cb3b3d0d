export * from './oids.js';
export * from './status.js';
export * from './pki-data.js';
export * from './pki-response.js';
export * from './build.js';
export type { TaggedAttribute, TaggedContentInfo, OtherMsg, PendInfo, StatusInfo } from './schema.js';
