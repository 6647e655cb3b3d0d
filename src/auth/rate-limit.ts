/**
 * Failed-login limiter: at most `max` failures per key within `windowMs`. In memory, per node —
 * with N nodes an attacker gets at most N× the budget, which the defaults allow for.
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    /** Keys tracked at most (docs/benchmarks.md, memory bounds). */
    private readonly maxKeys = 100_000,
  ) {}

  private recent(key: string): number[] {
    const cutoff = this.now() - this.windowMs;
    const list = (this.failures.get(key) ?? []).filter((t) => t > cutoff);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  isLimited(key: string): boolean {
    return this.recent(key).length >= this.max;
  }

  fail(key: string): void {
    const list = this.recent(key);
    list.push(this.now());
    // Re-inserted, so the Map's first keys are those that failed least recently.
    this.failures.delete(key);
    this.failures.set(key, list);
    if (this.failures.size > this.maxKeys) this.sweep();
  }

  /** Keys tracked (tests: stays within maxKeys). */
  get size(): number {
    return this.failures.size;
  }

  /**
   * Over maxKeys: forget keys whose failures are out of the window, then, if a flood of distinct
   * keys (addresses, account names) is still over the bound, the least recently failed ones, down
   * to 90 % so the sweep runs once per tenth of the bound, not per failure. Forgetting costs the
   * flood's oldest keys their count — a flood that large is itself the attack to see in the audit log.
   */
  private sweep(): void {
    for (const k of [...this.failures.keys()]) this.recent(k);
    const target = Math.floor(this.maxKeys * 0.9);
    for (const k of this.failures.keys()) {
      if (this.failures.size <= target) break;
      this.failures.delete(k);
    }
  }
}
