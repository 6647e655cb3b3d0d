import type { AuditEvent } from '../../audit/event.js';
import type { AuditLog } from '../../audit/log.js';
import type { Clock } from '../../clock.js';

interface Source {
  windowStart: number;
  logged: number;
  suppressed: number;
}

/**
 * Audit events for refused admin API requests (401, 403), at most `perWindow` per source address
 * and window: each refusal is a database write to an append-only chain, so without a bound a flood
 * of requests without credentials would bloat the log (and slow every writer). Refusals past the
 * bound are counted, and the next event written for that source says how many were left out
 * (`details.suppressedBefore`). At most `maxSources` addresses are tracked (the least recently
 * started window is forgotten first), so the limiter's own memory is bounded too.
 */
export class RefusalAudit {
  private readonly sources = new Map<string, Source>();

  constructor(
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    readonly perWindow = 20,
    readonly windowMs = 60_000,
    readonly maxSources = 10_000,
  ) {}

  /** Writes the event unless its source is over the bound; returns whether it was written. */
  async record(e: AuditEvent & { address: string }): Promise<boolean> {
    const now = this.clock.now().getTime();
    let s = this.sources.get(e.address);
    if (!s || now - s.windowStart >= this.windowMs) {
      s = { windowStart: now, logged: 0, suppressed: s?.suppressed ?? 0 };
      this.sources.delete(e.address);
      this.sources.set(e.address, s);
      while (this.sources.size > this.maxSources) this.sources.delete(this.sources.keys().next().value!);
    }
    if (s.logged >= this.perWindow) {
      s.suppressed++;
      return false;
    }
    s.logged++;
    const suppressed = s.suppressed;
    s.suppressed = 0;
    await this.audit.record(suppressed ? { ...e, details: { ...e.details, suppressedBefore: suppressed } } : e);
    return true;
  }

  /** Addresses currently tracked (for tests of the bound). */
  get size(): number {
    return this.sources.size;
  }
}
