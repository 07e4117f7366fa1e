// EPT entry bits as KVM uses them, written once, on the lo/hi word representation.
//
// An entry is two int32 words: lo = bits 31:0, hi = bits 63:32 (performance.md B.6). Masks
// for bits 31:0 keep the kernel's name; masks for bits 63:32 carry a `_HI` suffix and are
// the kernel value shifted right by 32, as an int32 (so `hi & X_HI` tests the bit).
//
// Sources (kvm-mmu.md §3, pinned to Linux 6.17-rc):
// - arch/x86/include/asm/vmx.h: VMX_EPT_* architectural bits;
// - arch/x86/kvm/mmu/spte.h: SPTE_MMU_PRESENT_MASK, SPTE_TDP_AD_*, EPT_SPTE_*_WRITABLE,
//   SHADOW_ACC_TRACK_SAVED_BITS_*, SHADOW_NONPRESENT_VALUE, FROZEN_SPTE, MMIO_SPTE_GEN_*,
//   SPTE_BASE_ADDR_MASK;
// - arch/x86/kvm/mmu/spte.c: kvm_mmu_set_ept_masks() (the shadow_* masks under EPT);
// - arch/x86/kvm/vmx/tdx.c: tdx_vm_init() sets the per-VM MMIO value to 0;
// - arch/x86/include/asm/pgtable_types.h / mmu.h: PT_PAGE_SIZE_MASK, PT_WRITABLE_MASK.

import { type Word64, word64 } from '@kvmx/address';

// ---- architectural EPT bits (asm/vmx.h) ------------------------------------------------

export const VMX_EPT_READABLE_MASK = 0x1;
export const VMX_EPT_WRITABLE_MASK = 0x2;
export const VMX_EPT_EXECUTABLE_MASK = 0x4;
export const VMX_EPT_RWX_MASK = 0x7;
export const VMX_EPT_MT_EPTE_SHIFT = 3;
/** Memory type of a leaf, bits 5:3. */
export const VMX_EPT_MT_MASK = 0x38;
/** Ignore guest PAT, bit 6. */
export const VMX_EPT_IPAT_BIT = 0x40;
/** Accessed flag, bit 8. */
export const VMX_EPT_ACCESS_BIT = 0x100;
/** Dirty flag, bit 9. */
export const VMX_EPT_DIRTY_BIT = 0x200;
/**
 * Execute access for user-mode linear addresses, bit 10, with mode-based execute control
 * (MBEC). Upstream KVM does not set it; the MBEC series names it (LKML, "KVM: VMX: Define
 * VMX_EPT_USER_EXECUTABLE_MASK"). Decoded for completeness.
 */
export const VMX_EPT_USER_EXECUTABLE_MASK = 0x400;
/** Suppress #VE, bit 63. */
export const VMX_EPT_SUPPRESS_VE_BIT_HI = 0x80000000 | 0;
/** W|X without R: an EPT misconfiguration, KVM's MMIO marker under EPT. */
export const VMX_EPT_MISCONFIG_WX_VALUE = 0x6;

/** EPT memory types (SDM vol. 3, 29.3.7; asm/vmx.h VMX_EPTP_MT_*, mtrr.h). */
export const MTRR_TYPE_UNCACHABLE = 0;
export const MTRR_TYPE_WRBACK = 6;

// ---- legacy x86 PTE names KVM applies to TDP SPTEs (pgtable_types.h, mmu.h) -------------

/** PT_PAGE_SIZE_MASK: bit 7, a leaf above 4K. */
export const PT_PAGE_SIZE_MASK = 0x80;
/** PT_WRITABLE_MASK: bit 1, the same bit as EPT W. */
export const PT_WRITABLE_MASK = 0x2;

// ---- KVM software bits (spte.h) ------------------------------------------------------------

/** SPTE_MMU_PRESENT_MASK: bit 11, set in every shadow-present SPTE. */
export const SPTE_MMU_PRESENT_MASK = 0x800;
/** SPTE_TDP_AD_SHIFT = 52: the A/D mode, bits 53:52 (hi bits 21:20). */
export const SPTE_TDP_AD_SHIFT = 52;
export const SPTE_TDP_AD_MASK_HI = 0x3 << 20;
export const SPTE_TDP_AD_ENABLED_HI = 0;
export const SPTE_TDP_AD_DISABLED_HI = 0x1 << 20;
export const SPTE_TDP_AD_WRPROT_ONLY_HI = 0x2 << 20;
/** SHADOW_ACC_TRACK_SAVED_BITS_MASK = R|X, saved at SHADOW_ACC_TRACK_SAVED_BITS_SHIFT = 54. */
export const SHADOW_ACC_TRACK_SAVED_BITS_MASK = 0x5;
export const SHADOW_ACC_TRACK_SAVED_BITS_SHIFT = 54;
/** The saved R (bit 54) and X (bit 56) in the hi word. */
export const SHADOW_ACC_TRACK_SAVED_MASK_HI = SHADOW_ACC_TRACK_SAVED_BITS_MASK << 22;
/** EPT_SPTE_HOST_WRITABLE: bit 57, the host mapping is writable. */
export const EPT_SPTE_HOST_WRITABLE_HI = 1 << 25;
/** EPT_SPTE_MMU_WRITABLE: bit 58, KVM allows the SPTE to be made writable. */
export const EPT_SPTE_MMU_WRITABLE_HI = 1 << 26;

/** SPTE_BASE_ADDR_MASK with a 52-bit physical mask: bits 51:12. */
export const SPTE_BASE_ADDR_MASK_LO = 0xfffff000 | 0;
export const SPTE_BASE_ADDR_MASK_HI = 0xfffff;

/** SHADOW_NONPRESENT_VALUE: BIT_ULL(63) on 64-bit hosts; a zapped or never-set SPTE. */
export const SHADOW_NONPRESENT_VALUE_LO = 0;
export const SHADOW_NONPRESENT_VALUE_HI = 0x80000000 | 0;
/** FROZEN_SPTE = SHADOW_NONPRESENT_VALUE | 0x5a0: "another thread owns this SPTE". */
export const FROZEN_SPTE_LO = 0x5a0;
export const FROZEN_SPTE_HI = SHADOW_NONPRESENT_VALUE_HI;

export const SHADOW_NONPRESENT_VALUE: Word64 = word64(
  SHADOW_NONPRESENT_VALUE_LO,
  SHADOW_NONPRESENT_VALUE_HI,
);
export const FROZEN_SPTE: Word64 = word64(FROZEN_SPTE_LO, FROZEN_SPTE_HI);

// ---- masks kvm_mmu_set_ept_masks(has_ad_bits, has_exec_only) installs (spte.c) ----------

/** shadow_user_mask: R doubles as "user" so exec-only mappings can exist. */
export const EPT_SHADOW_USER_MASK = VMX_EPT_READABLE_MASK;
export const EPT_SHADOW_ACCESSED_MASK = VMX_EPT_ACCESS_BIT;
export const EPT_SHADOW_DIRTY_MASK = VMX_EPT_DIRTY_BIT;
export const EPT_SHADOW_X_MASK = VMX_EPT_EXECUTABLE_MASK;
/** shadow_acc_track_mask. */
export const EPT_SHADOW_ACC_TRACK_MASK = VMX_EPT_RWX_MASK;
/** shadow_present_mask, lo part: R unless the CPU supports exec-only EPT entries. */
export function eptShadowPresentMaskLo(hasExecOnly: boolean): number {
  return hasExecOnly ? 0 : VMX_EPT_READABLE_MASK;
}
/** shadow_present_mask, hi part: SUPPRESS_VE, so W/X violations still exit to KVM. */
export const EPT_SHADOW_PRESENT_MASK_HI = VMX_EPT_SUPPRESS_VE_BIT_HI;

// ---- MMIO SPTEs (spte.h, spte.c) ---------------------------------------------------------

/** Generation bits 7:0 live at SPTE bits 10:3 (MMIO_SPTE_GEN_LOW_START/END). */
export const MMIO_SPTE_GEN_LOW_START = 3;
export const MMIO_SPTE_GEN_LOW_END = 10;
/** Generation bits 18:8 live at SPTE bits 62:52 (MMIO_SPTE_GEN_HIGH_START/END). */
export const MMIO_SPTE_GEN_HIGH_START = 52;
export const MMIO_SPTE_GEN_HIGH_END = 62;
/** MMIO_SPTE_GEN_MASK = GENMASK_ULL(18, 0): 19 generation bits. */
export const MMIO_SPTE_GEN_MASK = 0x7ffff;
export const MMIO_SPTE_GEN_LOW_MASK = 0x7f8;
export const MMIO_SPTE_GEN_HIGH_MASK_HI = 0x7ff << 20;

/** How a VM recognises MMIO SPTEs: is_mmio_spte() = (spte & mask) == value. */
export interface MmioSpteConfig {
  readonly valueLo: number;
  readonly valueHi: number;
  readonly maskLo: number;
  readonly maskHi: number;
}

/** EPT default: value W|X (misconfig), mask RWX|SUPPRESS_VE (kvm_mmu_set_ept_masks()). */
export const EPT_MMIO: MmioSpteConfig = Object.freeze({
  valueLo: VMX_EPT_MISCONFIG_WX_VALUE,
  valueHi: 0,
  maskLo: VMX_EPT_RWX_MASK,
  maskHi: VMX_EPT_SUPPRESS_VE_BIT_HI,
});

/**
 * TDX: tdx_vm_init() calls kvm_mmu_set_mmio_spte_value(kvm, 0): RWX = 0 and SUPPRESS_VE
 * clear, so the access is an EPT violation that becomes a #VE in the TD, whose handler turns
 * it into a TDVMCALL; the mask stays EPT's.
 */
export const TDX_MMIO: MmioSpteConfig = Object.freeze({
  valueLo: 0,
  valueHi: 0,
  maskLo: VMX_EPT_RWX_MASK,
  maskHi: VMX_EPT_SUPPRESS_VE_BIT_HI,
});

// ---- KVM's access bits for make_spte() (mmu.h ACC_*) ---------------------------------------

export const ACC_EXEC_MASK = 1;
export const ACC_WRITE_MASK = PT_WRITABLE_MASK;
export const ACC_USER_MASK = 4;
export const ACC_ALL = ACC_EXEC_MASK | ACC_WRITE_MASK | ACC_USER_MASK;
