import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  coverWithBlocks,
  gfnRange,
  rangeContains,
  rangeGfns,
  rangeIntersect,
  rangeIsEmpty,
  rangeLength,
  splitAtHugeBoundaries,
} from './gfn-range.js';
import { pagesPerHpage } from './levels.js';

describe('GFN ranges', () => {
  it('are half-open and checked', () => {
    const r = gfnRange(0x1ff, 0x201);
    expect(rangeLength(r)).toBe(2);
    expect(rangeContains(r, 0x200)).toBe(true);
    expect(rangeContains(r, 0x201)).toBe(false);
    expect([...rangeGfns(r)]).toEqual([0x1ff, 0x200]);
    expect(rangeIsEmpty(gfnRange(5, 5))).toBe(true);
    expect(() => gfnRange(5, 4)).toThrow(RangeError);
    expect(() => gfnRange(0, 2 ** 40 + 1)).toThrow(RangeError);
    expect(gfnRange(0, 2 ** 40).end).toBe(2 ** 40);
  });

  it('intersect', () => {
    expect(rangeIntersect(gfnRange(0, 10), gfnRange(5, 20))).toEqual({ start: 5, end: 10 });
    expect(rangeIntersect(gfnRange(0, 10), gfnRange(10, 20))).toBeUndefined();
  });

  it('split at 2M boundaries', () => {
    expect(splitAtHugeBoundaries(gfnRange(0x1ff, 0x401), 2)).toEqual([
      { start: 0x1ff, end: 0x200 },
      { start: 0x200, end: 0x400 },
      { start: 0x400, end: 0x401 },
    ]);
  });

  it('cover with the fewest aligned blocks', () => {
    expect(coverWithBlocks(gfnRange(0x1ff, 0x401), 3)).toEqual([
      { start: 0x1ff, level: 1 },
      { start: 0x200, level: 2 },
      { start: 0x400, level: 1 },
    ]);
    expect(coverWithBlocks(gfnRange(0, 0x40000), 3)).toEqual([{ start: 0, level: 3 }]);
    expect(coverWithBlocks(gfnRange(0, 0x40000), 2)).toHaveLength(512);
  });

  it('pieces tile the range and stay inside one huge block (law)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 - 1 }),
        fc.integer({ min: 0, max: 5000 }),
        fc.constantFrom(1 as const, 2 as const, 3 as const),
        (start, len, level) => {
          const end = Math.min(start + len, 2 ** 40);
          const r = gfnRange(start, end);
          const span = pagesPerHpage(level);
          const pieces = splitAtHugeBoundaries(r, level);
          let at = start;
          for (const p of pieces) {
            if (p.start !== at || p.end <= p.start) return false;
            if (Math.floor(p.start / span) !== Math.floor((p.end - 1) / span)) return false;
            at = p.end;
          }
          const blocks = coverWithBlocks(r, level);
          let b = start;
          for (const blk of blocks) {
            const s = pagesPerHpage(blk.level);
            if (blk.start !== b || blk.start % s !== 0) return false;
            b += s;
          }
          return at === end && b === end;
        },
      ),
    );
  });
});
