import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { alignDown, alignUp, isAligned } from './align.js';

describe('alignment', () => {
  it('works above 2^32 where & would truncate', () => {
    expect(alignDown(2 ** 47 + 0x1fffff, 0x200000)).toBe(2 ** 47);
    expect(alignUp(2 ** 47 + 1, 0x200000)).toBe(2 ** 47 + 0x200000);
    expect(isAligned(2 ** 51, 2 ** 30)).toBe(true);
    expect(isAligned(2 ** 52 - 4096, 4096)).toBe(true);
    expect(isAligned(2 ** 52 - 4096, 8192)).toBe(false);
    expect(alignUp(0, 4096)).toBe(0);
  });

  it('refuses alignments that are not powers of two', () => {
    expect(() => alignDown(10, 3)).toThrow(RangeError);
    expect(() => alignUp(10, 0)).toThrow(RangeError);
    expect(() => isAligned(10, -2)).toThrow(RangeError);
  });

  it('is idempotent and brackets the value (laws)', () => {
    const pow = fc.integer({ min: 0, max: 40 }).map((k) => 2 ** k);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 52 }), pow, (v, a) => {
        const d = alignDown(v, a);
        const u = alignUp(v, a);
        return (
          alignDown(d, a) === d &&
          alignUp(u, a) === u &&
          isAligned(d, a) &&
          isAligned(u, a) &&
          d <= v &&
          v <= u &&
          u - d < 2 * a &&
          (isAligned(v, a) ? d === v && u === v : u - d === a)
        );
      }),
    );
  });
});
