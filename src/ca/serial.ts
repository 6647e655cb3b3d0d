import { randomFillSync } from 'node:crypto';

/** 128-bit positive serials (≥ 64 bits of entropy per CA/B BR 7.1), as unsigned bytes and hex. */
export function newSerial(random: (n: number) => Uint8Array): { bytes: Uint8Array; hex: string } {
  const b = Buffer.from(random(16));
  // Top bit cleared: positive. Low bit of the first octet set: never a leading zero octet that
  // DER would strip, so the serial is always 16 octets and its hex always 32 digits (126 random bits).
  b[0] = (b[0]! & 0x7f) | 0x01;
  return { bytes: b, hex: b.toString('hex') };
}

/**
 * The CSPRNG in 4 KiB draws handed out in slices: one randomFillSync per 256 serials instead of
 * one per serial (each call into OpenSSL costs more than the 16 bytes).
 */
export function pooledRandom(poolSize = 4096): (n: number) => Uint8Array {
  let pool = Buffer.alloc(0);
  let off = 0;
  return (n: number) => {
    if (n > poolSize) return randomFillSync(Buffer.alloc(n));
    if (off + n > pool.length) {
      pool = randomFillSync(Buffer.allocUnsafe(poolSize));
      off = 0;
    }
    const out = pool.subarray(off, off + n);
    off += n;
    return out;
  };
}
