import { readFileSync } from 'node:fs';
import { validateXML } from 'xmllint-wasm';

/** Validates an XML document against an XSD with libxml2 (xmllint compiled to WebAssembly). */
export async function validateXml(xml: string, xsdPath: string): Promise<{ valid: boolean; errors: string[] }> {
  const r = await validateXML({ xml: [{ fileName: 'doc.xml', contents: xml }], schema: [{ fileName: 'schema.xsd', contents: readFileSync(xsdPath, 'utf8') }] });
  return { valid: r.valid, errors: r.errors.map((e) => e.message) };
}

/** The first element named `local` in the XML, serialised standalone with its namespace declarations. */
export function extractElement(xml: string, local: string): string {
  const start = xml.search(new RegExp(`<([A-Za-z0-9_]+:)?${local}[\\s>]`));
  const m = new RegExp(`</([A-Za-z0-9_]+:)?${local}>`).exec(xml.slice(start));
  if (start < 0 || !m) throw new Error(`no ${local} element`);
  return `<?xml version="1.0" encoding="utf-8"?>${xml.slice(start, start + m.index + m[0].length)}`;
}
