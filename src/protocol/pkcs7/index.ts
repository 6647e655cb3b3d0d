export * from './signed-data.js';
export * from './build.js';
