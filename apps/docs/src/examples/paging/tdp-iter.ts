// KVM's tdp_iter, step for step (arch/x86/kvm/mmu/tdp_iter.c): pre-order over every entry
// (present or not) from the root down to a minimum level, stepping into present tables, over
// a GFN range. The loop is for_each_tdp_pte_min_level(); `set` is tdp_mmu_iter_set_spte(),
// `cmpxchg` tdp_mmu_set_spte_atomic(), `yield` what tdp_mmu_iter_cond_resched() does to it.
import assert from 'node:assert/strict';
import { PG_LEVEL_1G, PG_LEVEL_2M, PG_LEVEL_4K } from '@kvmx/address';
import {
  EBUSY,
  FROZEN_SPTE_HI,
  FROZEN_SPTE_LO,
  FramePool,
  isLastSpte,
  isShadowPresentPte,
  makeSpte,
  PAGING_OK,
  PagingTree,
  SHADOW_NONPRESENT_VALUE_HI,
  TdpIter,
} from '@kvmx/paging';

const pool = new FramePool();
const tree = new PagingTree(pool);
for (const gfn of [0x10, 0x11, 0x3ff]) {
  const s = makeSpte(0x1000 + gfn);
  tree.map(gfn, PG_LEVEL_4K, s.lo, s.hi);
}
const huge = makeSpte(0x2_0000, { level: PG_LEVEL_2M });
tree.map(0x400, PG_LEVEL_2M, huge.lo, huge.hi);

// Visit [0, 0x600) down to 4K: the iterator yields non-present entries too.
const it = new TdpIter(tree);
const visited: string[] = [];
for (it.start(PG_LEVEL_4K, 0, 0x600); it.ok(); it.next()) {
  if (isShadowPresentPte(it.lo)) visited.push(`${it.level}:${it.gfn.toString(16)}`);
}
assert.deepEqual(visited, ['4:0', '3:0', '2:0', '1:10', '1:11', '2:200', '1:3ff', '2:400']);

// Count the leaves the way a zap loop finds them (is_last_spte at each level).
let leaves = 0;
let entries = 0;
for (it.start(PG_LEVEL_4K, 0, 0x600); it.ok(); it.next()) {
  entries++;
  if (isShadowPresentPte(it.lo) && isLastSpte(it.lo, it.level)) leaves++;
}
assert.equal(leaves, 4);
assert.equal(entries, 1 + 1 + 3 + 2 * 512); // PML4e, PDPTe, PD entries 0..2, two whole PTs
// A minimum level of 2M stops above the PTs: 2M-level entries are the last visited.
let deepest = 5;
for (it.start(PG_LEVEL_2M, 0, 0x600); it.ok(); it.next()) deepest = Math.min(deepest, it.level);
assert.equal(deepest, PG_LEVEL_2M);

// Zap the 4K leaves of [0, 0x200) through the iterator's write path.
let zapped = 0;
for (it.start(PG_LEVEL_4K, 0, 0x200); it.ok(); it.next()) {
  if (it.level !== PG_LEVEL_4K || !isShadowPresentPte(it.lo)) continue;
  assert.equal(it.set(0, SHADOW_NONPRESENT_VALUE_HI), PAGING_OK);
  zapped++;
}
assert.equal(zapped, 2);
assert.equal(tree.lookup(0x10), 0);

// The atomic variant: another CPU froze the entry after we read it; cmpxchg fails with
// -EBUSY and refreshes lo/hi, and KVM retries from the new value.
/** Step the iterator down to the first entry at `level`. */
const descendTo = (level: number): void => {
  while (it.ok() && it.level !== level) it.next();
};
it.start(PG_LEVEL_2M, 0x400, 0x401);
descendTo(PG_LEVEL_2M);
tree.writeEntry(it.table, it.index, it.gfn, it.level, FROZEN_SPTE_LO, FROZEN_SPTE_HI);
assert.equal(it.cmpxchg(0, SHADOW_NONPRESENT_VALUE_HI), -EBUSY);
assert.deepEqual([it.lo, it.hi], [FROZEN_SPTE_LO, FROZEN_SPTE_HI]);
tree.writeEntry(it.table, it.index, it.gfn, it.level, huge.lo, huge.hi); // the other CPU is done
it.reread();
assert.equal(it.cmpxchg(0, SHADOW_NONPRESENT_VALUE_HI), PAGING_OK);

// Yielding (the MMU lock was dropped): the next step restarts from the root at the same GFN.
it.start(PG_LEVEL_4K, 0x3ff, 0x400);
descendTo(PG_LEVEL_4K);
assert.equal(it.gfn, 0x3ff);
it.yield();
it.next();
assert.equal(it.level, tree.rootLevel);
assert.equal(it.gfn, 0);
// startAll(): the whole root with gfn_bits 0 (for_each_tdp_pte_min_level_all, root zaps).
let roots = 0;
for (it.startAll(PG_LEVEL_1G); it.ok(); it.next()) if (it.level === tree.rootLevel) roots++;
assert.equal(roots, 512);
