export * from './types.js';
export * from './request.js';
export * from './response.js';
