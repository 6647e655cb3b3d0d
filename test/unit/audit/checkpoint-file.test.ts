import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tailOf } from '../../../src/audit/checkpointer.js';
import { parseCheckpoints } from '../../../src/audit/checkpoint.js';

describe('checkpoint files', () => {
  it('reads only the end of a long sink, from its first whole line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'opences-cpf-'));
    try {
      const f = join(dir, 'sink.jsonl');
      const lines = Array.from({ length: 5000 }, (_, i) => `{"n":${i},"pad":"${'x'.repeat(90)}"}`);
      writeFileSync(f, lines.join('\n') + '\n');
      const tail = tailOf(f, 4096);
      const got = tail.trim().split('\n');
      expect(got[got.length - 1]).toBe(lines[4999]);
      // Every line read is a whole one.
      for (const l of got) expect(() => JSON.parse(l)).not.toThrow();
      expect(tailOf(f, 1 << 30).split('\n')).toHaveLength(5001);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the line that is not a checkpoint', () => {
    expect(() => parseCheckpoints('{"seq":1}\n', 'kept.jsonl')).toThrow(/kept\.jsonl, line 1: not an audit checkpoint/);
    expect(() => parseCheckpoints('\n\nnot json\n', 'kept.jsonl')).toThrow(/kept\.jsonl, line 3: not JSON/);
    expect(parseCheckpoints('\n', 'empty')).toBeNull();
  });
});
