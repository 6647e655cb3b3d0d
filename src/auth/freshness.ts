import type { SoapEnvelope } from '../protocol/soap/envelope.js';

/**
 * What a SOAP message offers to prove it is fresh and to tell it from a replay (WSS 1.1 §10,
 * UsernameToken Profile 1.1 §4, WS-Addressing MessageID). Read from the envelope once, checked in
 * two steps: freshness before authentication (cheap, saves a password check on a stale message),
 * replay after it (keys are per principal, so no caller can use up another's MessageIDs).
 */
export interface MessageEvidence {
  messageId?: string;
  /** UsernameToken Nonce and Created. */
  nonce?: Uint8Array;
  tokenCreated?: Date;
  /** wsu:Timestamp in the Security header. */
  timestampCreated?: Date;
  timestampExpires?: Date;
  /** ds:SignatureValue text of a verified message signature (a signed message is accepted once). */
  signatureValue?: string;
}

export interface FreshnessPolicy {
  /** How old a Created may be (beyond the clock skew). */
  windowMs: number;
  /** Clock difference tolerated in either direction. */
  skewMs: number;
  /**
   * Legacy clients: accept a message that carries neither Nonce + Created nor a Timestamp, or
   * nothing to recognise it by (MessageID, Nonce, signature). Such messages are not replay-proof.
   */
  allowUnprotected: boolean;
}

export const DEFAULT_FRESHNESS: FreshnessPolicy = { windowMs: 5 * 60_000, skewMs: 5 * 60_000, allowUnprotected: false };

export function messageEvidence(env: SoapEnvelope): MessageEvidence {
  const sec = env.header.security;
  return {
    messageId: env.header.messageId,
    nonce: sec?.usernameToken?.nonce,
    tokenCreated: sec?.usernameToken?.created,
    timestampCreated: sec?.timestamp?.created,
    timestampExpires: sec?.timestamp?.expires,
  };
}

/**
 * The freshness verdict: a reason to refuse, or how long the message's replay keys must be kept —
 * as long as a message with its Created could still pass this check, never longer.
 *
 * Freshness comes from the UsernameToken's Nonce + Created or from the Timestamp's Created (a
 * Created without a Nonce does not count, as the UsernameToken profile says; but every Created
 * present must be fresh). A Created older than window + skew is refused even when Expires is far
 * away (the client chooses Expires), one later than now + skew is refused, as is an Expires past.
 */
export function checkFreshness(e: MessageEvidence, now: Date, p: FreshnessPolicy): { refused: string } | { keepUntil: Date } {
  const t = now.getTime();
  const createds: [string, Date][] = [];
  if (e.tokenCreated) createds.push(['UsernameToken Created', e.tokenCreated]);
  if (e.timestampCreated) createds.push(['Timestamp Created', e.timestampCreated]);
  for (const [name, d] of createds) {
    if (d.getTime() > t + p.skewMs) return { refused: `${name} is in the future` };
    if (d.getTime() < t - p.windowMs - p.skewMs) return { refused: `${name} is too old` };
  }
  if (e.timestampExpires) {
    if (e.timestampExpires.getTime() < t - p.skewMs) return { refused: 'the Timestamp has expired' };
    if (e.timestampCreated && e.timestampExpires.getTime() < e.timestampCreated.getTime()) return { refused: 'the Timestamp expires before it was created' };
  }
  const fresh = (e.nonce !== undefined && e.tokenCreated !== undefined) || e.timestampCreated !== undefined;
  if (!fresh && !p.allowUnprotected) return { refused: 'the message carries neither a Nonce and Created nor a Timestamp' };
  const oldest = createds.length ? Math.min(...createds.map(([, d]) => d.getTime())) : t;
  return { keepUntil: new Date(oldest + p.windowMs + p.skewMs) };
}
