import { readFileSync } from 'node:fs';
import { validateXML } from 'xmllint-wasm';

export interface ValidateOptions {
  /** Schemas the XSD imports, by the schemaLocation it names (the validator has no network). */
  imports?: Record<string, string>;
}

/** Validates an XML document against an XSD with libxml2 (xmllint compiled to WebAssembly). */
export async function validateXml(xml: string, xsdPath: string, opts: ValidateOptions = {}): Promise<{ valid: boolean; errors: string[] }> {
  let schema = readFileSync(xsdPath, 'utf8');
  const preload = Object.entries(opts.imports ?? {}).map(([location, path], i) => {
    const fileName = `import${i}.xsd`;
    schema = schema.replaceAll(`schemaLocation="${location}"`, `schemaLocation="${fileName}"`);
    return { fileName, contents: readFileSync(path, 'utf8') };
  });
  const r = await validateXML({ xml: [{ fileName: 'doc.xml', contents: xml }], schema: [{ fileName: 'schema.xsd', contents: schema }], preload });
  return { valid: r.valid, errors: r.errors.map((e) => e.message) };
}

/** The first element named `local` in the XML, serialised standalone (it must declare its own namespaces). */
export function extractElement(xml: string, local: string): string {
  const start = xml.search(new RegExp(`<([A-Za-z0-9_]+:)?${local}[\\s>/]`));
  if (start < 0) throw new Error(`no ${local} element`);
  const rest = xml.slice(start);
  const selfClosing = /^<[^>]*\/>/.exec(rest);
  const m = new RegExp(`</([A-Za-z0-9_]+:)?${local}>`).exec(rest);
  const end = selfClosing ? selfClosing[0].length : m ? m.index + m[0].length : -1;
  if (end < 0) throw new Error(`no end of ${local}`);
  return `<?xml version="1.0" encoding="utf-8"?>${rest.slice(0, end)}`;
}
