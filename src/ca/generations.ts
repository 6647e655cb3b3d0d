import { X509Certificate } from 'node:crypto';
import { OpencesError } from '../errors.js';
import type { Queryable } from '../store/db.js';
import { listCas, type CaRow } from '../store/ca-repo.js';
import type { LocalCaOptions, PreviousKey } from './engine.js';
import { loadHierarchy } from './init.js';
import type { CaInfo, CaSigner } from './types.js';

/**
 * The generations of a renewed issuing CA (migrations/013_ca_generations.sql), numbered as ADCS
 * numbers them: every renewal is a new CA certificate index; a renewal with a new key also starts
 * a new key index (equal to that certificate index). The current generation issues; each earlier
 * key keeps signing the CRL of every certificate issued under it while its newest certificate is
 * valid (ADCS does the same), so revoking an old certificate after a rollover reaches the CRL its
 * CDP names, signed by the key its AKI names.
 */
export interface IssuingGenerations {
  root: CaRow;
  /** The current generation's issuer: the root, or an intermediate under it. */
  parent: CaRow;
  /** The issuing CA's certificates, oldest first; the last is current. */
  rows: CaRow[];
  current: CaRow;
}

export async function issuingGenerations(q: Queryable): Promise<IssuingGenerations | null> {
  const h = await loadHierarchy(q);
  if (!h) return null;
  const cas = await listCas(q);
  const rows = cas.filter((c) => c.kind === 'issuing' && c.slug === h.issuing.slug).sort((a, b) => a.generation - b.generation);
  const parent = cas.find((c) => c.id === h.issuing.parentId) ?? h.root;
  return { root: h.root, parent, rows, current: h.issuing };
}

/** The rows signed with key index `k`, and the row its CRLs are stored under (the generation that made the key). */
export function keyGroup(rows: CaRow[], k: number): { rows: CaRow[]; crlRow: CaRow } {
  const group = rows.filter((r) => r.keyIndex === k);
  const crlRow = group.find((r) => r.generation === k) ?? group[0];
  if (!crlRow) throw new OpencesError('internal', `no generation of the issuing CA has key index ${k}`);
  return { rows: group, crlRow };
}

/**
 * What LocalCa takes from the generations: the current one's key, certificate and indexes, and the
 * earlier keys whose newest certificate is still valid (an expired one's certificates have all
 * expired too; its last CRL stays published from the database).
 */
export async function generationOptions(
  g: IssuingGenerations,
  info: LocalCaOptions['info'],
  openSigner: (row: CaRow) => Promise<CaSigner>,
  now: Date,
): Promise<Pick<LocalCaOptions, 'signer' | 'info' | 'issuingCaId' | 'generation' | 'previousKeys'>> {
  const cur = keyGroup(g.rows, g.current.keyIndex);
  const previousKeys: PreviousKey[] = [];
  for (const k of [...new Set(g.rows.map((r) => r.keyIndex))].filter((k) => k !== g.current.keyIndex)) {
    const group = keyGroup(g.rows, k);
    const newest = group.rows[group.rows.length - 1]!;
    if (new Date(new X509Certificate(Buffer.from(newest.certificate)).validTo).getTime() <= now.getTime()) continue;
    previousKeys.push({ keyIndex: k, signer: await openSigner(newest), crlCaId: group.crlRow.id, caIds: group.rows.map((r) => r.id), certificate: newest.certificate });
  }
  return {
    signer: await openSigner(g.current),
    info,
    issuingCaId: g.current.id,
    generation: { index: g.current.generation, keyIndex: g.current.keyIndex, crlCaId: cur.crlRow.id, keyCaIds: cur.rows.map((r) => r.id) },
    previousKeys,
  };
}

/** A /pki/ file name split into CA slug, ADCS index and delta: `<ca>`, `<ca>(n)`, `<ca>-delta`, `<ca>(n)-delta`. */
export function parsePkiName(name: string): { slug: string; index: number; delta: boolean } {
  const m = /^(.+?)(?:\((\d{1,4})\))?(-delta)?$/.exec(name);
  if (!m) return { slug: name, index: 0, delta: false };
  return { slug: m[1]!, index: m[2] ? Number(m[2]) : 0, delta: m[3] !== undefined };
}

/**
 * The chain to answer with for a certificate signed by the CA row `caId`: the current chain, or,
 * for a certificate of an earlier generation (retrieved or replayed after a renewal), that
 * generation's certificate above the same parents.
 */
export async function chainForCa(q: Queryable, caId: number, current: CaInfo['chain']): Promise<Uint8Array[]> {
  const row = (await listCas(q)).find((c) => c.id === caId);
  if (!row || row.kind !== 'issuing' || Buffer.from(row.certificate).equals(Buffer.from(current[0]!))) return current;
  return [row.certificate, ...current.slice(1)];
}
