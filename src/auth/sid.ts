/**
 * Windows security identifiers (MS-DTYP §2.4.2): the binary form AD stores in objectSid and
 * tokenGroups, and the `S-1-5-21-…` string form certificates and ACLs carry.
 */

/** `S-R-I-S…`: revision 1, an authority, 0–15 sub-authorities (32-bit each). */
export const SID_PATTERN = /^S-1-\d{1,15}(?:-\d{1,10}){0,15}$/;

export function isSid(s: string): boolean {
  if (!SID_PATTERN.test(s)) return false;
  return s
    .split('-')
    .slice(3)
    .every((x) => Number(x) <= 0xffffffff);
}

/** Binary SID → string; throws on a malformed value. */
export function sidToString(b: Uint8Array): string {
  if (b.length < 8) throw new Error('a SID is at least 8 bytes');
  const revision = b[0]!;
  const count = b[1]!;
  if (revision !== 1 || count > 15 || b.length !== 8 + 4 * count) throw new Error('malformed SID');
  let authority = 0;
  for (let i = 2; i < 8; i++) authority = authority * 256 + b[i]!;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const subs: number[] = [];
  for (let i = 0; i < count; i++) subs.push(dv.getUint32(8 + 4 * i, true));
  return `S-1-${authority}${subs.map((s) => `-${s}`).join('')}`;
}

/** String SID → binary (for LDAP searches by objectSid). */
export function sidToBytes(s: string): Buffer {
  if (!isSid(s)) throw new Error(`${s} is not a SID`);
  const parts = s.split('-').slice(2).map(Number);
  const [authority, ...subs] = parts as [number, ...number[]];
  const b = Buffer.alloc(8 + 4 * subs.length);
  b[0] = 1;
  b[1] = subs.length;
  b.writeUIntBE(authority, 2, 6);
  subs.forEach((x, i) => b.writeUInt32LE(x, 8 + 4 * i));
  return b;
}
