import { describe, expect, it } from 'vitest';
import { OpencesError } from '../../../src/errors.js';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import type { Template } from '../../../src/policy/template.js';
import { MAX_YAML_BYTES, templatesFromYaml, templatesToYaml } from '../../../src/policy/template-yaml.js';

const templates = defaultTemplates('1.3.6.1.4.1.311.21.8.2.2');
const T = (name: string): Template => structuredClone(templates.find((t) => t.name === name)!);

function refusal(text: string): OpencesError {
  try {
    templatesFromYaml(text);
  } catch (e) {
    if (e instanceof OpencesError) return e;
    throw e;
  }
  throw new Error('accepted');
}
/** The template written as YAML after `f` changed it. */
const yamlOf = (f: (t: Template) => void, name = 'WebServer'): string => {
  const t = T(name);
  f(t);
  return templatesToYaml([t]);
};
/** One template as a bare document, not a `templates:` list. */
const single = (t: Template): string => templatesToYaml([t]).replace(/^templates:\n {2}- /, '').replace(/\n {4}/g, '\n');

// `opences template import` and the admin API take these documents from administrators' files:
// every refusal must name what is wrong and where, and nothing unsafe may be accepted.
describe('template rules beyond the field types (src/policy/template-schema.ts)', () => {
  it('refuses duplicate EKUs, and the CNG-only security descriptor on a CryptoAPI template', () => {
    expect(refusal(yamlOf((t) => (t.extensions.ekus = ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.1']))).message).toMatch(/templates\[0\]\.extensions\.ekus: contains duplicates$/);
    expect(refusal(yamlOf((t) => (t.privateKey.securityDescriptor = 'D:P(A;;GA;;;SY)'))).message).toMatch(/templates\[0\]\.privateKey\.securityDescriptor: needs schemaVersion 3 \(a CNG template\)$/);
  });

  it('the boundaries: RSA from 1024 bits, a renewal period shorter than the validity by a second', () => {
    expect(templatesFromYaml(yamlOf((t) => (t.privateKey.minimalKeyLength = 1024)))[0]!.privateKey.minimalKeyLength).toBe(1024);
    expect(refusal(yamlOf((t) => (t.privateKey.minimalKeyLength = 1023))).message).toMatch(/minimalKeyLength: must be at least 1024/);
    expect(templatesFromYaml(yamlOf((t) => (t.renewalPeriodSeconds = t.validityPeriodSeconds - 1)))).toHaveLength(1);
    // An ECDSA-only template may have a short minimal length: it names curves.
    expect(templatesFromYaml(yamlOf((t) => ((t.privateKey.algorithms = ['ECDSA_P256']), (t.privateKey.minimalKeyLength = 256))))).toHaveLength(1);
  });

  it('a CNG RSA template may encipher; an ECDSA one may sign and nothing else', () => {
    const rsa = yamlOf((t) => ((t.schemaVersion = 3), (t.privateKey.algorithms = ['RSA']), (t.privateKey.keyUsageProperty = ['sign', 'decrypt'])));
    expect(templatesFromYaml(rsa)[0]!.privateKey.keyUsageProperty).toEqual(['sign', 'decrypt']);
    expect(templatesFromYaml(yamlOf(() => undefined, 'WebServerECDSA'))[0]!.privateKey.keyUsageProperty).toEqual(['sign']);
    expect(refusal(yamlOf((t) => (t.extensions.keyUsage = ['digitalSignature', 'dataEncipherment']), 'WebServerECDSA')).message).toMatch(/an ECDSA key cannot encipher/);
  });
});

describe('template YAML documents (src/policy/template-yaml.ts)', () => {
  it('reads one bare template as well as a list, and names the fields of a bare one without a list prefix', () => {
    const web = T('WebServer');
    expect(templatesFromYaml(single(web))).toEqual([web]);
    const bad = refusal(single(web).replace('enabled: true', 'enabled: yes'));
    expect(bad).toMatchObject({ kind: 'malformed', message: 'line 7: enabled: Invalid input: expected boolean, received string', details: { field: 'enabled', line: 7 } });
    const colour = refusal(`${single(web)}colour: blue\n`);
    expect(colour.message).toMatch(/^line \d+: colour: unknown key$/);
    expect(refusal('just a string').message).toBe('line 1: (document): Invalid input: expected object, received string');
    expect(refusal('templates: []').message).toMatch(/^line 1: templates: /);
  });

  it('refuses an empty document, a null one and a list that is no list, with a line where there is one', () => {
    expect(refusal('')).toMatchObject({ kind: 'malformed', message: '(document): Invalid input: expected object, received null', details: { field: '' } });
    expect(refusal('').details.line).toBeUndefined();
    expect(refusal('~').message).toBe('line 1: (document): Invalid input: expected object, received null');
    expect(refusal('templates: 5').message).toBe('line 1: templates: Invalid input: expected array, received number');
  });

  it('reports the first broken template of a list, even when a later one is broken deeper', () => {
    const a = T('User');
    a.name = '!bad';
    const b = T('Machine');
    (b.privateKey as { keySpec: number }).keySpec = 7;
    expect(refusal(templatesToYaml([a, b])).message).toBe('line 2: templates[0].name: letters, digits, space, _ . - (max 64)');
    expect(refusal(templatesToYaml([T('User'), b, a])).message).toMatch(/^line \d+: templates\[1\]\.privateKey\.keySpec: /);
  });

  it('names the line of a syntax error and of a repeated key', () => {
    expect(refusal('a: 1\na: 2\n')).toMatchObject({ kind: 'malformed', message: 'line 2: Map keys must be unique', details: { line: 2 } });
    expect(refusal('a: [\n').message).toMatch(/^line 2: Flow sequence/);
  });

  it('names the line of a bad value deep in the second template', () => {
    const two = templatesToYaml([T('User'), T('WebServer')]).replace(/(name: WebServer[\s\S]*?)keySpec: 1/, '$1keySpec: 3');
    const line = two.split('\n').findIndex((l) => l.includes('keySpec: 3')) + 1;
    expect(refusal(two)).toMatchObject({ message: expect.stringMatching(new RegExp(`^line ${line}: templates\\[1\\]\\.privateKey\\.keySpec: `)), details: { field: 'templates[1].privateKey.keySpec', line } });
  });

  it('refuses a document over 256 KiB as too large, counted in bytes', () => {
    const padding = (n: number) => `# ${'é'.repeat(n)}\n`;
    const base = templatesToYaml([T('User')]);
    const room = MAX_YAML_BYTES - Buffer.byteLength(base) - 3;
    expect(templatesFromYaml(base + padding(Math.floor(room / 2)))).toHaveLength(1);
    const over = base + padding(Math.floor(room / 2) + 1);
    expect(refusal(over)).toMatchObject({ kind: 'tooLarge', message: `the YAML document of ${Buffer.byteLength(over)} bytes exceeds ${MAX_YAML_BYTES} bytes` });
  });

  it('the limits at their edges: 1,000 templates, exactly 256 KiB, each refusal naming its field', () => {
    // 1,000 (broken) templates are read as far as the first; 1,001 are refused by count.
    expect(refusal(`templates:\n${'  - {name: a}\n'.repeat(1000)}`).message).toMatch(/^templates\[0\]\.displayName: /);
    expect(refusal(`templates:\n${'  - {name: a}\n'.repeat(1001)}`).details).toMatchObject({ field: 'templates' });
    const base = templatesToYaml([T('User')]);
    const room = MAX_YAML_BYTES - Buffer.byteLength(base) - 3;
    const exact = `${base}# ${'é'.repeat(Math.floor(room / 2))}${'x'.repeat(room % 2)}\n`;
    expect(Buffer.byteLength(exact)).toBe(MAX_YAML_BYTES);
    expect(templatesFromYaml(exact)).toHaveLength(1);
    expect(refusal(`${exact}#`)).toMatchObject({ kind: 'tooLarge', details: { field: 'body' } });
  });

  it('exports long values on one line', () => {
    const t = T('User');
    t.displayName = 'D'.repeat(200);
    expect(templatesToYaml([t]).split('\n').some((l) => l.trim() === `displayName: ${'D'.repeat(200)}`)).toBe(true);
  });

  it('refuses indentation past 128 columns (block indicators count) on the line where it is', () => {
    const at = (cols: number) => `a: 1\nb:\n${' '.repeat(cols - 2)}- x\n`;
    expect(refusal(at(128)).message).not.toMatch(/nested deeper/);
    expect(refusal(at(129))).toMatchObject({ kind: 'malformed', message: 'line 3: the YAML is nested deeper than 128 columns', details: { line: 3 } });
    expect(refusal(`a:\n${'- '.repeat(65)}x\n`).message).toBe('line 2: the YAML is nested deeper than 128 columns');
    expect(refusal(`a:\n${': '.repeat(65)}x\n`).message).toBe('line 2: the YAML is nested deeper than 128 columns');
    expect(refusal(`a:\n${'? '.repeat(65)}x\n`).message).toBe('line 2: the YAML is nested deeper than 128 columns');
    // A block indicator at the end of its line counts too.
    expect(refusal(`a:\n${'- '.repeat(64)}-\n`).message).toBe('line 2: the YAML is nested deeper than 128 columns');
    // A dash followed by a letter is no indicator; a word followed by a space is no indentation.
    expect(refusal(`a:\n${' '.repeat(128)}-x\n`).message).not.toMatch(/nested deeper/);
    expect(refusal(`${'x '.repeat(100)}\n`).message).not.toMatch(/nested deeper/);
    // A document may start with an empty line: the lines after it are still checked.
    expect(refusal(`\na:\n${' '.repeat(130)}- x\n`).message).toBe('line 3: the YAML is nested deeper than 128 columns');
    // Dashes inside a value are no indentation.
    expect(refusal(`a: ${'-'.repeat(200)}\n`).message).not.toMatch(/nested deeper/);
  });

  it('counts flow nesting up to 64, outside quoted scalars and comments only', () => {
    const flow = (n: number) => `a: ${'['.repeat(n)}${']'.repeat(n)}\n`;
    expect(refusal(flow(64)).message).not.toMatch(/nests flow/);
    expect(refusal(flow(65)).message).toBe('the YAML nests flow collections 65 deep; at most 64 are accepted');
    expect(refusal(`a: {${'{'.repeat(64)}${'}'.repeat(65)}\n`).message).toMatch(/nests flow collections 65 deep/);
    // A quote inside a word is no quoted scalar; a '#' inside a word is no comment.
    expect(refusal(`a: it's ${'['.repeat(65)}\n`).message).toMatch(/nests flow collections 65 deep/);
    expect(refusal(`a: b#${'['.repeat(65)}\n`).message).toMatch(/nests flow collections 65 deep/);
    // An escaped quote does not end a double-quoted scalar; a comment ends at its line.
    expect(refusal(`a: "\\" ${'['.repeat(65)}"\n`).message).not.toMatch(/nests flow/);
    expect(refusal(`a: 1 # [[[\nb: ${'['.repeat(65)}\n`).message).toMatch(/nests flow collections 65 deep/);
    expect(refusal(`a: '${'['.repeat(65)}'\nb: ${'['.repeat(65)}\n`).message).toMatch(/nests flow collections 65 deep/);
    // A quoted scalar or a comment may start the document; a backslash escapes nothing in single quotes.
    expect(refusal(`"${'['.repeat(65)}"\n`).message).not.toMatch(/nests flow/);
    expect(refusal(`#${'['.repeat(65)}\na: 1\n`).message).not.toMatch(/nests flow/);
    expect(refusal(`a: 'x\\' ${'['.repeat(65)}\n`).message).toMatch(/nests flow collections 65 deep/);
    // A quote or '#' starts a token after a space, whatever follows it.
    expect(refusal(`a: 'x ${'['.repeat(65)}'\n`).message).not.toMatch(/nests flow/);
    expect(refusal(`a: x #${'['.repeat(65)}\n`).message).not.toMatch(/nests flow/);
    // Closed collections one after another are one deep.
    expect(refusal(`a: ${'[] '.repeat(65)}\n`).message).not.toMatch(/nests flow/);
    expect(refusal(`a: ${'{} '.repeat(65)}\n`).message).not.toMatch(/nests flow/);
    // Closing brackets beyond the opened ones do not lower the count below zero.
    expect(refusal(`a: ]]] ${'['.repeat(65)}\n`).message).toMatch(/nests flow collections 65 deep/);
  });
});
