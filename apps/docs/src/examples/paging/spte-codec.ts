// Building and reading EPT entries the way KVM does (arch/x86/kvm/mmu/spte.c: make_spte(),
// make_nonleaf_spte(); spte.h: is_shadow_present_pte(), is_last_spte(), spte_to_pfn(), …).
// An entry is two int32 halves (lo = bits 31:0, hi = bits 63:32): no bigint on the hot path;
// word64Hex() from @kvmx/address prints one.
import assert from 'node:assert/strict';
import { PG_LEVEL_2M, PG_LEVEL_4K, word64Hex } from '@kvmx/address';
import {
  decodeSpte,
  isExecutablePte,
  isLargePte,
  isLastSpte,
  isMmuWritableSpte,
  isPresentNonLeaf,
  isShadowPresentPte,
  isWritablePte,
  makeNonleafSpte,
  makeSpte,
  type SpteAdMode,
  type SpteDecode,
  type SpteKind,
  spteDecodeToJson,
  spteMemtype,
  spteToPfn,
} from '@kvmx/paging';

// make_spte() for a 4K RAM page on a fault: RWX, WB memtype, Accessed and Dirty, KVM's
// MMU-present bit 11, host- and MMU-writable (57, 58) and suppress-#VE (63).
const leaf = makeSpte(0x12345);
assert.equal(word64Hex(leaf), '0x8600000012345b37');
assert.equal(spteToPfn(leaf.lo, leaf.hi), 0x12345);
assert.equal(isShadowPresentPte(leaf.lo), true);
assert.equal(isLastSpte(leaf.lo, PG_LEVEL_4K), true); // at 4K every present entry is a leaf
assert.equal(isWritablePte(leaf.lo), true);
assert.equal(isMmuWritableSpte(leaf.hi), true);
assert.equal(isExecutablePte(leaf.lo), true);
assert.equal(spteMemtype(leaf.lo), 6); // MTRR_TYPE_WRBACK

// A 2M leaf has the page-size bit (7); a PFN above 2^32 spills into the high half.
const huge = makeSpte(0x1_0000_0200, { level: PG_LEVEL_2M });
assert.equal(isLargePte(huge.lo), true);
assert.equal(isLastSpte(huge.lo, PG_LEVEL_2M), true);
assert.equal(spteToPfn(huge.lo, huge.hi), 0x1_0000_0200);
assert.equal(word64Hex(huge), '0x8600100000200bb7');

// make_nonleaf_spte(): the child table's address | RWX | A | bit 11, and suppress-#VE.
const table = makeNonleafSpte(0x100001);
assert.equal(word64Hex(table), '0x8000000100001907');
assert.equal(isPresentNonLeaf(table.lo, PG_LEVEL_2M), true);
assert.equal(isLastSpte(table.lo, PG_LEVEL_2M), false);

// decodeSpte() gives every field, as `kvmx decode spte 0x8600000012345b37` prints them.
const d: SpteDecode = decodeSpte(leaf.lo, leaf.hi);
const kind: SpteKind = d.kind; // 'present' | 'nonpresent' | 'frozen' | 'mmio' | 'other'
assert.equal(kind, 'present');
const ad: SpteAdMode = d.adMode; // bits 53:52: 'enabled' | 'disabled' | 'wrprot_only' | 'reserved'
assert.equal(ad, 'enabled');
assert.equal(decodeSpte(0x5a0, 0x8000_0000).kind, 'frozen');
assert.equal(decodeSpte(leaf.lo, leaf.hi | (3 << 20)).adMode, 'reserved'); // both bits set
assert.deepEqual(
  [d.readable, d.writable, d.executable, d.accessed, d.dirty, d.large, d.suppressVe],
  [true, true, true, true, true, false, true],
);
assert.equal(spteDecodeToJson(d).pfn, '0x12345');
assert.equal(spteDecodeToJson(d).input, '0x8600000012345b37');
