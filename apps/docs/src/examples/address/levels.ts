// Page levels and table indexes as KVM names them (arch/x86/include/asm/pgtable_types.h:
// enum pg_level; arch/x86/kvm/mmu/spte.h: SPTE_LEVEL_SHIFT(), SPTE_INDEX(); kvm_host.h:
// KVM_HPAGE_GFN_SHIFT(), KVM_PAGES_PER_HPAGE()). Levels count from 1 = 4K up to 5 = 256T;
// a 4-level TDP root is PT64_ROOT_4LEVEL, a 5-level one (GPAW 52 TDs, LA57 hosts) level 5.
import assert from 'node:assert/strict';
import {
  gfnIndex,
  hpageGfnShift,
  isPgLevel,
  KVM_MAX_HUGEPAGE_LEVEL,
  KVM_NR_PAGE_SIZES,
  levelName,
  levelShift,
  levelSize,
  PAGE_SHIFT,
  PAGE_SIZE,
  PG_LEVEL_1G,
  PG_LEVEL_2M,
  PG_LEVEL_4K,
  PG_LEVEL_256T,
  PG_LEVEL_512G,
  PG_LEVEL_NONE,
  PG_LEVEL_NUM,
  type PgLevel,
  PT64_ROOT_4LEVEL,
  PT64_ROOT_5LEVEL,
  pagesPerHpage,
  pgLevel,
  type RootLevel,
  SPTE_ENT_PER_PAGE,
  SPTE_LEVEL_BITS,
  spteIndex,
} from '@kvmx/address';

assert.equal(PAGE_SIZE, 2 ** PAGE_SHIFT);
assert.equal(SPTE_ENT_PER_PAGE, 2 ** SPTE_LEVEL_BITS); // 512 eight-byte entries per table
assert.deepEqual(
  [PG_LEVEL_NONE, PG_LEVEL_4K, PG_LEVEL_2M, PG_LEVEL_1G, PG_LEVEL_512G, PG_LEVEL_256T],
  [0, 1, 2, 3, 4, 5],
);
assert.equal(PG_LEVEL_NUM, 6); // one past the last level, as in the kernel's enum
// KVM maps guest memory with leaves of 4K, 2M and 1G only.
assert.equal(KVM_MAX_HUGEPAGE_LEVEL, PG_LEVEL_1G);
assert.equal(KVM_NR_PAGE_SIZES, 3);

const levels: PgLevel[] = [1, 2, 3, 4, 5];
assert.deepEqual(levels.map(levelName), ['4K', '2M', '1G', '512G', '256T']);
assert.deepEqual(levels.map(levelShift), [12, 21, 30, 39, 48]);
assert.deepEqual(levels.map(hpageGfnShift), [0, 9, 18, 27, 36]);
assert.deepEqual(levels.map(pagesPerHpage), [1, 512, 262144, 2 ** 27, 2 ** 36]);
assert.equal(levelSize(PG_LEVEL_2M), 2 * 1024 * 1024);
assert.equal(levelSize(PG_LEVEL_256T), 2 ** 48); // exact: a number holds 2^53

// Levels that come from users are checked: isPgLevel() tests, pgLevel() throws RangeError.
assert.equal(isPgLevel(3), true);
assert.equal(isPgLevel(0), false); // PG_LEVEL_NONE is not a mapping level
assert.equal(pgLevel(2), PG_LEVEL_2M);
assert.throws(() => pgLevel(6), RangeError);

// Root levels: 4-level EPT walks bits 47:12, 5-level EPT bits 56:12.
const roots: RootLevel[] = [PT64_ROOT_4LEVEL, PT64_ROOT_5LEVEL];
assert.deepEqual(
  roots.map((r) => levelShift(r) + SPTE_LEVEL_BITS - 1),
  [47, 56],
);

// SPTE_INDEX(): the 9-bit slot at each level. GPA 0x800000001000 is a TD's shared alias of
// GFN 1 (bit 47): in a 4-level walk the shared bit is the top bit of the PML4 index.
const alias = 0x8000_0000_1000;
assert.deepEqual(
  levels.slice(0, 4).map((l) => spteIndex(alias, l)),
  [1, 0, 0, 256],
);
// With GPAW 52 the shared bit is 51: it lands in the level-5 index instead.
assert.equal(spteIndex(2 ** 51, PG_LEVEL_256T), 8);
assert.equal(spteIndex(2 ** 51, PG_LEVEL_512G), 0);
// gfnIndex() is the same slot computed from a GFN (the TDP iterator works in GFNs).
assert.equal(gfnIndex(0x8_0000_0001, PG_LEVEL_512G), 256);
// The last GFN of a 52-bit space: only 16 of the 512 level-5 slots are reachable.
assert.equal(gfnIndex(2 ** 40 - 1, PG_LEVEL_256T), 15);
assert.equal(gfnIndex(2 ** 40 - 1, PG_LEVEL_512G), 511);
// The last 4K page below a 2M boundary and the first one above it.
assert.equal(spteIndex(0x1f_f000, PG_LEVEL_4K), 511);
assert.equal(spteIndex(0x20_0000, PG_LEVEL_4K), 0);
assert.equal(spteIndex(0x20_0000, PG_LEVEL_2M), 1);
