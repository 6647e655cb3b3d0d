import { XCEP_ACTION } from '../../src/protocol/xcep/index.js';

/**
 * Worst-case SOAP bodies for the parser limits (issue #15): each is a GetPolicies-shaped envelope
 * (so it reaches the parser of every endpoint) grown to about `size` bytes in one direction. Used
 * by the unit and integration tests and by the bench's "under attack" row.
 */
export interface HostileBody {
  name: string;
  /** The limit the body breaks first with the default limits (undefined: it is simply not well-formed). */
  limit?: string;
  body: Buffer;
}

export const HOSTILE_LIMIT = ['maxDepth', 'maxElements', 'maxAttributesPerElement', 'maxTextBytes', 'maxAttributeValueBytes', 'maxNamespaceDeclarationsPerElement', 'maxNamespaceDeclarations', 'maxNameBytes'];

const HEAD =
  '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">' +
  `<s:Header><a:Action s:mustUnderstand="1">${XCEP_ACTION.getPolicies}</a:Action><a:MessageID>urn:uuid:00000000-0000-4000-8000-000000000015</a:MessageID></s:Header><s:Body>`;
const TAIL = '</s:Body></s:Envelope>';

/** `unit` repeated to fill the envelope up to `size` bytes. */
function fill(size: number, unit: string, open = '', close = ''): Buffer {
  const room = size - HEAD.length - TAIL.length - open.length - close.length;
  return Buffer.from(HEAD + open + unit.repeat(Math.max(1, Math.floor(room / unit.length))) + close + TAIL);
}

export function hostileBodies(size: number): HostileBody[] {
  const deepUnit = '<a>';
  const deep = Math.floor((size - HEAD.length - TAIL.length) / (deepUnit.length * 2 + 1));
  const attrs = (n: number, f: (i: number) => string): string => Array.from({ length: n }, (_, i) => f(i)).join(' ');
  let seed = 0x15;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
  const garbage = Buffer.alloc(size, 0);
  for (let i = 0; i < size; i++) garbage[i] = rnd();
  garbage[0] = 0x3c; // '<', so it is read as markup, not refused as empty
  return [
    { name: 'deep', limit: 'maxDepth', body: Buffer.from(HEAD + deepUnit.repeat(deep) + '</a>'.repeat(deep) + TAIL) },
    { name: 'wide', limit: 'maxElements', body: fill(size, '<a/>') },
    { name: 'many-attributes', limit: 'maxAttributesPerElement', body: fill(size, ' b=""', '<a', '/>') },
    { name: 'huge-text', limit: 'maxTextBytes', body: fill(size, 'QUJD', '<a>', '</a>') },
    { name: 'huge-attribute', limit: 'maxAttributeValueBytes', body: fill(size, 'QUJD', '<a b="', '"/>') },
    { name: 'many-namespaces', limit: 'maxNamespaceDeclarationsPerElement', body: Buffer.from(HEAD + `<a ${attrs(Math.floor((size - HEAD.length - TAIL.length) / 22), (i) => `xmlns:p${i}="urn:x"`)}/>` + TAIL) },
    { name: 'namespaces-everywhere', limit: 'maxNamespaceDeclarations', body: fill(size, `<a ${attrs(8, (i) => `xmlns:q${i}="urn:q"`)}/>`) },
    { name: 'long-name', limit: 'maxNameBytes', body: fill(size, 'n', '<a', '/>') },
    // Deep and wide at once, each level with namespaces and attributes, then a long text: the first limit met wins.
    { name: 'combination', limit: 'maxDepth', body: fill(size, `<a ${attrs(8, (i) => `xmlns:c${i}="urn:c" c${i}:x="1"`)}>` + '<b/>'.repeat(20) + 'x'.repeat(200)) },
    { name: 'garbage', body: garbage },
    // Legal so far (text runs and counts under every limit) but cut short mid-element.
    { name: 'truncated', body: Buffer.from(HEAD + '<t>' + ('<v>' + 'QUJD'.repeat(1000) + '</v>').repeat(Math.floor((size - HEAD.length) / 4010)) + '<v>QUJ') },
  ];
}
