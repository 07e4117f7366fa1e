// Half-open GFN ranges [start, end): the unit of KVM's range walks (struct kvm_gfn_range in
// kvm_unmap_gfn_range(), kvm_vm_set_mem_attributes()), split at huge-page boundaries as the
// hugepage "mixed" tracking does (kvm_update_lpage_private_shared_mixed()), and covered with the
// fewest aligned blocks, as a mapper installing 1G/2M/4K leaves would.
import assert from 'node:assert/strict';
import {
  coverWithBlocks,
  type GfnBlock,
  type GfnRange,
  gfnRange,
  levelName,
  PG_LEVEL_1G,
  PG_LEVEL_2M,
  rangeContains,
  rangeGfns,
  rangeIntersect,
  rangeIsEmpty,
  rangeLength,
  splitAtHugeBoundaries,
} from '@kvmx/address';

// A memslot of 1 GiB + 8 KiB starting 4 KiB below a 2M boundary (GFN 0x1ff).
const slot: GfnRange = gfnRange(0x1ff, 0x1ff + 0x40002);
assert.equal(rangeLength(slot), 0x40002);
assert.equal(rangeContains(slot, 0x1ff), true);
assert.equal(rangeContains(slot, slot.end), false); // half-open
assert.equal(rangeIsEmpty(gfnRange(5, 5)), true);

// Checked: start ≤ end, both within 2^40 (the last GFN of a 52-bit space is 2^40 − 1).
assert.throws(() => gfnRange(10, 9), RangeError);
assert.throws(() => gfnRange(0, 2 ** 40 + 1), RangeError);
assert.equal(rangeLength(gfnRange(2 ** 40 - 1, 2 ** 40)), 1);

// A KVM_SET_MEMORY_ATTRIBUTES range overlapping the slot: only the overlap matters.
assert.deepEqual(rangeIntersect(slot, gfnRange(0, 0x202)), { start: 0x1ff, end: 0x202 });
assert.equal(rangeIntersect(slot, gfnRange(0, 0x1ff)), undefined);
assert.deepEqual([...rangeGfns(gfnRange(0x1ff, 0x202))], [0x1ff, 0x200, 0x201]);

// Split at 2M boundaries: the partial head and tail pieces are what make a 2M page "mixed".
const pieces = splitAtHugeBoundaries(gfnRange(0x1ff, 0x402), PG_LEVEL_2M);
assert.deepEqual(pieces, [
  { start: 0x1ff, end: 0x200 }, // 1 page, tail of the first 2M block
  { start: 0x200, end: 0x400 }, // one whole 2M block
  { start: 0x400, end: 0x402 }, // 2 pages at the head of the next
]);

// Cover the slot with the largest aligned leaves: 4K up to the first 2M boundary, 2M blocks,
// and 4K again for the last page. No 1G leaf fits: none of the slot's 1G-aligned blocks
// (GFN 0x0, 0x40000) lies entirely inside it.
const blocks: GfnBlock[] = coverWithBlocks(slot, PG_LEVEL_1G);
const counts = new Map<string, number>();
for (const b of blocks) counts.set(levelName(b.level), (counts.get(levelName(b.level)) ?? 0) + 1);
assert.deepEqual(Object.fromEntries(counts), { '4K': 2, '2M': 512 });
assert.deepEqual(blocks[0], { start: 0x1ff, level: 1 });
assert.deepEqual(blocks.at(-1), { start: 0x40201 - 1, level: 1 });
// With a range that does contain an aligned 1G block, one 1G leaf covers it.
assert.deepEqual(coverWithBlocks(gfnRange(0x40000, 0x80001), PG_LEVEL_1G), [
  { start: 0x40000, level: PG_LEVEL_1G },
  { start: 0x80000, level: 1 },
]);
