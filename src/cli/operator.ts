import { userInfo } from 'node:os';
import type { Config } from '../config.js';
import { createCore } from '../app/core.js';
import { runOperation } from '../ops/operations.js';
import { callControlSocket, isControlSocketAlive } from '../ops/control-socket.js';
import { createLogger } from '../log.js';

/** Who is at the keyboard: recorded as the actor of every operator action. */
export function localActor(): string {
  try {
    return `local:${userInfo().username}`;
  } catch {
    return 'local:operator';
  }
}

/**
 * Runs an operator operation: through the running server's control socket when one listens on
 * this data directory (the embedded database admits one process), directly otherwise.
 */
export async function operate(config: Config, op: string, args: unknown): Promise<unknown> {
  const actor = localActor();
  if (await isControlSocketAlive(config.dataDir)) return callControlSocket(config.dataDir, op, args, actor);
  const core = await createCore(config, { log: createLogger('warn') });
  try {
    return await runOperation(core, op, args, actor);
  } finally {
    await core.close();
  }
}
