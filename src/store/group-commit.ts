/**
 * Group commit: calls that arrive while a statement is in flight are written together by the next
 * one, as one multi-row statement. Under load a statement serves many requests; alone, a call
 * waits for nothing. Each statement wakes a database backend, and on small virtual machines that
 * wake-up costs more than the rows it writes (docs/benchmarks.md).
 *
 * Items with the same key never share a statement (two rows for one request would contend inside
 * it): a later one waits for the next. When a grouped statement fails, its items are tried one by
 * one, so one bad row answers with its own error and does not fail the others.
 */
export class GroupCommit<I, O> {
  private waiting: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;

  constructor(
    /** Writes the items in one statement; answers one result per item, in order. */
    private readonly write: (items: I[]) => Promise<O[]>,
    private readonly key: (item: I) => string,
    private readonly max = 128,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.waiting.length) {
        const batch: typeof this.waiting = [];
        const rest: typeof this.waiting = [];
        const keys = new Set<string>();
        for (const w of this.waiting) {
          const k = this.key(w.item);
          if (batch.length < this.max && !keys.has(k)) {
            keys.add(k);
            batch.push(w);
          } else rest.push(w);
        }
        this.waiting = rest;
        await this.run(batch);
      }
    } finally {
      this.flushing = false;
    }
  }

  private async run(batch: typeof this.waiting): Promise<void> {
    try {
      const out = await this.write(batch.map((w) => w.item));
      if (out.length !== batch.length) throw new Error(`group commit: ${out.length} results for ${batch.length} items`);
      batch.forEach((w, i) => w.resolve(out[i]!));
    } catch (e) {
      if (batch.length === 1) return batch[0]!.reject(e);
      for (const w of batch) {
        try {
          w.resolve((await this.write([w.item]))[0]!);
        } catch (err) {
          w.reject(err);
        }
      }
    }
  }
}
