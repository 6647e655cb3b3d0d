/** Seeded mutation of XML inputs for the client-side codec fuzz tests (the campaign is test/fuzz/). */

/** mulberry32: a seeded PRNG, so a failure reproduces from FUZZ_SEED and the iteration number. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

/** Byte flips, truncations, slice deletion/duplication, random bytes, and duplication of a whole element. */
export function mutate(input: Buffer, rnd: () => number): Buffer {
  const b = Buffer.from(input);
  const at = Math.floor(rnd() * Math.max(1, b.length));
  switch (Math.floor(rnd() * 7)) {
    case 0:
      for (let i = 0; i < 1 + Math.floor(rnd() * 8); i++) b[Math.floor(rnd() * b.length)] ^= 1 << Math.floor(rnd() * 8);
      return b;
    case 1:
      return b.subarray(0, at);
    case 2:
      return Buffer.concat([b.subarray(0, at), b.subarray(at, at + Math.floor(rnd() * 200)), b.subarray(at)]);
    case 3:
      return Buffer.concat([b.subarray(0, at), b.subarray(at + Math.floor(rnd() * 50))]);
    case 4:
      return Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 16) }, () => Math.floor(rnd() * 256))), b.subarray(at)]);
    case 5: {
      // Duplicate one element (open tag to its matching close tag) right after itself.
      const s = b.toString('latin1');
      const opens = [...s.matchAll(/<([A-Za-z0-9_]+:)?([A-Za-z]+)[\s>]/g)];
      if (!opens.length) return b;
      const m = pick(rnd, opens);
      const close = s.indexOf(`</${m[1] ?? ''}${m[2]}>`, m.index);
      if (close < 0) return b;
      const end = close + `</${m[1] ?? ''}${m[2]}>`.length;
      return Buffer.from(s.slice(0, end) + s.slice(m.index, end) + s.slice(end), 'latin1');
    }
    default: {
      // Replace one text node with a hostile value.
      const s = b.toString('latin1');
      const texts = [...s.matchAll(/>([^<]+)</g)];
      if (!texts.length) return b;
      const m = pick(rnd, texts);
      const evil = pick(rnd, ['', ' ', '-1', '99999999999999999999', 'true', 'nil', '&amp;&lt;', 'A'.repeat(5000), '====', '\u0000', 'NaN', '1.2.3', '&#xD;']);
      return Buffer.from(s.slice(0, m.index + 1) + evil + s.slice(m.index + 1 + m[1]!.length), 'latin1');
    }
  }
}

// The fuzz campaign proper (fast-check, every parser untrusted bytes reach) is test/fuzz/; these
// two helpers stay for the client-side codec fuzz tests (test/unit/protocol/soap-fuzz.test.ts).
