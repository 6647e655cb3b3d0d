export * from './types.js';
export { parseRst, buildRstRequest, isContentInfo, type RstRequestOptions } from './request.js';
export * from './response.js';
