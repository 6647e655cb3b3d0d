import { monitorEventLoopDelay } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import { MAX_YAML_BYTES, templatesFromYaml, templatesToYaml } from '../../../src/policy/template-yaml.js';
import { IN_LINE_BYTES, templatesFromYamlOffLoop } from '../../../src/policy/template-yaml-off-loop.js';
import { OpencesError } from '../../../src/errors.js';

const ARC = '1.3.6.1.4.1.311.21.8.1.2.3.4.5.6';
const T = defaultTemplates(ARC);

// Deep copies: shared objects would come out as YAML anchors and aliases.
const copies = (n: number) => Array.from({ length: n }, (_, i) => ({ ...structuredClone(T[i % T.length]!), name: `Copy${i}`, displayName: `Copy ${i}`, oid: `${ARC}.${100 + i}` }));

/** As many renamed copies of the default templates as fit under the size limit. */
function bigExport(): string {
  const each = Buffer.byteLength(templatesToYaml(copies(T.length))) / T.length;
  let n = Math.floor((MAX_YAML_BYTES * 0.97) / each);
  while (Buffer.byteLength(templatesToYaml(copies(n))) > MAX_YAML_BYTES) n -= T.length;
  return templatesToYaml(copies(n));
}

describe('template YAML read off the event loop (issue #15 item 2)', () => {
  it('gives the same templates, and the same typed errors with their line, as the in-thread reader', async () => {
    const yaml = templatesToYaml(copies(4 * T.length));
    expect(Buffer.byteLength(yaml)).toBeGreaterThan(IN_LINE_BYTES);
    expect(Buffer.byteLength(templatesToYaml(T.slice(0, 1)))).toBeLessThan(IN_LINE_BYTES);
    expect(await templatesFromYamlOffLoop(templatesToYaml(T.slice(0, 1)))).toEqual(T.slice(0, 1));
    expect(await templatesFromYamlOffLoop(yaml)).toEqual(templatesFromYaml(yaml));
    const broken = yaml.replace(/minimalKeyLength: 2048(?![\s\S]*minimalKeyLength: 2048)/, 'minimalKeyLength: lots');
    const err = await templatesFromYamlOffLoop(broken).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpencesError);
    expect((err as OpencesError).kind).toBe('malformed');
    expect((err as OpencesError).message).toBe(((): string => { try { templatesFromYaml(broken); return ''; } catch (e) { return (e as Error).message; } })());
    expect((err as OpencesError).details.line).toBeGreaterThan(0);
  });

  it('refuses an alias bomb as malformed and an oversized document as tooLarge', async () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 9 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`)].join('\n');
    await expect(templatesFromYamlOffLoop(bomb)).rejects.toMatchObject({ kind: 'malformed' });
    await expect(templatesFromYamlOffLoop('#'.repeat(MAX_YAML_BYTES + 1))).rejects.toMatchObject({ kind: 'tooLarge' });
  });

  it('keeps the event loop turning while a document at the size limit is read', async () => {
    const yaml = bigExport();
    const n = templatesFromYaml(yaml).length;
    // The main thread ticks every 5 ms; had the parse run here, one gap would span all of it.
    let last = performance.now();
    let maxGap = 0;
    const tick = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 5);
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    const start = performance.now();
    const got = await templatesFromYamlOffLoop(yaml);
    const took = performance.now() - start;
    // Let the interval fire once more: a parse that blocked the loop shows as this last gap.
    await new Promise((r) => setTimeout(r, 20));
    h.disable();
    clearInterval(tick);
    expect(got).toHaveLength(n);
    // Relative, not absolute: a loaded machine slows the thread and the ticks alike.
    expect(maxGap, `longest gap ${maxGap.toFixed(1)} ms of ${took.toFixed(1)} ms; loop delay max ${(h.max / 1e6).toFixed(1)} ms`).toBeLessThan(took / 2);
  }, 180_000);
});
