import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FramePool } from './frame-pool.js';
import { PagingTree } from './paging-tree.js';
import { makeSpte } from './spte.js';
import { TdpIter } from './tdp-iter.js';

describe('TdpIter on a direct root (gfn_bits)', () => {
  it('indexes with gfn | gfn_bits but reports alias-free GFNs', () => {
    const shared = 2 ** 35;
    const tree = new PagingTree(new FramePool(), { gfnBits: shared });
    const s = makeSpte(0x77);
    tree.map(0x1234, 1, s.lo, s.hi);
    const it = new TdpIter(tree);
    const seen: string[] = [];
    for (it.start(1, 0x1000, 0x2000); it.ok(); it.next()) {
      if (it.lo & 0x800) seen.push(`${it.level}:${it.gfn.toString(16)}:${it.index}`);
    }
    // The PML4 entry is index 256 (bit 47 of the GPA), yet its GFN is 0.
    expect(seen).toEqual(['4:0:256', '3:0:0', '2:1200:9', '1:1234:52']);
    // The whole-root walk passes gfn_bits 0: the same entries appear at aliased GFNs.
    const all: string[] = [];
    for (it.startAll(1); it.ok(); it.next()) {
      if (it.lo & 0x800) all.push(`${it.level}:${it.gfn.toString(16)}`);
    }
    expect(all).toEqual(['4:800000000', '3:800000000', '2:800001200', '1:800001234']);
  });

  it('visits every entry of the range exactly once at minimum level 4K', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 2 ** 21 - 1 }), { maxLength: 40 }),
        fc.integer({ min: 0, max: 2 ** 21 }),
        fc.integer({ min: 1, max: 2 ** 12 }),
        (gfns, start, len) => {
          const tree = new PagingTree(new FramePool());
          for (const g of gfns) {
            const s = makeSpte(g + 1);
            tree.map(g, 1, s.lo, s.hi);
          }
          const it = new TdpIter(tree);
          const leaves: number[] = [];
          let prev = -1;
          for (it.start(1, start, start + len); it.ok(); it.next()) {
            if (it.level === 1) {
              expect(it.gfn).toBeGreaterThan(prev); // pre-order: ascending at the leaf level
              prev = it.gfn;
              if (it.lo & 0x800) leaves.push(it.gfn);
            }
          }
          const want = gfns.filter((g) => g >= start && g < start + len).sort((a, b) => a - b);
          expect(leaves).toEqual(want);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('cmpxchg through the iterator refreshes old_spte on failure', () => {
    const tree = new PagingTree(new FramePool());
    const s = makeSpte(9);
    tree.map(3, 1, s.lo, s.hi);
    const it = new TdpIter(tree).start(1, 3, 4);
    while (it.level !== 1) it.next();
    const stale = { lo: it.lo, hi: it.hi };
    tree.zapLeafs(3, 4);
    expect(it.cmpxchg(0x5a0, 0x80000000 | 0)).toBeLessThan(0);
    expect([it.lo, it.hi]).not.toEqual([stale.lo, stale.hi]);
    expect(it.cmpxchg(0x5a0, 0x80000000 | 0)).toBe(0);
  });
});
