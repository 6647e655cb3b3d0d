import { describe, expect, it } from 'vitest';
import { NS, esc, parseEnvelope, parseSoapFault } from '../../../../src/protocol/soap/index.js';
import { children, elem, isNil, nil, optionalText, text } from '../../../../src/protocol/soap/xml.js';

const OPTS = { maxBytes: 1 << 20 };
const body = (inner: string, extraNs = ''): ReturnType<typeof parseEnvelope> => parseEnvelope(`<s:Envelope xmlns:s="${NS.soap12}"${extraNs}><s:Body>${inner}</s:Body></s:Envelope>`, OPTS);

/**
 * The client reads our faults and a CA node's (opences req exits by them): the code decides between
 * "denied" and "error", so a Receiver must not read as a Sender, nor a foreign element as a fault.
 */
describe('SOAP faults and XML helpers', () => {
  it('reads code, subcode with its namespace, reason and detail', () => {
    const f = parseSoapFault(body(`<s:Fault xmlns:a="urn:sub"><s:Code><s:Value> s:Receiver </s:Value><s:Subcode><s:Value>a:InternalError</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en"> it broke </s:Text><s:Text xml:lang="de">x</s:Text></s:Reason><s:Detail><d/></s:Detail></s:Fault>`))!;
    expect(f).toMatchObject({ code: 'Receiver', subcode: '{urn:sub}InternalError', reason: 'it broke' });
    expect(f.detailElement?.localName).toBe('Detail');
  });

  it('keeps a code whose prefix does not resolve as written, and leaves out what is missing', () => {
    const f = parseSoapFault(body('<s:Fault><s:Code><s:Value>zz:Odd</s:Value><s:Subcode><s:Value> </s:Value></s:Subcode></s:Code></s:Fault>'))!;
    expect(f).toEqual({ code: 'zz:Odd', subcode: undefined, reason: '', detailElement: undefined });
    const foreignCode = parseSoapFault(body('<s:Fault xmlns:x="urn:x"><s:Code><s:Value>x:Sender</s:Value></s:Code></s:Fault>'))!;
    expect(foreignCode.code).toBe('{urn:x}Sender');
    expect(parseSoapFault(body('<s:Fault/>'))).toEqual({ code: '', subcode: undefined, reason: '', detailElement: undefined });
    const unprefixed = parseSoapFault(body(`<s:Fault><s:Code><s:Value xmlns="${NS.soap12}">Sender</s:Value></s:Code></s:Fault>`))!;
    expect(unprefixed.code).toBe('Sender');
  });

  it('is no fault when the Body holds something else, an element named Fault in another namespace included', () => {
    expect(parseSoapFault(body('<x:Fault xmlns:x="urn:x"/>'))).toBeNull();
    expect(parseSoapFault(body(`<s:Other/>`))).toBeNull();
    expect(parseSoapFault(body(''))).toBeNull();
  });

  it('nil and optional values: xsi:nil true or 1, empty or blank text, absent', () => {
    const ops = body(`<o:Op xmlns:o="urn:o" xmlns:xsi="${NS.xsi}"><o:A xsi:nil="true"/><o:B xsi:nil="1">x</o:B><o:C xsi:nil="false"> v </o:C><o:D>  </o:D><o:C>w</o:C></o:Op>`).operation!;
    const [a, b, c, d] = ['A', 'B', 'C', 'D'].map((n) => children(ops, 'urn:o', n)[0]);
    expect([isNil(a), isNil(b), isNil(c), isNil(d), isNil(undefined)]).toEqual([true, true, false, false, true]);
    expect([optionalText(a), optionalText(b), optionalText(c), optionalText(d), optionalText(undefined)]).toEqual([undefined, undefined, 'v', undefined, undefined]);
    expect(children(ops, 'urn:o', 'C')).toHaveLength(2);
    expect(children(ops, 'urn:other', 'C')).toHaveLength(0);
    expect(text(undefined)).toBeUndefined();
  });

  it('writes values escaped, and null or undefined as nil', () => {
    expect(elem('v', 'a<b&"c\'\r')).toBe('<v>a&lt;b&amp;&quot;c&apos;&#xD;</v>');
    expect(elem('v', 0)).toBe('<v>0</v>');
    expect(elem('v', false)).toBe('<v>false</v>');
    expect(elem('v', null)).toBe(nil('v'));
    expect(elem('v', undefined)).toBe('<v xsi:nil="true"/>');
    expect(esc('a\u0000b\uFFFEc\uD800d\uDC00e\uD83D\uDE00>')).toBe('abcde\uD83D\uDE00&gt;');
  });
});
