// SPTE predicates, field accessors and builders on (lo, hi) int32 words, without bigint.
// Each function names the kernel helper it models (arch/x86/kvm/mmu/spte.h, spte.c).

import { type PgLevel, pagesPerHpage, type Word64, word64 } from '@kvmx/address';
import {
  ACC_EXEC_MASK,
  ACC_USER_MASK,
  ACC_WRITE_MASK,
  EPT_MMIO,
  EPT_SHADOW_ACC_TRACK_MASK,
  EPT_SHADOW_ACCESSED_MASK,
  EPT_SHADOW_DIRTY_MASK,
  EPT_SHADOW_PRESENT_MASK_HI,
  EPT_SHADOW_USER_MASK,
  EPT_SHADOW_X_MASK,
  EPT_SPTE_HOST_WRITABLE_HI,
  EPT_SPTE_MMU_WRITABLE_HI,
  eptShadowPresentMaskLo,
  FROZEN_SPTE_HI,
  FROZEN_SPTE_LO,
  MMIO_SPTE_GEN_HIGH_MASK_HI,
  MMIO_SPTE_GEN_LOW_MASK,
  MMIO_SPTE_GEN_MASK,
  type MmioSpteConfig,
  MTRR_TYPE_UNCACHABLE,
  MTRR_TYPE_WRBACK,
  PT_PAGE_SIZE_MASK,
  PT_WRITABLE_MASK,
  SHADOW_ACC_TRACK_SAVED_BITS_MASK,
  SHADOW_ACC_TRACK_SAVED_MASK_HI,
  SPTE_BASE_ADDR_MASK_HI,
  SPTE_BASE_ADDR_MASK_LO,
  SPTE_MMU_PRESENT_MASK,
  SPTE_TDP_AD_DISABLED_HI,
  SPTE_TDP_AD_MASK_HI,
  SPTE_TDP_AD_WRPROT_ONLY_HI,
  VMX_EPT_IPAT_BIT,
  VMX_EPT_MT_EPTE_SHIFT,
  VMX_EPT_MT_MASK,
  VMX_EPT_SUPPRESS_VE_BIT_HI,
} from './spte-bits.js';

const TWO20 = 1048576;

// ---- predicates ----------------------------------------------------------------------------

/** is_shadow_present_pte(): KVM's software present bit 11. */
export function isShadowPresentPte(lo: number): boolean {
  return (lo & SPTE_MMU_PRESENT_MASK) !== 0;
}

/** is_large_pte(): the page-size bit 7. */
export function isLargePte(lo: number): boolean {
  return (lo & PT_PAGE_SIZE_MASK) !== 0;
}

/** is_last_spte(): a leaf — level 4K, or the page-size bit set. */
export function isLastSpte(lo: number, level: number): boolean {
  return level === 1 || (lo & PT_PAGE_SIZE_MASK) !== 0;
}

/** is_frozen_spte(): the entry equals FROZEN_SPTE. */
export function isFrozenSpte(lo: number, hi: number): boolean {
  return lo === FROZEN_SPTE_LO && (hi | 0) === FROZEN_SPTE_HI;
}

/** is_mmio_spte(kvm, spte): (spte & shadow_mmio_mask) == shadow_mmio_value (caching on). */
export function isMmioSpte(lo: number, hi: number, mmio: MmioSpteConfig = EPT_MMIO): boolean {
  return (lo & mmio.maskLo) === mmio.valueLo && (hi & mmio.maskHi) === (mmio.valueHi & mmio.maskHi);
}

/** A present non-leaf entry at `level` (points to a child table). */
export function isPresentNonLeaf(lo: number, level: number): boolean {
  return (lo & SPTE_MMU_PRESENT_MASK) !== 0 && level > 1 && (lo & PT_PAGE_SIZE_MASK) === 0;
}

/** is_writable_pte(): PT_WRITABLE_MASK (bit 1). */
export function isWritablePte(lo: number): boolean {
  return (lo & PT_WRITABLE_MASK) !== 0;
}

/** is_mmu_writable_spte(): EPT_SPTE_MMU_WRITABLE (bit 58). */
export function isMmuWritableSpte(hi: number): boolean {
  return (hi & EPT_SPTE_MMU_WRITABLE_HI) !== 0;
}

/** EPT_SPTE_HOST_WRITABLE (bit 57). */
export function isHostWritableSpte(hi: number): boolean {
  return (hi & EPT_SPTE_HOST_WRITABLE_HI) !== 0;
}

/** spte_ad_enabled(): A/D mode is not SPTE_TDP_AD_DISABLED. */
export function spteAdEnabled(hi: number): boolean {
  return (hi & SPTE_TDP_AD_MASK_HI) !== SPTE_TDP_AD_DISABLED_HI;
}

/** spte_ad_need_write_protect(): A/D mode is not SPTE_TDP_AD_ENABLED. */
export function spteAdNeedWriteProtect(hi: number): boolean {
  return (hi & SPTE_TDP_AD_MASK_HI) !== 0;
}

/** is_accessed_spte(): with A/D, the A bit; without, "not access-tracked" (RWX non-zero). */
export function isAccessedSpte(lo: number, hi: number): boolean {
  return spteAdEnabled(hi) ? (lo & EPT_SHADOW_ACCESSED_MASK) !== 0 : !isAccessTrackSpte(lo, hi);
}

/** is_access_track_spte(): A/D disabled and no RWX bit left. */
export function isAccessTrackSpte(lo: number, hi: number): boolean {
  return !spteAdEnabled(hi) && (lo & EPT_SHADOW_ACC_TRACK_MASK) === 0;
}

/** is_dirty_spte() under EPT: with A/D, the D bit; without, writable. */
export function isDirtySpte(lo: number, hi: number): boolean {
  return spteAdEnabled(hi) ? (lo & EPT_SHADOW_DIRTY_MASK) !== 0 : (lo & PT_WRITABLE_MASK) !== 0;
}

/** is_executable_pte() under EPT (shadow_x_mask = X, shadow_nx_mask = 0). */
export function isExecutablePte(lo: number): boolean {
  return (lo & EPT_SHADOW_X_MASK) !== 0;
}

/**
 * spte_needs_atomic_update() (spte.c): a present leaf whose hardware-set bits may change
 * under KVM's feet, so a non-atomic write must use xchg: MMU-writable but not writable
 * (fast page fault may make it writable), A/D disabled (access tracking), or writable and
 * not yet dirty.
 */
export function spteNeedsAtomicUpdate(lo: number, hi: number): boolean {
  if (!isShadowPresentPte(lo)) return false;
  if (isMmuWritableSpte(hi) && !isWritablePte(lo)) return true;
  if (!spteAdEnabled(hi)) return true;
  return isWritablePte(lo) && (lo & EPT_SHADOW_DIRTY_MASK) === 0;
}

// ---- fields --------------------------------------------------------------------------------

/** spte_to_pfn(): bits 51:12 as a page number (exact: at most 2^40). */
export function spteToPfn(lo: number, hi: number): number {
  return (hi & SPTE_BASE_ADDR_MASK_HI) * TWO20 + (lo >>> 12);
}

/** Low word of `pfn << 12` (bits 31:12 of the address field). */
export function pfnLo(pfn: number): number {
  return (pfn << 12) & SPTE_BASE_ADDR_MASK_LO;
}

/** High word of `pfn << 12` (bits 51:32). */
export function pfnHi(pfn: number): number {
  return Math.floor(pfn / TWO20) & SPTE_BASE_ADDR_MASK_HI;
}

/** The memory-type field (bits 5:3). */
export function spteMemtype(lo: number): number {
  return (lo & VMX_EPT_MT_MASK) >>> VMX_EPT_MT_EPTE_SHIFT;
}

/** get_mmio_spte_generation(): 19 bits from SPTE bits 10:3 and 62:52. */
export function getMmioSpteGeneration(lo: number, hi: number): number {
  return ((lo & MMIO_SPTE_GEN_LOW_MASK) >>> 3) | ((hi & MMIO_SPTE_GEN_HIGH_MASK_HI) >>> 12);
}

/**
 * get_mmio_spte_gfn() on a host whose physical mask is the full 52 bits (no L1TF GFN
 * relocation: shadow_nonpresent_or_rsvd_mask = 0, kvm_mmu_reset_all_pte_masks()).
 */
export function getMmioSpteGfn(lo: number, hi: number): number {
  return spteToPfn(lo, hi);
}

// ---- builders -----------------------------------------------------------------------------

/** Options of make_spte() for a TDP (EPT) SPTE; the defaults are the common fault. */
export interface MakeSpteOptions {
  /** Page level, 1 = 4K (default). */
  readonly level?: PgLevel;
  /** KVM ACC_* bits (default ACC_ALL: exec, write, user). */
  readonly access?: number;
  /** A prefetch (not a fault): no Accessed bit, marked for access tracking. */
  readonly prefetch?: boolean;
  /** The host mapping is writable (default true). */
  readonly hostWritable?: boolean;
  /** SP role ad_disabled: SPTE_TDP_AD_DISABLED. */
  readonly adDisabled?: boolean;
  /** kvm_mmu_page_ad_need_write_protect(): SPTE_TDP_AD_WRPROT_ONLY (nested/PML). */
  readonly adWrprotOnly?: boolean;
  /** The NX-huge-page mitigation is on: no exec on huge leaves. */
  readonly nxHugePages?: boolean;
  /** The CPU has exec-only EPT (default true: shadow_present_mask carries no R). */
  readonly hasExecOnly?: boolean;
  /**
   * The get_mt_mask() value (bits 6:3): default WB << 3 (vmx_get_mt_mask() for RAM when the
   * VM honours guest PAT, as TDX does); pass memtypeMask(WB, true) for IPAT.
   */
  readonly mtMask?: number;
  /**
   * The old SPTE was already writable: make_spte() skips the unsync check and the Dirty
   * bit (the "goto out" path). Default false.
   */
  readonly oldWritable?: boolean;
}

/** vmx_get_mt_mask()'s result for a memory type and IPAT. MMIO gets UC and no IPAT. */
export function memtypeMask(type: number, ipat = false): number {
  return ((type & 7) << VMX_EPT_MT_EPTE_SHIFT) | (ipat ? VMX_EPT_IPAT_BIT : 0);
}

/** The memtype mask of a RAM leaf: WB, IPAT when the VM ignores guest PAT. */
export const MT_MASK_WB = memtypeMask(MTRR_TYPE_WRBACK);
export const MT_MASK_WB_IPAT = memtypeMask(MTRR_TYPE_WRBACK, true);
export const MT_MASK_MMIO = memtypeMask(MTRR_TYPE_UNCACHABLE);

/**
 * The attribute bits of make_spte() (everything but the PFN), as (lo, hi). A leaf is then
 * `lo | pfnLo(pfn)`, `hi | pfnHi(pfn)` — the hot path builds no object per SPTE.
 * Models spte.c: make_spte() for a TDP MMU fault that needs no unsync (TDP never
 * write-protects for unsync) and with no memory-encryption value (shadow_me_value = 0).
 */
export function makeSpteAttrs(options: MakeSpteOptions = {}): Word64 {
  const level = options.level ?? 1;
  let access = options.access ?? ACC_EXEC_MASK | ACC_WRITE_MASK | ACC_USER_MASK;
  let lo = SPTE_MMU_PRESENT_MASK;
  let hi = 0;
  if (options.adDisabled) hi |= SPTE_TDP_AD_DISABLED_HI;
  else if (options.adWrprotOnly) hi |= SPTE_TDP_AD_WRPROT_ONLY_HI;
  lo |= eptShadowPresentMaskLo(options.hasExecOnly ?? true);
  hi |= EPT_SHADOW_PRESENT_MASK_HI;
  const prefetch = options.prefetch ?? false;
  if (!prefetch) lo |= EPT_SHADOW_ACCESSED_MASK;
  if (level > 1 && (access & ACC_EXEC_MASK) !== 0 && options.nxHugePages) {
    access &= ~ACC_EXEC_MASK;
  }
  if ((access & ACC_EXEC_MASK) !== 0) lo |= EPT_SHADOW_X_MASK; // shadow_nx_mask is 0
  if ((access & ACC_USER_MASK) !== 0) lo |= EPT_SHADOW_USER_MASK;
  if (level > 1) lo |= PT_PAGE_SIZE_MASK;
  lo |= (options.mtMask ?? MT_MASK_WB) & (VMX_EPT_MT_MASK | VMX_EPT_IPAT_BIT);
  if (options.hostWritable ?? true) hi |= EPT_SPTE_HOST_WRITABLE_HI;
  else access &= ~ACC_WRITE_MASK;
  if ((access & ACC_WRITE_MASK) !== 0) {
    lo |= PT_WRITABLE_MASK;
    hi |= EPT_SPTE_MMU_WRITABLE_HI;
    // spte_shadow_dirty_mask(): D only when A/D is enabled for this SPTE.
    if (!options.oldWritable && spteAdEnabled(hi)) lo |= EPT_SHADOW_DIRTY_MASK;
  }
  if (prefetch) {
    const tracked = markSpteForAccessTrack(lo, hi);
    return tracked;
  }
  return word64(lo, hi);
}

/** make_spte(): the full leaf for `pfn` (see makeSpteAttrs). */
export function makeSpte(pfn: number, options: MakeSpteOptions = {}): Word64 {
  const a = makeSpteAttrs(options);
  return word64(a.lo | pfnLo(pfn), a.hi | pfnHi(pfn));
}

/**
 * make_nonleaf_spte(child_pt, ad_disabled): present, R/W/X (user), Accessed (or
 * AD_DISABLED), SUPPRESS_VE, and the child table's address. Mirror non-leaves use the same
 * value. With A/D on: `pa | 0x8000000000000907`.
 */
export function makeNonleafSpte(childPfn: number, adDisabled = false, hasExecOnly = true): Word64 {
  let lo =
    SPTE_MMU_PRESENT_MASK |
    pfnLo(childPfn) |
    eptShadowPresentMaskLo(hasExecOnly) |
    PT_WRITABLE_MASK |
    EPT_SHADOW_USER_MASK |
    EPT_SHADOW_X_MASK;
  let hi = pfnHi(childPfn) | EPT_SHADOW_PRESENT_MASK_HI;
  if (adDisabled) hi |= SPTE_TDP_AD_DISABLED_HI;
  else lo |= EPT_SHADOW_ACCESSED_MASK;
  return word64(lo, hi);
}

/** The attribute bits of make_nonleaf_spte() (the words minus the address). */
export const NONLEAF_ATTRS_LO =
  SPTE_MMU_PRESENT_MASK |
  PT_WRITABLE_MASK |
  EPT_SHADOW_USER_MASK |
  EPT_SHADOW_X_MASK |
  EPT_SHADOW_ACCESSED_MASK;
export const NONLEAF_ATTRS_HI = EPT_SHADOW_PRESENT_MASK_HI;

/**
 * mark_spte_for_access_track(): with A/D, clear Accessed; otherwise save R and X into bits
 * 54/56 and clear RWX and Accessed. An SPTE already access-tracked is returned as is.
 */
export function markSpteForAccessTrack(lo: number, hi: number): Word64 {
  if (spteAdEnabled(hi)) return word64(lo & ~EPT_SHADOW_ACCESSED_MASK, hi);
  if (isAccessTrackSpte(lo, hi)) return word64(lo, hi);
  const saved = (lo & SHADOW_ACC_TRACK_SAVED_BITS_MASK) << 22;
  return word64(
    lo & ~(EPT_SHADOW_ACC_TRACK_MASK | EPT_SHADOW_ACCESSED_MASK),
    (hi & ~SHADOW_ACC_TRACK_SAVED_MASK_HI) | saved,
  );
}

/**
 * restore_acc_track_spte(): put the saved R/X back and clear the saved bits (A/D-disabled
 * SPTEs only).
 */
export function restoreAccTrackSpte(lo: number, hi: number): Word64 {
  const saved = (hi & SHADOW_ACC_TRACK_SAVED_MASK_HI) >>> 22;
  return word64(lo | saved, hi & ~SHADOW_ACC_TRACK_SAVED_MASK_HI);
}

/**
 * make_small_spte(): the child of a huge leaf at `index` of the new table one level down:
 * add index × KVM_PAGES_PER_HPAGE(childLevel) to the PFN and drop the page-size bit at 4K.
 * With the NX-huge-page mitigation, a 4K child of an executable mapping gets X back
 * (make_spte_executable()) when `execAllowed`.
 */
export function makeSmallSpte(
  hugeLo: number,
  hugeHi: number,
  childLevel: PgLevel,
  index: number,
  execAllowed = false,
): Word64 {
  const pfn = spteToPfn(hugeLo, hugeHi) + index * pagesPerHpage(childLevel);
  let lo = (hugeLo & ~SPTE_BASE_ADDR_MASK_LO) | pfnLo(pfn);
  const hi = (hugeHi & ~SPTE_BASE_ADDR_MASK_HI) | pfnHi(pfn);
  if (childLevel === 1) {
    lo &= ~PT_PAGE_SIZE_MASK;
    if (execAllowed) lo |= EPT_SHADOW_X_MASK;
  }
  return word64(lo, hi);
}

/**
 * make_huge_spte(): a leaf at `level` from one of its small leaves: set the page-size bit
 * and align the address down to the huge page.
 */
export function makeHugeSpte(smallLo: number, smallHi: number, level: PgLevel): Word64 {
  const pages = pagesPerHpage(level);
  const pfn = spteToPfn(smallLo, smallHi);
  const base = pfn - (pfn % pages);
  return word64(
    ((smallLo & ~SPTE_BASE_ADDR_MASK_LO) | pfnLo(base) | PT_PAGE_SIZE_MASK) >>> 0,
    (smallHi & ~SPTE_BASE_ADDR_MASK_HI) | pfnHi(base),
  );
}

/**
 * make_mmio_spte() under a VM's MMIO value: generation bits, the MMIO value, and the GPA
 * (access bits: shadow_mmio_access_mask is 0 under EPT; no L1TF relocation on a 52-bit host).
 */
export function makeMmioSpte(
  gfn: number,
  generation: number,
  mmio: MmioSpteConfig = EPT_MMIO,
): Word64 {
  const gen = generation & MMIO_SPTE_GEN_MASK;
  const lo = ((gen << 3) & MMIO_SPTE_GEN_LOW_MASK) | mmio.valueLo | pfnLo(gfn);
  const hi = ((gen << 12) & MMIO_SPTE_GEN_HIGH_MASK_HI) | mmio.valueHi | pfnHi(gfn);
  return word64(lo, hi);
}

/** The suppress-#VE bit (63). */
export function isSuppressVe(hi: number): boolean {
  return (hi & VMX_EPT_SUPPRESS_VE_BIT_HI) !== 0;
}
