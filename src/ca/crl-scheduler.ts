import type { AuditLog } from '../audit/log.js';
import type { Logger } from '../log.js';
import type { CrlKind } from './crl.js';

/** What the schedule drives: a CA that publishes a CRL of a kind when the newest is old enough. */
export interface ScheduledCrlPublisher {
  publishCrlIfDue(kind: CrlKind, periodMs: number): Promise<Uint8Array | null>;
}

/** Timer functions, injected so tests run the schedule without waiting for real periods. */
export interface Timers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const realTimers: Timers = {
  setInterval: (fn, ms) => {
    const t = setInterval(fn, ms);
    t.unref();
    return t;
  },
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

export interface CrlSchedulerOptions {
  ca: ScheduledCrlPublisher;
  /** Full CRL every `fullPeriodMs`; delta CRLs every `deltaPeriodMs` (0: none). */
  fullPeriodMs: number;
  deltaPeriodMs: number;
  /** How often to look whether something is due. */
  checkEveryMs: number;
  audit: AuditLog;
  log: Logger;
  timers?: Timers;
}

/**
 * Keeps full and delta CRLs fresh while a CA node serves. Each check asks the CA to publish what
 * is due; "due" is decided from the newest published CRLs in the database under the CRL lock
 * (src/ca/crl.ts), so a restart keeps the rhythm and several nodes on one database publish once.
 * A new full CRL is followed at once by a delta on top of it.
 */
export class CrlScheduler {
  private handle: unknown = null;
  private running: Promise<{ full: boolean; delta: boolean }> | null = null;

  constructor(private readonly o: CrlSchedulerOptions) {}

  start(): void {
    if (this.handle !== null) return;
    const timers = this.o.timers ?? realTimers;
    this.handle = timers.setInterval(() => {
      void this.tick().catch(() => undefined);
    }, this.o.checkEveryMs);
    void this.tick().catch(() => undefined);
  }

  async stop(): Promise<void> {
    if (this.handle !== null) (this.o.timers ?? realTimers).clearInterval(this.handle);
    this.handle = null;
    await this.running?.catch(() => undefined);
  }

  /** One check (overlapping checks share the one in flight). Resolves to what was published. */
  tick(): Promise<{ full: boolean; delta: boolean }> {
    this.running ??= this.check().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async check(): Promise<{ full: boolean; delta: boolean }> {
    const out = { full: false, delta: false };
    try {
      out.full = await this.publish('full', this.o.fullPeriodMs);
      if (this.o.deltaPeriodMs > 0) out.delta = await this.publish('delta', this.o.deltaPeriodMs);
    } catch (e) {
      this.o.log.error({ err: e }, 'scheduled CRL publication failed');
      await this.o.audit.record({ type: 'crl.publish', outcome: 'failure', actor: 'opences', reason: e instanceof Error ? e.message : 'failed', details: { scheduled: true } }).catch(() => undefined);
      throw e;
    }
    return out;
  }

  private async publish(kind: CrlKind, periodMs: number): Promise<boolean> {
    const der = await this.o.ca.publishCrlIfDue(kind, periodMs);
    if (!der) return false;
    await this.o.audit.record({ type: 'crl.publish', outcome: 'success', actor: 'opences', details: { delta: kind === 'delta', bytes: der.length, scheduled: true } });
    this.o.log.info({ kind, bytes: der.length }, 'published a scheduled CRL');
    return true;
  }
}
