import { statement, type Db } from '../store/db.js';

const INSERT_SEEN = statement('INSERT INTO seen_nonces (nonce, expires_at) SELECT * FROM unnest($1::text[], $2::timestamptz[]) ON CONFLICT (nonce) DO NOTHING RETURNING nonce');

/**
 * WS-Security UsernameToken replay protection (WSS UsernameToken Profile 1.1 §4): a Created
 * timestamp outside the freshness window is refused, and a message is accepted once.
 *
 * A message is identified by Nonce + Created + WS-Addressing MessageID. Real clients reuse one
 * UsernameToken for every message of a session (cepces sends the same Nonce/Created with its
 * GetPolicies and its RST), and with PasswordText the token carries the password itself, so a
 * reused token proves nothing a password would not; what must not work is replaying a captured
 * message, and a token older than the window. Seen entries live in the database so every node sees them.
 *
 * Scope `node` keeps them in this process instead, as WCF's replay cache does: for read-only
 * operations (GetPolicies), where a replayed message obtains nothing a fresh one with the same
 * password would not, a database write per message is not worth its cost (about a fifth of the
 * policy service's throughput). A full local cache hands its overflow to the database check.
 */
export type ReplayScope = 'node' | 'deployment';

/** Messages remembered per process for scope `node` (about 200 bytes each: ~40 MB when full). */
export const LOCAL_CAPACITY = 200_000;

interface Waiter {
  key: string;
  expires: Date;
  done: (fresh: boolean | Error) => void;
}

const REPLAYED = 'message replayed (same Nonce, Created and MessageID)';

/** Keys written per statement; under load one INSERT and one commit serve this many messages. */
const BATCH = 1000;

export class NonceGuard {
  private lastPurge = 0;
  private waiting: Waiter[] = [];
  private flushing = false;
  /** Scope `node`: each message's key → when it may be forgotten (ms), oldest first. */
  private readonly local = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly windowMs = 5 * 60_000,
    private readonly localCapacity = LOCAL_CAPACITY,
  ) {}

  /** Returns a reason when the token must be refused, null when it is fresh and unseen. */
  async check(nonce: Uint8Array | undefined, created: Date | undefined, messageId: string | undefined, now: Date, scope: ReplayScope = 'deployment'): Promise<string | null> {
    if (created) {
      const skew = created.getTime() - now.getTime();
      if (skew > this.windowMs) return 'Created is in the future';
      if (-skew > this.windowMs) return 'Created is too old';
    }
    if (!nonce) return null;
    if (nonce.length < 8 || nonce.length > 64) return 'Nonce has a bad length';
    const key = `${Buffer.from(nonce).toString('base64')}|${created?.toISOString() ?? ''}|${(messageId ?? '').slice(0, 200)}`;
    const expires = new Date(now.getTime() + 2 * this.windowMs);
    if (scope === 'node') {
      const local = this.checkLocal(key, now.getTime(), expires.getTime());
      if (local !== 'full') return local ? null : REPLAYED;
    }
    const fresh = await new Promise<boolean>((resolve, reject) => {
      this.waiting.push({ key, expires, done: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
      void this.flush();
    });
    if (now.getTime() - this.lastPurge > 60_000) {
      this.lastPurge = now.getTime();
      void this.db.query('DELETE FROM seen_nonces WHERE expires_at < $1', [now]).catch(() => undefined);
    }
    return fresh ? null : REPLAYED;
  }

  /** True when the message is new to this process, false for a replay, 'full' when it cannot remember more. */
  private checkLocal(key: string, nowMs: number, expiresMs: number): boolean | 'full' {
    // Entries expire in insertion order (a fixed lifetime from arrival): drop the expired head.
    for (const [k, until] of this.local) {
      if (until > nowMs) break;
      this.local.delete(k);
    }
    if (this.local.has(key)) return false;
    if (this.local.size >= this.localCapacity) return 'full';
    this.local.set(key, expiresMs);
    return true;
  }

  /**
   * Messages arriving while a write is in flight are written together by the next one (group
   * commit): the first of a key is fresh only if the database did not have it; any later copy
   * of the same key, in the same batch or after, is a replay.
   */
  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.waiting.length) {
        const batch = this.waiting.splice(0, BATCH);
        const first = new Map<string, Waiter>();
        for (const w of batch) if (!first.has(w.key)) first.set(w.key, w);
        try {
          const keys = [...first.keys()];
          const r = await this.db.query<{ nonce: string }>(INSERT_SEEN, [keys, keys.map((k) => first.get(k)!.expires)],
          );
          const inserted = new Set(r.rows.map((x) => x.nonce));
          for (const w of batch) w.done(first.get(w.key) === w && inserted.has(w.key));
        } catch (e) {
          for (const w of batch) w.done(e instanceof Error ? e : new Error(String(e)));
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
