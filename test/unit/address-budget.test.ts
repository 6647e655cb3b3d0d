import { describe, expect, it } from 'vitest';
import { AddressBudget, addressKey } from '../../src/address-budget.js';

describe('addressKey: what a source address is counted under', () => {
  it('keeps IPv4 as is and unwraps IPv4-mapped IPv6', () => {
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::FFFF:192.0.2.7')).toBe('192.0.2.7');
  });

  it('counts an IPv6 caller by its /64, however the address is written', () => {
    const a = addressKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd');
    expect(a).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002::1')).toBe(a);
    expect(addressKey('2001:DB8:1:2::ffff')).toBe(a);
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    // Another /64 of the same /48 is another source.
    expect(addressKey('2001:db8:1:3::1')).not.toBe(a);
  });

  it('puts a missing address under one key', () => {
    expect(addressKey(undefined)).toBe('unknown');
    expect(addressKey('')).toBe('unknown');
  });
});

describe('AddressBudget: token buckets per source and for all sources', () => {
  function budget(o: Partial<ConstructorParameters<typeof AddressBudget>[0]> = {}) {
    let t = 1_000_000;
    const b = new AddressBudget({ capacity: 3, perMs: 3 / 60_000, sharedCapacity: 100, sharedPerMs: 1, maxKeys: 1000, ...o }, () => t);
    return { b, advance: (ms: number) => void (t += ms) };
  }

  it('gives each source its capacity, then refuses until the bucket refills', () => {
    const { b, advance } = budget();
    expect([b.take('a'), b.take('a'), b.take('a'), b.take('a')]).toEqual([true, true, true, false]);
    // Another source has its own bucket.
    expect(b.take('b')).toBe(true);
    // One token back after a third of a minute (3 a minute), not before.
    advance(19_999);
    expect(b.take('a')).toBe(false);
    advance(1);
    expect(b.take('a')).toBe(true);
    expect(b.take('a')).toBe(false);
    // Refilling never goes past the capacity.
    advance(3_600_000);
    expect([b.take('a'), b.take('a'), b.take('a'), b.take('a')]).toEqual([true, true, true, false]);
  });

  it('bounds all sources together: a sender spread over many addresses gets no more than the shared bucket', () => {
    const { b, advance } = budget({ sharedCapacity: 5, sharedPerMs: 2 / 1000 });
    const granted = Array.from({ length: 50 }, (_, i) => b.take(`10.0.0.${i}`)).filter(Boolean).length;
    expect(granted).toBe(5);
    advance(499);
    expect(b.take('10.0.1.1')).toBe(false);
    advance(1);
    expect(b.take('10.0.1.1')).toBe(true);
  });

  it('a refused take costs the shared bucket nothing', () => {
    const { b } = budget({ capacity: 1, sharedCapacity: 2, sharedPerMs: 0 });
    expect(b.take('a')).toBe(true);
    expect(b.take('a')).toBe(false);
    expect(b.take('a')).toBe(false);
    expect(b.take('b')).toBe(true);
    expect(b.take('c')).toBe(false);
  });

  it('capacity 0 gives nothing free', () => {
    const { b } = budget({ capacity: 0 });
    expect(b.take('a')).toBe(false);
    expect(b.size).toBe(0);
  });

  it('remembers at most maxKeys sources, forgetting the least recently charged first', () => {
    const { b } = budget({ capacity: 1, maxKeys: 100, sharedCapacity: 1e9 });
    for (let i = 0; i < 10_000; i++) b.take(`k${i}`);
    expect(b.size).toBe(100);
    // k9999 is remembered (spent); k0 was forgotten and starts full again.
    expect(b.take('k9999')).toBe(false);
    expect(b.take('k0')).toBe(true);
  });

  it('charging a source makes it the most recently seen', () => {
    const { b } = budget({ capacity: 1, maxKeys: 2, sharedCapacity: 1e9 });
    b.take('a');
    b.take('b');
    b.take('a'); // a is now newer than b
    b.take('c'); // forgets b
    expect(b.take('a')).toBe(false);
    expect(b.take('b')).toBe(true);
  });
});
