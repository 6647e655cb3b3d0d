import type { NameAttribute, SanEntry } from './types.js';
import { OpencesError } from '../errors.js';
import { ia5, implicitCons, implicitPrim, explicit, oid, printable, seq, set, utf8 } from './der.js';
import { isIP } from 'node:net';
import { DEFAULT_ATTRIBUTE_BOUND, SUBJECT_UPPER_BOUNDS } from '../policy/name-bounds.js';

const TYPE_OIDS: Record<string, string> = {
  CN: '2.5.4.3',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  SERIALNUMBER: '2.5.4.5',
  SN: '2.5.4.4',
  GN: '2.5.4.42',
  E: '1.2.840.113549.1.9.1',
  DC: '0.9.2342.19200300.100.1.25',
  UID: '0.9.2342.19200300.100.1.1',
};

/** Encodes a Name: one RDN per attribute, in the given order. */
export function encodeName(attrs: NameAttribute[]): Buffer {
  return seq(
    ...attrs.map((a) => {
      const type = a.type.toUpperCase();
      const o = TYPE_OIDS[type] ?? (/^\d+(\.\d+)+$/.test(a.type) ? a.type : null);
      if (!o) throw new OpencesError('badCsr', `unsupported subject attribute ${a.type}`);
      // The RFC 5280 bounds the RA checks before accepting a request (src/policy/name-bounds.ts).
      const max = SUBJECT_UPPER_BOUNDS[type] ?? DEFAULT_ATTRIBUTE_BOUND;
      if ([...a.value].length > max) throw new OpencesError('badCsr', `subject ${type} is longer than ${max} characters`);
      // C, E and DC have fixed string types (PrintableString / IA5String); the rest UTF8String.
      const value = type === 'C' || type === 'SERIALNUMBER' ? printable(a.value) : type === 'E' || type === 'DC' ? ia5(a.value) : utf8(a.value);
      return set(seq(oid(o), value));
    }),
  );
}

const UPN_OID = '1.3.6.1.4.1.311.20.2.3';

export function encodeGeneralName(s: SanEntry): Buffer {
  switch (s.type) {
    case 'dns':
      return implicitPrim(2, Buffer.from(s.value, 'ascii'));
    case 'email':
      return implicitPrim(1, Buffer.from(s.value, 'ascii'));
    case 'uri':
      return implicitPrim(6, Buffer.from(s.value, 'ascii'));
    case 'ip': {
      const v = isIP(s.value);
      if (v === 4) return implicitPrim(7, Buffer.from(s.value.split('.').map(Number)));
      if (v === 6) return implicitPrim(7, ipv6Bytes(s.value));
      throw new OpencesError('badCsr', `not an IP address: ${s.value}`);
    }
    case 'upn':
      // otherName ::= SEQUENCE { type-id OID, value [0] EXPLICIT UTF8String }, as [0] IMPLICIT.
      return implicitCons(0, [oid(UPN_OID), explicit(0, utf8(s.value))]);
  }
}

function ipv6Bytes(addr: string): Buffer {
  const [head, tail] = addr.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(Number.parseInt(g || '0', 16), i * 2));
  return b;
}
