import { type PgLevel, pagesPerHpage, word64Hex } from '@kvmx/address';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameOwner } from './frame-owner.js';
import { FramePool } from './frame-pool.js';
import { PagingTree, WalkPath } from './paging-tree.js';
import { makeHugeSpte, makeNonleafSpte, makeSmallSpte, makeSpte, spteToPfn } from './spte.js';
import { FROZEN_SPTE_HI, FROZEN_SPTE_LO, SHADOW_NONPRESENT_VALUE_HI } from './spte-bits.js';
import { EBUSY, EEXIST, EINVAL, ENOENT, ENOMEM, PAGING_OK } from './status.js';
import { TdpIter } from './tdp-iter.js';
import { printTree, treeToData } from './tree-view.js';

const leaf = (pfn: number, level: PgLevel = 1) => makeSpte(pfn, { level });

describe('PagingTree basics', () => {
  it('maps a 4K leaf, allocating PML4 → PDPT → PD → PT, and walks it', () => {
    const pool = new FramePool();
    const tree = new PagingTree(pool);
    const s = leaf(0xabcde);
    expect(tree.map(0x12345, 1, s.lo, s.hi)).toBe(PAGING_OK);
    expect(tree.lookup(0x12345)).toBe(1);
    expect(spteToPfn(tree.foundLo, tree.foundHi)).toBe(0xabcde);
    expect(tree.lookup(0x12346)).toBe(0);
    const path = new WalkPath();
    expect(tree.walk(0x12345, path)).toBe(1);
    expect(path.leaf).toBe(true);
    expect(path.table[4]).toBe(tree.root);
    // each non-leaf is make_nonleaf_spte() of the next table
    for (const l of [4, 3, 2]) {
      const nl = makeNonleafSpte(path.table[l - 1] as number);
      expect([path.lo[l], path.hi[l]]).toEqual([nl.lo | 0, nl.hi | 0]);
    }
    expect(path.index[1]).toBe(0x12345 & 511);
    expect(tree.stats()).toMatchObject({ tables: [0, 1, 1, 1, 1, 0], leaves: [0, 1, 0, 0, 0, 0] });
    expect(tree.stats().bytesUsed).toBe(4 * 4096);
    expect(pool.countOwnedBy(FrameOwner.KVM_PAGE_TABLE)).toBe(4);
  });

  it('new tables are filled with SHADOW_NONPRESENT_VALUE', () => {
    const pool = new FramePool();
    const tree = new PagingTree(pool);
    for (let i = 0; i < 512; i++) {
      expect(tree.readHi(tree.root, i)).toBe(SHADOW_NONPRESENT_VALUE_HI);
      expect(tree.readLo(tree.root, i)).toBe(0);
    }
  });

  it('rejects bad GFNs, levels and alignment with -EINVAL', () => {
    const tree = new PagingTree(new FramePool());
    const s = leaf(1);
    expect(tree.map(2 ** 36, 1, s.lo, s.hi)).toBe(-EINVAL);
    expect(tree.map(-1, 1, s.lo, s.hi)).toBe(-EINVAL);
    expect(tree.map(0.5, 1, s.lo, s.hi)).toBe(-EINVAL);
    expect(tree.map(1, 2, s.lo, s.hi)).toBe(-EINVAL);
    expect(tree.map(0, 4, s.lo, s.hi)).toBe(-EINVAL);
    expect(tree.lookup(2 ** 36)).toBe(0);
    expect(tree.lookup(0.5)).toBe(0);
  });

  it('indexes GFNs up to 2^40 - 1 in a 5-level tree', () => {
    const pool = new FramePool();
    const tree = new PagingTree(pool, { rootLevel: 5 });
    const top = 2 ** 40 - 1;
    const s = leaf(0x777);
    expect(tree.map(top, 1, s.lo, s.hi)).toBe(PAGING_OK);
    expect(tree.map(2 ** 36, 1, s.lo, s.hi)).toBe(PAGING_OK);
    const path = new WalkPath();
    tree.walk(top, path);
    expect(Array.from(path.index.slice(1))).toEqual([511, 511, 511, 511, 15]);
    expect(tree.lookup(top)).toBe(1);
    expect(tree.lookup(top - 1)).toBe(0);
    expect(tree.lookup(2 ** 36)).toBe(1);
  });

  it('returns -ENOMEM when the pool has no frame for a table', () => {
    const pool = new FramePool({ maxFrames: 3 });
    const tree = new PagingTree(pool);
    const s = leaf(1);
    expect(tree.map(0, 1, s.lo, s.hi)).toBe(-ENOMEM);
    expect(tree.stats().tables).toEqual([0, 0, 1, 1, 1, 0]);
    expect(tree.map(0, 2, s.lo, s.hi)).toBe(PAGING_OK); // a 2M leaf needs no PT
  });

  it('direct root: gfn_bits are ORed in only when indexing', () => {
    const pool = new FramePool();
    const sharedBitGfn = 2 ** 35; // TDX GPAW 48: GPA bit 47
    const direct = new PagingTree(pool, { gfnBits: sharedBitGfn, name: 'direct' });
    const events: string[] = [];
    direct.onChange = (_t, gfn, level) => events.push(`${level}:${gfn.toString(16)}`);
    const s = leaf(0x99);
    expect(direct.map(0x10, 1, s.lo, s.hi)).toBe(PAGING_OK);
    const path = new WalkPath();
    direct.walk(0x10, path);
    expect(path.index[4]).toBe(256); // bit 47 is the top PML4 index bit
    // hooks and listeners always get alias-free GFNs
    expect(events).toEqual(['4:0', '3:0', '2:0', '1:10']);
    expect(direct.lookup(0x10)).toBe(1);
    expect(direct.zapLeafs(0, 0x100)).toBe(1);
    expect(events.at(-1)).toBe('1:10');
  });

  it('zapLeafs keeps tables unless asked, and frees them bottom-up when asked', () => {
    const pool = new FramePool();
    const tree = new PagingTree(pool);
    for (let g = 0; g < 1024; g += 3) {
      const s = leaf(g + 1);
      tree.map(g, 1, s.lo, s.hi);
    }
    const s2 = leaf(0x40000, 2);
    tree.map(2 ** 18, 2, s2.lo, s2.hi);
    expect(tree.zapLeafs(0, 512)).toBe(171);
    expect(tree.stats().tables[1]).toBe(2);
    expect(tree.zapLeafs(0, 2 ** 36, true)).toBe(171 + 1);
    expect(tree.stats().tableCount).toBe(1);
    expect(pool.countOwnedBy(FrameOwner.KVM_PAGE_TABLE)).toBe(1);
  });

  it('zapRoot tears down through the write path: children reported FROZEN, frames freed', () => {
    const pool = new FramePool();
    const tree = new PagingTree(pool);
    const s = leaf(5);
    tree.map(7, 1, s.lo, s.hi);
    const seen: string[] = [];
    const removed: number[] = [];
    tree.onChange = (_t, gfn, level, _ol, _oh, nl, nh) =>
      seen.push(`${level}:${gfn}:${word64Hex({ lo: nl >>> 0, hi: nh >>> 0 })}`);
    tree.onTableRemoved = (_t, _pfn, _gfn, level, freed) => {
      expect(freed).toBe(true);
      removed.push(level);
    };
    tree.zapRoot();
    expect(seen).toEqual([
      '4:0:0x8000000000000000',
      '3:0:0x80000000000005a0',
      '2:0:0x80000000000005a0',
      '1:7:0x80000000000005a0',
    ]);
    expect(removed).toEqual([1, 2, 3]);
    expect(pool.countOwnedBy(FrameOwner.KVM_PAGE_TABLE)).toBe(1);
    expect(tree.stats().leaves[1]).toBe(0);
    tree.destroy();
    expect(pool.allocated).toBe(0);
  });

  it('map of a 4K page under a 2M leaf zaps the leaf and links a new table', () => {
    const pool = new FramePool();
    const tree = new PagingTree(pool);
    const huge = leaf(0x1000, 2);
    tree.map(0x200, 2, huge.lo, huge.hi);
    const seen: string[] = [];
    tree.onChange = (_t, gfn, level, ol, _oh, nl) =>
      seen.push(`${level}:${gfn}:${ol & 0x880}>${nl & 0x880}`);
    const s = leaf(9);
    expect(tree.map(0x201, 1, s.lo, s.hi)).toBe(PAGING_OK);
    expect(seen).toEqual(['2:512:2176>0', '2:512:0>2048', '1:513:0>2048']);
    expect(tree.lookup(0x200)).toBe(0);
    expect(tree.stats().leaves).toEqual([0, 1, 0, 0, 0, 0]);
  });

  it('split and merge round-trip a 1G leaf down to 4K and back', () => {
    const pool = new FramePool();
    const tree = new PagingTree(pool);
    const g = 3 * 2 ** 18;
    const huge = leaf(0x80000 * 3, 3);
    tree.map(g, 3, huge.lo, huge.hi);
    expect(tree.splitHuge(g, 3)).toBe(PAGING_OK);
    expect(tree.stats().leaves).toEqual([0, 0, 512, 0, 0, 0]);
    expect(tree.splitHuge(g + 5 * 512, 2)).toBe(PAGING_OK);
    expect(tree.lookup(g + 5 * 512 + 7)).toBe(1);
    expect(spteToPfn(tree.foundLo, tree.foundHi)).toBe(0x80000 * 3 + 5 * 512 + 7);
    expect(tree.stats().leaves).toEqual([0, 512, 511, 0, 0, 0]);
    expect(tree.mergeHuge(g, 3)).toBe(-EINVAL); // one child is still a table
    expect(tree.mergeHuge(g + 5 * 512, 2)).toBe(PAGING_OK);
    expect(tree.mergeHuge(g, 3)).toBe(PAGING_OK);
    expect(tree.entryAt(g, 3)).toBe(PAGING_OK);
    expect([tree.foundLo, tree.foundHi]).toEqual([huge.lo | 0, huge.hi | 0]);
    expect(tree.stats().tableCount).toBe(2); // PML4 + PDPT: the 1G leaf lives in the PDPT
    expect(pool.countOwnedBy(FrameOwner.KVM_PAGE_TABLE)).toBe(2);
    expect(tree.splitHuge(g + 2 ** 18, 3)).toBe(-ENOENT);
  });

  it('merge refuses non-contiguous or unaligned children', () => {
    const tree = new PagingTree(new FramePool());
    for (let i = 0; i < 512; i++) {
      const s = leaf(0x1000 + (i === 100 ? 5000 : i));
      tree.map(512 + i, 1, s.lo, s.hi);
    }
    expect(tree.mergeHuge(512, 2)).toBe(-EINVAL);
    const tree2 = new PagingTree(new FramePool());
    for (let i = 0; i < 512; i++) {
      const s = leaf(0x1001 + i);
      tree2.map(512 + i, 1, s.lo, s.hi);
    }
    expect(tree2.mergeHuge(512, 2)).toBe(-EINVAL);
  });

  it('cmpxchg fails on FROZEN and on a changed entry; writes go through the listener', () => {
    const tree = new PagingTree(new FramePool());
    const s = leaf(1);
    tree.map(0, 1, s.lo, s.hi);
    tree.entryAt(0, 1);
    const t = tree.foundTable;
    let n = 0;
    tree.onChange = () => n++;
    expect(tree.cmpxchgEntry(t, 0, 0, 1, s.lo, s.hi, FROZEN_SPTE_LO, FROZEN_SPTE_HI)).toBe(
      PAGING_OK,
    );
    expect(tree.cmpxchgEntry(t, 0, 0, 1, FROZEN_SPTE_LO, FROZEN_SPTE_HI, 0, 0)).toBe(-EBUSY);
    expect(tree.map(0, 1, s.lo, s.hi)).toBe(-EBUSY); // RET_PF_RETRY
    expect(tree.writeEntry(t, 0, 0, 1, s.lo, s.hi)).toBe(PAGING_OK);
    expect(tree.cmpxchgEntry(t, 0, 0, 1, s.lo ^ 1, s.hi, 0, 0)).toBe(-EBUSY);
    expect([tree.foundLo, tree.foundHi]).toEqual([s.lo | 0, s.hi | 0]);
    expect(n).toBe(2);
  });

  it('serves an S-EPT: software-state predicates, donated tables, raw entry access', () => {
    // A toy encoding in the module's style: bit 56 "pending", RWX=7 for a non-leaf,
    // bit 11 unused (it is the module's entry lock, not a present bit).
    const FREE_HI = 0x80000000 | 0;
    const isTable = (lo: number, hi: number) => (lo & 0x87) === 0x7 && (hi & (1 << 24)) === 0;
    const isLeaf = (lo: number, hi: number, level: number) =>
      (hi & (1 << 24)) !== 0 || ((lo & 0x7) !== 0 && (level === 1 || (lo & 0x80) !== 0));
    const pool = new FramePool();
    const rootPfn = pool.allocFilled(FrameOwner.TDX_SEPT, 0, FREE_HI);
    const sept = new PagingTree(pool, {
      name: 'sept',
      rootPfn,
      tableOwner: FrameOwner.TDX_SEPT,
      emptyLo: 0,
      emptyHi: FREE_HI,
      nonleafLo: 0x7,
      nonleafHi: FREE_HI,
      isTable,
      isLeaf,
      freeTables: false,
    });
    const gfn = 0x1234;
    for (const level of [3, 2, 1] as const) {
      const page = pool.allocFilled(FrameOwner.TDX_SEPT, 0, FREE_HI);
      expect(sept.linkTable(gfn, level, page)).toBe(PAGING_OK);
      expect(sept.linkTable(gfn, level, page)).toBe(-EEXIST);
    }
    // PAGE.AUG-style raw write of a PENDING leaf at (gfn, 4K)
    expect(sept.writeAt(gfn, 1, (0x5000 << 12) | 0x7, FREE_HI | (1 << 24))).toBe(PAGING_OK);
    expect(sept.lookup(gfn)).toBe(1);
    expect(sept.stats().leaves[1]).toBe(1);
    // a walk with the caller's predicate stops at a "blocked" non-leaf (RWX cleared)
    sept.entryAt(gfn, 2);
    expect(
      sept.writeEntry(sept.foundTable, sept.foundIndex, 0x1200, 2, sept.foundLo & ~7, sept.foundHi),
    ).toBe(PAGING_OK);
    const path = new WalkPath();
    expect(sept.walk(gfn, path)).toBe(2);
    expect(path.leaf).toBe(false);
    // tables are the host's pages: unlinking does not free them
    expect(pool.countOwnedBy(FrameOwner.TDX_SEPT)).toBe(4);
    expect(sept.stats().tables).toEqual([0, 0, 1, 1, 1, 0]);
    expect(sept.linkTable(0x40000000, 1, pool.alloc(FrameOwner.HOST))).toBe(-ENOENT);
  });

  it('linkTable counts the leaves a linked frame holds: scanned, recognised empty, or hinted', () => {
    // Same toy S-EPT encoding as above; tables of 4K entries linked under a 2M region.
    const FREE_HI = 0x80000000 | 0;
    const isTable = (lo: number, hi: number) => (lo & 0x87) === 0x7 && (hi & (1 << 24)) === 0;
    const isLeaf = (lo: number, hi: number, level: number) =>
      (hi & (1 << 24)) !== 0 || ((lo & 0x7) !== 0 && (level === 1 || (lo & 0x80) !== 0));
    const build = () => {
      const pool = new FramePool();
      const sept = new PagingTree(pool, {
        rootPfn: pool.allocFilled(FrameOwner.TDX_SEPT, 0, FREE_HI),
        tableOwner: FrameOwner.TDX_SEPT,
        emptyLo: 0,
        emptyHi: FREE_HI,
        nonleafLo: 0x7,
        nonleafHi: FREE_HI,
        isTable,
        isLeaf,
        freeTables: false,
      });
      for (const level of [3, 2] as const) {
        expect(sept.linkTable(0, level, pool.allocFilled(FrameOwner.TDX_SEPT, 0, FREE_HI))).toBe(
          PAGING_OK,
        );
      }
      return { pool, sept };
    };
    // A fresh (all FREE) table: no hint, hint 0 — no leaves either way.
    for (const hint of [undefined, 0]) {
      const { pool, sept } = build();
      const page = pool.allocFilled(FrameOwner.TDX_SEPT, 0, FREE_HI);
      expect(sept.linkTable(0, 1, page, undefined, undefined, hint)).toBe(PAGING_OK);
      expect(sept.stats().leaves).toEqual([0, 0, 0, 0, 0, 0]);
      expect(sept.stats().tables).toEqual([0, 1, 1, 1, 1, 0]);
    }
    // A frame that already holds leaves (at entries 0, 300 and 511): found by the scan, also
    // when the run of empty entries at the start is long; the hint is trusted as given.
    for (const hint of [undefined, 3]) {
      const { pool, sept } = build();
      const page = pool.allocFilled(FrameOwner.TDX_SEPT, 0, FREE_HI);
      for (const i of [0, 300, 511]) pool.writeWord64(page, i, (0x7000 << 12) | 7, FREE_HI);
      expect(sept.linkTable(0, 1, page, undefined, undefined, hint)).toBe(PAGING_OK);
      expect(sept.stats().leaves[1]).toBe(3);
      expect(sept.lookup(300)).toBe(1);
    }
    {
      const { pool, sept } = build();
      const page = pool.allocFilled(FrameOwner.TDX_SEPT, 0, FREE_HI);
      pool.writeWord64(page, 511, (0x7000 << 12) | 7, FREE_HI);
      expect(sept.linkTable(0, 1, page)).toBe(PAGING_OK);
      expect(sept.stats().leaves[1]).toBe(1);
    }
    // A bad hint is refused.
    const { pool, sept } = build();
    const page = pool.allocFilled(FrameOwner.TDX_SEPT, 0, FREE_HI);
    for (const bad of [-1, 513, 0.5]) {
      expect(sept.linkTable(0, 1, page, undefined, undefined, bad)).toBe(-EINVAL);
    }
  });
});

describe('TdpIter (tdp_iter.c)', () => {
  it('visits entries pre-order from the root down to the minimum level over a range', () => {
    const tree = new PagingTree(new FramePool());
    const a = leaf(1);
    tree.map(0x201, 1, a.lo, a.hi);
    const b = leaf(0x400, 2);
    tree.map(0x400, 2, b.lo, b.hi);
    const it = new TdpIter(tree);
    const seen: string[] = [];
    for (it.start(1, 0x200, 0x603); it.ok(); it.next()) {
      if (it.lo & 0x800) seen.push(`${it.level}:${it.gfn.toString(16)}`);
    }
    expect(seen).toEqual(['4:0', '3:0', '2:200', '1:201', '2:400']);
    const upper: string[] = [];
    for (it.start(2, 0, 0x800); it.ok(); it.next()) {
      if (it.lo & 0x800) upper.push(`${it.level}:${it.gfn.toString(16)}`);
    }
    expect(upper).toEqual(['4:0', '3:0', '2:200', '2:400']);
  });

  it('set() zaps through the write path; the walk does not step into a zapped table', () => {
    const pool = new FramePool();
    const tree = new PagingTree(pool);
    for (let g = 0; g < 2048; g += 100) {
      const s = leaf(g);
      tree.map(g, 1, s.lo, s.hi);
    }
    const it = new TdpIter(tree);
    let zapped = 0;
    for (it.startAll(2); it.ok(); it.next()) {
      if (it.level === 2 && it.lo & 0x800) {
        it.set(0, SHADOW_NONPRESENT_VALUE_HI);
        zapped++;
      }
    }
    expect(zapped).toBe(4);
    expect(tree.stats().leaves[1]).toBe(0);
    expect(tree.stats().tables[1]).toBe(0);
    expect(pool.countOwnedBy(FrameOwner.KVM_PAGE_TABLE)).toBe(3);
  });

  it('restarts from the root after a yield', () => {
    const tree = new PagingTree(new FramePool());
    const s = leaf(1);
    tree.map(5, 1, s.lo, s.hi);
    const it = new TdpIter(tree).start(1, 0, 16);
    while (it.level !== 1) it.next();
    it.yield();
    it.next();
    expect(it.level).toBe(4);
    expect(it.gfn).toBe(0);
  });
});

describe('tree views', () => {
  it('prints and exports the present entries', () => {
    const tree = new PagingTree(new FramePool({ basePfn: 0x100 }), { name: 'mirror' });
    const s = leaf(0x42);
    tree.map(3, 1, s.lo, s.hi);
    const lines = printTree(tree);
    expect(lines[0]).toBe('mirror: 4-level root 0x100, 4 tables, 1 pages mapped');
    expect(lines.at(-1)).toBe('         └─ [3] gfn 0x3 0x8600000000042b37 4K leaf pfn 0x42');
    const data = treeToData(tree);
    expect(data.root.entries[0]?.child?.entries[0]?.child?.entries[0]?.child?.entries[0]).toEqual({
      index: 3,
      gfn: '0x3',
      level: 1,
      kind: 'leaf',
      value: '0x8600000000042b37',
      pfn: '0x42',
    });
  });
});

// ---- property tests against a Map reference ----------------------------------------------

type Op =
  | { k: 'map'; g: number; level: 1 | 2 | 3; pfn: number }
  | { k: 'zap'; g: number; len: number; free: boolean }
  | { k: 'split'; g: number; level: 2 | 3; back: boolean }
  | { k: 'merge'; g: number; level: 2 | 3 };

interface RefLeaf {
  level: number;
  lo: number;
  hi: number;
}

function refKey(gfn: number, level: number) {
  return `${level}:${gfn}`;
}

class RefModel {
  leaves = new Map<string, RefLeaf & { gfn: number }>();
  covering(gfn: number): (RefLeaf & { gfn: number }) | undefined {
    for (const level of [1, 2, 3]) {
      const p = pagesPerHpage(level as PgLevel);
      const e = this.leaves.get(refKey(Math.floor(gfn / p) * p, level));
      if (e) return e;
    }
    return undefined;
  }
  removeRange(s: number, e: number) {
    for (const [k, v] of this.leaves) {
      const end = v.gfn + pagesPerHpage(v.level as PgLevel);
      if (v.gfn < e && end > s) this.leaves.delete(k);
    }
  }
  map(gfn: number, level: number, lo: number, hi: number) {
    for (const up of [2, 3]) {
      if (up <= level) continue;
      const p = pagesPerHpage(up as PgLevel);
      this.leaves.delete(refKey(Math.floor(gfn / p) * p, up));
    }
    this.removeRange(gfn, gfn + pagesPerHpage(level as PgLevel));
    this.leaves.set(refKey(gfn, level), { gfn, level, lo: lo | 0, hi: hi | 0 });
  }
}

const regions = [0, 2 ** 35 - 2 ** 20, 2 ** 36 - 2 ** 20];
const regions5 = [...regions, 2 ** 39 + 2 ** 30, 2 ** 40 - 2 ** 20];

function opArb(bases: number[]): fc.Arbitrary<Op> {
  const gfn = fc
    .tuple(fc.constantFrom(...bases), fc.integer({ min: 0, max: 2 ** 20 - 1 }))
    .map(([b, o]) => b + o);
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        k: fc.constant('map' as const),
        g: gfn,
        level: fc.constantFrom(1, 1, 1, 2, 3) as fc.Arbitrary<1 | 2 | 3>,
        pfn: fc.integer({ min: 0, max: 2 ** 22 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant('zap' as const),
        g: gfn,
        len: fc.integer({ min: 1, max: 2 ** 19 }),
        free: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant('split' as const),
        g: gfn,
        level: fc.constantFrom(2, 3) as fc.Arbitrary<2 | 3>,
        back: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant('merge' as const),
        g: gfn,
        level: fc.constantFrom(2, 3) as fc.Arbitrary<2 | 3>,
      }),
    },
  );
}

function runAgainstReference(rootLevel: 4 | 5, ops: Op[]) {
  const pool = new FramePool();
  const tree = new PagingTree(pool, { rootLevel });
  const ref = new RefModel();
  // The listener must see a consistent history: each old value is the last new value.
  const last = new Map<string, string>();
  tree.onChange = (_t, gfn, level, ol, oh, nl, nh) => {
    const k = refKey(gfn, level);
    const prev = last.get(k);
    if (prev !== undefined) expect(`${ol}:${oh}`).toBe(prev);
    last.set(k, `${nl}:${nh}`);
  };
  tree.onTableRemoved = (_t, _pfn, gfn, level) => {
    const step = pagesPerHpage(level as PgLevel);
    for (let i = 0; i < 512; i++) last.delete(refKey(gfn + i * step, level));
  };
  for (const op of ops) {
    if (op.k === 'map') {
      const p = pagesPerHpage(op.level);
      const g = Math.floor(op.g / p) * p;
      const pfn = Math.floor(op.pfn / p) * p;
      const s = leaf(pfn, op.level);
      expect(tree.map(g, op.level, s.lo, s.hi)).toBe(PAGING_OK);
      ref.map(g, op.level, s.lo, s.hi);
    } else if (op.k === 'zap') {
      const removed = [...ref.leaves.values()].filter(
        (v) => v.gfn < op.g + op.len && v.gfn + pagesPerHpage(v.level as PgLevel) > op.g,
      ).length;
      expect(tree.zapLeafs(op.g, op.g + op.len, op.free)).toBe(removed);
      ref.removeRange(op.g, op.g + op.len);
    } else if (op.k === 'split') {
      const p = pagesPerHpage(op.level);
      const g = Math.floor(op.g / p) * p;
      const huge = ref.leaves.get(refKey(g, op.level));
      const r = tree.splitHuge(op.g, op.level);
      expect(r === PAGING_OK).toBe(huge !== undefined);
      if (huge && op.back) {
        // split/merge round trip: the same leaf value comes back, the child table is freed
        const tables = pool.countOwnedBy(FrameOwner.KVM_PAGE_TABLE);
        expect(tree.mergeHuge(op.g, op.level)).toBe(PAGING_OK);
        expect(tree.entryAt(g, op.level)).toBe(PAGING_OK);
        expect([tree.foundLo, tree.foundHi]).toEqual([huge.lo, huge.hi]);
        expect(pool.countOwnedBy(FrameOwner.KVM_PAGE_TABLE)).toBe(tables - 1);
      } else if (huge) {
        ref.leaves.delete(refKey(g, op.level));
        const cp = pagesPerHpage((op.level - 1) as PgLevel);
        for (let i = 0; i < 512; i++) {
          const c = makeSmallSpte(huge.lo, huge.hi, (op.level - 1) as PgLevel, i);
          ref.leaves.set(refKey(g + i * cp, op.level - 1), {
            gfn: g + i * cp,
            level: op.level - 1,
            lo: c.lo | 0,
            hi: c.hi | 0,
          });
        }
      }
    } else {
      const p = pagesPerHpage(op.level);
      const g = Math.floor(op.g / p) * p;
      const cl = (op.level - 1) as PgLevel;
      const cp = pagesPerHpage(cl);
      const first = ref.leaves.get(refKey(g, cl));
      let ok = first !== undefined;
      let huge = { lo: 0, hi: 0 };
      if (first) {
        huge = makeHugeSpte(first.lo, first.hi, op.level);
        ok = spteToPfn(huge.lo, huge.hi) === spteToPfn(first.lo, first.hi);
        for (let i = 0; ok && i < 512; i++) {
          const c = ref.leaves.get(refKey(g + i * cp, cl));
          const want = makeSmallSpte(huge.lo, huge.hi, cl, i);
          ok = c !== undefined && c.lo === (want.lo | 0) && c.hi === (want.hi | 0);
        }
      }
      const r = tree.mergeHuge(op.g, op.level);
      expect(r === PAGING_OK).toBe(ok);
      if (ok) {
        for (let i = 0; i < 512; i++) ref.leaves.delete(refKey(g + i * cp, cl));
        ref.leaves.set(refKey(g, op.level), {
          gfn: g,
          level: op.level,
          lo: huge.lo | 0,
          hi: huge.hi | 0,
        });
      }
    }
  }
  // Every leaf of the tree, found by a full tdp_iter walk, is in the reference and back.
  const it = new TdpIter(tree);
  const found = new Map<string, RefLeaf>();
  for (it.startAll(1); it.ok(); it.next()) {
    if (tree.isLeafEntry(it.lo, it.hi, it.level))
      found.set(refKey(it.gfn, it.level), { level: it.level, lo: it.lo, hi: it.hi });
  }
  expect(found.size).toBe(ref.leaves.size);
  for (const [k, v] of ref.leaves) {
    expect(found.get(k)).toEqual({ level: v.level, lo: v.lo, hi: v.hi });
    expect(tree.lookup(v.gfn + pagesPerHpage(v.level as PgLevel) - 1)).toBe(v.level);
  }
  const stats = tree.stats();
  for (const l of [1, 2, 3]) {
    expect(stats.leaves[l]).toBe([...ref.leaves.values()].filter((v) => v.level === l).length);
  }
  // Pool accounting: the tree's table count is what the pool has handed out, and zapping
  // everything with freeing leaves the root alone.
  expect(pool.countOwnedBy(FrameOwner.KVM_PAGE_TABLE)).toBe(stats.tableCount);
  tree.zapLeafs(0, tree.gfnLimit, true);
  expect(tree.stats().tableCount).toBe(1);
  expect(pool.countOwnedBy(FrameOwner.KVM_PAGE_TABLE)).toBe(1);
  tree.destroy();
  expect(pool.allocated).toBe(0);
}

describe('PagingTree against a Map reference (fast-check)', () => {
  it('4-level: random map/zap/split/merge sequences', () => {
    fc.assert(
      fc.property(fc.array(opArb(regions), { maxLength: 30 }), (ops) =>
        runAgainstReference(4, ops),
      ),
      { numRuns: 60 },
    );
  });

  it('5-level: GFNs above 2^36, up to 2^40 - 1', () => {
    fc.assert(
      fc.property(fc.array(opArb(regions5), { maxLength: 30 }), (ops) =>
        runAgainstReference(5, ops),
      ),
      { numRuns: 60 },
    );
  });

  it('huge-page boundaries: neighbours of 2M and 1G edges stay independent', () => {
    const edges = [2 ** 9, 2 ** 18, 2 ** 27, 2 ** 35];
    const gfns = edges.flatMap((e) => [e - 1, e, e + 1]);
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            k: fc.constant('map' as const),
            g: fc.constantFrom(...gfns),
            level: fc.constantFrom(1, 2) as fc.Arbitrary<1 | 2>,
            pfn: fc.nat(2 ** 20),
          }),
          { maxLength: 20 },
        ),
        (ops) => runAgainstReference(4, ops),
      ),
      { numRuns: 40 },
    );
  });
});
