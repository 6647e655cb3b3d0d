/** 128-bit positive serials (≥ 64 bits of entropy per CA/B BR 7.1), as unsigned bytes and hex. */
export function newSerial(random: (n: number) => Uint8Array): { bytes: Uint8Array; hex: string } {
  const b = Buffer.from(random(16));
  b[0] = (b[0]! & 0x7f) | 0x01; // positive, and never a leading zero byte that DER would strip
  return { bytes: b, hex: b.toString('hex') };
}
