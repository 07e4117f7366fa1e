import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  word64,
  word64And,
  word64AndNot,
  word64Bit,
  word64BitMask,
  word64Equals,
  word64Field,
  word64FromBigInt,
  word64FromNumber,
  word64Hex,
  word64Or,
  word64ToBigInt,
  word64ToNumber,
} from './word64.js';

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

describe('Word64 (lo/hi halves)', () => {
  it('holds FROZEN_SPTE and a TDX status exactly', () => {
    const frozen = word64FromBigInt(0x80000000000005a0n);
    expect(frozen).toEqual({ lo: 0x5a0, hi: 0x80000000 });
    expect(word64Hex(frozen)).toBe('0x80000000000005a0');
    const status = word64FromBigInt(0xc0000b0d00000092n);
    expect(word64Field(status, 47, 40)).toBe(0x0b);
    expect(word64Field(status, 31, 0)).toBe(0x92);
    expect(word64Bit(status, 63)).toBe(1);
    expect(word64Bit(status, 62)).toBe(1);
    expect(word64Bit(status, 61)).toBe(0);
  });

  it('formats without padding and with lowercase digits', () => {
    expect(word64Hex(word64(0, 0))).toBe('0x0');
    expect(word64Hex(word64(0xabc, 0))).toBe('0xabc');
    expect(word64Hex(word64(0x1, 0x1))).toBe('0x100000001');
    expect(word64Hex(word64(-1, -1))).toBe('0xffffffffffffffff');
  });

  it('refuses out-of-range values', () => {
    expect(() => word64FromBigInt(1n << 64n)).toThrow(RangeError);
    expect(() => word64FromBigInt(-1n)).toThrow(RangeError);
    expect(() => word64FromNumber(2 ** 53)).toThrow(RangeError);
    expect(() => word64FromNumber(-1)).toThrow(RangeError);
    expect(() => word64ToNumber(word64(0, 2 ** 21))).toThrow(RangeError);
    expect(() => word64BitMask(64)).toThrow(RangeError);
    expect(() => word64Field(word64(0, 0), 63, 0)).toThrow(RangeError);
  });

  it('round-trips bigint and number (laws)', () => {
    fc.assert(fc.property(u64, (v) => word64ToBigInt(word64FromBigInt(v)) === v));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (n) => {
        return word64ToNumber(word64FromNumber(n)) === n;
      }),
    );
    fc.assert(fc.property(u64, (v) => BigInt(word64Hex(word64FromBigInt(v))) === v));
  });

  it('extracts bits and fields like bigint shifts (model vs reference)', () => {
    fc.assert(
      fc.property(u64, fc.integer({ min: 0, max: 63 }), (v, b) => {
        return word64Bit(word64FromBigInt(v), b) === Number((v >> BigInt(b)) & 1n);
      }),
    );
    fc.assert(
      fc.property(
        u64,
        fc.integer({ min: 0, max: 63 }),
        fc.integer({ min: 1, max: 53 }),
        (v, lo, width) => {
          const hi = Math.min(63, lo + width - 1);
          const w = hi - lo + 1;
          const expected = Number((v >> BigInt(lo)) & ((1n << BigInt(w)) - 1n));
          return word64Field(word64FromBigInt(v), hi, lo) === expected;
        },
      ),
    );
  });

  it('combines like bigint bit operations (model vs reference)', () => {
    fc.assert(
      fc.property(u64, u64, (a, b) => {
        const wa = word64FromBigInt(a);
        const wb = word64FromBigInt(b);
        return (
          word64ToBigInt(word64Or(wa, wb)) === (a | b) &&
          word64ToBigInt(word64And(wa, wb)) === (a & b) &&
          word64ToBigInt(word64AndNot(wa, wb)) === (a & ~b & ((1n << 64n) - 1n)) &&
          word64Equals(wa, wb) === (a === b)
        );
      }),
    );
    expect(word64ToBigInt(word64BitMask(63))).toBe(1n << 63n);
    expect(word64ToBigInt(word64BitMask(0))).toBe(1n);
  });
});
