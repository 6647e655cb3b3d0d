import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The service descriptions, shaped as WCF serves them:
 * - `?wsdl`: the WSDL whose types import each schema from this endpoint (`?xsd=xsd0`, …);
 * - `?xsd=xsdN`: those schemas;
 * - `?singleWsdl`: one self-contained document with every schema inline, which proxy
 *   generators (svcutil, zeep) and validators read without fetching anything.
 * The WSDL files in wsdl/ name their schemas by the locations the specifications give; `SCHEMAS`
 * maps those locations to our transcriptions, so nothing is ever fetched from elsewhere.
 */
export interface WsdlDocuments {
  wsdl: string;
  singleWsdl: string;
  /** `xsd0`, `xsd1`, … → schema text. */
  xsd: Map<string, string>;
}

/** Schema locations named in our WSDL files → the transcriptions in wsdl/. */
const SCHEMAS: Record<string, string> = {
  'http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/xcep.xsd': 'xcep.xsd',
};

const TYPES = /<wsdl:types>([\s\S]*?)<\/wsdl:types>/;
const IMPORT = /<xs:import\s+([^>]*?)\/>/g;
const attr = (attrs: string, name: string): string | undefined => new RegExp(`\\b${name}="([^"]*)"`).exec(attrs)?.[1];

/** The schema element of an XSD file, without the XML declaration and the comments before it. */
function schemaElement(xsd: string): string {
  const start = xsd.search(/<xs:schema[\s>]/);
  if (start < 0) throw new Error('not an XML schema (no xs:schema element)');
  return xsd.slice(start).trim();
}

const escAttr = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/** Builds the three documents for one endpoint. `address` is the endpoint's public URL. */
export function wsdlDocuments(dir: string, file: string, address: string): WsdlDocuments {
  const source = readFileSync(join(dir, file), 'utf8');
  const types = TYPES.exec(source);
  const imports: { namespace: string; text: string }[] = [];
  if (types) {
    for (const m of types[1]!.matchAll(IMPORT)) {
      const location = attr(m[1]!, 'schemaLocation');
      const namespace = attr(m[1]!, 'namespace');
      if (!location || !namespace) continue;
      const local = SCHEMAS[location];
      if (!local) throw new Error(`${file} imports ${location}, which has no local copy in wsdl/`);
      imports.push({ namespace, text: readFileSync(join(dir, local), 'utf8') });
    }
  }
  const withAddress = (s: string): string => s.replaceAll('{{ADDRESS}}', escAttr(address));
  if (!types || imports.length === 0) {
    // Already self-contained (its schemas are inline): the same document for both.
    const doc = withAddress(source);
    return { wsdl: doc, singleWsdl: doc, xsd: new Map() };
  }
  const xsd = new Map<string, string>();
  imports.forEach((imp, i) => xsd.set(`xsd${i}`, imp.text));
  // An XSD may not import its own target namespace, so (as WCF does) the imports live in a
  // schema of their own namespace.
  const importing =
    `<wsdl:types><xs:schema targetNamespace="http://tempuri.org/Imports">` +
    imports.map((imp, i) => `<xs:import schemaLocation="${escAttr(address)}?xsd=xsd${i}" namespace="${escAttr(imp.namespace)}"/>`).join('') +
    `</xs:schema></wsdl:types>`;
  const inline = `<wsdl:types>${imports.map((imp) => schemaElement(imp.text)).join('')}</wsdl:types>`;
  return {
    wsdl: withAddress(source.replace(TYPES, () => importing)),
    singleWsdl: withAddress(source.replace(TYPES, () => inline)),
    xsd,
  };
}
