import { describe, expect, it } from 'vitest';
import { OpencesError } from '../../../src/errors.js';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import { IN_LINE_BYTES, templatesFromYamlOffLoop } from '../../../src/policy/template-yaml-off-loop.js';
import { MAX_YAML_BYTES, templatesToYaml } from '../../../src/policy/template-yaml.js';

/**
 * What the off-loop reader answers, without the event-loop timing of template-yaml-off-loop.test.ts
 * (left out of mutation runs): the same templates and the same typed errors as the in-thread reader,
 * whichever side of IN_LINE_BYTES a document falls.
 */
const ARC = '1.3.6.1.4.1.311.21.8.1.1';
const T = defaultTemplates(ARC);
const copies = (n: number) => Array.from({ length: n }, (_, i) => ({ ...structuredClone(T[i % T.length]!), name: `Copy${i}`, displayName: `Copy ${i}`, oid: `${ARC}.${100 + i}` }));
const caught = async (p: Promise<unknown>): Promise<OpencesError> => {
  const e = await p.then(() => new Error('accepted'), (x: unknown) => x);
  if (e instanceof OpencesError) return e;
  throw e;
};

describe('template YAML read off the event loop: answers (src/policy/template-yaml-off-loop.ts)', () => {
  it('a small document is read in line, a document of exactly IN_LINE_BYTES too, and errors keep their kind, text and line', async () => {
    const one = templatesToYaml(T.slice(0, 1));
    expect(await templatesFromYamlOffLoop(one)).toEqual(T.slice(0, 1));
    const exact = one + `#${'x'.repeat(IN_LINE_BYTES - Buffer.byteLength(one) - 2)}\n`;
    expect(Buffer.byteLength(exact)).toBe(IN_LINE_BYTES);
    expect(await templatesFromYamlOffLoop(exact)).toEqual(T.slice(0, 1));
    const e = await caught(templatesFromYamlOffLoop(one.replace('enabled: true', 'enabled: maybe')));
    expect(e).toMatchObject({ kind: 'malformed', details: { line: 8 } });
  });

  it('a large document is read in a thread: the same templates, and its refusal with the kind, message and details of the in-thread reader', async () => {
    const yaml = templatesToYaml(copies(3 * T.length));
    expect(Buffer.byteLength(yaml)).toBeGreaterThan(IN_LINE_BYTES);
    // Compared with known answers, not with a call of the in-thread reader here: that call would
    // make this thread-starting test cover (and cost) every mutant of the reader itself.
    expect(await templatesFromYamlOffLoop(yaml)).toEqual(copies(3 * T.length));
    const broken = yaml.replace(/keySpec: 1(?![\s\S]*keySpec: 1)/, 'keySpec: 9');
    const line = broken.split('\n').findIndex((l) => l.includes('keySpec: 9')) + 1;
    const last = 3 * T.length - 1;
    const e = await caught(templatesFromYamlOffLoop(broken));
    expect({ kind: e.kind, message: e.message, details: e.details }).toEqual({ kind: 'malformed', message: `line ${line}: templates[${last}].privateKey.keySpec: Invalid input: expected 1`, details: { field: `templates[${last}].privateKey.keySpec`, line } });
  }, 60_000);

  it('refuses an oversized document as tooLarge before starting a thread', async () => {
    const e = await caught(templatesFromYamlOffLoop(`#${'é'.repeat(MAX_YAML_BYTES / 2)}`));
    expect(e).toMatchObject({ kind: 'tooLarge', message: `the YAML document of ${MAX_YAML_BYTES + 1} bytes exceeds ${MAX_YAML_BYTES} bytes`, details: { field: 'body' } });
  });
});
