// Host physical memory as 4 KiB frames with an owner per frame: who holds each page is what
// the TDX module's PAMT and KVM's page caches track (tdp_mmu_alloc_sp()'s
// mmu_shadow_page_cache, guest_memfd folios, TDR/TDCS pages handed over by TDH.MNG.CREATE /
// ADDCX). A frame's contents exist only once written; a never-written frame reads as zeros.
import assert from 'node:assert/strict';
import { PAGE_SIZE, SPTE_ENT_PER_PAGE } from '@kvmx/address';
import {
  DEFAULT_BASE_PFN,
  DEFAULT_MAX_FRAMES,
  FRAME_OWNER_COUNT,
  FRAME_SIZE,
  FRAME_WORDS,
  FrameOwner,
  FramePool,
  type FramePoolOptions,
  type FramePoolStats,
  frameOwnerName,
  isFrameOwner,
  NO_FRAME,
  SHADOW_NONPRESENT_VALUE_HI,
} from '@kvmx/paging';

assert.equal(FRAME_SIZE, PAGE_SIZE);
assert.equal(FRAME_WORDS, 2 * SPTE_ENT_PER_PAGE); // 512 entries as int32 pairs
assert.equal(DEFAULT_BASE_PFN, 0x100000); // frames start at HPA 4 GiB
assert.equal(DEFAULT_MAX_FRAMES, 2 ** 26); // 256 GiB of host memory at most

// Owner tags are small integers, appended and never renumbered (traces show them).
assert.equal(FrameOwner.GUEST_MEMFD, 4);
assert.equal(frameOwnerName(FrameOwner.TDX_SEPT), 'tdx_sept');
assert.equal(frameOwnerName(99), 'owner_99');
assert.equal(isFrameOwner(FRAME_OWNER_COUNT - 1), true);
assert.equal(isFrameOwner(FRAME_OWNER_COUNT), false);

// A small host: 4 frames from PFN 0x200 (HPA 2 MiB).
const options: FramePoolOptions = { basePfn: 0x200, maxFrames: 4 };
const pool = new FramePool(options);
const table = pool.allocFilled(FrameOwner.KVM_PAGE_TABLE, 0, SHADOW_NONPRESENT_VALUE_HI);
assert.equal(table, 0x200);
// A new KVM table is filled with SHADOW_NONPRESENT_VALUE, like tdp_mmu_alloc_sp()'s cache.
assert.equal(pool.readHi(table, 511) >>> 0, 0x8000_0000);
const page = pool.alloc(FrameOwner.GUEST_MEMFD, 7); // tag: e.g. the guest_memfd's id
assert.equal(pool.owner(page), FrameOwner.GUEST_MEMFD);
assert.equal(pool.tag(page), 7);
assert.equal(pool.isZero(page), true); // never written: zeros, no storage
assert.equal(pool.hasContents(page), false);

// Byte access as guest and VMM memory accesses do it.
pool.write(page, 0x10, new TextEncoder().encode('TDX'));
assert.equal(pool.readByte(page, 0x11), 'D'.charCodeAt(0));
pool.fill(page, 0x100, 4, 0xcc);
assert.deepEqual([...pool.read(page, 0xfe, 4)], [0, 0, 0xcc, 0xcc]);
const copyTo = pool.alloc(FrameOwner.VMM_SHARED);
pool.copy(copyTo, 0, page, 0x10, 3);
assert.equal(new TextDecoder().decode(pool.read(copyTo, 0, 3)), 'TDX');
// Word access: 64-bit entries as (lo, hi).
pool.writeWord64(copyTo, 3, 0x1234, -1);
assert.equal(pool.readLo(copyTo, 3), 0x1234);
assert.equal(pool.readHi(copyTo, 3) >>> 0, 0xffff_ffff);
pool.fillWords(copyTo, 0, 0); // all zero again: the storage is dropped
assert.equal(pool.isZero(copyTo), true);
pool.zero(page); // clear a whole page: its storage is dropped too
assert.equal(pool.isZero(page), true);

// The host is full: NO_FRAME, not an exception (callers return -ENOMEM).
assert.notEqual(pool.alloc(FrameOwner.HOST), NO_FRAME);
assert.equal(pool.alloc(FrameOwner.HOST), NO_FRAME);
assert.equal(pool.allocated, 4);

// Ownership changes hands: a KVM page becomes an S-EPT page after TDH.MEM.SEPT.ADD.
assert.equal(pool.setOwner(table, FrameOwner.TDX_SEPT), true);
assert.equal(pool.countOwnedBy(FrameOwner.TDX_SEPT), 1);
assert.deepEqual(pool.framesOwnedBy(FrameOwner.GUEST_MEMFD), [page]);
assert.equal(pool.free(page), true);
assert.equal(pool.free(page), false); // double free is refused
assert.equal(pool.isAllocated(page), false);
assert.equal(pool.contains(0x1ff), false); // below the pool

const stats: FramePoolStats = pool.stats();
assert.equal(stats.allocated, 3);
assert.equal(stats.highWater, 4);
assert.deepEqual(stats.byOwner, { host: 1, vmm_shared: 1, tdx_sept: 1 });

// 2 MiB folios: contiguous and aligned to 512 frames.
const big = new FramePool({ basePfn: 0x100001, maxFrames: 2048 });
const folio = big.allocContiguous(512, FrameOwner.GUEST_MEMFD, 512);
assert.equal(folio, 0x100200);
assert.equal(folio % 512, 0);
big.reserve(16); // grow the contents store ahead of a burst of writes
assert.ok(big.stats().storeBytes >= 16 * FRAME_SIZE);
