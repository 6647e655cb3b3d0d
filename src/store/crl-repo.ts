import type { Queryable } from './db.js';

export interface CrlRow {
  caId: number;
  number: number;
  delta: boolean;
  thisUpdate: Date;
  nextUpdate: Date;
  der: Uint8Array;
}

export async function nextCrlNumber(q: Queryable, caId: number): Promise<number> {
  const r = await q.query<{ n: string | null }>('SELECT max(number)::text AS n FROM crls WHERE ca_id = $1', [caId]);
  return Number(r.rows[0]?.n ?? 0) + 1;
}

export async function insertCrl(q: Queryable, c: CrlRow): Promise<void> {
  await q.query('INSERT INTO crls (ca_id, number, delta, this_update, next_update, der) VALUES ($1,$2,$3,$4,$5,$6)', [
    c.caId,
    c.number,
    c.delta,
    c.thisUpdate,
    c.nextUpdate,
    Buffer.from(c.der),
  ]);
}

export async function latestCrl(q: Queryable, caId: number, delta = false): Promise<CrlRow | null> {
  const r = await q.query<{ ca_id: number; number: string; delta: boolean; this_update: Date | string; next_update: Date | string; der: Uint8Array }>(
    'SELECT ca_id, number::text AS number, delta, this_update, next_update, der FROM crls WHERE ca_id = $1 AND delta = $2 ORDER BY crls.number DESC LIMIT 1',
    [caId, delta],
  );
  const x = r.rows[0];
  return x ? { caId: x.ca_id, number: Number(x.number), delta: x.delta, thisUpdate: new Date(x.this_update), nextUpdate: new Date(x.next_update), der: new Uint8Array(x.der) } : null;
}
