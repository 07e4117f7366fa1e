import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clearBit, isSingleBitMask, setBit, testBit } from './bits.js';

describe('isSingleBitMask', () => {
  it('accepts 0 and every power of two below 2^53', () => {
    expect(isSingleBitMask(0)).toBe(true);
    for (let b = 0; b < 53; b++) expect(isSingleBitMask(2 ** b)).toBe(true);
  });

  it('refuses values where 2 ** Math.log2(m) rounds back to m', () => {
    // Math.log2 is not exact: these all satisfy 2 ** Math.log2(m) === m.
    for (const m of [3, 6, 7, 12, 48]) expect(isSingleBitMask(m)).toBe(false);
  });

  it('refuses negatives, fractions and values above 2^53 - 1', () => {
    for (const m of [-1, -(2 ** 47), 0.5, 2 ** 53, 2 ** 60, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(isSingleBitMask(m)).toBe(false);
    }
  });

  it('agrees with a bigint popcount for every safe integer (property)', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (m) => {
        let n = BigInt(m);
        let ones = 0;
        while (n > 0n) {
          ones += Number(n & 1n);
          n >>= 1n;
        }
        expect(isSingleBitMask(m)).toBe(ones <= 1);
      }),
    );
  });
});

describe('testBit / setBit / clearBit at bits 47 and 51', () => {
  it('round-trip the TDX shared bits on a 52-bit address', () => {
    for (const bit of [2 ** 47, 2 ** 51]) {
      const a = 2 ** 52 - 1 - bit;
      expect(testBit(a, bit)).toBe(0);
      expect(testBit(setBit(a, bit), bit)).toBe(1);
      expect(clearBit(setBit(a, bit), bit)).toBe(a);
    }
  });
});
