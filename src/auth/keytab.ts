import { OpencesError } from '../errors.js';

/** One key of an MIT keytab file (the format `kadmin ktadd` and `samba-tool exportkeytab` write). */
export interface KeytabEntry {
  /** `HTTP/host.example` (components joined by `/`). */
  principal: string;
  realm: string;
  kvno: number;
  etype: number;
  key: Buffer;
}

const bad = (why: string): never => {
  throw new OpencesError('unavailable', `the Kerberos keytab cannot be read: ${why}`);
};

/**
 * Parses a keytab (format 0x0502, big-endian; 0x0501 is the old native-endian one, refused).
 * Holes (negative record sizes, left by removed keys) are skipped.
 */
export function parseKeytab(b: Buffer): KeytabEntry[] {
  if (b.length < 2 || b[0] !== 0x05) bad('not a keytab (first byte is not 5)');
  if (b[1] !== 0x02) bad(`keytab format version ${b[1]} is not supported (only 0x0502)`);
  const out: KeytabEntry[] = [];
  let off = 2;
  while (off + 4 <= b.length) {
    const size = b.readInt32BE(off);
    off += 4;
    if (size === 0) break;
    if (size < 0) {
      off += -size;
      continue;
    }
    const end = off + size;
    if (end > b.length) bad('a record runs past the end of the file');
    let p = off;
    const u16 = (): number => {
      if (p + 2 > end) bad('truncated record');
      const v = b.readUInt16BE(p);
      p += 2;
      return v;
    };
    const u32 = (): number => {
      if (p + 4 > end) bad('truncated record');
      const v = b.readUInt32BE(p);
      p += 4;
      return v;
    };
    const str = (): Buffer => {
      const n = u16();
      if (p + n > end) bad('truncated record');
      const v = b.subarray(p, p + n);
      p += n;
      return v;
    };
    const components = u16();
    const realm = str().toString('utf8');
    const names: string[] = [];
    for (let i = 0; i < components; i++) names.push(str().toString('utf8'));
    u32(); // name type
    u32(); // timestamp
    if (p + 1 > end) bad('truncated record');
    let kvno = b[p]!;
    p += 1;
    const etype = u16();
    const key = Buffer.from(str());
    // A 32-bit kvno follows when there is room; it replaces the 8-bit one unless zero.
    if (p + 4 <= end) {
      const k32 = b.readUInt32BE(p);
      if (k32 !== 0) kvno = k32;
    }
    out.push({ principal: names.join('/'), realm, kvno, etype, key });
    off = end;
  }
  return out;
}
