import { LineCounter, isMap, isPair, isScalar, parseDocument, stringify, type Node } from 'yaml';
import type { z } from 'zod';
import { OpencesError } from '../errors.js';
import type { Template } from './template.js';
import { templateFileSchema, templateSchema } from './template-schema.js';

/** Templates as YAML (policy as code). Always a `templates:` list, every field spelled out. */
export function templatesToYaml(templates: Template[]): string {
  return stringify({ templates }, { lineWidth: 0 });
}

/**
 * Parses and validates template YAML. Errors name the line and the path of the offending key:
 * `line 12: templates[0].subject.foo: unknown key`.
 */
export function templatesFromYaml(text: string): Template[] {
  checkYamlSizeAndIndent(text);
  // Templates never need deep flow collections; the parser recurses on them (100,000 '[' took
  // ~2 s to refuse with a stack overflow). Found by the fuzz campaign (docs/testing.md).
  const depth = flowDepth(text);
  if (depth > MAX_FLOW_DEPTH) throw new OpencesError('malformed', `the YAML nests flow collections ${depth} deep; at most ${MAX_FLOW_DEPTH} are accepted`);
  const lc = new LineCounter();
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, { lineCounter: lc, keepSourceTokens: true, prettyErrors: false, uniqueKeys: true });
  } catch (e) {
    // The parser is recursive: whatever slips past the checks above must still be a 400, not a 500.
    throw new OpencesError('malformed', `the YAML cannot be read: ${e instanceof Error ? e.message.split('\n')[0]!.slice(0, 200) : 'invalid'}`);
  }
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const line = lc.linePos(e.pos[0]).line;
    throw new OpencesError('malformed', `line ${line}: ${e.message.split('\n')[0]}`, { line });
  }
  let data: unknown;
  try {
    // Aliases expand on conversion: a few lines of anchors can stand for billions of nodes.
    data = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (e) {
    // yaml throws ReferenceError for an alias bomb or an alias without its anchor.
    throw new OpencesError('malformed', `the YAML cannot be read: ${e instanceof Error ? e.message.slice(0, 200) : 'invalid'}`);
  }
  // Reporting every issue of every template cost ~100–200 ms of CPU for 500 broken one-line
  // templates (fuzz campaign): stop at the first template that does not validate.
  let checked = data;
  if (typeof data === 'object' && data !== null && 'templates' in data && Array.isArray(data.templates)) {
    const list: unknown[] = data.templates;
    if (list.length > MAX_TEMPLATES) throw new OpencesError('malformed', `the file holds ${list.length} templates; at most ${MAX_TEMPLATES} are accepted`, { field: 'templates' });
    const bad = list.findIndex((t) => !templateSchema.safeParse(t).success);
    if (bad >= 0) checked = { ...data, templates: list.slice(0, bad + 1) };
  }
  const r = templateFileSchema.safeParse(checked);
  if (r.success) return 'templates' in r.data ? (r.data.templates as Template[]) : [r.data as Template];

  // The union reports for both shapes; prefer the branch the document actually uses.
  const isList = typeof data === 'object' && data !== null && 'templates' in data;
  const issues = flatten(r.error.issues).filter((i) => (isList ? i.path[0] === 'templates' : i.path[0] !== 'templates'));
  const issue = issues[0] ?? r.error.issues[0]!;
  const unknownKey = issue.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys[0] : undefined;
  const path = unknownKey ? [...issue.path, unknownKey] : issue.path;
  const line = lineOf(doc.contents, path, lc, Boolean(unknownKey));
  const field = path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  const msg = unknownKey ? 'unknown key' : issue.message;
  throw new OpencesError('malformed', `${line ? `line ${line}: ` : ''}${field || '(document)'}: ${msg}`, { field, line });
}

/**
 * The yaml library costs up to milliseconds per line and recurses on block nesting as on flow
 * nesting (issue #15): the document's size and its indentation are bounded before it reads it.
 * A full export of hundreds of templates is far inside both (250 templates: 127 KB, 10 columns).
 */
export const MAX_YAML_BYTES = 256 * 1024;
/** Columns of indentation, compact "- " / "? " / ": " indicators at the start of a line included. */
const MAX_INDENT = 128;

function checkYamlSizeAndIndent(text: string): void {
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_YAML_BYTES) throw new OpencesError('tooLarge', `the YAML document of ${bytes} bytes exceeds ${MAX_YAML_BYTES} bytes`, { field: 'body' });
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    let indent = 0;
    for (; i < text.length; i++) {
      const c = text[i]!;
      const next = text[i + 1];
      if (c === ' ' || ((c === '-' || c === '?' || c === ':') && (next === ' ' || next === '\n'))) indent++;
      else break;
    }
    if (indent > MAX_INDENT) throw new OpencesError('malformed', `line ${line}: the YAML is nested deeper than ${MAX_INDENT} columns`, { line });
    const nl = text.indexOf('\n', i);
    if (nl < 0) break;
    i = nl;
    line++;
  }
}

const MAX_FLOW_DEPTH = 64;
const MAX_TEMPLATES = 1000;
const MAX_ALIASES = 100;

/** The deepest nesting of [ and { outside quoted scalars and comments (one linear pass). */
function flowDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let quote = '';
  let comment = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (comment) {
      if (c === '\n') comment = false;
    } else if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
    } else if ((c === '"' || c === "'") && (i === 0 || /[\s:,[{-]/.test(text[i - 1]!))) quote = c; // a quoted scalar starts a token (it's is plain)
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) comment = true;
    else if (c === '[' || c === '{') max = Math.max(max, ++depth);
    else if ((c === ']' || c === '}') && depth > 0) depth--;
  }
  return max;
}

function flatten(issues: z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const out: z.core.$ZodIssue[] = [];
  for (const i of issues) {
    if (i.code === 'invalid_union') for (const branch of (i as { errors: z.core.$ZodIssue[][] }).errors) out.push(...flatten(branch.map((b) => ({ ...b, path: [...i.path, ...b.path] }))));
    else out.push(i);
  }
  return out.sort((a, b) => b.path.length - a.path.length);
}

function lineOf(root: unknown, path: PropertyKey[], lc: LineCounter, wantKey: boolean): number | undefined {
  let node = root as Node | null | undefined;
  let keyNode: Node | undefined;
  for (const seg of path) {
    if (!node) break;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === seg);
      keyNode = pair?.key as Node | undefined;
      node = (pair?.value as Node | undefined) ?? undefined;
      if (!pair) break;
    } else if ('items' in node && Array.isArray((node as { items: unknown[] }).items) && typeof seg === 'number') {
      node = (node as { items: Node[] }).items[seg];
      keyNode = node;
    } else break;
  }
  const target = wantKey ? keyNode : (node ?? keyNode);
  const offset = target?.range?.[0];
  return offset === undefined ? undefined : lc.linePos(offset).line;
}
