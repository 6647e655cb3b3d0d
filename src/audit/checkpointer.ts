import { appendFileSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import { hashAt, insertCheckpoint, latestCheckpoint } from '../store/audit-checkpoint-repo.js';
import { parseCheckpoints, statement, toJson, type Checkpoint } from './checkpoint.js';
import type { AuditLog } from './log.js';
import type { AuditSigner } from './signing-key.js';

export interface CheckpointerOptions {
  db: Db;
  audit: AuditLog;
  signer: AuditSigner;
  clock: Clock;
  log: Logger;
  /** A checkpoint once this many events were chained since the last one… */
  everyEvents: number;
  /** …or once this long has passed and the chain has grown. */
  everySeconds: number;
  /** JSON-lines file every checkpoint is appended to (outside the database); null for none. */
  file: string | null;
  /** How often the head is looked at (one indexed query). */
  checkEveryMs?: number;
}

/**
 * The end of a file, from the first whole line within its last `bytes`: a sink grows by a line per
 * checkpoint for years, and the newest checkpoint is its last line.
 */
export function tailOf(file: string, bytes = 256 * 1024): string {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    const text = buf.toString('utf8');
    return start === 0 ? text : text.slice(text.indexOf('\n') + 1);
  } finally {
    closeSync(fd);
  }
}

/** The newest checkpoint in a file sink, or null (no file, empty file). */
export function latestInFile(file: string): Checkpoint | null {
  if (!existsSync(file)) return null;
  return parseCheckpoints(tailOf(file), file);
}

/**
 * Signs checkpoints of the chain head on the node that holds the keys: at least every
 * `everyEvents` events or `everySeconds` seconds (when the chain grew), each stored in
 * `audit_checkpoints`, appended to the file sink and written to the log. Before signing it checks
 * that the chain still holds the last checkpoint it knows of (from the database or the file);
 * when it does not — newest events removed, or the chain rewritten — it signs nothing more and
 * says so, so that the evidence stays for `opences audit verify`.
 */
export class AuditCheckpointer {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private last: Checkpoint | null | undefined;
  private halted = false;

  constructor(private readonly o: CheckpointerOptions) {}

  start(): void {
    this.timer ??= setInterval(() => void this.tick().catch((e: unknown) => this.o.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'audit checkpoint failed')), this.o.checkEveryMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  /** Makes a checkpoint if one is due; returns it (or null). Runs one at a time. */
  tick(force = false): Promise<void> {
    this.running ??= this.step(force).finally(() => (this.running = null));
    return this.running;
  }

  /** A checkpoint now if the chain grew since the last one (operators, tests). */
  async now(): Promise<Checkpoint | null> {
    await this.running?.catch(() => undefined);
    await this.tick(true);
    return this.last ?? null;
  }

  private async known(): Promise<Checkpoint | null> {
    if (this.last !== undefined) return this.last;
    const inDb = await latestCheckpoint(this.o.db);
    const inFile = this.o.file ? latestInFile(this.o.file) : null;
    this.last = inFile && (!inDb || inFile.seq > inDb.seq) ? inFile : inDb;
    return this.last;
  }

  private async step(force: boolean): Promise<void> {
    if (this.halted) return;
    const head = await this.o.audit.head();
    if (!head) return;
    const last = await this.known();
    if (last) {
      if (head.seq < last.seq || (await hashAt(this.o.db, last.seq)) !== last.hash) {
        this.halted = true;
        this.o.log.error({ checkpoint: { seq: last.seq, hash: last.hash, at: last.at.toISOString() }, head }, 'the audit log no longer holds the last signed checkpoint (events removed or rewritten): no further checkpoints are signed; run opences audit verify');
        return;
      }
      if (head.seq === last.seq) return;
      const due = force || head.seq - last.seq >= this.o.everyEvents || this.o.clock.now().getTime() - last.at.getTime() >= this.o.everySeconds * 1000;
      if (!due) return;
    }
    const at = this.o.clock.now();
    const partial = { seq: head.seq, hash: head.hash, at, signer: this.o.signer.fingerprint };
    const c: Checkpoint = { ...partial, signature: (await this.o.signer.sign(statement(partial))).toString('base64'), certificate: this.o.signer.certificate };
    await insertCheckpoint(this.o.db, c);
    if (this.o.file) {
      mkdirSync(dirname(this.o.file), { recursive: true, mode: 0o750 });
      appendFileSync(this.o.file, toJson(c) + '\n', { mode: 0o640 });
    }
    this.last = c;
    this.o.log.info({ auditCheckpoint: { seq: c.seq, hash: c.hash, at: at.toISOString(), signer: c.signer, signature: c.signature } }, 'audit checkpoint signed');
  }
}
