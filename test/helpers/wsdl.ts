import { DOMParser, XMLSerializer, type Element as XElement, type Node as XNode } from '@xmldom/xmldom';
import { validateXML } from 'xmllint-wasm';

/**
 * An offline WSDL 1.1 checker (no network, ever): the document is well-formed, imports nothing
 * from anywhere (no wsdl:import, no xs:import / xs:include with a schemaLocation), every QName
 * the WSDL 1.1 structure uses resolves (part → global element of an inline schema, operation →
 * message, binding → portType and its operations, port → binding, an address for each port),
 * and the inline schemas compile: libxml2 (xmllint) validates the given instance documents
 * against them, so a schema missing a type or element fails here as it would in svcutil.
 */
const WSDL = 'http://schemas.xmlsoap.org/wsdl/';
const XS = 'http://www.w3.org/2001/XMLSchema';
const SOAP12 = 'http://schemas.xmlsoap.org/wsdl/soap12/';
const SOAP11 = 'http://schemas.xmlsoap.org/wsdl/soap/';

const elements = (n: XNode | null | undefined, ns: string, local: string): XElement[] => {
  const out: XElement[] = [];
  for (let c = n?.firstChild ?? null; c; c = c.nextSibling) {
    if (c.nodeType === 1 && (c as XElement).namespaceURI === ns && (c as XElement).localName === local) out.push(c as XElement);
  }
  return out;
};

function qname(el: XElement, attr: string): { ns: string | null; local: string } | undefined {
  const v = el.getAttribute(attr);
  if (!v) return undefined;
  const [prefix, local] = v.includes(':') ? v.split(':', 2) : [null, v];
  return { ns: el.lookupNamespaceURI(prefix as string | null), local: local! };
}

/** The schema element with every namespace declaration in scope copied onto it (QName values need them). */
function standaloneSchema(schema: XElement): string {
  const clone = schema.cloneNode(true) as XElement;
  for (let a: XNode | null = schema.parentNode; a && a.nodeType === 1; a = a.parentNode) {
    const attrs = (a as XElement).attributes;
    for (let i = 0; i < attrs.length; i++) {
      const at = attrs.item(i)!;
      if ((at.name === 'xmlns' || at.name.startsWith('xmlns:')) && !clone.hasAttribute(at.name)) clone.setAttribute(at.name, at.value);
    }
  }
  return new XMLSerializer().serializeToString(clone);
}

export interface WsdlCheck {
  errors: string[];
  schemas: string[];
}

export async function checkWsdl(text: string, instances: string[] = []): Promise<WsdlCheck> {
  const errors: string[] = [];
  const doc = new DOMParser({
    onError: (level, msg) => {
      if (level !== 'warning') throw new Error(`not well-formed: ${msg}`);
    },
  }).parseFromString(text, 'text/xml');
  const root = doc.documentElement!;
  if (root.namespaceURI !== WSDL || root.localName !== 'definitions') return { errors: ['the root is not wsdl:definitions'], schemas: [] };
  const tns = root.getAttribute('targetNamespace');
  if (!tns) errors.push('wsdl:definitions has no targetNamespace');
  if (elements(root, WSDL, 'import').length) errors.push('wsdl:import (the document is not self-contained)');

  // Inline schemas and their global elements.
  const schemaEls = elements(root, WSDL, 'types').flatMap((t) => elements(t, XS, 'schema'));
  const globals = new Set<string>();
  for (const s of schemaEls) {
    for (const kind of ['import', 'include', 'redefine']) {
      for (const i of elements(s, XS, kind)) errors.push(`xs:${kind} of ${i.getAttribute('schemaLocation') ?? i.getAttribute('namespace') ?? '?'} (the document is not self-contained)`);
    }
    const ns = s.getAttribute('targetNamespace') ?? '';
    for (const e of elements(s, XS, 'element')) globals.add(`{${ns}}${e.getAttribute('name')}`);
  }

  const named = (local: string) => new Map<string, XElement>(elements(root, WSDL, local).map((e) => [`{${tns}}${e.getAttribute('name')}`, e]));
  const messages = named('message');
  const portTypes = named('portType');
  const bindings = named('binding');
  const key = (q: { ns: string | null; local: string } | undefined): string => (q ? `{${q.ns ?? ''}}${q.local}` : '(missing)');

  for (const [name, m] of messages) {
    for (const part of elements(m, WSDL, 'part')) {
      const el = qname(part, 'element');
      if (!el) errors.push(`message ${name} part ${part.getAttribute('name')} names no element (document/literal needs one)`);
      else if (!globals.has(key(el))) errors.push(`message ${name} part ${part.getAttribute('name')} names ${key(el)}, which no inline schema declares`);
    }
  }
  for (const [name, pt] of portTypes) {
    for (const op of elements(pt, WSDL, 'operation')) {
      for (const dir of ['input', 'output', 'fault']) {
        for (const io of elements(op, WSDL, dir)) {
          const m = key(qname(io, 'message'));
          if (!messages.has(m)) errors.push(`portType ${name} operation ${op.getAttribute('name')} ${dir} names the unknown message ${m}`);
        }
      }
    }
  }
  for (const [name, b] of bindings) {
    const pt = portTypes.get(key(qname(b, 'type')));
    if (!pt) {
      errors.push(`binding ${name} names the unknown portType ${key(qname(b, 'type'))}`);
      continue;
    }
    if (!elements(b, SOAP12, 'binding').length && !elements(b, SOAP11, 'binding').length) errors.push(`binding ${name} has no SOAP binding`);
    const ops = new Set(elements(pt, WSDL, 'operation').map((o) => o.getAttribute('name')));
    for (const op of elements(b, WSDL, 'operation')) if (!ops.has(op.getAttribute('name'))) errors.push(`binding ${name} operation ${op.getAttribute('name')} is not in its portType`);
  }
  const services = elements(root, WSDL, 'service');
  if (!services.length) errors.push('no wsdl:service');
  for (const svc of services) {
    for (const port of elements(svc, WSDL, 'port')) {
      if (!bindings.has(key(qname(port, 'binding')))) errors.push(`port ${port.getAttribute('name')} names the unknown binding ${key(qname(port, 'binding'))}`);
      const addr = [...elements(port, SOAP12, 'address'), ...elements(port, SOAP11, 'address')][0];
      if (!addr?.getAttribute('location')) errors.push(`port ${port.getAttribute('name')} has no address`);
    }
  }

  // The inline schemas must compile and describe the messages the service really exchanges.
  const schemas = schemaEls.map(standaloneSchema);
  if (schemas.length) {
    for (const [i, xml] of instances.entries()) {
      const r = await validateXML({
        xml: [{ fileName: `instance${i}.xml`, contents: xml }],
        schema: schemas.map((contents, j) => ({ fileName: `schema${j}.xsd`, contents })),
      });
      for (const e of r.errors) errors.push(`instance ${i}: ${e.message}`);
    }
  } else if (instances.length) errors.push('no inline schema to validate the messages against');
  return { errors, schemas };
}
