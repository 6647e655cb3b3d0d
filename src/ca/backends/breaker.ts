/**
 * A circuit breaker for calls to the remote CA: after `failures` consecutive failed calls it
 * opens for `openMs`, and calls fail at once instead of waiting on a CA that is down; then one
 * trial call is let through (half-open) — success closes it, failure opens it again.
 */
export class CircuitBreaker {
  private consecutive = 0;
  private openUntil = 0;
  private trial = false;

  constructor(private readonly o: { failures: number; openMs: number; now?: () => number }) {}

  private now(): number {
    return this.o.now ? this.o.now() : Date.now();
  }

  /** Milliseconds until a call may be tried, or 0 when it may be tried now. */
  blockedFor(): number {
    const left = this.openUntil - this.now();
    if (left > 0) return left;
    if (this.openUntil > 0) {
      // Half-open: one trial at a time.
      if (this.trial) return 1;
      this.trial = true;
    }
    return 0;
  }

  success(): void {
    this.consecutive = 0;
    this.openUntil = 0;
    this.trial = false;
  }

  failure(): void {
    this.consecutive++;
    this.trial = false;
    if (this.consecutive >= this.o.failures || this.openUntil > 0) this.openUntil = this.now() + this.o.openMs;
  }

  get state(): 'closed' | 'open' | 'half-open' {
    if (this.openUntil === 0) return 'closed';
    return this.openUntil > this.now() ? 'open' : 'half-open';
  }
}
