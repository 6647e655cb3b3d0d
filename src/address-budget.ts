/**
 * Token buckets keyed by the caller's network address, for deciding who gets a cheap answer now.
 * An IPv6 caller is keyed by its /64 (one host usually holds a whole /64, and can pick every address
 * in it), an IPv4-mapped IPv6 address by its IPv4 address.
 */

/** The key a source address is counted under. */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const zoneless = address.split('%')[0]!.toLowerCase();
  const [head, tail] = zoneless.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * One bucket per key, each holding up to `capacity` tokens and refilled at `perMs` tokens a
 * millisecond, plus one bucket shared by every key (`sharedCapacity`, `sharedPerMs`) so that a
 * sender spread over many addresses gets no more than one sender would. At most `maxKeys` keys are
 * tracked: beyond that the least recently charged is forgotten (it starts full again when it
 * returns, and the shared bucket still bounds it).
 */
export class AddressBudget {
  private readonly buckets = new Map<string, Bucket>();
  private readonly shared: Bucket;

  constructor(
    private readonly o: { capacity: number; perMs: number; sharedCapacity: number; sharedPerMs: number; maxKeys: number },
    private readonly now: () => number = Date.now,
  ) {
    this.shared = { tokens: o.sharedCapacity, at: now() };
  }

  /** Keys tracked now (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token for `key` if both its bucket and the shared one have one. */
  take(key: string): boolean {
    if (this.o.capacity <= 0) return false;
    const t = this.now();
    refill(this.shared, t, this.o.sharedCapacity, this.o.sharedPerMs);
    let b = this.buckets.get(key);
    if (b) this.buckets.delete(key); // re-inserted below: Map order is least recently charged first
    else b = { tokens: this.o.capacity, at: t };
    refill(b, t, this.o.capacity, this.o.perMs);
    this.buckets.set(key, b);
    if (this.buckets.size > this.o.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    if (b.tokens < 1 || this.shared.tokens < 1) return false;
    b.tokens -= 1;
    this.shared.tokens -= 1;
    return true;
  }
}

function refill(b: Bucket, t: number, capacity: number, perMs: number): void {
  if (t > b.at) b.tokens = Math.min(capacity, b.tokens + (t - b.at) * perMs);
  b.at = t;
}
