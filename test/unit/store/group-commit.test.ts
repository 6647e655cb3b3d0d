import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../../src/store/group-commit.js';

/** A write that records each call's items and answers after the event loop turns. */
function recorder(fail?: (items: string[]) => boolean) {
  const calls: string[][] = [];
  const write = async (items: string[]): Promise<string[]> => {
    calls.push(items);
    await new Promise((r) => setTimeout(r, 5));
    if (fail?.(items)) throw new Error(`failed: ${items.join(',')}`);
    return items.map((i) => `ok:${i}`);
  };
  return { calls, write };
}

describe('GroupCommit', () => {
  it('writes the first call alone and everything that arrived meanwhile in one statement', async () => {
    const r = recorder();
    const g = new GroupCommit(r.write, (i: string) => i);
    const out = await Promise.all(['a', 'b', 'c', 'd'].map((i) => g.submit(i)));
    expect(out).toEqual(['ok:a', 'ok:b', 'ok:c', 'ok:d']);
    expect(r.calls).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it('never puts two items with one key in a statement, and caps a statement at max items', async () => {
    const r = recorder();
    const g = new GroupCommit(r.write, (i: string) => i.split('#')[0]!, 2);
    const out = await Promise.all(['x', 'y#1', 'y#2', 'z', 'w'].map((i) => g.submit(i)));
    expect(out).toEqual(['ok:x', 'ok:y#1', 'ok:y#2', 'ok:z', 'ok:w']);
    for (const c of r.calls) {
      expect(c.length).toBeLessThanOrEqual(2);
      expect(new Set(c.map((i) => i.split('#')[0])).size).toBe(c.length);
    }
    expect(r.calls.flat().sort()).toEqual(['w', 'x', 'y#1', 'y#2', 'z']);
  });

  it('when a grouped statement fails, tries its items one by one: only the bad one fails', async () => {
    const r = recorder((items) => items.includes('bad'));
    const g = new GroupCommit(r.write, (i: string) => i);
    const first = g.submit('first');
    const rest = ['p', 'bad', 'q'].map((i) => g.submit(i).then((v) => v, (e: Error) => e.message));
    expect(await first).toBe('ok:first');
    expect(await Promise.all(rest)).toEqual(['ok:p', 'failed: bad', 'ok:q']);
    expect(r.calls).toEqual([['first'], ['p', 'bad', 'q'], ['p'], ['bad'], ['q']]);
  });

  it('refuses an answer that does not match the items, item by item', async () => {
    const g = new GroupCommit(async (items: string[]) => (items.length > 1 ? ['only one'] : [`ok:${items[0]}`]), (i: string) => i);
    const first = g.submit('a');
    const more = [g.submit('b'), g.submit('c')];
    expect(await first).toBe('ok:a');
    expect(await Promise.all(more)).toEqual(['ok:b', 'ok:c']);
  });
});
