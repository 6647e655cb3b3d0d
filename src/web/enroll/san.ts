import * as asn1js from 'asn1js';

/** A subject alternative name typed into the page, as the server names SAN types. */
export type SanType = 'dns' | 'ip' | 'email' | 'upn' | 'uri';
export interface San {
  type: SanType;
  value: string;
}

const TYPES: SanType[] = ['dns', 'ip', 'email', 'upn', 'uri'];
const UPN_OID = '1.3.6.1.4.1.311.20.2.3';

/**
 * `www.example.com, ip:192.0.2.1 email:a@example.com` → SANs. A bare name is a DNS name (an IP
 * address when it reads as one); `type:value` names the type. Types the template does not let the
 * enrollee supply are refused here already (the CA would refuse them anyway).
 */
export function parseSans(text: string, allowed: string[]): San[] {
  const out: San[] = [];
  for (const item of text.split(/[\s,]+/).filter(Boolean)) {
    const m = /^([a-z]+):(.+)$/i.exec(item);
    const typed = m && TYPES.includes(m[1]!.toLowerCase() as SanType);
    const type: SanType = typed ? (m[1]!.toLowerCase() as SanType) : ipBytes(item) ? 'ip' : 'dns';
    const value = typed ? m[2]! : item;
    if (!allowed.includes(type)) throw new Error(`this template does not take ${type} names (${item})`);
    if (type === 'ip' && !ipBytes(value)) throw new Error(`${value} is not an IP address`);
    out.push({ type, value });
  }
  return out;
}

/** IPv4 (4 bytes) or IPv6 (16 bytes), or null. */
export function ipBytes(s: string): Uint8Array | null {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4) {
    const b = v4.slice(1).map(Number);
    return b.every((x) => x <= 255) ? new Uint8Array(b) : null;
  }
  if (!/^[0-9a-f:]+$/i.test(s) || !s.includes(':')) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string): string[] => (h ? h.split(':') : []);
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0 || (halves.length === 2 && missing < 1)) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (all.some((g) => g.length === 0 || g.length > 4)) return null;
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
}

function tagged(tag: number, bytes: Uint8Array): asn1js.Primitive {
  return new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: tag }, valueHex: bytes.slice().buffer });
}

/** The DER of a SubjectAltName extension value (GeneralNames) for these names. */
export function subjectAltNameDer(sans: San[]): ArrayBuffer {
  const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
  const names = sans.map((s): asn1js.AsnType => {
    switch (s.type) {
      case 'email':
        return tagged(1, ascii(s.value));
      case 'dns':
        return tagged(2, ascii(s.value));
      case 'uri':
        return tagged(6, ascii(s.value));
      case 'ip':
        return tagged(7, ipBytes(s.value)!);
      case 'upn':
        // otherName [0] { type-id UPN, value [0] EXPLICIT UTF8String }
        return new asn1js.Constructed({
          idBlock: { tagClass: 3, tagNumber: 0 },
          value: [new asn1js.ObjectIdentifier({ value: UPN_OID }), new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Utf8String({ value: s.value })] })],
        });
    }
  });
  return new asn1js.Sequence({ value: names }).toBER(false);
}
