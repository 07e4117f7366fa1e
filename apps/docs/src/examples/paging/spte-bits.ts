// The EPT entry's bits, each constant named as in the kernel (arch/x86/include/asm/vmx.h:
// VMX_EPT_*; arch/x86/kvm/mmu/spte.h: SPTE_MMU_PRESENT_MASK, SPTE_TDP_AD_*, the
// shadow_*_mask values kvm_mmu_set_ept_masks() installs; mmu.h: ACC_*). Masks of bits 31:0
// keep the kernel's name; masks of bits 63:32 end in _HI and are already shifted down by 32.
// The program rebuilds make_spte()'s RAM leaf and make_nonleaf_spte() from them.
import assert from 'node:assert/strict';
import { word64, word64Hex } from '@kvmx/address';
import {
  ACC_ALL,
  ACC_EXEC_MASK,
  ACC_USER_MASK,
  ACC_WRITE_MASK,
  EPT_SHADOW_ACCESSED_MASK,
  EPT_SHADOW_DIRTY_MASK,
  EPT_SHADOW_PRESENT_MASK_HI,
  EPT_SHADOW_USER_MASK,
  EPT_SHADOW_X_MASK,
  EPT_SPTE_HOST_WRITABLE_HI,
  EPT_SPTE_MMU_WRITABLE_HI,
  eptShadowPresentMaskLo,
  type MakeSpteOptions,
  MT_MASK_MMIO,
  MT_MASK_WB,
  MT_MASK_WB_IPAT,
  MTRR_TYPE_UNCACHABLE,
  MTRR_TYPE_WRBACK,
  makeNonleafSpte,
  makeSpte,
  makeSpteAttrs,
  memtypeMask,
  NONLEAF_ATTRS_HI,
  NONLEAF_ATTRS_LO,
  PT_PAGE_SIZE_MASK,
  PT_WRITABLE_MASK,
  pfnHi,
  pfnLo,
  SPTE_BASE_ADDR_MASK_HI,
  SPTE_BASE_ADDR_MASK_LO,
  SPTE_MMU_PRESENT_MASK,
  spteMemtype,
  VMX_EPT_ACCESS_BIT,
  VMX_EPT_DIRTY_BIT,
  VMX_EPT_EXECUTABLE_MASK,
  VMX_EPT_IPAT_BIT,
  VMX_EPT_MT_EPTE_SHIFT,
  VMX_EPT_MT_MASK,
  VMX_EPT_READABLE_MASK,
  VMX_EPT_RWX_MASK,
  VMX_EPT_SUPPRESS_VE_BIT_HI,
  VMX_EPT_USER_EXECUTABLE_MASK,
  VMX_EPT_WRITABLE_MASK,
} from '@kvmx/paging';

// Hardware bits of an EPT entry (SDM vol. 3, table 29-x), low word.
assert.equal(VMX_EPT_READABLE_MASK | VMX_EPT_WRITABLE_MASK | VMX_EPT_EXECUTABLE_MASK, 0x7);
assert.equal(VMX_EPT_RWX_MASK, 0x7);
assert.equal(VMX_EPT_MT_MASK, 7 << VMX_EPT_MT_EPTE_SHIFT); // memory type, bits 5:3
assert.deepEqual(
  [VMX_EPT_IPAT_BIT, PT_PAGE_SIZE_MASK, VMX_EPT_ACCESS_BIT, VMX_EPT_DIRTY_BIT],
  [1 << 6, 1 << 7, 1 << 8, 1 << 9],
);
assert.equal(VMX_EPT_USER_EXECUTABLE_MASK, 1 << 10); // MBEC; upstream KVM leaves it clear
assert.equal(SPTE_MMU_PRESENT_MASK, 1 << 11); // KVM's software "present" bit, ignored by the CPU
// High word: suppress-#VE is bit 63; KVM's host-/MMU-writable software bits are 57 and 58.
assert.equal(VMX_EPT_SUPPRESS_VE_BIT_HI >>> 0, 2 ** 31);
assert.equal(EPT_SPTE_HOST_WRITABLE_HI, 1 << (57 - 32));
assert.equal(EPT_SPTE_MMU_WRITABLE_HI, 1 << (58 - 32));
// The address field, bits 51:12, split in two.
assert.equal(word64Hex(word64(SPTE_BASE_ADDR_MASK_LO, SPTE_BASE_ADDR_MASK_HI)), '0xffffffffff000');

// What kvm_mmu_set_ept_masks() makes of them under EPT.
assert.equal(EPT_SHADOW_USER_MASK, VMX_EPT_READABLE_MASK); // "user" = readable
assert.equal(EPT_SHADOW_X_MASK, VMX_EPT_EXECUTABLE_MASK);
assert.equal(EPT_SHADOW_ACCESSED_MASK, VMX_EPT_ACCESS_BIT);
assert.equal(EPT_SHADOW_DIRTY_MASK, VMX_EPT_DIRTY_BIT);
assert.equal(PT_WRITABLE_MASK, VMX_EPT_WRITABLE_MASK);
assert.equal(eptShadowPresentMaskLo(true), 0); // exec-only EPT: "present" needs no R bit
assert.equal(eptShadowPresentMaskLo(false), VMX_EPT_READABLE_MASK);
assert.equal(EPT_SHADOW_PRESENT_MASK_HI, VMX_EPT_SUPPRESS_VE_BIT_HI);

// Memory type: vmx_get_mt_mask() gives WB for RAM (with IPAT when guest PAT is ignored), UC
// for MMIO.
assert.equal(MTRR_TYPE_WRBACK, 6);
assert.equal(MTRR_TYPE_UNCACHABLE, 0);
assert.equal(MT_MASK_WB, 0x30);
assert.equal(MT_MASK_WB_IPAT, 0x70);
assert.equal(MT_MASK_MMIO, 0);
assert.equal(memtypeMask(MTRR_TYPE_WRBACK, true), MT_MASK_WB_IPAT);

// make_spte() for a writable 4K RAM page, bit by bit.
const lo =
  SPTE_MMU_PRESENT_MASK |
  EPT_SHADOW_ACCESSED_MASK |
  EPT_SHADOW_X_MASK |
  EPT_SHADOW_USER_MASK |
  MT_MASK_WB |
  PT_WRITABLE_MASK |
  EPT_SHADOW_DIRTY_MASK;
const hi = EPT_SHADOW_PRESENT_MASK_HI | EPT_SPTE_HOST_WRITABLE_HI | EPT_SPTE_MMU_WRITABLE_HI;
assert.equal(ACC_ALL, ACC_EXEC_MASK | ACC_WRITE_MASK | ACC_USER_MASK);
const attrs = makeSpteAttrs({ access: ACC_ALL });
assert.deepEqual(attrs, word64(lo, hi));
assert.equal(word64Hex(attrs), '0x8600000000000b37');
// A leaf is attrs | the PFN's two halves; a PFN above 2^20 reaches the high word.
const pfn = 0x12_3456_789;
assert.deepEqual(makeSpte(pfn), word64(lo | pfnLo(pfn), hi | pfnHi(pfn)));
assert.equal(word64Hex(makeSpte(pfn)), '0x8600123456789b37');

// A read-only, non-executable mapping of a host page KVM may not write (e.g. a RO memslot):
// no W, no D, no MMU-writable, and IPAT set.
const ro: MakeSpteOptions = { access: ACC_USER_MASK, hostWritable: false, mtMask: MT_MASK_WB_IPAT };
assert.equal(word64Hex(makeSpteAttrs(ro)), '0x8000000000000971');
assert.equal(spteMemtype(makeSpteAttrs(ro).lo), MTRR_TYPE_WRBACK);

// make_nonleaf_spte(): the same for every table entry KVM links.
assert.equal(word64Hex(word64(NONLEAF_ATTRS_LO, NONLEAF_ATTRS_HI)), '0x8000000000000907');
assert.deepEqual(
  makeNonleafSpte(0x100002),
  word64(NONLEAF_ATTRS_LO | pfnLo(0x100002), NONLEAF_ATTRS_HI | pfnHi(0x100002)),
);
