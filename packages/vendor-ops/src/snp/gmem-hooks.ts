// KVM's SNP hooks for guest_memfd, as functions over the RMP.
// models arch/x86/kvm/svm/sev.c (torvalds/linux @0097f9d, read for this file):
// sev_gmem_prepare(), is_large_rmp_possible(), is_pfn_range_shared(), max_level_for_order(),
// sev_gmem_invalidate(), sev_private_max_mapping_level(). sev-snp.md A.3.

import { PAGE_SIZE, PG_LEVEL_2M, PG_LEVEL_4K, type PgLevel } from '@kvmx/address';
import { EINVAL, ENOENT } from './errno.js';
import { PTRS_PER_PMD, type Rmp } from './rmp.js';
import { rmpMakePrivate, rmpMakeShared, snpRmptablePsmash } from './rmp-linux.js';

/** What the SNP hooks need to know about the VM. */
export interface SnpVmState {
  /** sev_snp_guest(kvm): the VM is an SNP guest (after KVM_SEV_INIT2 on an SNP VM). */
  readonly snpActive: boolean;
  /** The VM's ASID (sev->asid). */
  readonly asid: number;
}

/** KVM_HPAGE_GFN_SHIFT(PG_LEVEL_2M): folio order of a 2M page. */
const ORDER_2M = 9;

/** models sev.c: max_level_for_order(). */
export function maxLevelForOrder(order: number): PgLevel {
  return order >= ORDER_2M ? PG_LEVEL_2M : PG_LEVEL_4K;
}

/** models sev.c: is_pfn_range_shared(): every PFN in [start, end) is unassigned. */
export function isPfnRangeShared(rmp: Rmp, start: number, end: number): boolean {
  for (let pfn = start; pfn < end; pfn++) {
    if (!rmp.covers(pfn) || rmp.isAssigned(pfn)) return false;
  }
  return true;
}

/**
 * models sev.c: is_large_rmp_possible(): the folio is at least 2M and the whole 2M-aligned
 * PFN range around `pfn` is currently shared.
 */
export function isLargeRmpPossible(rmp: Rmp, pfn: number, order: number): boolean {
  const aligned = pfn - (pfn % PTRS_PER_PMD);
  return (
    maxLevelForOrder(order) > PG_LEVEL_4K && isPfnRangeShared(rmp, aligned, aligned + PTRS_PER_PMD)
  );
}

/**
 * models sev.c: sev_gmem_prepare(): guest_memfd hands a private page to KVM. Not SNP → 0.
 * Lookup error → -ENOENT. Already assigned → 0 (a page reused without being freed stays
 * private). Otherwise make it private for the VM's ASID, not immutable: one 2M entry at the
 * aligned PFN/GFN when is_large_rmp_possible(), else one 4K entry. RMPUPDATE failure →
 * -EINVAL. The page is left not validated: the guest must PVALIDATE it.
 */
export function sevGmemPrepare(
  rmp: Rmp,
  vm: SnpVmState,
  pfn: number,
  gfn: number,
  maxOrder: number,
): number {
  if (!vm.snpActive) return 0;
  const e = rmp.lookup(pfn);
  if (e.ret !== 0) return -ENOENT;
  if (e.assigned) return 0;
  let level: PgLevel = PG_LEVEL_4K;
  let pfnAligned = pfn;
  let gfnAligned = gfn;
  if (isLargeRmpPossible(rmp, pfn, maxOrder)) {
    level = PG_LEVEL_2M;
    pfnAligned = pfn - (pfn % PTRS_PER_PMD);
    gfnAligned = gfn - (gfn % PTRS_PER_PMD);
  }
  const saved = rmp.caller;
  rmp.caller = 'sev_gmem_prepare';
  const rc = rmpMakePrivate(rmp, pfnAligned, gfnAligned * PAGE_SIZE, level, vm.asid, false);
  rmp.caller = saved;
  return rc === 0 ? 0 : -EINVAL;
}

/** What sev_gmem_invalidate() did, for traces and tests (the kernel only warns). */
export interface GmemInvalidateResult {
  /** 4K entries made shared. */
  readonly sharedPages: number;
  /** 2M regions PSMASHed because only part of them was freed. */
  readonly psmashed: number;
  /** PFNs whose PSMASH or RMPUPDATE failed (the kernel WARNs and goes on). */
  readonly failed: readonly number[];
}

/**
 * models sev.c: sev_gmem_invalidate(): guest_memfd frees [start, end). For each assigned PFN:
 * if it is 2M-aligned, the range covers all 512 pages and the RMP entry is 2M, one 2M
 * rmp_make_shared and skip 512; otherwise, when the entry is 2M (only part of it is freed),
 * PSMASH first, then a 4K rmp_make_shared. Unassigned PFNs and lookup errors are skipped.
 * (The kernel's clflush of the freed pages has no model counterpart.)
 */
export function sevGmemInvalidate(rmp: Rmp, start: number, end: number): GmemInvalidateResult {
  let sharedPages = 0;
  let psmashed = 0;
  const failed: number[] = [];
  const saved = rmp.caller;
  rmp.caller = 'sev_gmem_invalidate';
  for (let pfn = start; pfn < end; ) {
    let use2m = false;
    // snp_lookup_rmpentry() without building a result object per PFN.
    if (rmp.covers(pfn) && rmp.isAssigned(pfn)) {
      const level = rmp.levelOf(pfn);
      use2m = pfn % PTRS_PER_PMD === 0 && end >= pfn + PTRS_PER_PMD && level > PG_LEVEL_4K;
      if (!use2m && level > PG_LEVEL_4K) {
        if (snpRmptablePsmash(rmp, pfn) !== 0) failed.push(pfn);
        else psmashed++;
      }
      const rc = rmpMakeShared(rmp, pfn, use2m ? PG_LEVEL_2M : PG_LEVEL_4K);
      if (rc !== 0) failed.push(pfn);
      else sharedPages += use2m ? PTRS_PER_PMD : 1;
    }
    pfn += use2m ? PTRS_PER_PMD : 1;
  }
  rmp.caller = saved;
  return { sharedPages, psmashed, failed };
}

/**
 * models sev.c: sev_private_max_mapping_level() (later sev_gmem_max_mapping_level()): 0 (no
 * vendor limit) when not SNP; 4K when the lookup fails or the page is not assigned; else the
 * RMP entry's level — so the NPT never maps a private page larger than its RMP entry.
 */
export function sevPrivateMaxMappingLevel(rmp: Rmp, vm: SnpVmState, pfn: number): number {
  if (!vm.snpActive) return 0;
  const e = rmp.lookup(pfn);
  if (e.ret !== 0 || !e.assigned) return PG_LEVEL_4K;
  return e.level;
}
