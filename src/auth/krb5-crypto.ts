import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { OpencesError } from '../errors.js';

/**
 * Kerberos decryption (RFC 3961 simplified profile) for the enctypes a KDC issues today:
 * aes128/aes256-cts-hmac-sha1-96 (17, 18; RFC 3962), aes128-cts-hmac-sha256-128 and
 * aes256-cts-hmac-sha384-192 (19, 20; RFC 8009), and rc4-hmac (23; RFC 4757, Active Directory).
 * Used only to read the channel-binding checksum of an AP-REQ that GSSAPI has already accepted
 * (src/auth/channel-binding.ts): every decryption checks its integrity tag first.
 */
export const ENCTYPES = { aes128Sha1: 17, aes256Sha1: 18, aes128Sha256: 19, aes256Sha384: 20, rc4Hmac: 23 } as const;

export const supportedEnctype = (etype: number): boolean => (Object.values(ENCTYPES) as number[]).includes(etype);

const refuse = (why: string): never => {
  throw new OpencesError('unauthenticated', `Kerberos decryption failed: ${why}`);
};

const aesEcb = (key: Buffer): string => (key.length === 16 ? 'aes-128-ecb' : key.length === 32 ? 'aes-256-ecb' : refuse(`bad AES key length ${key.length}`));

function ecbEncrypt(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv(aesEcb(key), key, null).setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

function ecbDecrypt(key: Buffer, block: Buffer): Buffer {
  const d = createDecipheriv(aesEcb(key), key, null).setAutoPadding(false);
  return Buffer.concat([d.update(block), d.final()]);
}

const xor = (a: Buffer, b: Buffer): Buffer => {
  const out = Buffer.alloc(Math.min(a.length, b.length));
  for (let i = 0; i < out.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
};

/** AES in CBC mode with ciphertext stealing, as Kerberos uses it (RFC 3962 §5; IV zero). */
export function aesCtsDecrypt(key: Buffer, c: Buffer, iv: Buffer = Buffer.alloc(16)): Buffer {
  if (c.length < 16) refuse('ciphertext shorter than one block');
  if (c.length === 16) return xor(ecbDecrypt(key, c), iv);
  const n = Math.ceil(c.length / 16);
  const d = c.length - 16 * (n - 1); // bytes in the last, possibly partial, block
  const out: Buffer[] = [];
  let prev = iv;
  for (let i = 0; i < n - 2; i++) {
    const block = c.subarray(16 * i, 16 * i + 16);
    out.push(xor(ecbDecrypt(key, block), prev));
    prev = block;
  }
  const x = c.subarray(16 * (n - 2), 16 * (n - 1)); // E(n), sent first
  const y = c.subarray(16 * (n - 1)); // the first d bytes of E(n-1)
  const dn = ecbDecrypt(key, x);
  const last = xor(dn.subarray(0, d), y);
  const en1 = Buffer.concat([y, dn.subarray(d)]);
  out.push(xor(ecbDecrypt(key, en1), prev), last);
  return Buffer.concat(out);
}

/** n-fold (RFC 3961 §5.1): stretches or folds `input` to `n` bytes. */
export function nfold(input: Buffer, n: number): Buffer {
  const inBits = input.length * 8;
  const outBits = n * 8;
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const lcm = (inBits * outBits) / gcd(inBits, outBits);
  const copies = lcm / inBits;
  // The input repeated, each copy rotated right by 13 bits more than the one before.
  const bits: number[] = [];
  for (let k = 0; k < copies; k++) {
    const rot = (13 * k) % inBits;
    for (let i = 0; i < inBits; i++) {
      const src = (i - rot + inBits) % inBits;
      bits.push((input[src >> 3]! >> (7 - (src & 7))) & 1);
    }
  }
  // Sum the n-byte chunks with end-around carry (ones' complement addition).
  const acc = new Array<number>(n).fill(0);
  for (let off = 0; off < bits.length; off += outBits) {
    let carry = 0;
    for (let byte = n - 1; byte >= 0; byte--) {
      let v = 0;
      for (let b = 0; b < 8; b++) v = (v << 1) | bits[off + byte * 8 + b]!;
      const s = acc[byte]! + v + carry;
      acc[byte] = s & 0xff;
      carry = s >> 8;
    }
    while (carry) {
      for (let byte = n - 1; byte >= 0 && carry; byte--) {
        const s = acc[byte]! + carry;
        acc[byte] = s & 0xff;
        carry = s >> 8;
      }
    }
  }
  return Buffer.from(acc);
}

/** DK(key, constant) for the AES-SHA1 enctypes (RFC 3961 §5.1, random-to-key is the identity). */
export function deriveKeyAesSha1(key: Buffer, constant: Buffer): Buffer {
  let block = nfold(constant, 16);
  const out: Buffer[] = [];
  let have = 0;
  while (have < key.length) {
    block = ecbEncrypt(key, block);
    out.push(block);
    have += 16;
  }
  return Buffer.concat(out).subarray(0, key.length);
}

const usageConstant = (usage: number, kind: number): Buffer => {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(usage, 0);
  b[4] = kind;
  return b;
};

/** KDF-HMAC-SHA2 (RFC 8009 §3). */
function kdfHmacSha2(hash: 'sha256' | 'sha384', key: Buffer, label: Buffer, bits: number): Buffer {
  const k = Buffer.alloc(4);
  k.writeUInt32BE(bits, 0);
  return createHmac(hash, key).update(Buffer.concat([Buffer.from([0, 0, 0, 1]), label, Buffer.from([0]), k])).digest().subarray(0, bits / 8);
}

function rc4(key: Buffer, data: Buffer): Buffer {
  const s = new Uint8Array(256);
  for (let i = 0; i < 256; i++) s[i] = i;
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + s[i]! + key[i % key.length]!) & 0xff;
    [s[i], s[j]] = [s[j]!, s[i]!];
  }
  const out = Buffer.alloc(data.length);
  for (let n = 0, i = 0, j = 0; n < data.length; n++) {
    i = (i + 1) & 0xff;
    j = (j + s[i]!) & 0xff;
    [s[i], s[j]] = [s[j]!, s[i]!];
    out[n] = data[n]! ^ s[(s[i]! + s[j]!) & 0xff]!;
  }
  return out;
}

const equal = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);

/** Decrypts an EncryptedData's cipher with `key` for `usage`; the integrity tag must verify. */
export function decrypt(etype: number, key: Buffer, usage: number, cipher: Buffer): Buffer {
  switch (etype) {
    case ENCTYPES.aes128Sha1:
    case ENCTYPES.aes256Sha1: {
      if (cipher.length < 16 + 12) refuse('ciphertext too short');
      const ke = deriveKeyAesSha1(key, usageConstant(usage, 0xaa));
      const ki = deriveKeyAesSha1(key, usageConstant(usage, 0x55));
      const c = cipher.subarray(0, cipher.length - 12);
      const p = aesCtsDecrypt(ke, c);
      if (!equal(createHmac('sha1', ki).update(p).digest().subarray(0, 12), cipher.subarray(cipher.length - 12))) refuse('integrity check failed');
      return p.subarray(16);
    }
    case ENCTYPES.aes128Sha256:
    case ENCTYPES.aes256Sha384: {
      const big = etype === ENCTYPES.aes256Sha384;
      const hash = big ? 'sha384' : 'sha256';
      const macLen = big ? 24 : 16;
      if (cipher.length < 16 + macLen) refuse('ciphertext too short');
      const ke = kdfHmacSha2(hash, key, usageConstant(usage, 0xaa), big ? 256 : 128);
      const ki = kdfHmacSha2(hash, key, usageConstant(usage, 0x55), big ? 192 : 128);
      const c = cipher.subarray(0, cipher.length - macLen);
      const iv = Buffer.alloc(16);
      if (!equal(createHmac(hash, ki).update(Buffer.concat([iv, c])).digest().subarray(0, macLen), cipher.subarray(cipher.length - macLen))) refuse('integrity check failed');
      return aesCtsDecrypt(ke, c, iv).subarray(16);
    }
    case ENCTYPES.rc4Hmac: {
      if (cipher.length < 16 + 8) refuse('ciphertext too short');
      // RFC 4757 §3: message type 3 is sent as 8; the usages read here (2, 11) are themselves.
      const t = Buffer.alloc(4);
      t.writeUInt32LE(usage === 3 ? 8 : usage, 0);
      const k1 = createHmac('md5', key).update(t).digest();
      const checksum = cipher.subarray(0, 16);
      const k3 = createHmac('md5', k1).update(checksum).digest();
      const p = rc4(k3, cipher.subarray(16));
      if (!equal(createHmac('md5', k1).update(p).digest(), checksum)) refuse('integrity check failed');
      return p.subarray(8);
    }
    default:
      return refuse(`encryption type ${etype} is not supported`);
  }
}
