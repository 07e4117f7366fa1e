// One write path: every entry change (map, zap, split, merge, raw writes) is reported once as
// (tree, gfn, level, old, new) — what KVM's handle_changed_spte() receives, and what kvm-x86
// builds its mirror-root hooks (set_external_spte_present(), …) on. Removing a table freezes
// and reports its children first, like handle_removed_pt(). The atomic variant is
// tdp_mmu_set_spte_atomic()'s try_cmpxchg64: -EBUSY when the entry is FROZEN or changed.
// Splitting and merging huge leaves: tdp_mmu_split_huge_page() with make_small_spte(), and
// make_huge_spte() for the collapse.
import assert from 'node:assert/strict';
import { PG_LEVEL_2M, PG_LEVEL_4K, word64, word64Hex } from '@kvmx/address';
import {
  EBUSY,
  EEXIST,
  ENOENT,
  type EntryPredicate,
  FROZEN_SPTE_HI,
  FROZEN_SPTE_LO,
  FrameOwner,
  FramePool,
  isFrozenSpte,
  isShadowPresentPte,
  makeHugeSpte,
  makeSmallSpte,
  makeSpte,
  PAGING_OK,
  PagingTree,
  SHADOW_NONPRESENT_VALUE_HI,
  type SpteChangeListener,
  spteToPfn,
  type TableRemovedListener,
  WalkPath,
} from '@kvmx/paging';

const pool = new FramePool();
const tree = new PagingTree(pool);
const log: string[] = [];
const onChange: SpteChangeListener = (_t, gfn, level, oldLo, oldHi, newLo, newHi) => {
  const kind = (lo: number, hi: number) =>
    isFrozenSpte(lo, hi) ? 'frozen' : isShadowPresentPte(lo) ? 'present' : 'empty';
  log.push(`${gfn.toString(16)}@${level}: ${kind(oldLo, oldHi)}->${kind(newLo, newHi)}`);
};
const removed: number[] = [];
const onTableRemoved: TableRemovedListener = (_t, _pfn, gfn, level, freed) => {
  if (freed) removed.push(level, gfn);
};
tree.onChange = onChange;
tree.onTableRemoved = onTableRemoved;

// A 2M leaf at GFN 0x200 (host PFN 0x80000): the PDPT and PD links, then the leaf.
const huge = makeSpte(0x8_0000, { level: PG_LEVEL_2M });
assert.equal(tree.map(0x200, PG_LEVEL_2M, huge.lo, huge.hi), PAGING_OK);
assert.deepEqual(log, ['0@4: empty->present', '0@3: empty->present', '200@2: empty->present']);

// Split: the 512 children are written into the new table before it is linked, so only the
// parent's change is reported (nobody can see the half-built table).
log.length = 0;
assert.equal(tree.splitHuge(0x200, PG_LEVEL_2M), PAGING_OK);
assert.deepEqual(log, ['200@2: present->present']);
assert.equal(tree.lookup(0x3ff), PG_LEVEL_4K);
assert.equal(spteToPfn(tree.foundLo, tree.foundHi), 0x8_0000 + 0x1ff);
// The child is make_small_spte(): PFN + index, page-size bit dropped at 4K.
const child = makeSmallSpte(huge.lo, huge.hi, PG_LEVEL_4K, 0x1ff);
// (Tree reads are int32 halves, word64() makes them unsigned.)
assert.deepEqual(word64(tree.foundLo, tree.foundHi), child);
assert.equal(word64Hex(child), '0x86000000801ffb37');
// make_huge_spte() goes back from any child to the aligned 2M leaf.
assert.equal(word64Hex(makeHugeSpte(child.lo, child.hi, PG_LEVEL_2M)), word64Hex(huge));

// Merge back: the 512 children are contiguous and alike, so one huge leaf replaces the table;
// the table's entries are frozen and reported before its frame is freed.
log.length = 0;
assert.equal(tree.mergeHuge(0x200, PG_LEVEL_2M), PAGING_OK);
assert.equal(log[0], '200@2: present->present'); // the parent becomes the leaf first...
assert.equal(log.length, 1 + 512); // ...then each child: present -> frozen
assert.equal(log[1], '200@1: present->frozen');
assert.deepEqual(removed, [1, 0x200]); // the PT (entries at level 1) of GFN 0x200, freed
assert.equal(tree.mergeHuge(0x200, PG_LEVEL_2M), -ENOENT); // no table there any more

// Raw access by table and index, and the atomic compare-and-exchange.
const path = new WalkPath();
tree.walk(0x200, path);
const pd = path.table[2] as number;
const idx = path.index[2] as number;
assert.deepEqual(word64(tree.readLo(pd, idx), tree.readHi(pd, idx)), huge);
// Another CPU froze the entry: our cmpxchg from the old value fails with -EBUSY and shows
// the current value, as try_cmpxchg64 refreshes iter->old_spte.
assert.equal(tree.writeEntry(pd, idx, 0x200, PG_LEVEL_2M, FROZEN_SPTE_LO, FROZEN_SPTE_HI), 0);
assert.equal(tree.cmpxchgEntry(pd, idx, 0x200, 2, huge.lo, huge.hi, 0, 0), -EBUSY);
assert.equal(isFrozenSpte(tree.foundLo, tree.foundHi), true);
// It finishes (restores the leaf); now the exchange from the right old value succeeds.
tree.writeEntry(pd, idx, 0x200, PG_LEVEL_2M, huge.lo, huge.hi);
const nonpresent = [0, SHADOW_NONPRESENT_VALUE_HI] as const;
assert.equal(tree.cmpxchgEntry(pd, idx, 0x200, 2, huge.lo, huge.hi, ...nonpresent), PAGING_OK);
assert.equal(tree.lookup(0x200), 0);

// Linking a table the caller allocated (as KVM's mirror root does with an external SPT page):
// -EEXIST when a table is already there, -ENOENT when a higher table is missing.
const pt = pool.allocFilled(FrameOwner.KVM_PAGE_TABLE, 0, SHADOW_NONPRESENT_VALUE_HI);
assert.equal(tree.linkTable(0x200, PG_LEVEL_4K, pt), PAGING_OK);
assert.equal(tree.linkTable(0x200, PG_LEVEL_4K, pt), -EEXIST);
const far = pool.alloc(FrameOwner.KVM_PAGE_TABLE);
assert.equal(tree.linkTable(2 ** 27, PG_LEVEL_4K, far), -ENOENT); // no PDPT for 512 GiB
const leaf = makeSpte(0x9_0000);
assert.equal(tree.writeAt(0x205, PG_LEVEL_4K, leaf.lo, leaf.hi), PAGING_OK);
assert.equal(tree.entryAt(0x205, PG_LEVEL_4K), PAGING_OK);
assert.equal(tree.foundTable, pt);
assert.equal(tree.foundIndex, 5);

// A walk can be told what a table entry is: stop at the PD even though it links a PT.
const stopAtPd: EntryPredicate = (_lo, _hi, level) => level > PG_LEVEL_2M;
assert.equal(tree.walk(0x205, path, stopAtPd), PG_LEVEL_2M);
assert.equal(tree.walk(0x205, path), PG_LEVEL_4K);
