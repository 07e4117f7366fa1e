// A TDP root as KVM's TDP MMU builds it (arch/x86/kvm/mmu/tdp_mmu.c: kvm_tdp_mmu_map(),
// tdp_mmu_zap_leafs(), kvm_tdp_mmu_get_walk()): tables are frames of the pool, so the bytes
// of a table are what the CPU would read. Results are 0 or a negative errno, never a throw.
// A direct root of a TD indexes GFNs with the shared bit ORed in (kvm_gfn_root_bits()), while
// every GFN given to or reported by the tree stays alias-free.
import assert from 'node:assert/strict';
import {
  gfnRootBits,
  PG_LEVEL_1G,
  PG_LEVEL_2M,
  PG_LEVEL_4K,
  spteIndex,
  type VmAddressing,
} from '@kvmx/address';
import {
  EBUSY,
  EEXIST,
  EFAULT,
  EINVAL,
  ENOENT,
  ENOMEM,
  FROZEN_SPTE_HI,
  FROZEN_SPTE_LO,
  FramePool,
  makeSpte,
  orGfn,
  PAGING_OK,
  PagingTree,
  type PagingTreeOptions,
  type PagingTreeStats,
  pagingStatusName,
  spteToPfn,
  WalkPath,
} from '@kvmx/paging';

// Results: 0 or a negative errno, with the kernel's numbers.
assert.deepEqual([ENOENT, ENOMEM, EFAULT, EBUSY, EEXIST, EINVAL], [2, 12, 14, 16, 17, 22]);
assert.equal(pagingStatusName(PAGING_OK), 'OK');
assert.equal(pagingStatusName(-EEXIST), 'EEXIST');
assert.equal(pagingStatusName(-95), 'errno 95'); // not one the paging engine returns

const pool = new FramePool();
const tree = new PagingTree(pool); // 4-level, tables owned by KVM, empty = SHADOW_NONPRESENT
assert.equal(tree.gfnLimit, 2 ** 36); // 4 levels: GFNs below 2^36 (GPA bit 47)

// Map a 4K page: the PDPT, PD and PT are allocated on the way down.
const leaf = makeSpte(0x12345);
assert.equal(tree.map(0x42, PG_LEVEL_4K, leaf.lo, leaf.hi), PAGING_OK);
assert.equal(tree.lookup(0x42), PG_LEVEL_4K);
assert.equal(spteToPfn(tree.foundLo, tree.foundHi), 0x12345);
assert.equal(tree.foundIndex, 0x42);
assert.equal(tree.lookup(0x43), 0); // not mapped
// A 2M leaf at GFN 0x200 and a 1G leaf at GFN 0x40000 share the upper tables.
const two = makeSpte(0x20_0200, { level: PG_LEVEL_2M });
const one = makeSpte(0x4_0000, { level: PG_LEVEL_1G });
assert.equal(tree.map(0x200, PG_LEVEL_2M, two.lo, two.hi), PAGING_OK);
assert.equal(tree.map(0x4_0000, PG_LEVEL_1G, one.lo, one.hi), PAGING_OK);
assert.equal(tree.lookup(0x3ff), PG_LEVEL_2M); // any GFN inside the 2M page
assert.equal(tree.lookup(0x7_ffff), PG_LEVEL_1G);
// A GFN the root cannot index is refused, not wrapped.
assert.equal(tree.map(2 ** 36, PG_LEVEL_4K, leaf.lo, leaf.hi), -EINVAL);

const s: PagingTreeStats = tree.stats();
assert.deepEqual(s.tables.slice(1, 5), [1, 1, 1, 1]); // PT, PD, PDPT, root (PML4)
assert.deepEqual(s.leaves.slice(1, 4), [1, 1, 1]);
assert.equal(s.mappedPages, 1 + 512 + 262144);
assert.equal(s.bytesUsed, 4 * 4096);
assert.equal(tree.leafCount(PG_LEVEL_2M), 1);
assert.equal(tree.tableCount(1), 1);

// The walk records each entry read: table PFN, index, value, per level.
const path = new WalkPath();
assert.equal(tree.walk(0x42, path), PG_LEVEL_4K);
assert.equal(path.leaf, true);
assert.deepEqual([...path.index.slice(1, 5)], [0x42, 0, 0, 0]);
assert.equal(tree.walk(0x1_0000_0000 / 4096 + 1, path), 3); // stops at an empty PDPT entry
assert.equal(path.leaf, false);

// Zap the leaves of [0, 0x400): the 4K and the 2M leaf go; with freeEmptyTables the PT that
// became empty is freed too (never the root).
const frames = pool.allocated;
assert.equal(tree.zapLeafs(0, 0x400, true), 2);
assert.equal(tree.lookup(0x42), 0);
assert.equal(tree.lookup(0x4_0000), PG_LEVEL_1G); // outside the range: kept
assert.equal(pool.allocated, frames - 2); // the PT and the PD are gone
// Mapping onto a FROZEN entry is refused with -EBUSY (another CPU owns it).
assert.equal(tree.entryAt(0x4_0000, PG_LEVEL_1G), PAGING_OK);
tree.writeAt(0x4_0000, PG_LEVEL_1G, FROZEN_SPTE_LO, FROZEN_SPTE_HI);
assert.equal(tree.map(0x4_0000, PG_LEVEL_4K, leaf.lo, leaf.hi), -EBUSY);

// A TD's direct (shared) root: GFN bits 35 (the shared bit) are ORed in when indexing.
const td: VmAddressing = { vmType: 'tdx', gpaw: 48 };
const options: PagingTreeOptions = { name: 'direct', gfnBits: gfnRootBits(td, false) };
const direct = new PagingTree(pool, options);
assert.equal(direct.map(0x1, PG_LEVEL_4K, leaf.lo, leaf.hi), PAGING_OK);
assert.equal(direct.walk(0x1, path), PG_LEVEL_4K);
// The shared bit makes the PML4 index 256, exactly as the CPU walks GPA 0x800000001000.
assert.equal(path.index[4], spteIndex(0x8000_0000_1000, 4));
assert.equal(path.index[4], 256);
assert.equal(orGfn(0x1, direct.gfnBits), 0x8_0000_0001); // `|` exact above 2^32
assert.equal(direct.lookup(0x1), PG_LEVEL_4K); // looked up alias-free
// GPAW 52: a 5-level root indexes up to 2^40 GFNs.
const five = new PagingTree(pool, { rootLevel: 5 });
assert.equal(five.gfnLimit, 2 ** 40);
assert.equal(five.map(2 ** 40 - 1, PG_LEVEL_4K, leaf.lo, leaf.hi), PAGING_OK);

// Tear down: zapRoot() empties the root (children reported as FROZEN, frames freed);
// destroy() frees the root too.
direct.destroy();
five.destroy();
tree.zapRoot();
assert.equal(tree.stats().tableCount, 1);
tree.destroy();
assert.equal(pool.allocated, 0);
