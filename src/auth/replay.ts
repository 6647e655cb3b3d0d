import { createHash } from 'node:crypto';
import { statement, type Db } from '../store/db.js';
import { combinedWrites, type WriteKind } from '../store/combined-writes.js';
import type { Principal } from './principal.js';
import { principalRef } from './identity.js';
import { checkFreshness, DEFAULT_FRESHNESS, type FreshnessPolicy, type MessageEvidence } from './freshness.js';

/**
 * Replay detection for every message-authenticated SOAP message, across all workers and nodes
 * (one PostgreSQL table, `replay_seen`; PGlite in embedded mode). A message is accepted once:
 *
 * - its WS-Addressing MessageID, per principal, is used once;
 * - its UsernameToken Nonce, per principal, belongs to one token: it may come back only with the
 *   same Created and in a message with a new MessageID (cepces sends one token — Nonce, Created —
 *   with every message of a run, GetPolicies then RST, each with its own MessageID). A Nonce seen
 *   with another Created, or in a message without MessageID, is refused the second time;
 * - its XML signature value (signed messages), is used once — also when a replay swaps the
 *   unsigned MessageID.
 * A message that offers none of these is refused unless the legacy setting allows it.
 *
 * Keys are kept only while a message carrying them could still pass the freshness check (its
 * Created + window + skew), as 16-byte hashes. Cost per message: a share of one statement (messages
 * arriving while one is in flight are written together, with the process's requests and
 * certificates waiting then: src/store/combined-writes.ts); expired rows are purged in bounded
 * batches, at most once a minute per process.
 */

/** Messages (up to three keys each) written per statement; under load one INSERT and one commit serve this many. */
const BATCH = 300;
/** Rows removed per purge statement, and statements per purge: short locks, bounded work. */
const PURGE_CHUNK = 5000;
const PURGE_ROUNDS = 200;
const PURGE_EVERY_MS = 60_000;

export interface Key {
  hex: string;
  /** Null: usable once. Otherwise the same key with the same bound is admitted again. */
  bound: string | null;
  what: string;
}

interface Message {
  keys: Key[];
  expires: Date;
}

/** Each message its own key in the combined writes: a statement sorts out duplicates itself. */
let messageNo = 0;

/** What the combined statement says of one message: refused, admitted, or keys met again to compare bounds with. */
export type ReplayVerdict = { refused: string } | { admitted: true } | { recheck: Key[] };

/**
 * The replay kind of the process's combined writes (src/store/combined-writes.ts): messages arriving
 * while a statement is in flight are written by the next one, together with the requests and
 * certificates waiting then. The statement only inserts (`ON CONFLICT DO NOTHING`, which finds a
 * key met before through the primary key whatever the planner thinks of the table): a key it
 * inserted is new. A key it did not insert was met before; when it may come back (a Nonce with its
 * Created), `admit` compares the stored bound in a statement of its own (`recheck`) — rare: a
 * client's second message under one token, or a replay. Bounds never change, so this needs no
 * UPDATE — authenticating nodes hold only SELECT, INSERT and DELETE on the table. An expired row not
 * yet purged still blocks: no honest client reuses a MessageID, Nonce or signature value after the
 * window.
 *
 * A key appears once per statement (the first message carrying it gives its bound and expiry); a
 * second message with the same key in the batch shares the first one's verdict when the key may be
 * reused with that bound, and is a replay otherwise.
 *
 * Why not one statement that also reads the rows met again: as a join (or a subquery per key) in a
 * prepared statement, PostgreSQL planned a scan of the whole table while it was small and kept that
 * plan as it grew (docs/benchmarks.md, the eighth session; test/unit/store/hot-plans.test.ts).
 */
export const REPLAY_WRITES: WriteKind<Message, ReplayVerdict> = {
  name: 'replay',
  rank: 1,
  params: 3,
  max: BATCH,
  // A database crash may forget the last moments' keys (databaseAsyncReplayCommit, docs/authentication.md).
  relaxed: true,
  ctes: ($) =>
    `rp_ins AS (INSERT INTO replay_seen (key, bound, expires_at) SELECT decode(k, 'hex'), b, e FROM unnest(${$(1)}::text[], ${$(2)}::text[], ${$(3)}::timestamptz[]) AS u (k, b, e) ` +
    'ON CONFLICT (key) DO NOTHING RETURNING key)',
  select: "SELECT 'replay'::text AS kind, NULL::integer AS ord, encode(rp_ins.key, 'hex') AS a, NULL::text AS b FROM rp_ins",
  values(messages) {
    const first = firstOfEach(messages);
    return [first.map((x) => x.k.hex), first.map((x) => x.k.bound), first.map((x) => x.expires)];
  },
  outcomes(rows, messages) {
    const inserted = new Set(rows.map((x) => x.a));
    const first = new Map(firstOfEach(messages).map((x) => [x.k.hex, x.k]));
    const claimed = new Set<string>();
    return messages.map((m) => {
      let refusal: string | null = null;
      const recheck: Key[] = [];
      for (const k of m.keys) {
        const f = first.get(k.hex)!;
        const shareable = k.bound !== null && f.bound === k.bound;
        if (!shareable && (claimed.has(k.hex) || !inserted.has(k.hex))) refusal ??= `message replayed (its ${k.what} was used before)`;
        // Met before this statement, and may come back with the same bound: compare it.
        else if (shareable && !inserted.has(k.hex)) recheck.push(k);
        claimed.add(k.hex);
      }
      return refusal ? { refused: refusal } : recheck.length ? { recheck } : { admitted: true };
    });
  },
  key: () => `#${messageNo++}`,
};

/**
 * The stored bound of keys met again, read fresh (planned per call: the table's size now decides
 * the plan). A key whose row another node committed a moment ago is seen here too.
 */
async function storedBounds(db: Db, keys: Key[]): Promise<Map<string, string | null>> {
  const r = await db.query<{ k: string; bound: string | null }>("SELECT encode(key, 'hex') AS k, bound FROM replay_seen WHERE key = ANY($1::bytea[])", [keys.map((k) => Buffer.from(k.hex, 'hex'))]);
  return new Map(r.rows.map((x) => [x.k, x.bound]));
}

/** Each key once, as the first message carrying it has it. */
function firstOfEach(messages: Message[]): { k: Key; expires: Date }[] {
  const first = new Map<string, { k: Key; expires: Date }>();
  for (const m of messages) for (const k of m.keys) if (!first.has(k.hex)) first.set(k.hex, { k, expires: m.expires });
  return [...first.values()];
}

const PURGE = statement('DELETE FROM replay_seen WHERE key IN (SELECT key FROM replay_seen WHERE expires_at < $1 LIMIT ' + PURGE_CHUNK + ')');

/**
 * The principal as one string for replay keys: its canonical identity (src/auth/identity.ts, e.g.
 * `account:alice`), so every spelling of one person (`alice`, `ALICE`, `alice@EXAMPLE.COM`) shares
 * the MessageIDs and Nonces it has used.
 */
export function principalKey(p: Principal): string {
  return principalRef(p).key;
}

function key(kind: string, scope: string, value: string | Uint8Array, bound: string | null, what: string): Key {
  const hex = createHash('sha256').update(kind).update('\u0000').update(scope).update('\u0000').update(value).digest().subarray(0, 16).toString('hex');
  return { hex, bound, what };
}

export class ReplayGuard {
  private lastPurge = 0;
  private purging = false;

  constructor(
    private readonly db: Db,
    readonly policy: FreshnessPolicy = DEFAULT_FRESHNESS,
  ) {}

  /** Step 1, before authentication: a reason to refuse a stale, future-dated or unprotected message, or null. */
  fresh(e: MessageEvidence, now: Date): string | null {
    const f = checkFreshness(e, now, this.policy);
    return 'refused' in f ? f.refused : null;
  }

  /**
   * Step 2, once the caller is known: records the message and returns null the first time, a reason
   * for a replay (or a stale message) otherwise. Rejects when the database cannot answer — a
   * message is never accepted unchecked.
   */
  async admit(principal: Principal, e: MessageEvidence, now: Date): Promise<string | null> {
    const f = checkFreshness(e, now, this.policy);
    if ('refused' in f) return f.refused;
    if (e.nonce && (e.nonce.length < 8 || e.nonce.length > 64)) return 'the Nonce has a bad length';
    const who = principalKey(principal);
    const keys: Key[] = [];
    if (e.messageId !== undefined) keys.push(key('message-id', who, e.messageId, null, 'MessageID'));
    if (e.nonce) {
      // Bound to its Created when the message also has a MessageID (one token, several messages);
      // alone, the Nonce is what identifies the message, so it is usable once.
      const bound = e.messageId !== undefined ? (e.tokenCreated?.toISOString() ?? '') : null;
      keys.push(key('nonce', who, e.nonce, bound, 'Nonce'));
    }
    // A signature value is unforgeable and names its message whoever sends it: not per principal.
    if (e.signatureValue !== undefined) keys.push(key('signature', '', e.signatureValue.replace(/\s+/g, ''), null, 'signature'));
    if (keys.length === 0) return this.policy.allowUnprotected ? null : 'nothing identifies the message (no MessageID, Nonce or signature)';
    const verdict = await combinedWrites(this.db).submit(REPLAY_WRITES, { keys, expires: f.keepUntil });
    this.maybePurge(now);
    if ('refused' in verdict) return verdict.refused;
    if ('admitted' in verdict) return null;
    const stored = await storedBounds(this.db, verdict.recheck);
    const met = verdict.recheck.find((k) => stored.get(k.hex) !== k.bound);
    return met ? `message replayed (its ${met.what} was used before)` : null;
  }

  /** Removes expired rows in chunks, in the background; one purge at a time per process. */
  private maybePurge(now: Date): void {
    if (this.purging || now.getTime() - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = now.getTime();
    this.purging = true;
    void this.purge(now)
      .catch(() => undefined)
      .finally(() => {
        this.purging = false;
      });
  }

  /** Deletes rows expired at `now`, PURGE_CHUNK at a time; returns how many. */
  async purge(now: Date): Promise<number> {
    let total = 0;
    for (let i = 0; i < PURGE_ROUNDS; i++) {
      const r = await this.db.query(PURGE, [now]);
      total += r.rowCount;
      // A purge running elsewhere at the same time may take this chunk's rows (0 here): it goes on.
      if (r.rowCount === 0) break;
    }
    return total;
  }
}
