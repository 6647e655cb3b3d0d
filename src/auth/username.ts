import { createHmac, randomBytes } from 'node:crypto';
import { BoundedCache } from '../bounded-cache.js';
import type { FailureAudit } from '../audit/refusal-audit.js';
import type { Clock } from '../clock.js';
import { OpencesError } from '../errors.js';
import type { Db } from '../store/db.js';
import { getAccountForLogin } from './accounts.js';
import { accountKey } from './identity.js';
import { verifyPassword } from './password.js';
import { AUTHENTICATED_GROUP, type Principal } from './principal.js';
import { FailureLimiter } from './rate-limit.js';
import { ldapAuthenticate, type LdapConfig } from './ldap.js';
import { ReplayGuard } from './replay.js';
import type { MessageEvidence } from './freshness.js';

export interface UsernameToken {
  username: string;
  password: string;
  nonce?: Uint8Array;
  created?: Date;
  /** WS-Addressing MessageID of the message carrying the token (replay detection). */
  messageId?: string;
  /** The Security header's wsu:Timestamp (Windows clients send one, often without a Nonce). */
  timestamp?: { created?: Date; expires?: Date };
}

export interface UsernameAuthOptions {
  db: Db;
  clock: Clock;
  /** Where failed authentications are recorded (a RefusalAudit: bounded per source address). */
  audit: FailureAudit;
  /** Realms / NetBIOS domains accepted as `alice@domain` or `DOMAIN\alice`; an empty list accepts every domain. */
  domains?: string[];
  /** Optional directory: users without a local account are checked with an LDAP simple bind. */
  ldap?: LdapConfig;
  cacheTtlMs?: number;
  /** Verified credentials kept at most (default SIGN_IN_CACHE_MAX). */
  cacheMaxEntries?: number;
  maxFailuresPerAccount?: number;
  maxFailuresPerAddress?: number;
  failureWindowMs?: number;
  /** Freshness and replay store, shared with the other message-level method (src/auth/replay.ts). */
  replay?: ReplayGuard;
}

/** Verified credentials cached per node: one entry per user and password in use within cacheTtlMs. */
export const SIGN_IN_CACHE_MAX = 10_000;

const FAILED = (): OpencesError => new OpencesError('unauthenticated', 'authentication failed');

/**
 * WS-Security UsernameToken (PasswordText over TLS) against local accounts. Verified credentials
 * are cached briefly under an HMAC of user and password (never the password itself) so that
 * scrypt does not run per request; failures are rate limited and audited without saying which
 * part was wrong.
 */
export class UsernameAuthenticator {
  private readonly cacheKey = randomBytes(32);
  /** Verified credentials (an HMAC of user and password) → principal, bounded by count and cacheTtlMs. */
  private readonly cache: BoundedCache<string, { principal: Principal; account: string }>;
  /** Verifications in flight by cache key: a burst of requests with one credential runs scrypt once. */
  private readonly inflight = new Map<string, Promise<Principal>>();
  private readonly perAccount: FailureLimiter;
  private readonly perAddress: FailureLimiter;
  private readonly replay: ReplayGuard;
  private readonly ttl: number;
  /**
   * Bumped by every invalidation: a verification that started before an account changed (its
   * scrypt was running when the password was set or the account disabled) is answered but not
   * cached, so the old credential is not remembered past the change.
   */
  private generation = 0;

  constructor(private readonly o: UsernameAuthOptions) {
    const window = o.failureWindowMs ?? 5 * 60_000;
    const now = (): number => o.clock.now().getTime();
    this.perAccount = new FailureLimiter(o.maxFailuresPerAccount ?? 10, window, now);
    this.perAddress = new FailureLimiter(o.maxFailuresPerAddress ?? 50, window, now);
    this.replay = o.replay ?? new ReplayGuard(o.db);
    this.ttl = o.cacheTtlMs ?? 30_000;
    this.cache = new BoundedCache(o.cacheMaxEntries ?? SIGN_IN_CACHE_MAX, this.ttl, now);
  }

  /** `alice@example.test` / `EXAMPLE\alice` → candidate account names, most specific first. */
  accountNames(username: string): { names: string[]; domain?: string } {
    const u = username.trim();
    const domains = (this.o.domains ?? []).map((d) => d.toLowerCase());
    const accepts = (d: string): boolean => domains.length === 0 || domains.includes(d.toLowerCase());
    const bs = u.indexOf('\\');
    if (bs > 0) {
      const domain = u.slice(0, bs);
      return { names: accepts(domain) ? [u, u.slice(bs + 1)] : [u], domain };
    }
    const at = u.lastIndexOf('@');
    if (at > 0) {
      const domain = u.slice(at + 1);
      return { names: accepts(domain) ? [u, u.slice(0, at)] : [u], domain };
    }
    return { names: [u] };
  }

  /** Verified credentials cached (tests: stays within cacheMaxEntries). */
  get cacheSize(): number {
    return this.cache.size;
  }

  invalidate(account?: string): void {
    this.generation++;
    // Requests arriving from now on verify afresh instead of joining a verification of the old state.
    this.inflight.clear();
    if (!account) this.cache.clear();
    else this.cache.deleteWhere((v) => v.account === account);
  }

  /** Counts a failure against the account and the address, audits it, and throws the one answer every failure gets. */
  private failer(username: string, ctx: { address: string }): (reason: string, account?: string) => Promise<never> {
    return async (reason, account) => {
      if (account) this.perAccount.fail(account.toLowerCase());
      this.perAddress.fail(ctx.address);
      await this.o.audit.record({ type: 'auth.failure', outcome: 'failure', principal: username.slice(0, 256), method: 'username', address: ctx.address, reason });
      throw FAILED();
    };
  }

  private cacheKeyOf(username: string, password: string): string {
    return createHmac('sha256', this.cacheKey).update(username).update('\0').update(password).digest('base64');
  }

  /**
   * An account name and password typed into a web sign-in form (/enroll): the same accounts,
   * directory bind, cache, rate limits and audit as a UsernameToken, without the message checks —
   * a form post has no Nonce, Created or MessageID, and what it opens (a session) is not replayable.
   */
  async signIn(username: string, password: string, ctx: { address: string }): Promise<Principal> {
    const fail = this.failer(username, ctx);
    if (!username || username.length > 256 || !password || password.length > 1024) return fail('missing or oversize credentials');
    return this.credential({ username, password }, ctx, this.cacheKeyOf(username, password), this.o.clock.now(), fail);
  }

  async authenticate(token: UsernameToken, ctx: { address: string }): Promise<Principal> {
    const now = this.o.clock.now();
    const fail = this.failer(token.username, ctx);
    if (!token.username || token.username.length > 256 || !token.password || token.password.length > 1024) return fail('missing or oversize credentials');
    const key = this.cacheKeyOf(token.username, token.password);

    const evidence: MessageEvidence = { messageId: token.messageId, nonce: token.nonce, tokenCreated: token.created, timestampCreated: token.timestamp?.created, timestampExpires: token.timestamp?.expires };
    // A stale or unprotected message is refused before the password is checked.
    const stale = this.replay.fresh(evidence, now);
    if (stale) return fail(stale);

    const principal = await this.credential(token, ctx, key, now, fail);
    // Replays are recognised per principal (so nobody can use up another's MessageIDs), hence after
    // the password. Not counted against the account: whoever replays has the password already.
    const replayed = await this.replay.admit(principal, evidence, now);
    if (replayed) return fail(replayed);
    return principal;
  }

  private async credential(token: UsernameToken, ctx: { address: string }, key: string, now: Date, fail: (reason: string, account?: string) => Promise<never>): Promise<Principal> {
    const hit = this.cache.get(key);
    if (hit) return hit.principal;

    let pending = this.inflight.get(key);
    if (!pending) {
      const mine: Promise<Principal> = this.verify(token, ctx, key, fail).finally(() => {
        if (this.inflight.get(key) === mine) this.inflight.delete(key);
      });
      pending = mine;
      this.inflight.set(key, pending);
    }
    return pending;
  }

  private async verify(token: UsernameToken, ctx: { address: string }, key: string, fail: (reason: string, account?: string) => Promise<never>): Promise<Principal> {
    const now = this.o.clock.now();
    const generation = this.generation;
    const remember = (principal: Principal, account: string): void => {
      if (generation !== this.generation) return;
      this.cache.set(key, { principal, account });
    };
    const { names, domain } = this.accountNames(token.username);
    const limitedKey = names[names.length - 1]!.toLowerCase();
    if (this.perAccount.isLimited(limitedKey) || this.perAddress.isLimited(ctx.address)) {
      await this.o.audit.record({ type: 'auth.failure', outcome: 'failure', principal: token.username.slice(0, 256), method: 'username', address: ctx.address, reason: 'rate limited' });
      throw new OpencesError('rateLimited', 'too many failed sign-ins; try again later');
    }
    let account = null;
    for (const n of names) {
      account = await getAccountForLogin(this.o.db, n);
      if (account) break;
    }
    if (!account && this.o.ldap) {
      // No local account: the directory decides (local accounts win, so a local name cannot be hijacked).
      const user = names[names.length - 1]!;
      let dir: Awaited<ReturnType<typeof ldapAuthenticate>>;
      try {
        dir = await ldapAuthenticate(this.o.ldap, user, token.password);
      } catch (e) {
        // Refused because the directory is down: audited like every refusal, answered as a Receiver fault.
        await this.o.audit.record({ type: 'auth.failure', outcome: 'failure', principal: token.username.slice(0, 256), method: 'username', address: ctx.address, reason: e instanceof Error ? e.message : 'user directory error' });
        throw e;
      }
      if (!dir) return fail('LDAP bind refused', limitedKey);
      const principal: Principal = {
        name: user,
        displayName: user,
        groups: [AUTHENTICATED_GROUP, ...dir.groups],
        method: 'username',
        ...(domain ? { upn: `${user}@${domain}`, realm: domain } : {}),
        ...(dir.email ? { email: dir.email } : {}),
        ref: { kind: 'directory', key: `directory:${user.toLowerCase()}` },
      };
      remember(principal, user);
      return principal;
    }
    // Always run scrypt, even for unknown accounts, so timing says nothing.
    const ok = await verifyPassword(token.password, account?.passwordHash);
    if (!account) return fail('unknown account', limitedKey);
    if (!ok) return fail('wrong password', account.name);
    if (account.disabled) return fail('account disabled', account.name);

    const principal: Principal = {
      name: account.name,
      displayName: account.name,
      groups: [AUTHENTICATED_GROUP, ...account.groups],
      method: 'username',
      ...(domain ? { upn: `${account.name}@${domain}`, realm: domain } : {}),
      ...(account.email ? { email: account.email } : {}),
      ref: { kind: 'account', key: accountKey(account.name) },
    };
    remember(principal, account.name);
    return principal;
  }
}
