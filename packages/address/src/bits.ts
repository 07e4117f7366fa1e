// Single-bit masks on numbers above 2^32, branch-free. `&`/`|` truncate to 32 bits, so a bit
// at position ≥ 32 is tested with a division (performance.md B.3: never branch on random
// address bits, never use `%`). A mask of 0 is accepted and means "no bit": division by 0
// gives Infinity, whose ToInt32 is 0.

/** True when `mask` is 0 or a single power-of-two bit below 2^53. */
export function isSingleBitMask(mask: number): boolean {
  if (mask === 0) return true;
  if (!Number.isSafeInteger(mask) || mask < 0) return false;
  // Math.log2 is inexact (2 ** Math.log2(3) === 3), so test the 32-bit halves instead: exactly
  // one of them is non-zero, and that one has a single bit (x & (x - 1) is exact on ToInt32).
  const hi = Math.floor(mask / 2 ** 32);
  const lo = mask >>> 0;
  return hi === 0 ? (lo & (lo - 1)) === 0 : lo === 0 && (hi & (hi - 1)) === 0;
}

/** 1 if `value` has the bit of the single-bit `mask` set, else 0 (0 for mask 0). */
export function testBit(value: number, mask: number): 0 | 1 {
  return (Math.floor(value / mask) & 1) as 0 | 1;
}

/** `value | mask` for a single-bit mask. */
export function setBit(value: number, mask: number): number {
  return value + (1 - testBit(value, mask)) * mask;
}

/** `value & ~mask` for a single-bit mask. */
export function clearBit(value: number, mask: number): number {
  return value - testBit(value, mask) * mask;
}
