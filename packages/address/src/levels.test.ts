import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  gfnIndex,
  hpageGfnShift,
  isPgLevel,
  levelName,
  levelShift,
  levelSize,
  type PgLevel,
  pagesPerHpage,
  pgLevel,
  spteIndex,
} from './levels.js';

const LEVELS: PgLevel[] = [1, 2, 3, 4, 5];

describe('page levels (SPTE_LEVEL_SHIFT, KVM_PAGES_PER_HPAGE)', () => {
  it('matches the kernel table', () => {
    expect(LEVELS.map(levelShift)).toEqual([12, 21, 30, 39, 48]);
    expect(LEVELS.map(hpageGfnShift)).toEqual([0, 9, 18, 27, 36]);
    expect(LEVELS.map(pagesPerHpage)).toEqual([1, 512, 262144, 134217728, 68719476736]);
    expect(levelSize(2)).toBe(2 * 1024 * 1024);
    expect(levelSize(3)).toBe(1024 ** 3);
    expect(LEVELS.map(levelName)).toEqual(['4K', '2M', '1G', '512G', '256T']);
  });

  it('checks levels', () => {
    expect(isPgLevel(0)).toBe(false);
    expect(isPgLevel(6)).toBe(false);
    expect(isPgLevel('1')).toBe(false);
    expect(() => pgLevel(0)).toThrow(RangeError);
    expect(pgLevel(5)).toBe(5);
  });

  it('indexes edge addresses exactly, above 2^32 included', () => {
    expect(spteIndex(0x800000001000, 4)).toBe(256); // TDX shared bit 47 is the top PML4 bit
    expect(spteIndex(0x800000001000, 1)).toBe(1);
    expect(spteIndex(2 ** 52 - 1, 5)).toBe(15); // bits 51:48 of a 5-level walk
    expect(spteIndex(2 ** 52 - 1, 4)).toBe(511);
    expect(spteIndex(2 ** 48 - 1, 5)).toBe(0);
    expect(spteIndex(2 ** 51, 5)).toBe(8);
    expect(spteIndex(0x1fffff, 2)).toBe(0);
    expect(spteIndex(0x200000, 2)).toBe(1);
  });

  it('indices recompose the address (law)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 52 - 1 }), (addr) => {
        let gfnRebuilt = 0;
        for (const level of LEVELS)
          gfnRebuilt += spteIndex(addr, level) * 2 ** hpageGfnShift(level);
        const offset = addr - Math.floor(addr / 4096) * 4096;
        return gfnRebuilt * 4096 + offset === addr;
      }),
    );
  });

  it('gfnIndex agrees with spteIndex of gfn << 12 (law)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 - 1 }), fc.constantFrom(...LEVELS), (g, l) => {
        return gfnIndex(g, l) === spteIndex(g * 4096, l);
      }),
    );
  });
});
