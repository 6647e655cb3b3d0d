import type { AuditEvent } from './event.js';
import type { AuditLog } from './log.js';
import type { Clock } from '../clock.js';
import { addressKey } from '../address-budget.js';

/** Where failed authentications are written: the audit log, or a RefusalAudit in front of it. */
export interface FailureAudit {
  record(e: AuditEvent): Promise<unknown>;
}

interface Source {
  windowStart: number;
  logged: number;
  suppressed: number;
}

/**
 * Audit events for refused requests — the admin API's and the web's 401s and 403s, the CA API's,
 * and failed authentications at the SOAP endpoints (a wrong or rate-limited password, an
 * unreadable Negotiate token, a refused client certificate) — at most `perWindow` per source
 * address (an IPv6 caller's /64) and window: each refusal is a database write to an append-only
 * chain, so without a bound a flood of requests with bad credentials would bloat the log (and slow
 * every writer). Refusals past the
 * bound are counted, and the next event written for that source says how many were left out
 * (`details.suppressedBefore`). At most `maxSources` addresses are tracked (the least recently
 * started window is forgotten first), so the limiter's own memory is bounded too.
 */
export class RefusalAudit implements FailureAudit {
  private readonly sources = new Map<string, Source>();

  constructor(
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    readonly perWindow = 20,
    readonly windowMs = 60_000,
    readonly maxSources = 10_000,
  ) {}

  /** Writes the event unless its source is over the bound; returns whether it was written. */
  async record(e: AuditEvent): Promise<boolean> {
    const now = this.clock.now().getTime();
    const key = addressKey(e.address);
    let s = this.sources.get(key);
    if (!s || now - s.windowStart >= this.windowMs) {
      s = { windowStart: now, logged: 0, suppressed: s?.suppressed ?? 0 };
      this.sources.delete(key);
      this.sources.set(key, s);
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
