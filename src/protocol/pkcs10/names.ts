import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { NameAttribute, SanEntry } from '../../ca/types.js';

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

/** Relative distinguished names in order, values as text. */
export function nameAttributes(name: pkijs.RelativeDistinguishedNames): NameAttribute[] {
  const out: NameAttribute[] = [];
  for (const tv of name.typesAndValues) {
    const v = tv.value as { valueBlock?: { value?: unknown } };
    const value = typeof v.valueBlock?.value === 'string' ? v.valueBlock.value : '';
    out.push({ type: NAME_OIDS[tv.type] ?? tv.type, value });
  }
  return out;
}

export function nameToString(attrs: NameAttribute[]): string {
  return attrs.map((a) => `${a.type}=${a.value.replace(/([,+"\\<>;])/g, '\\$1')}`).join(', ');
}

/** GeneralNames → SAN entries we understand; anything else is reported by its kind. */
export function sanEntries(names: pkijs.GeneralNames): { sans: SanEntry[]; unsupported: string[] } {
  const sans: SanEntry[] = [];
  const unsupported: string[] = [];
  for (const gn of names.names) {
    switch (gn.type) {
      case 1:
        sans.push({ type: 'email', value: String(gn.value) });
        break;
      case 2:
        sans.push({ type: 'dns', value: String(gn.value) });
        break;
      case 6:
        sans.push({ type: 'uri', value: String(gn.value) });
        break;
      case 7: {
        const oct = gn.value as asn1js.OctetString;
        const b = Buffer.from(oct.valueBlock.valueHexView);
        sans.push({ type: 'ip', value: b.length === 4 ? [...b].join('.') : ipv6(b) });
        break;
      }
      case 0: {
        const v = gn.value as { type?: string; value?: unknown } | asn1js.Sequence;
        const upn = otherNameUpn(v);
        if (upn !== null) sans.push({ type: 'upn', value: upn });
        else unsupported.push('otherName');
        break;
      }
      default:
        unsupported.push(`GeneralName[${gn.type}]`);
    }
  }
  return { sans, unsupported };
}

function ipv6(b: Buffer): string {
  const parts: string[] = [];
  for (let i = 0; i < b.length; i += 2) parts.push(b.readUInt16BE(i).toString(16));
  return parts.join(':');
}

function otherNameUpn(v: unknown): string | null {
  // pkijs represents otherName as a raw asn1js Sequence [OID, [0] EXPLICIT value].
  if (v instanceof asn1js.Sequence || (v as { valueBlock?: unknown })?.valueBlock) {
    const seq = v as asn1js.Sequence;
    const items = seq.valueBlock.value;
    const oid = items[0];
    if (oid instanceof asn1js.ObjectIdentifier && oid.valueBlock.toString() === UPN_OID) {
      const wrapped = items[1] as asn1js.Constructed | undefined;
      const inner = wrapped?.valueBlock.value[0] as { valueBlock?: { value?: unknown } } | undefined;
      return typeof inner?.valueBlock?.value === 'string' ? inner.valueBlock.value : null;
    }
  }
  return null;
}
