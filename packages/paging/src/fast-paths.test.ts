// The 4-level fast paths of PagingTree (map4k4, lookup4, the inlined 4K write path and the
// tight zap loop) are taken only with KVM's entry meaning, no gfnBits and a 4-level root.
// A tree given the same meaning as explicit predicates takes the general paths for every
// call. Both, with and without a change listener, must behave identically: same results,
// same found* fields, same reports in the same order, same tables, same statistics.

import { type PgLevel, pagesPerHpage } from '@kvmx/address';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameOwner } from './frame-owner.js';
import { FramePool } from './frame-pool.js';
import { PagingTree } from './paging-tree.js';
import { makeNonleafSpte, makeSpte, spteToPfn } from './spte.js';
import { FROZEN_SPTE_HI, FROZEN_SPTE_LO } from './spte-bits.js';
import { treeToData } from './tree-view.js';

/** KVM's entry meaning (the tree's default), as explicit predicates: forces the slow paths. */
const kvmIsTable = (lo: number, _hi: number, level: number) => (lo & 0x880) === 0x800 && level > 1;
const kvmIsLeaf = (lo: number, _hi: number, level: number) =>
  (lo & 0x800) !== 0 && (level === 1 || (lo & 0x80) !== 0);

type Op =
  | { k: 'map'; g: number; level: 1 | 2 | 3; pfn: number }
  | { k: 'lookup'; g: number }
  | { k: 'zap'; g: number; len: number; free: boolean }
  | { k: 'freeze'; g: number; level: 1 | 2 | 3 }
  | { k: 'split'; g: number; level: 2 | 3 }
  | { k: 'merge'; g: number; level: 2 | 3 }
  | { k: 'corrupt'; g: number; level: 2 | 3 | 4; target: Target };

/**
 * Where a corrupt table entry points (written raw, past the write path): below the pool, at
 * the next 2^20-frame window (not a frame), at the PFN of the table it pointed at + 2^32
 * (the same low 32 PFN bits: a walk that dropped the high bits would go on as before), at an
 * allocated frame without contents, at a PFN with bit 39 set, and a few frames past those
 * handed out so far (inside maxFrames).
 */
type Target = 'below' | 'window' | 'alias' | 'nocontents' | 'bit39' | 'past';
const TARGETS: readonly Target[] = ['below', 'window', 'alias', 'nocontents', 'bit39', 'past'];

// Near 0, across a 1G and a 512G boundary, across 2^32 (where the 4-level fast paths stop)
// and at the top of the 4-level range (2^36).
const bases = [0, 2 ** 27 - 2 ** 19, 2 ** 32 - 2 ** 19, 2 ** 36 - 2 ** 20];

function opArb(gfnBases: readonly number[] = bases, corrupt = 0, span = 2 ** 20): fc.Arbitrary<Op> {
  const gfn = fc
    .tuple(fc.constantFrom(...gfnBases), fc.integer({ min: 0, max: span - 1 }))
    .map(([b, o]) => b + o);
  const level = fc.constantFrom(1, 1, 1, 2, 3) as fc.Arbitrary<1 | 2 | 3>;
  const huge = fc.constantFrom(2, 3) as fc.Arbitrary<2 | 3>;
  return fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        k: fc.constant('map' as const),
        g: gfn,
        level,
        pfn: fc.integer({ min: 0, max: 2 ** 30 }),
      }),
    },
    { weight: 6, arbitrary: fc.record({ k: fc.constant('lookup' as const), g: gfn }) },
    {
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant('zap' as const),
        g: gfn,
        len: fc.integer({ min: 1, max: 2 ** 19 }),
        free: fc.boolean(),
      }),
    },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('freeze' as const), g: gfn, level }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('split' as const), g: gfn, level: huge }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('merge' as const), g: gfn, level: huge }) },
    {
      weight: corrupt,
      arbitrary: fc.record({
        k: fc.constant('corrupt' as const),
        g: gfn,
        level: fc.constantFrom(2, 3, 4) as fc.Arbitrary<2 | 3 | 4>,
        target: fc.constantFrom(...TARGETS),
      }),
    },
  );
}

interface Subject {
  readonly pool: FramePool;
  readonly tree: PagingTree;
  readonly log: string[] | null;
}

/** Tree shapes: the 4-level root the fast paths serve, and the ones they leave alone. */
interface Shape {
  readonly rootLevel?: 4 | 5;
  readonly gfnBits?: number;
}

/** `listen`: 'all' (onChange and onTableRemoved), 'removed' (onTableRemoved only), 'none'. */
function subject(fast: boolean, listen: boolean | 'removed', shape: Shape = {}): Subject {
  const pool = new FramePool();
  const tree = new PagingTree(pool, {
    ...shape,
    ...(fast ? {} : { isTable: kvmIsTable, isLeaf: kvmIsLeaf, name: 'tdp' }),
  });
  const log = listen !== false ? ([] as string[]) : null;
  if (log !== null) {
    if (listen === true) {
      tree.onChange = (_t, gfn, level, ol, oh, nl, nh) =>
        log.push(`${gfn}/${level}: ${ol}:${oh} -> ${nl}:${nh}`);
    }
    tree.onTableRemoved = (_t, pfn, gfn, level, freed) =>
      log.push(`removed ${pfn} ${gfn}/${level} ${freed}`);
  }
  return { pool, tree, log };
}

/** The PFN a corrupt entry gets (the same in every subject: their pools run in lockstep). */
function targetPfn(t: PagingTree, target: Target, child: number): number {
  const base = t.pool.basePfn;
  switch (target) {
    case 'below':
      return 0x1234;
    case 'window':
      return base + 2 ** 20 + 5;
    case 'alias':
      return child + 2 ** 32; // the table the entry points at now, 2^32 frames further
    case 'nocontents':
      return t.pool.alloc(FrameOwner.HOST); // allocated, never written: reads as zeros
    case 'bit39':
      return 2 ** 39 + base + 1;
    case 'past':
      return base + t.pool.stats().highWater + 3;
  }
}

/** Apply one op; the outcome (results and found* fields) as a string to compare. */
function apply(t: PagingTree, op: Op): string {
  const align = (g: number, level: number) => {
    const p = pagesPerHpage(level as PgLevel);
    return Math.floor(g / p) * p;
  };
  switch (op.k) {
    case 'map': {
      const s = makeSpte(align(op.pfn, op.level), { level: op.level });
      const r = t.map(align(op.g, op.level), op.level, s.lo, s.hi);
      return Object.is(r, -0) ? 'map gave -0' : `map ${r}`;
    }
    case 'lookup': {
      const r = t.lookup(op.g);
      if (Object.is(r, -0)) return 'lookup gave -0'; // a miss is +0, as on the general path
      return r === 0
        ? 'miss'
        : `hit ${r} ${t.foundLo}:${t.foundHi} @${t.foundTable}[${t.foundIndex}]`;
    }
    case 'zap':
      return `zap ${t.zapLeafs(op.g, op.g + op.len, op.free)}`;
    case 'freeze':
      return `freeze ${t.writeAt(align(op.g, op.level), op.level, FROZEN_SPTE_LO, FROZEN_SPTE_HI)}`;
    case 'split':
      return `split ${t.splitHuge(op.g, op.level)}`;
    case 'merge':
      return `merge ${t.mergeHuge(op.g, op.level)}`;
    case 'corrupt': {
      // A table entry written raw, as a bug or a hostile VMM would: the walks must take
      // it as the general path does (not present below it, -EFAULT for map, kept by zaps).
      // A leaf below the entry first, so a walk that goes on through it finds something.
      const leaf = makeSpte(0x4321);
      const before = t.map(op.g, 1, leaf.lo, leaf.hi);
      const r = t.entryAt(align(op.g, op.level), op.level);
      if (r !== 0) return `corrupt ${before} ${r}`;
      const child = t.isTableEntry(t.foundLo, t.foundHi, op.level)
        ? spteToPfn(t.foundLo, t.foundHi)
        : t.root;
      const e = makeNonleafSpte(targetPfn(t, op.target, child));
      t.pool.writeWord64(t.foundTable, t.foundIndex, e.lo, e.hi);
      // Walk through it at once: a lookup, and 4K maps under it.
      const hit = apply(t, { k: 'lookup', g: op.g });
      const again = t.map(op.g, 1, leaf.lo, leaf.hi);
      return `corrupt ${before} ${op.target}: ${hit}, map ${again} ${t.map(op.g ^ 1, 1, leaf.lo, leaf.hi)}`;
    }
  }
}

function runSame(ops: Op[], shape: Shape = {}): void {
  const subjects = [
    subject(true, false, shape),
    subject(true, true, shape),
    subject(false, true, shape),
    subject(true, 'removed', shape),
  ];
  const [quiet, fast, slow, removedOnly] = subjects as [Subject, Subject, Subject, Subject];
  for (const op of ops) {
    const r = subjects.map((s) => apply(s.tree, op));
    expect(r[1], JSON.stringify(op)).toBe(r[2]);
    expect(r[0], JSON.stringify(op)).toBe(r[2]);
    expect(r[3], JSON.stringify(op)).toBe(r[2]);
  }
  // Lookups around every op's GFN, and a few GFNs the fast path must refuse.
  const probes = [
    ...ops.flatMap((o) => [o.g, o.g + 1, o.g - 1]),
    2 ** 32 - 1,
    2 ** 32,
    2 ** 36 - 1,
    2 ** 36,
    -1,
    0.5,
    2 ** 53,
  ];
  for (const g of probes) {
    const r = subjects.map((s) => apply(s.tree, { k: 'lookup', g }));
    expect(r[0]).toBe(r[2]);
    expect(r[1]).toBe(r[2]);
    expect(r[3]).toBe(r[2]);
  }
  expect(fast.log).toEqual(slow.log);
  expect(removedOnly.log).toEqual(slow.log?.filter((l) => l.startsWith('removed')));
  const view = (s: Subject) => treeToData(s.tree);
  expect(view(quiet)).toEqual(view(slow));
  expect(view(fast)).toEqual(view(slow));
  expect(quiet.tree.stats()).toEqual(slow.tree.stats());
  expect(fast.tree.stats()).toEqual(slow.tree.stats());
  expect(removedOnly.tree.stats()).toEqual(slow.tree.stats());
  for (const s of subjects) {
    if (!ops.some((o) => o.k === 'corrupt')) {
      expect(s.pool.countOwnedBy(FrameOwner.KVM_PAGE_TABLE)).toBe(s.tree.stats().tableCount);
    }
    // Slot 0 is the zero frame the fast walks read for a table without contents: never written.
    expect(s.pool.store.subarray(0, 1024).every((w) => w === 0)).toBe(true);
  }
}

describe('PagingTree fast paths behave like the general paths (fast-check)', () => {
  it('random map/lookup/zap/freeze/split/merge: fast ≡ fast + listener ≡ general', () => {
    fc.assert(
      fc.property(fc.array(opArb(), { minLength: 5, maxLength: 40 }), (ops) => runSame(ops)),
      {
        numRuns: 60,
      },
    );
  }, 60_000); // three trees per run: slow on a loaded machine

  it('with corrupt table entries (outside the pool, aliases, frames without contents)', () => {
    fc.assert(
      fc.property(
        fc.array(opArb([0, 2 ** 27 - 2 ** 9, 2 ** 32 - 2 ** 9], 3, 2 ** 10), {
          minLength: 5,
          maxLength: 40,
        }),
        (ops) => runSame(ops),
      ),
      { numRuns: 60 },
    );
  }, 60_000);

  it('5-level roots and roots with gfnBits (zap fast paths only) match the general paths', () => {
    const shapes: { shape: Shape; bases: number[] }[] = [
      { shape: { rootLevel: 5 }, bases: [0, 2 ** 36 - 2 ** 19, 2 ** 40 - 2 ** 20] },
      {
        shape: { rootLevel: 4, gfnBits: 2 ** 35 },
        bases: [0, 2 ** 27 - 2 ** 19, 2 ** 35 - 2 ** 20],
      },
      {
        shape: { rootLevel: 5, gfnBits: 2 ** 39 },
        bases: [0, 2 ** 36 - 2 ** 19, 2 ** 39 - 2 ** 20],
      },
    ];
    for (const { shape, bases: b } of shapes) {
      fc.assert(
        fc.property(fc.array(opArb(b, 1), { minLength: 5, maxLength: 30 }), (ops) =>
          runSame(ops, shape),
        ),
        { numRuns: 25 },
      );
    }
  }, 60_000);

  it('dense 4K maps, FROZEN leaves and lookups across a page-table edge (fast paths)', () => {
    // GFNs 480..543 straddle the PT boundary at 512, so maps hit FROZEN and mapped leaves.
    const dense = fc.integer({ min: 480, max: 543 });
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({
              k: fc.constant('map' as const),
              g: dense,
              level: fc.constant(1 as const),
              pfn: fc.nat(2 ** 30),
            }),
            fc.record({ k: fc.constant('lookup' as const), g: dense }),
            fc.record({
              k: fc.constant('freeze' as const),
              g: dense,
              level: fc.constant(1 as const),
            }),
          ),
          { minLength: 20, maxLength: 200 },
        ),
        (ops) => runSame(ops),
      ),
      { numRuns: 40 },
    );
  });

  it('a zap of part of a page table that empties it frees it (found by the property above)', () => {
    // Shrunk counterexample: the fast zap freed a page table only when the range covered
    // all of it, the general path whenever nothing present was left in it.
    runSame([
      { k: 'map', g: 2 ** 36 - 2 ** 20, level: 1, pfn: 0 },
      { k: 'zap', g: 2 ** 36 - 2 ** 20, len: 1, free: true },
      { k: 'map', g: 0, level: 1, pfn: 0 },
      { k: 'lookup', g: 0 },
    ]);
    const { tree, pool } = subject(true, false);
    const s = makeSpte(7);
    tree.map(0x1234, 1, s.lo, s.hi);
    expect(tree.zapLeafs(0x1234, 0x1235, true)).toBe(1);
    expect(tree.stats().tableCount).toBe(1); // PT, PD and PDPT freed; the root stays
    expect(pool.countOwnedBy(FrameOwner.KVM_PAGE_TABLE)).toBe(1);
  });

  it('a table entry whose PFN is outside the pool: the fast paths hand over', () => {
    const subjects = [subject(true, false), subject(false, false)];
    const out = subjects.map((s) => {
      const t = s.tree;
      const leaf = makeSpte(0x1234);
      t.map(0x200, 1, leaf.lo, leaf.hi);
      // PD entry for GFN 0x200 pointing at a PFN the pool does not have (2^32 frames away)
      const bad = makeSpte(0x100000 + 2 ** 32); // bit 11 set, page-size bit clear: a "table"
      t.entryAt(0x200, 2);
      const table = t.foundTable;
      const index = t.foundIndex;
      const removed = t.readLo(table, index);
      t.pool.writeWord64(table, index, bad.lo, bad.hi); // raw: a corrupt entry
      return [
        t.lookup(0x200),
        t.map(0x201, 1, leaf.lo, leaf.hi),
        t.lookup(0x201),
        removed === t.readLo(table, index),
      ];
    });
    expect(out[0]).toEqual(out[1]);
    expect(out[0]?.[0]).toBe(0);
  });
});
