// 64-bit words (EPT entries, TDX status codes, SEAMCALL registers) as two uint32 halves.
//
// Why halves: a double holds integers exactly only below 2^53, and entries and statuses use
// bits 52..63 (SUPPRESS_VE at 63, FROZEN_SPTE, the status class bits 63:61). BigInt in the
// walk path costs 15–50× (performance.md B.2, B.6), so the paging engine stores entries as
// lo/hi words in Int32Arrays and works on them with int32 operations. This module is the
// edge: building, splitting, parsing and printing such words. BigInt appears only here, in
// the conversions, never in a function the hot path calls.

/** A 64-bit word as two unsigned 32-bit halves. */
export interface Word64 {
  /** Bits 31:0, as an unsigned integer. */
  readonly lo: number;
  /** Bits 63:32, as an unsigned integer. */
  readonly hi: number;
}

export const WORD64_ZERO: Word64 = Object.freeze({ lo: 0, hi: 0 });
const TWO32 = 2 ** 32;

/** Build a word from two halves (each taken modulo 2^32, as unsigned). */
export function word64(lo: number, hi: number): Word64 {
  return { lo: lo >>> 0, hi: hi >>> 0 };
}

/** A word from a non-negative safe integer (< 2^53). Throws RangeError otherwise. */
export function word64FromNumber(value: number): Word64 {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`not a non-negative safe integer: ${value}`);
  }
  const hi = Math.floor(value / TWO32);
  return { lo: (value - hi * TWO32) >>> 0, hi };
}

/** The word's value as a number; throws RangeError when it does not fit 53 bits. */
export function word64ToNumber(w: Word64): number {
  if (w.hi >= 2 ** 21) throw new RangeError(`word ${word64Hex(w)} does not fit in 53 bits`);
  return w.hi * TWO32 + w.lo;
}

/** A word from a bigint in [0, 2^64). Throws RangeError otherwise. */
export function word64FromBigInt(value: bigint): Word64 {
  if (value < 0n || value >= 1n << 64n) {
    throw new RangeError(`not a 64-bit unsigned value: ${value}`);
  }
  return { lo: Number(value & 0xffffffffn), hi: Number(value >> 32n) };
}

/** The word as a bigint (display, golden tests, serialisation). */
export function word64ToBigInt(w: Word64): bigint {
  return (BigInt(w.hi >>> 0) << 32n) | BigInt(w.lo >>> 0);
}

/** Lowercase `0x…` hex without leading zeros (`0x0` for zero). */
export function word64Hex(w: Word64): string {
  const hi = w.hi >>> 0;
  const lo = w.lo >>> 0;
  if (hi === 0) return `0x${lo.toString(16)}`;
  return `0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')}`;
}

/** Bit `bit` (0..63) of the word, as 0 or 1. */
export function word64Bit(w: Word64, bit: number): 0 | 1 {
  const v = bit < 32 ? w.lo >>> bit : w.hi >>> (bit - 32);
  return (v & 1) as 0 | 1;
}

/**
 * Bits hiBit..loBit (inclusive, at most 32 wide and not crossing bit 32 unless the result
 * fits in 53 bits) as an unsigned number.
 */
export function word64Field(w: Word64, hiBit: number, loBit: number): number {
  const width = hiBit - loBit + 1;
  if (width < 1 || width > 53 || loBit < 0 || hiBit > 63) {
    throw new RangeError(`bad bit field ${hiBit}:${loBit}`);
  }
  const lo = w.lo >>> 0;
  const hi = w.hi >>> 0;
  let value: number;
  if (loBit >= 32) value = mod2(hi >>> (loBit - 32), width);
  else if (hiBit < 32) value = mod2(lo >>> loBit, width);
  else value = mod2(hi, hiBit - 31) * 2 ** (32 - loBit) + (lo >>> loBit);
  return value;
}

/** value mod 2^bits, exact on doubles (no `%`, no int32 overflow). */
function mod2(value: number, bits: number): number {
  const m = 2 ** bits;
  return value - Math.floor(value / m) * m;
}

export function word64Or(a: Word64, b: Word64): Word64 {
  return { lo: (a.lo | b.lo) >>> 0, hi: (a.hi | b.hi) >>> 0 };
}
export function word64And(a: Word64, b: Word64): Word64 {
  return { lo: (a.lo & b.lo) >>> 0, hi: (a.hi & b.hi) >>> 0 };
}
export function word64AndNot(a: Word64, b: Word64): Word64 {
  return { lo: (a.lo & ~b.lo) >>> 0, hi: (a.hi & ~b.hi) >>> 0 };
}
export function word64Equals(a: Word64, b: Word64): boolean {
  return a.lo >>> 0 === b.lo >>> 0 && a.hi >>> 0 === b.hi >>> 0;
}
/** The word with only bit `bit` (0..63) set. */
export function word64BitMask(bit: number): Word64 {
  if (!Number.isInteger(bit) || bit < 0 || bit > 63) throw new RangeError(`bad bit ${bit}`);
  return bit < 32 ? { lo: 2 ** bit, hi: 0 } : { lo: 0, hi: 2 ** (bit - 32) };
}
