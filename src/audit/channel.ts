import { AsyncLocalStorage } from 'node:async_hooks';
import type { AuditEvent } from './event.js';

/** The front ends whose actions are marked in the audit log: the browser ones (docs/web.md) and SCEP (docs/scep.md). */
export type AuditChannel = 'console' | 'enroll' | 'scep';

const current = new AsyncLocalStorage<AuditChannel>();

/**
 * Runs `fn` (and everything it awaits) with `channel` as the audit channel: every event recorded
 * meanwhile — by the operations, the RA or a refusal — gets `details.channel`. One context instead
 * of a parameter threaded through every operation, so the console and the API share the handlers.
 */
export function withAuditChannel<T>(channel: AuditChannel, fn: () => T): T {
  return current.run(channel, fn);
}

export function auditChannel(): AuditChannel | undefined {
  return current.getStore();
}

/** The event with `details.channel` set when it is recorded inside a channel (an explicit one wins). */
export function stampChannel(e: AuditEvent): AuditEvent {
  const channel = current.getStore();
  if (!channel || e.details?.channel !== undefined) return e;
  return { ...e, details: { ...e.details, channel } };
}
