import { describe, expect, it } from 'vitest';
import { templatesFromYaml, templatesToYaml } from '../../../src/policy/template-yaml.js';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import { OpencesError } from '../../../src/errors.js';

/** Inputs the fuzz campaign found (test/fuzz, admin-template-yaml): each must be a typed refusal, not a crash or a stall. */
function refusal(text: string): OpencesError {
  try {
    templatesFromYaml(text);
  } catch (e) {
    if (e instanceof OpencesError) return e;
    throw e;
  }
  throw new Error('accepted');
}

describe('template YAML: hostile documents are refused as malformed', () => {
  it('an alias bomb (9^7 nodes from seven lines) is malformed, not a ReferenceError', () => {
    let y = 'a0: &a0 [x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i < 7; i++) y += `a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]\n`;
    expect(refusal(y)).toMatchObject({ kind: 'malformed', message: expect.stringMatching(/the YAML cannot be read: Excessive alias count/) });
  });

  it('an alias without its anchor is malformed', () => {
    expect(refusal('<<: *missing\n')).toMatchObject({ kind: 'malformed', message: expect.stringMatching(/the YAML cannot be read: Unresolved alias/) });
  });

  it('100,000 nested flow sequences are refused before the parser recurses', () => {
    const e = refusal(`templates: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
    expect(e).toMatchObject({ kind: 'malformed', message: 'the YAML nests flow collections 100000 deep; at most 64 are accepted' });
    // Brackets inside quoted scalars and comments do not count.
    expect(refusal(`templates: "${'['.repeat(100)}" # ${'{'.repeat(100)}\n`).message).not.toMatch(/nests flow collections/);
  });

  it('500 broken templates are reported by the first one, and more than 1,000 are refused', () => {
    const e = refusal(`templates:\n${'  - {name: a}\n'.repeat(500)}`);
    expect(e.message).toMatch(/^templates\[0\]\.displayName: /);
    expect(refusal(`templates:\n${'  - {name: a}\n'.repeat(1001)}`).message).toBe('the file holds 1001 templates; at most 1000 are accepted');
  });

  it('still reads the default templates and names the first broken template in a list', () => {
    const all = defaultTemplates('1.3.6.1.4.1.311.21.8.1');
    expect(templatesFromYaml(templatesToYaml(all)).map((t) => t.name)).toEqual(all.map((t) => t.name));
    const broken = structuredClone(all);
    (broken[2] as { validityPeriodSeconds: unknown }).validityPeriodSeconds = 'long';
    expect(refusal(templatesToYaml(broken)).message).toMatch(/templates\[2\]\.validityPeriodSeconds/);
  });
});
