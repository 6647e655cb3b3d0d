import type { Db } from '../store/db.js';
import { hashAt, latestCheckpoint } from '../store/audit-checkpoint-repo.js';
import { checkpointProblem, type Checkpoint } from './checkpoint.js';
import type { AuditLog } from './log.js';

/** Where a checkpoint came from, for the report: the database, the file sink, a file an operator kept. */
export interface CheckpointSource {
  name: string;
  checkpoint: Checkpoint | null;
}

export interface AuditReport {
  ok: boolean;
  count: number;
  firstBrokenSeq?: number;
  reason?: string;
  /** Events a trusted checkpoint vouches for that the log no longer has (inclusive). */
  missing?: { from: number; to: number };
  /** The newest checkpoint the log was checked against, or null when there is none yet. */
  checkpoint: { seq: number; at: string; source: string } | null;
}

/**
 * `opences audit verify`: the chain walk (changed, removed, reordered events), then each
 * checkpoint against it. A checkpoint must be trusted (src/audit/checkpoint.ts) — one that is not
 * is itself tampering — and the log must still hold the event it vouches for, with that hash:
 * a log that ends earlier lost its newest events, and they are named by sequence number.
 */
export async function verifyAudit(o: { audit: AuditLog; db: Db; issuers: Uint8Array[]; sources: CheckpointSource[] }): Promise<AuditReport> {
  const chain = await o.audit.verify();
  const present = o.sources.filter((s): s is { name: string; checkpoint: Checkpoint } => s.checkpoint !== null);
  const newest = present.reduce<{ name: string; checkpoint: Checkpoint } | null>((a, s) => (!a || s.checkpoint.seq > a.checkpoint.seq ? s : a), null);
  const checkpoint = newest ? { seq: newest.checkpoint.seq, at: newest.checkpoint.at.toISOString(), source: newest.name } : null;
  if (!chain.ok) return { ...chain, checkpoint };
  for (const { name, checkpoint: c } of present) {
    const when = `signed ${c.at.toISOString()}`;
    const problem = checkpointProblem(c, o.issuers);
    if (problem) return { ok: false, count: chain.count, firstBrokenSeq: c.seq, reason: `the checkpoint from ${name} (event ${c.seq}, ${when}) cannot be trusted: ${problem}`, checkpoint };
    if (c.seq > chain.count) {
      const from = chain.count + 1;
      const range = from === c.seq ? `event ${c.seq} is missing` : `events ${from}–${c.seq} are missing`;
      return { ok: false, count: chain.count, firstBrokenSeq: from, missing: { from, to: c.seq }, reason: `${range}: the checkpoint from ${name} (${when}) vouches for ${c.seq} events, the log ends at event ${chain.count}`, checkpoint };
    }
    if ((await hashAt(o.db, c.seq)) !== c.hash) return { ok: false, count: chain.count, firstBrokenSeq: c.seq, reason: `event ${c.seq} differs from the checkpoint from ${name} (${when}): the log was rewritten`, checkpoint };
  }
  return { ok: true, count: chain.count, checkpoint };
}

export async function databaseSource(db: Db): Promise<CheckpointSource> {
  return { name: 'the database', checkpoint: await latestCheckpoint(db) };
}
