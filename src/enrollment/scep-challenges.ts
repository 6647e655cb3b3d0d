import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AuditLog } from '../audit/log.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import { OpencesError } from '../errors.js';
import type { Db } from '../store/db.js';
import { consumeChallenge, findChallenge, insertChallenge, type ScepChallengeRow } from '../store/scep-repo.js';

/** A SCEP profile as configured (config.ts `scep.profiles`). */
export interface ScepProfile {
  name: string;
  template: string;
  legacy: boolean;
  staticChallengeFile?: string;
  challengeValidity: string;
}

/** The SCEP profiles of the settings file (`scep.profiles`), by name. */
export function scepProfiles(config: Pick<Config, 'scep'>): Map<string, ScepProfile> {
  return new Map(Object.entries(config.scep.profiles).map(([name, p]) => [name, { name, template: p.template, legacy: p.legacy, challengeValidity: p.challengeValidity, ...(p.staticChallengeFile ? { staticChallengeFile: p.staticChallengeFile } : {}) }]));
}

const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

/** `30m`, `1h`, `2d` → milliseconds (at most 30 days: a challenge is for one enrollment soon). */
export function parseDuration(v: string): number {
  const m = /^(\d{1,6})([smhd])$/.exec(v.trim());
  if (!m) throw new OpencesError('malformed', `${JSON.stringify(v.slice(0, 32))} is not a duration such as 30m, 1h or 2d`, { field: 'valid' });
  const ms = Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
  if (ms < 60_000 || ms > 30 * 86_400_000) throw new OpencesError('malformed', 'a challenge is valid between 1 minute and 30 days', { field: 'valid' });
  return ms;
}

export interface CreatedChallenge {
  id: string;
  /** Shown once, to the administrator; only its hash is stored. */
  challenge: string;
  profile: string;
  boundSubject?: string;
  expiresAt: Date;
}

/**
 * A one-time challenge password for `profile` (NDES's "enrollment challenge password"): 128
 * random bits as 32 hex characters, stored hashed, valid for `valid`, consumed on first use.
 */
export async function createChallenge(o: { db: Db; audit: AuditLog; clock: Clock; profiles: Map<string, ScepProfile> }, r: { profile: string; boundSubject?: string; valid?: string; actor: string }): Promise<CreatedChallenge> {
  const profile = o.profiles.get(r.profile);
  if (!profile) throw new OpencesError('notFound', `no SCEP profile ${JSON.stringify(r.profile.slice(0, 64))} (scep.profiles in the settings file)`, { field: 'profile' });
  const boundSubject = r.boundSubject?.trim() || undefined;
  if (boundSubject && boundSubject.length > 256) throw new OpencesError('malformed', 'the bound subject is longer than 256 characters', { field: 'for' });
  const now = o.clock.now();
  const expiresAt = new Date(now.getTime() + parseDuration(r.valid ?? profile.challengeValidity));
  const challenge = randomBytes(16).toString('hex').toUpperCase();
  const id = randomBytes(6).toString('hex');
  await insertChallenge(o.db, { id, profile: profile.name, ...(boundSubject ? { boundSubject } : {}), secretSha256: sha256(challenge), createdBy: r.actor, createdAt: now, expiresAt });
  await o.audit.record({ type: 'scep.challenge.create', outcome: 'success', actor: r.actor, details: { id, profile: profile.name, boundSubject: boundSubject ?? null, expiresAt: expiresAt.toISOString() } });
  return { id, challenge, profile: profile.name, ...(boundSubject ? { boundSubject } : {}), expiresAt };
}

export type ChallengeCheck = { ok: true; kind: 'static' } | { ok: true; kind: 'one-time'; challenge: ScepChallengeRow } | { ok: false; reason: string; challengeId?: string };

function staticSecret(p: ScepProfile): string | null {
  if (!p.staticChallengeFile) return null;
  const s = readFileSync(p.staticChallengeFile, 'utf8').trim();
  return s.length >= 8 ? s : null;
}

/** Whether the request's subject is the one the challenge was issued for: its CN, or the whole DN as written. */
function subjectMatches(bound: string, subject: { cn?: string; dn: string }): boolean {
  const norm = (s: string) => s.replace(/\s*([,=])\s*/g, '$1').trim().toLowerCase();
  return (subject.cn !== undefined && subject.cn.toLowerCase() === bound.toLowerCase()) || norm(subject.dn) === norm(bound);
}

/**
 * Checks the challengePassword of a PKCSReq against the profile: its static secret (constant-time),
 * or a one-time challenge for this profile, unused, unexpired and (when bound) for this subject,
 * which is consumed here in one UPDATE. The reason on refusal is for the audit log, not the client.
 */
export async function checkChallenge(o: { db: Db; clock: Clock }, p: ScepProfile, given: string | undefined, subject: { cn?: string; dn: string }, usedBy: string): Promise<ChallengeCheck> {
  if (!given) return { ok: false, reason: 'the request carries no challengePassword' };
  if (given.length > 256) return { ok: false, reason: 'the challengePassword is longer than 256 characters' };
  const secret = staticSecret(p);
  if (secret !== null) {
    const a = createHash('sha256').update(secret).digest();
    const b = createHash('sha256').update(given).digest();
    if (timingSafeEqual(a, b)) return { ok: true, kind: 'static' };
  }
  const hash = sha256(given.trim().toUpperCase());
  const now = o.clock.now();
  const found = await findChallenge(o.db, hash);
  if (!found) return { ok: false, reason: 'wrong challenge password' };
  if (found.profile !== p.name) return { ok: false, reason: `the challenge ${found.id} is for the profile ${found.profile}`, challengeId: found.id };
  if (found.usedAt) return { ok: false, reason: `the challenge ${found.id} was already used at ${found.usedAt.toISOString()}`, challengeId: found.id };
  if (found.expiresAt.getTime() <= now.getTime()) return { ok: false, reason: `the challenge ${found.id} expired at ${found.expiresAt.toISOString()}`, challengeId: found.id };
  if (found.boundSubject && !subjectMatches(found.boundSubject, subject)) return { ok: false, reason: `the challenge ${found.id} is for ${found.boundSubject}, not ${subject.dn}`, challengeId: found.id };
  const consumed = await consumeChallenge(o.db, { profile: p.name, secretSha256: hash, now, usedBy });
  // Lost a race with another request for the same challenge: that one has it.
  if (!consumed) return { ok: false, reason: `the challenge ${found.id} was already used`, challengeId: found.id };
  return { ok: true, kind: 'one-time', challenge: consumed };
}
