import type { Core } from '../../app/core-types.js';
import { listCas } from '../../store/ca-repo.js';
import { latestCrl } from '../../store/crl-repo.js';
import { latestCheckpoint } from '../../store/audit-checkpoint-repo.js';
import { countRequests, expiringPerWeek, issuedPerDay, type BucketCount } from '../../store/stats-repo.js';

const DAY = 86_400_000;
export const ISSUED_DAYS = 30;
export const EXPIRING_WEEKS = 13;

/** Bucket starts and, per template, one count per bucket (zeros included), for a stacked chart. */
function series(starts: Date[], rows: BucketCount[]): { buckets: string[]; templates: Record<string, number[]> } {
  const index = new Map(starts.map((d, i) => [d.getTime(), i]));
  const templates: Record<string, number[]> = {};
  for (const r of rows) {
    const i = index.get(r.bucket.getTime());
    if (i === undefined) continue;
    const name = r.template ?? '(none)';
    (templates[name] ??= starts.map(() => 0))[i]! += r.count;
  }
  return { buckets: starts.map((d) => d.toISOString()), templates };
}

/**
 * GET /api/v1/overview (every admin role): what the console's overview shows — certificates issued
 * per day over the last 30 days and unrevoked certificates expiring per week over the next 13, by
 * template; pending requests; the latest CRL and its age; the audit chain's head and latest signed
 * checkpoint. Aggregates only: no names, so every role may see it.
 */
export async function overview(core: Core): Promise<unknown> {
  const now = core.clock.now();
  const today = new Date(Math.floor(now.getTime() / DAY) * DAY);
  const firstDay = new Date(today.getTime() - (ISSUED_DAYS - 1) * DAY);
  const days = Array.from({ length: ISSUED_DAYS }, (_, i) => new Date(firstDay.getTime() + i * DAY));
  const weeks = Array.from({ length: EXPIRING_WEEKS }, (_, i) => new Date(now.getTime() + i * 7 * DAY));
  const slug = core.ca.info().slug;
  const ca = (await listCas(core.db)).find((x) => x.slug === slug);
  const [issued, expiring, pending, crl, head, checkpoint] = await Promise.all([
    issuedPerDay(core.db, firstDay, new Date(today.getTime() + DAY)),
    expiringPerWeek(core.db, now, EXPIRING_WEEKS),
    countRequests(core.db, 'pending'),
    ca ? latestCrl(core.db, ca.id) : Promise.resolve(null),
    core.audit.head(),
    latestCheckpoint(core.db),
  ]);
  return {
    now: now.toISOString(),
    issuedPerDay: series(days, issued),
    expiringPerWeek: series(weeks, expiring),
    pendingRequests: pending,
    crl: crl ? { number: crl.number, thisUpdate: crl.thisUpdate.toISOString(), nextUpdate: crl.nextUpdate.toISOString(), ageSeconds: Math.max(0, Math.round((now.getTime() - crl.thisUpdate.getTime()) / 1000)), overdue: crl.nextUpdate.getTime() < now.getTime() } : null,
    audit: { head: head ? { seq: head.seq, hash: head.hash } : null, checkpoint: checkpoint ? { seq: checkpoint.seq, at: checkpoint.at.toISOString(), behind: head ? head.seq - checkpoint.seq : 0 } : null },
  };
}
