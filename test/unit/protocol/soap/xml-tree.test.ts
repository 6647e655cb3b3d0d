import { describe, expect, it } from 'vitest';
import { DOMParser, type Element as XElement } from '@xmldom/xmldom';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseXmlTree, CDATA_SECTION_NODE, ELEMENT_NODE, TEXT_NODE, type XmlElement, type XmlNode } from '../../../../src/protocol/soap/xml-tree.js';
import { parseEnvelope } from '../../../../src/protocol/soap/envelope.js';
import { buildFaultEnvelope, buildResponseEnvelope } from '../../../../src/protocol/soap/index.js';
import { buildGetPoliciesRequest } from '../../../../src/protocol/xcep/index.js';
import { buildRstRequest, buildRstrIssued } from '../../../../src/protocol/wstep/index.js';
import { NS, PASSWORD_TEXT } from '../../../../src/protocol/soap/namespaces.js';
import { OpencesError } from '../../../../src/errors.js';
import { mutate, prng } from '../../../helpers/fuzz.js';

const FIXTURES = join(__dirname, '../../../fixtures/soap');

function dom(xml: string): XmlElement | undefined {
  try {
    const d = new DOMParser({
      onError: (level, msg) => {
        if (level !== 'warning') throw new Error(msg);
      },
    }).parseFromString(xml, 'text/xml');
    return (d.documentElement as XElement | null) ?? undefined;
  } catch {
    return undefined;
  }
}

function light(xml: string): XmlElement | undefined {
  try {
    return parseXmlTree(xml);
  } catch {
    return undefined;
  }
}

/**
 * xmldom applies XML 1.1's line-end normalization (NEL, LINE SEPARATOR, CR NEL become LF) to XML 1.0
 * documents; saxes keeps those characters, as XML 1.0 §2.11 says. No field we read can tell.
 */
const lineEnds = (t: string): string => t.replace(/\r\u0085|[\u0085\u2028]/g, '\n');
/** The same in attribute values, where a line end becomes a space. */
const attrValue = (t: string | null): string | null => (t === null ? null : t.replace(/\r\u0085|[\u0085\u2028\n]/g, ' '));
/** saxes also trims namespace names; xmldom keeps the spaces (then no namespace we know matches). */
const nsName = (t: string | null): string | null => attrValue(t)?.trim() ?? null;

interface Shape {
  ns: string | null;
  local: string | null;
  name: string;
  attrs: [string, string | null, string][];
  children: (Shape | string)[];
}

/**
 * What our codecs can see of an element: names, namespaces, every attribute as xmldom lists it
 * (looked up on the other tree by both of the DOM's accessors), text runs and child elements.
 */
function shape(el: XmlElement, attributesFrom: XElement | undefined): Shape {
  const children: (Shape | string)[] = [];
  let run = '';
  const domChildren = attributesFrom ? Array.from(attributesFrom.childNodes).filter((n) => n.nodeType === ELEMENT_NODE) : [];
  let k = 0;
  for (let n: XmlNode | null = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === ELEMENT_NODE) {
      if (run) children.push(lineEnds(run));
      run = '';
      children.push(shape(n as XmlElement, domChildren[k++] as XElement | undefined));
    } else if (n.nodeType === TEXT_NODE || n.nodeType === CDATA_SECTION_NODE) run += n.nodeValue ?? '';
  }
  if (run) children.push(lineEnds(run));
  const attrs: [string, string | null, string][] = [];
  if (attributesFrom) {
    for (const a of Array.from(attributesFrom.attributes)) {
      const local = a.localName ?? a.name;
      const [byName, byNs] = [el.getAttribute(a.name), el.getAttributeNS(a.namespaceURI, local) ?? el.getAttributeNS(nsName(a.namespaceURI), local)];
      attrs.push([a.name, attrValue(byName), attrValue(a.value)!]);
      attrs.push([`{${nsName(a.namespaceURI) ?? ''}}${a.localName ?? ''}`, attrValue(byNs), attrValue(a.value)!]);
    }
  }
  return { ns: nsName(el.namespaceURI), local: el.localName, name: el.nodeName, attrs, children };
}

const header = `<wsse:Security s:mustUnderstand="1" xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}"><wsse:UsernameToken><wsse:Username>bench &amp; co</wsse:Username><wsse:Password Type="${PASSWORD_TEXT}">p&lt;w&#xD;</wsse:Password><wsse:Nonce>AAAA</wsse:Nonce><wsu:Created>2026-12-01T00:00:00Z</wsu:Created></wsse:UsernameToken></wsse:Security>`;
const seeds: Buffer[] = [
  ...readdirSync(FIXTURES).filter((f) => f.endsWith('.xml') && f !== 'xml.xsd').map((f) => readFileSync(join(FIXTURES, f))),
  ...readdirSync(join(FIXTURES, 'bad')).map((f) => readFileSync(join(FIXTURES, 'bad', f))),
  Buffer.from(buildGetPoliciesRequest({ to: 'https://h/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP', securityHeaderXml: header })),
  Buffer.from(buildRstRequest({ to: 'https://h/CES', requestType: 'issue', token: { valueType: 'pkcs10', der: new Uint8Array(300).fill(7) }, securityHeaderXml: header })),
  Buffer.from(buildResponseEnvelope({ action: 'urn:a', relatesTo: 'urn:uuid:1', bodyXml: buildRstrIssued({ requestId: '7', certificateDer: new Uint8Array(40).fill(1), fullResponseDer: new Uint8Array(80).fill(2), message: 'Issued <ok> & "done"' }) })),
  Buffer.from(buildFaultEnvelope({ code: 'Sender', subcode: { ns: NS.wsse, local: 'FailedAuthentication' }, reason: 'no' })),
  Buffer.from(`<?xml version="1.0"?><!-- c --><a xmlns="urn:d" xmlns:p="urn:p" p:x="1" y="&#x41;&#65;"><![CDATA[<raw>&amp;]]>t&#13;&#10;u\r\nv<p:b xmlns="" z="2"><c/></p:b><b xmlns:p="urn:q" p:x="3"/></a>`),
];

describe('the light XML tree (saxes)', () => {
  it('reads every fixture exactly as xmldom does', () => {
    for (const s of seeds) {
      const xml = s.toString('utf8');
      const d = dom(xml);
      if (!d) continue;
      const l = light(xml);
      expect(l, xml.slice(0, 200)).toBeDefined();
      expect(shape(l!, d as unknown as XElement)).toEqual(shape(d, d as unknown as XElement));
    }
  });

  it('never reads a mutated message differently from xmldom, and accepts nothing xmldom refuses', () => {
    const seed = 0x7ee + Number(process.env.FUZZ_SEED ?? 0);
    const rnd = prng(seed);
    let both = 0;
    for (let i = 0; i < 4000; i++) {
      const xml = mutate(seeds[i % seeds.length]!, rnd).toString('utf8');
      const d = dom(xml);
      const l = light(xml);
      if (l && !d) throw new Error(`seed ${seed} iteration ${i}: the light parser accepts what xmldom refuses: ${JSON.stringify(xml.slice(0, 600))}`);
      if (!l || !d) continue;
      both++;
      expect(shape(l, d as unknown as XElement), `seed ${seed} iteration ${i}`).toEqual(shape(d, d as unknown as XElement));
    }
    // The comparison must have had material: most mutations still parse.
    expect(both).toBeGreaterThan(1000);
  });

  it('refuses a DOCTYPE wherever it stands and expands no entity', () => {
    expect(() => parseXmlTree('<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>')).toThrow(/document type declarations/);
    expect(() => parseXmlTree('<a>&x;</a>')).toThrow();
    expect(() => parseXmlTree('<a/><b/>')).toThrow();
    expect(() => parseXmlTree('<p:a/>')).toThrow(/prefix/);
  });

  it('refuses processing instructions (SOAP 1.2 part 1 §5: a receiver faults them) but not the XML declaration', () => {
    expect(() => parseXmlTree('<a><?pi data?></a>')).toThrow(/processing instruction/);
    expect(() => parseXmlTree('<?pi data?><a/>')).toThrow(/processing instruction/);
    expect(parseXmlTree('<?xml version="1.0" encoding="utf-8"?><a/>').localName).toBe('a');
  });

  it('carries nothing from one document to the next (the parser is reused), after an error either', () => {
    parseXmlTree('<a xmlns:p="urn:p"><p:b>\n\n</p:b></a>');
    expect(() => parseXmlTree('<p:b/>')).toThrow(/^1:\d+: unbound namespace prefix/);
    expect(() => parseXmlTree('<a><b>')).toThrow();
    const next = parseXmlTree('<c x="1"><d/></c>');
    expect(next.localName).toBe('c');
    expect((next.firstChild as XmlElement).localName).toBe('d');
    expect(next.firstChild!.nextSibling).toBeNull();
  });

  it('resolves prefixes in scope (fault codes are QNames)', () => {
    const root = parseXmlTree('<a xmlns:p="urn:p" xmlns="urn:d"><b xmlns:p="urn:q"><c/></b></a>');
    const c = (root.firstChild as XmlElement).firstChild as XmlElement;
    expect(c.lookupNamespaceURI('p')).toBe('urn:q');
    expect(c.lookupNamespaceURI(null)).toBe('urn:d');
    expect(root.lookupNamespaceURI('p')).toBe('urn:p');
    expect(root.lookupNamespaceURI('none')).toBeNull();
  });
});

describe('parseEnvelope picks one parser per message', () => {
  const signed = `<s:Envelope xmlns:s="${NS.soap12}"><s:Header><wsse:Security xmlns:wsse="${NS.wsse}"><ds:Signature xmlns:ds="${NS.ds}"><ds:SignedInfo/></ds:Signature></wsse:Security></s:Header><s:Body><x:Op xmlns:x="urn:x"/></s:Body></s:Envelope>`;

  it('reads a message whose Security header is signed from one xmldom document, the one signatures are checked on', () => {
    const env = parseEnvelope(signed, { maxBytes: 1 << 20 });
    expect(env.header.security?.hasSignature).toBe(true);
    expect(env.document).toBeDefined();
    const body = env.document!.documentElement!.lastChild as unknown as XmlElement;
    expect(env.bodyElement).toBe(body);
    expect((env.header.security!.signature as unknown as XElement).ownerDocument).toBe(env.document);
  });

  it('builds no xmldom document for an unsigned message', () => {
    expect(parseEnvelope(seeds[seeds.length - 5]!, { maxBytes: 1 << 20 }).document).toBeUndefined();
  });

  it('answers malformed XML with a typed error saying where', () => {
    const e = (() => {
      try {
        parseEnvelope(`<s:Envelope xmlns:s="${NS.soap12}"><s:Body></s:Envelop>`, { maxBytes: 1 << 20 });
      } catch (x) {
        return x;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(OpencesError);
    expect((e as OpencesError).message).toMatch(/^the request is not well-formed XML: 1:\d+: /);
  });
});
