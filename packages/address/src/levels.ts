// Page-table levels and sizes, as KVM names them.
// Source: arch/x86/include/asm/pgtable_types.h (enum pg_level), arch/x86/kvm/mmu/spte.h
// (SPTE_LEVEL_BITS, SPTE_LEVEL_SHIFT, SPTE_INDEX), arch/x86/include/asm/kvm_host.h
// (KVM_HPAGE_*, KVM_PAGES_PER_HPAGE); kvm-mmu.md §3.2, §3.6.

export const PG_LEVEL_NONE = 0;
export const PG_LEVEL_4K = 1;
export const PG_LEVEL_2M = 2;
export const PG_LEVEL_1G = 3;
export const PG_LEVEL_512G = 4;
export const PG_LEVEL_256T = 5;
/** One past the highest level (enum pg_level's PG_LEVEL_NUM). */
export const PG_LEVEL_NUM = 6;

/** A KVM page level: 1 = 4K … 5 = 256T. */
export type PgLevel = 1 | 2 | 3 | 4 | 5;

/** KVM_MAX_HUGEPAGE_LEVEL: KVM maps guest memory with leaves of at most 1 GiB. */
export const KVM_MAX_HUGEPAGE_LEVEL = PG_LEVEL_1G;
/** KVM_NR_PAGE_SIZES. */
export const KVM_NR_PAGE_SIZES = KVM_MAX_HUGEPAGE_LEVEL - PG_LEVEL_4K + 1;

/** PT64_ROOT_4LEVEL / PT64_ROOT_5LEVEL: the root level of a 4- or 5-level TDP. */
export const PT64_ROOT_4LEVEL = 4;
export const PT64_ROOT_5LEVEL = 5;
export type RootLevel = 4 | 5;

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
/** SPTE_LEVEL_BITS: each table level resolves 9 address bits. */
export const SPTE_LEVEL_BITS = 9;
/** SPTE_ENT_PER_PAGE: 512 eight-byte entries per 4 KiB table. */
export const SPTE_ENT_PER_PAGE = 512;

/** True for 1..5. */
export function isPgLevel(value: unknown): value is PgLevel {
  return value === 1 || value === 2 || value === 3 || value === 4 || value === 5;
}

/** Checked constructor: throws RangeError for anything but 1..5. */
export function pgLevel(value: number): PgLevel {
  if (!isPgLevel(value)) throw new RangeError(`not a page level (1..5): ${value}`);
  return value;
}

/** SPTE_LEVEL_SHIFT(level): 12, 21, 30, 39, 48. */
export function levelShift(level: PgLevel): number {
  return PAGE_SHIFT + (level - 1) * SPTE_LEVEL_BITS;
}

/** KVM_HPAGE_GFN_SHIFT(level): 0, 9, 18, 27, 36. */
export function hpageGfnShift(level: PgLevel): number {
  return (level - 1) * SPTE_LEVEL_BITS;
}

/** KVM_HPAGE_SIZE(level) in bytes: 4 KiB, 2 MiB, 1 GiB, 512 GiB, 256 TiB. */
export function levelSize(level: PgLevel): number {
  return 2 ** levelShift(level);
}

/** KVM_PAGES_PER_HPAGE(level): 4 KiB pages covered by one entry at `level` (1, 512, 262144, …). */
export function pagesPerHpage(level: PgLevel): number {
  return 2 ** hpageGfnShift(level);
}

/**
 * SPTE_INDEX(addr, level): the 9-bit table index the hardware walk uses at `level` for the
 * byte address `addr`. Exact for any integer below 2^53 (no bigint, no fmod).
 */
export function spteIndex(addr: number, level: PgLevel): number {
  return Math.floor(addr / 2 ** levelShift(level)) & 511;
}

/** The same index computed from a GFN: `SPTE_INDEX(gfn << 12, level)`. */
export function gfnIndex(gfn: number, level: PgLevel): number {
  return Math.floor(gfn / 2 ** hpageGfnShift(level)) & 511;
}

/** Human name of a level: "4K", "2M", "1G", "512G", "256T". */
export function levelName(level: PgLevel): string {
  return LEVEL_NAMES[level];
}

const LEVEL_NAMES = { 1: '4K', 2: '2M', 3: '1G', 4: '512G', 5: '256T' } as const;
