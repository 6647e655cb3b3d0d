import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EnvelopeReader, parseEnvelope } from '../../../../src/protocol/soap/envelope.js';
import { DEFAULT_XML_LIMITS, XmlLimitScanner, type XmlLimits } from '../../../../src/protocol/soap/xml-limits.js';
import { OpencesError } from '../../../../src/errors.js';
import { hostileBodies, HOSTILE_LIMIT } from '../../../helpers/hostile-xml.js';
import { thrown as refusal } from '../../../helpers/thrown.js';

const FIX = join(__dirname, '../../../fixtures/soap');
const GETPOL = readFileSync(join(FIX, 'cepces-getpolicies-request.xml'));
const RST = readFileSync(join(FIX, 'cepces-rst-issue-request.xml'));
const MIB = 1 << 20;
const OPTS = { maxBytes: MIB };

/**
 * CPU budgets are multiplied by this. The mutation run (vitest.mutate.config.ts) sets 20: Stryker
 * runs tests in a worker thread, where process.cpuUsage() also counts the runner's own thread and
 * the instrumentation; a mutant that drops a limit is still caught by the limit named in the error.
 */
const CPU_SCALE = Number(process.env.OPENCES_TEST_CPU_SCALE ?? '1');

/** CPU time (user + system, this process) of f, in ms: unlike wall-clock, other load on the machine barely moves it. */
function cpuMs(f: () => void): number {
  const t = process.cpuUsage();
  f();
  const d = process.cpuUsage(t);
  return (d.user + d.system) / 1000;
}

const wrap = (body: string): string => `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>${body}</s:Body></s:Envelope>`;
const limitOf = (xml: string | Buffer, limits?: XmlLimits): unknown => refusal(() => parseEnvelope(xml, { ...OPTS, ...(limits ? { limits } : {}) })).details.limit;

describe('XML structural limits on SOAP envelopes', () => {
  it('still reads the cepces captures with the default limits', () => {
    expect(parseEnvelope(GETPOL, OPTS).operation?.localName).toBe('GetPolicies');
    expect(parseEnvelope(RST, OPTS).operation?.localName).toBe('RequestSecurityToken');
  });

  it('refuses the issue #15 body (50,000 nested elements, ~420 KB) naming maxDepth, in milliseconds of CPU', () => {
    const xml = wrap('<a>'.repeat(50_000) + '</a>'.repeat(50_000));
    let e: OpencesError | undefined;
    const ms = cpuMs(() => {
      e = refusal(() => parseEnvelope(xml, OPTS));
    });
    expect(e!.kind).toBe('malformed');
    expect(e!.details.limit).toBe('maxDepth');
    expect(e!.message).toMatch(/nesting depth limit of 32 \(soapLimits\.maxDepth\)/);
    // It took ~17 s before the limits; generous ceiling for a loaded CI machine.
    expect(ms).toBeLessThan(100 * CPU_SCALE);
  });

  for (const h of hostileBodies(MIB)) {
    it(`refuses a 1 MiB ${h.name} body naming ${h.limit ?? 'why'}, within 100 ms of CPU`, () => {
      // Warm the code paths so the measurement is the parse, not the JIT.
      refusal(() => parseEnvelope(h.body.subarray(0, 4096), OPTS));
      let e: OpencesError | undefined;
      const ms = cpuMs(() => {
        e = refusal(() => parseEnvelope(h.body, OPTS));
      });
      expect(h.body.length).toBeGreaterThan(MIB * 0.9);
      expect(e!.kind).toBe('malformed');
      if (h.limit) {
        expect(e!.details.limit).toBe(h.limit);
        expect(e!.message).toContain(`soapLimits.${h.limit}`);
      }
      expect(ms, `${ms.toFixed(1)} ms of CPU`).toBeLessThan(100 * CPU_SCALE);
    });
  }

  it('applies the limits before the xmldom path: a signed-looking message is refused by the scanner, not parsed twice', () => {
    const security = `<o:Security xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/></Signature></o:Security>`;
    const signed = (body: string): string => `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>${security}</s:Header><s:Body>${body}</s:Body></s:Envelope>`;
    // Within the limits: read from an xmldom document, as message signatures need.
    expect(parseEnvelope(signed('<a/>'), OPTS).document).toBeDefined();
    // 1 MiB of small elements: xmldom alone would spend seconds on it.
    let e: OpencesError | undefined;
    const ms = cpuMs(() => {
      e = refusal(() => parseEnvelope(signed('<a/>'.repeat(250_000)), OPTS));
    });
    expect(e!.details.limit).toBe('maxElements');
    expect(ms).toBeLessThan(100 * CPU_SCALE);
  });

  it('accepts depth 32 and refuses depth 33 (the Envelope is depth 1)', () => {
    const nest = (n: number): string => wrap('<a>'.repeat(n - 2) + '</a>'.repeat(n - 2));
    expect(parseEnvelope(nest(32), OPTS).bodyElement.localName).toBe('Body');
    expect(limitOf(nest(33))).toBe('maxDepth');
  });

  it('counts only xmlns and xmlns:p as namespace declarations, not attributes that merely start with xmlns', () => {
    const limits = { ...DEFAULT_XML_LIMITS, maxNamespaceDeclarationsPerElement: 8, maxAttributesPerElement: 100 };
    const attrs = (names: string[]): string => wrap(`<a ${names.map((n) => `${n}="urn:x"`).join(' ')}/>`);
    const opts = { ...OPTS, limits };
    expect(() => parseEnvelope(attrs(Array.from({ length: 20 }, (_, i) => `xmlnsx${i}`)), opts)).not.toThrow();
    expect(limitOf(attrs([...Array.from({ length: 8 }, (_, i) => `xmlns:p${i}`), 'xmlns']), limits)).toBe('maxNamespaceDeclarationsPerElement');
  });

  it('counts attributes across quoted values holding markup characters (> and /> inside a value end nothing)', () => {
    const limits = { ...DEFAULT_XML_LIMITS, maxAttributesPerElement: 8 };
    const xml = wrap(`<a ${Array.from({ length: 9 }, (_, i) => `b${i}='x/> <c d="' `).join('')}/>`);
    expect(limitOf(xml, limits)).toBe('maxAttributesPerElement');
    const ok = wrap(`<a ${Array.from({ length: 8 }, (_, i) => `b${i}="x/>y>"`).join(' ')}/>`);
    expect(() => parseEnvelope(ok, { ...OPTS, limits })).not.toThrow();
  });

  it('counts nothing inside comments and CDATA sections but their length', () => {
    const limits = { ...DEFAULT_XML_LIMITS, maxDepth: 8 };
    const xml = wrap(`<a><!-- ${'<b>'.repeat(100)} --><![CDATA[${'<c>'.repeat(100)}]]></a>`);
    expect(() => parseEnvelope(xml, { ...OPTS, limits })).not.toThrow();
  });

  it('refuses a DOCTYPE as soon as the scanner meets it, before reading on', () => {
    const s = new XmlLimitScanner(DEFAULT_XML_LIMITS);
    expect(() => s.push(Buffer.from('<!DOCTYPE x [<!ENTITY a "b">]>'))).toThrow(/document type declarations/);
    expect(refusal(() => parseEnvelope('<!DOCTYPE s:Envelope><x/>', OPTS)).message).toMatch(/document type declarations are not allowed/);
  });

  it('refuses at the chunk that breaks a limit: the rest of the body is never needed', () => {
    const r = new EnvelopeReader(OPTS);
    r.push(Buffer.from(wrap('').slice(0, 80)));
    expect(() => r.push(Buffer.from('<a>'.repeat(40)))).toThrow(/nesting depth/);
    // Once refused, the reader stays refused.
    expect(() => r.push(Buffer.from('</a>'))).toThrow(/nesting depth/);
  });

  it('reads a message fed one byte at a time (BOM, multi-byte UTF-8 split across chunks) as it reads it whole', () => {
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(GETPOL.toString().replace('alice@example.test', 'zoë🙂@example.test'))]);
    const r = new EnvelopeReader(OPTS);
    for (const byte of withBom) r.push(Buffer.from([byte]));
    const env = r.end();
    expect(env.header.security?.usernameToken?.username).toBe('zoë🙂@example.test');
    expect(env.xml.startsWith('<?xml')).toBe(true);
    const utf16 = new EnvelopeReader(OPTS);
    utf16.push(Buffer.from([0xff]));
    expect(() => utf16.push(Buffer.from([0xfe, 0x3c, 0x00]))).toThrow(/UTF-16/);
  });

  it('keeps a legitimate GetPolicies cheap: the limit scanner adds little to the parse', () => {
    for (let i = 0; i < 200; i++) parseEnvelope(GETPOL, OPTS);
    const ms = cpuMs(() => {
      for (let i = 0; i < 1000; i++) parseEnvelope(GETPOL, OPTS);
    });
    // ~40 µs per message on an idle core; ceiling 1 ms each.
    expect(ms).toBeLessThan(1000 * CPU_SCALE);
  });

  it('HOSTILE_LIMIT names every limit the hostile corpus exercises', () => {
    expect(new Set(hostileBodies(64 * 1024).map((h) => h.limit).filter(Boolean))).toEqual(new Set(HOSTILE_LIMIT));
  });
});
