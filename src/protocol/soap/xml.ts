import { NS } from './namespaces.js';
import { CDATA_SECTION_NODE, ELEMENT_NODE, TEXT_NODE, type XmlElement, type XmlNode } from './xml-tree.js';

export type El = XmlElement;
type XNode = XmlNode;

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\r': '&#xD;' };
// Markup characters, and characters XML 1.0 cannot carry at all (C0 controls other than tab/LF/CR,
// U+FFFE/U+FFFF, lone surrogates): those are dropped so the output always parses.
const SPECIAL = /[&<>"'\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Escapes text for element content and attribute values. */
export function esc(s: string): string {
  return s.replace(SPECIAL, (c) => ESC[c] ?? '');
}


export function childElements(el: El): El[] {
  const out: El[] = [];
  for (let n: XNode | null = el.firstChild; n; n = n.nextSibling) if (n.nodeType === ELEMENT_NODE) out.push(n as El);
  return out;
}

export function children(el: El, ns: string, local: string): El[] {
  return childElements(el).filter((c) => c.namespaceURI === ns && c.localName === local);
}

export function child(el: El | undefined, ns: string, local: string): El | undefined {
  if (!el) return undefined;
  for (let n: XNode | null = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === ELEMENT_NODE && (n as El).namespaceURI === ns && (n as El).localName === local) return n as El;
  }
  return undefined;
}

/** Text content of an element's direct text children (no markup). */
export function text(el: El | undefined): string | undefined {
  if (!el) return undefined;
  let s = '';
  for (let n: XNode | null = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === TEXT_NODE || n.nodeType === CDATA_SECTION_NODE) s += n.nodeValue ?? '';
  }
  return s;
}

export function isNil(el: El | undefined): boolean {
  if (!el) return true;
  const v = el.getAttributeNS(NS.xsi, 'nil');
  return v === 'true' || v === '1';
}

/** The value of a nillable element: undefined when absent, nil or empty. */
export function optionalText(el: El | undefined): string | undefined {
  if (!el || isNil(el)) return undefined;
  const t = text(el)?.trim();
  return t === '' ? undefined : t;
}

export function nil(name: string): string {
  return `<${name} xsi:nil="true"/>`;
}

export function elem(name: string, value: string | number | boolean | undefined | null): string {
  return value === undefined || value === null ? nil(name) : `<${name}>${esc(String(value))}</${name}>`;
}
