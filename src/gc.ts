import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * One full garbage collection, without running the process with --expose-gc. For the few moments
 * after which a process goes idle holding garbage it will not collect by itself (an idle server
 * allocates nothing, so V8 never starts a collection): the end of an embedded server's start.
 */
export function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as unknown;
  if (typeof gc === 'function') (gc as () => void)();
}
