export * from './types.js';
export { parseRst, buildRstRequest } from './request.js';
export * from './response.js';
