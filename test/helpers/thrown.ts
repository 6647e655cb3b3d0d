import { OpencesError } from '../../src/errors.js';

/** The OpencesError `f` throws (any other error is rethrown; no error at all fails the test). */
export function thrown(f: () => unknown): OpencesError {
  try {
    f();
  } catch (e) {
    if (e instanceof OpencesError) return e;
    throw e;
  }
  throw new Error('expected an OpencesError');
}

/** The OpencesError `f` throws, or null when it throws none (other errors are rethrown). */
export function refusal(f: () => void): OpencesError | null {
  try {
    f();
    return null;
  } catch (e) {
    if (e instanceof OpencesError) return e;
    throw e;
  }
}
