import type { Queryable } from './db.js';

export interface CaRow {
  id: number;
  name: string;
  slug: string;
  kind: 'root' | 'intermediate' | 'issuing';
  parentId: number | null;
  certificate: Uint8Array;
  keyRef: string;
  keyType: string;
  /** ADCS's CA certificate index: 0 at installation, +1 per renewal (migrations/013_ca_generations.sql). */
  generation: number;
  /** The generation at which this row's key was new (ADCS's key index; a same-key renewal keeps it). */
  keyIndex: number;
}

interface DbRow {
  id: number;
  name: string;
  slug: string;
  kind: 'root' | 'intermediate' | 'issuing';
  parent_id: number | null;
  certificate: Uint8Array;
  key_ref: string;
  key_type: string;
  generation: number;
  key_index: number;
}

const toRow = (r: DbRow): CaRow => ({
  id: r.id,
  name: r.name,
  slug: r.slug,
  kind: r.kind,
  parentId: r.parent_id,
  certificate: new Uint8Array(r.certificate),
  keyRef: r.key_ref,
  keyType: r.key_type,
  generation: r.generation,
  keyIndex: r.key_index,
});

export async function listCas(q: Queryable): Promise<CaRow[]> {
  const r = await q.query<DbRow>('SELECT id, name, slug, kind, parent_id, certificate, key_ref, key_type, generation, key_index FROM cas ORDER BY id');
  return r.rows.map(toRow);
}

export async function insertCa(q: Queryable, c: Omit<CaRow, 'id' | 'generation' | 'keyIndex'> & { generation?: number; keyIndex?: number }): Promise<number> {
  const r = await q.query<{ id: number }>(
    `INSERT INTO cas (name, slug, kind, parent_id, certificate, key_ref, key_type, generation, key_index) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING id`,
    [c.name, c.slug, c.kind, c.parentId, Buffer.from(c.certificate), c.keyRef, c.keyType, c.generation ?? 0, c.keyIndex ?? 0],
  );
  return r.rows[0]!.id;
}
