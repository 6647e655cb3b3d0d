import type { NameAttribute, SanEntry } from '../../ca/types.js';
import { contents, elements, latin1Text, malformed, oidString, text } from '../der-reader.js';

export const NAME_OIDS: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'SERIALNUMBER',
  '2.5.4.4': 'SN',
  '2.5.4.42': 'GN',
  '1.2.840.113549.1.9.1': 'E',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
};

export const UPN_OID = '1.3.6.1.4.1.311.20.2.3';

/**
 * A DER Name (SEQUENCE OF RelativeDistinguishedName) → its AttributeTypeAndValues in order, values
 * as text ('' when the value is not a string type). Throws OpencesError('malformed') on bad structure.
 */
export function nameAttributesFromDer(nameDer: Uint8Array): NameAttribute[] {
  if (nameDer[0] !== 0x30) malformed('a Name is not a SEQUENCE');
  const out: NameAttribute[] = [];
  for (const rdn of elements(nameDer)) {
    if (rdn[0] !== 0x31) malformed('a RelativeDistinguishedName is not a SET');
    for (const atv of elements(rdn)) {
      if (atv[0] !== 0x30) malformed('an AttributeTypeAndValue is not a SEQUENCE');
      const parts = elements(atv);
      if (parts.length !== 2) malformed('an AttributeTypeAndValue is not {type, value}');
      const type = oidString(parts[0]!);
      out.push({ type: NAME_OIDS[type] ?? type, value: text(parts[1]) ?? '' });
    }
  }
  return out;
}

export function nameToString(attrs: NameAttribute[]): string {
  return attrs.map((a) => `${a.type}=${a.value.replace(/([,+"\\<>;])/g, '\\$1')}`).join(', ');
}

/**
 * The DER of GeneralNames (SEQUENCE OF GeneralName, e.g. a subjectAltName extension's value) →
 * the SAN entries we understand; anything else is reported by its kind. Throws
 * OpencesError('malformed') on bad structure.
 */
export function sanEntriesFromDer(generalNamesDer: Uint8Array): { sans: SanEntry[]; unsupported: string[] } {
  if (generalNamesDer[0] !== 0x30) malformed('GeneralNames is not a SEQUENCE');
  const sans: SanEntry[] = [];
  const unsupported: string[] = [];
  for (const gn of elements(generalNamesDer)) {
    const tag = gn[0]!;
    if ((tag & 0xc0) !== 0x80) malformed('a GeneralName is not context-tagged');
    const n = tag & 0x1f;
    const constructed = (tag & 0x20) !== 0;
    switch (n) {
      case 1:
      case 2:
      case 6:
        if (constructed) malformed(`GeneralName[${n}] is constructed`);
        sans.push({ type: n === 1 ? 'email' : n === 2 ? 'dns' : 'uri', value: latin1Text(gn) });
        break;
      case 7: {
        if (constructed) malformed('GeneralName[7] is constructed');
        const b = contents(gn);
        if (b.length !== 4 && b.length % 2 !== 0) malformed('an iPAddress of odd length');
        sans.push({ type: 'ip', value: b.length === 4 ? `${b[0]}.${b[1]}.${b[2]}.${b[3]}` : ipv6(b) });
        break;
      }
      case 0: {
        if (!constructed) malformed('otherName is not constructed');
        const upn = otherNameUpn(gn);
        if (upn !== null) sans.push({ type: 'upn', value: upn });
        else unsupported.push('otherName');
        break;
      }
      default:
        unsupported.push(`GeneralName[${n}]`);
    }
  }
  return { sans, unsupported };
}

function ipv6(b: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < b.length; i += 2) parts.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return parts.join(':');
}

/** otherName ::= [0] { type-id OID, value [0] EXPLICIT ANY }: the UPN when it is one, as a UTF8String. */
function otherNameUpn(gn: Uint8Array): string | null {
  const items = elements(gn);
  if (items.length < 2 || oidString(items[0]!) !== UPN_OID || items[1]![0] !== 0xa0) return null;
  const inner = elements(items[1]!)[0];
  return inner && inner[0] === 0x0c ? text(inner)! : null;
}
