import { DOMParser, type Element as XElement } from '@xmldom/xmldom';

/**
 * Element-by-element comparison of an answer with a specification example: the same elements in
 * the same order and namespaces, the same nil-ness, and the same values where a value is not
 * specific to the instance. Repeated items (policy, cAURI, oID, …) are paired by a rule the
 * caller gives; everything else is compared in order.
 */
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';

export interface CompareRules {
  /** Paths (slash-separated local names from the compared root) whose text must be equal. */
  sameValue: (path: string) => boolean;
  /** Paths where the answer may be nil while the example is not, or the other way round. */
  nilMayDiffer?: (path: string) => boolean;
  /** Pairs example items with answer items for a repeated element; default: by position, all of the example's. */
  pair?: (path: string, example: XElement[], ours: XElement[]) => [XElement, XElement][] | undefined;
}

export function parseXml(xml: string): XElement {
  return new DOMParser({
    onError: (level, msg) => {
      if (level !== 'warning') throw new Error(msg);
    },
  }).parseFromString(xml, 'text/xml').documentElement!;
}

export const kids = (el: XElement): XElement[] => {
  const out: XElement[] = [];
  for (let c = el.firstChild; c; c = c.nextSibling) if (c.nodeType === 1) out.push(c as XElement);
  return out;
};
export const isNil = (el: XElement): boolean => el.getAttributeNS(XSI, 'nil') === 'true';
export const textOf = (el: XElement): string => (el.textContent ?? '').replace(/\s+/g, ' ').trim();
export const childEl = (el: XElement, local: string): XElement | undefined => kids(el).find((k) => k.localName === local);

/** The first descendant (or self) with this local name and namespace. */
export function find(el: XElement, ns: string, local: string): XElement | undefined {
  if (el.namespaceURI === ns && el.localName === local) return el;
  for (const k of kids(el)) {
    const f = find(k, ns, local);
    if (f) return f;
  }
  return undefined;
}

function groups(list: XElement[]): { name: string; items: XElement[] }[] {
  const out: { name: string; items: XElement[] }[] = [];
  for (const el of list) {
    const name = `{${el.namespaceURI ?? ''}}${el.localName}`;
    const last = out[out.length - 1];
    if (last && last.name === name) last.items.push(el);
    else out.push({ name, items: [el] });
  }
  return out;
}

export function compareElements(example: XElement, ours: XElement, rules: CompareRules, path = example.localName ?? '', diffs: string[] = []): string[] {
  if (example.namespaceURI !== ours.namespaceURI || example.localName !== ours.localName) {
    diffs.push(`${path}: the example has {${example.namespaceURI}}${example.localName}, the answer {${ours.namespaceURI}}${ours.localName}`);
    return diffs;
  }
  if (isNil(example) !== isNil(ours)) {
    if (!rules.nilMayDiffer?.(path)) diffs.push(`${path}: ${isNil(example) ? 'nil in the example' : 'nil in the answer'} only`);
    return diffs;
  }
  if (isNil(example)) return diffs;
  const ek = kids(example);
  const ok = kids(ours);
  if (!ek.length && !ok.length) {
    if (rules.sameValue(path) && textOf(example) !== textOf(ours)) diffs.push(`${path}: ${JSON.stringify(textOf(example))} in the example, ${JSON.stringify(textOf(ours))} in the answer`);
    return diffs;
  }
  const eg = groups(ek);
  const og = groups(ok);
  const names = (g: { name: string }[]) => g.map((x) => x.name.replace(/^\{[^}]*\}/, '')).join(',');
  if (eg.map((g) => g.name).join() !== og.map((g) => g.name).join()) {
    diffs.push(`${path}: children ${names(eg)} in the example, ${names(og)} in the answer`);
    return diffs;
  }
  eg.forEach((g, i) => {
    const o = og[i]!;
    const p = `${path}/${g.name.replace(/^\{[^}]*\}/, '')}`;
    const pairs = rules.pair?.(p, g.items, o.items) ?? g.items.map((e, j) => [e, o.items[j]] as [XElement, XElement | undefined]);
    for (const [e, x] of pairs) {
      if (!x) diffs.push(`${p}: the answer has fewer items than the example`);
      else compareElements(e, x, rules, p, diffs);
    }
  });
  return diffs;
}
