/** The opences package: the typed enrollment client for programs (the server is the `opences` command). */
export * from './client/index.js';
export { OpencesError, type ErrorKind } from './errors.js';
