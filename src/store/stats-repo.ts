import type { Queryable } from './db.js';

/** Counts per (bucket, template): the overview charts (src/http/admin/overview.ts). */
export interface BucketCount {
  /** Start of the bucket (UTC). */
  bucket: Date;
  template: string | null;
  count: number;
}

/**
 * Certificates issued per UTC day in [from, to), per template. The bucket is computed from the
 * epoch so the SQL is the same on PostgreSQL and PGlite whatever the session time zone.
 */
export async function issuedPerDay(q: Queryable, from: Date, to: Date): Promise<BucketCount[]> {
  const r = await q.query<{ b: string; template: string | null; n: string }>(
    `SELECT floor(extract(epoch FROM issued_at) / 86400)::bigint::text AS b, template, count(*)::text AS n
       FROM certificates WHERE issued_at >= $1 AND issued_at < $2
      GROUP BY 1, 2`,
    [from, to],
  );
  return r.rows.map((x) => ({ bucket: new Date(Number(x.b) * 86_400_000), template: x.template, count: Number(x.n) }));
}

/** Unrevoked certificates whose notAfter falls in [from, from + weeks), per week from `from` and template. */
export async function expiringPerWeek(q: Queryable, from: Date, weeks: number): Promise<BucketCount[]> {
  const to = new Date(from.getTime() + weeks * 7 * 86_400_000);
  const r = await q.query<{ w: string; template: string | null; n: string }>(
    `SELECT floor((extract(epoch FROM not_after) - $3) / 604800)::bigint::text AS w, template, count(*)::text AS n
       FROM certificates WHERE not_after >= $1 AND not_after < $2 AND revoked_at IS NULL
      GROUP BY 1, 2`,
    [from, to, from.getTime() / 1000],
  );
  return r.rows.map((x) => ({ bucket: new Date(from.getTime() + Number(x.w) * 7 * 86_400_000), template: x.template, count: Number(x.n) }));
}

export async function countRequests(q: Queryable, status: string): Promise<number> {
  const r = await q.query<{ n: string }>('SELECT count(*)::text AS n FROM requests WHERE status = $1', [status]);
  return Number(r.rows[0]?.n ?? 0);
}
