import type { Db } from '../store/db.js';

/**
 * WS-Security UsernameToken replay protection (WSS UsernameToken Profile 1.1 §4): a Created
 * timestamp outside the freshness window is refused, and a message is accepted once.
 *
 * A message is identified by Nonce + Created + WS-Addressing MessageID. Real clients reuse one
 * UsernameToken for every message of a session (cepces sends the same Nonce/Created with its
 * GetPolicies and its RST), and with PasswordText the token carries the password itself, so a
 * reused token proves nothing a password would not; what must not work is replaying a captured
 * message, and a token older than the window. Seen entries live in the database so every node sees them.
 */
export class NonceGuard {
  private lastPurge = 0;

  constructor(
    private readonly db: Db,
    private readonly windowMs = 5 * 60_000,
  ) {}

  /** Returns a reason when the token must be refused, null when it is fresh and unseen. */
  async check(nonce: Uint8Array | undefined, created: Date | undefined, messageId: string | undefined, now: Date): Promise<string | null> {
    if (created) {
      const skew = created.getTime() - now.getTime();
      if (skew > this.windowMs) return 'Created is in the future';
      if (-skew > this.windowMs) return 'Created is too old';
    }
    if (!nonce) return null;
    if (nonce.length < 8 || nonce.length > 64) return 'Nonce has a bad length';
    const key = `${Buffer.from(nonce).toString('base64')}|${created?.toISOString() ?? ''}|${(messageId ?? '').slice(0, 200)}`;
    const expires = new Date(now.getTime() + 2 * this.windowMs);
    const r = await this.db.query('INSERT INTO seen_nonces (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING', [key, expires]);
    if (now.getTime() - this.lastPurge > 60_000) {
      this.lastPurge = now.getTime();
      void this.db.query('DELETE FROM seen_nonces WHERE expires_at < $1', [now]).catch(() => undefined);
    }
    return r.rowCount === 0 ? 'message replayed (same Nonce, Created and MessageID)' : null;
  }
}
