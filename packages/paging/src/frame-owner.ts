// Who owns a host frame. One small integer per frame (a Uint8Array in the pool), so the
// owner of any frame is one load away and costs one byte.
//
// The tags follow who holds the page in the real systems:
// - KVM's TDP MMU tables come from the per-vCPU `mmu_shadow_page_cache` (tdp_mmu.c:
//   tdp_mmu_alloc_sp()); a mirror SP's `external_spt` page comes from
//   `mmu_external_spt_cache` and is handed to the TDX module by TDH.MEM.SEPT.ADD.
// - TD control structures (TDR, TDCS pages, TDVPR and TDVPS pages) are host pages given to
//   the module by TDH.MNG.CREATE / TDH.MNG.ADDCX / TDH.VP.CREATE / TDH.VP.ADDCX, and are
//   tracked by the module's PAMT (tdx-module.md).
// - guest_memfd folios back private memory (virt/kvm/guest_memfd.c); the VMM's ordinary
//   anonymous memory backs shared memory.
// Append new tags at the end; never renumber (tests, traces and docs show the numbers).

export const FrameOwner = {
  /** Not allocated. */
  FREE: 0,
  /** Host kernel memory not otherwise modelled. */
  HOST: 1,
  /** A KVM TDP MMU table (direct or mirror root), from mmu_shadow_page_cache. */
  KVM_PAGE_TABLE: 2,
  /** A mirror SP's external_spt page, allocated by KVM before TDH.MEM.SEPT.ADD. */
  KVM_EXTERNAL_SPT: 3,
  /** A guest_memfd folio page: private guest memory. */
  GUEST_MEMFD: 4,
  /** The VMM's shared backing (a memslot's userspace_addr side). */
  VMM_SHARED: 5,
  /** TDX: TD root (TDR). */
  TDX_TDR: 6,
  /** TDX: a TDCS page (TDCX, added by TDH.MNG.ADDCX). */
  TDX_TDCS: 7,
  /** TDX: a vCPU root (TDVPR). */
  TDX_TDVPR: 8,
  /** TDX: a TDVPS page (TDCX of a vCPU, added by TDH.VP.ADDCX). */
  TDX_TDVPX: 9,
  /** TDX: a Secure-EPT table page (after TDH.MEM.SEPT.ADD). */
  TDX_SEPT: 10,
  /** TDX: PAMT memory. */
  TDX_PAMT: 11,
  /** TDX: other TDX-module private memory. */
  TDX_MODULE: 12,
  /** SEV-SNP: the RMP table's own memory. */
  SNP_RMP: 13,
  /** SEV/SNP firmware pages (VMSA, context page, …). */
  SNP_FIRMWARE: 14,
} as const;

export type FrameOwner = (typeof FrameOwner)[keyof typeof FrameOwner];

/** Number of owner tags (one past the highest). */
export const FRAME_OWNER_COUNT = 15;

const OWNER_NAMES: readonly string[] = [
  'free',
  'host',
  'kvm_page_table',
  'kvm_external_spt',
  'guest_memfd',
  'vmm_shared',
  'tdx_tdr',
  'tdx_tdcs',
  'tdx_tdvpr',
  'tdx_tdvpx',
  'tdx_sept',
  'tdx_pamt',
  'tdx_module',
  'snp_rmp',
  'snp_firmware',
];

/** The owner's name in snake_case (`guest_memfd`, `tdx_sept`, …), or `owner_<n>`. */
export function frameOwnerName(owner: number): string {
  return OWNER_NAMES[owner] ?? `owner_${owner}`;
}

/** True for a defined tag (FREE included). */
export function isFrameOwner(value: number): value is FrameOwner {
  return Number.isInteger(value) && value >= 0 && value < FRAME_OWNER_COUNT;
}
