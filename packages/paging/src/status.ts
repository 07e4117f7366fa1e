// Results of paging-tree operations: 0 or a negative errno, as the kernel's MMU helpers
// return them (include/uapi/asm-generic/errno-base.h). Illegal requests come back as these
// values; they never throw.

export const PAGING_OK = 0;
/** No such entry or table on the way (the walk stopped above the requested level). */
export const ENOENT = 2;
/** The frame pool is out of frames (a failed page-table allocation). */
export const ENOMEM = 12;
/** A FROZEN_SPTE was met, or a compare-and-exchange lost (tdp_mmu_set_spte_atomic()). */
export const EBUSY = 16;
/** The slot is already a table (linkTable), or the value is already there. */
export const EEXIST = 17;
/** A bad GFN, level or alignment, or an entry that is not what the operation needs. */
export const EINVAL = 22;
/** An entry points at a frame that is not a table of this pool (a corrupt tree). */
export const EFAULT = 14;

const NAMES: Readonly<Record<number, string>> = {
  0: 'OK',
  [-ENOENT]: 'ENOENT',
  [-ENOMEM]: 'ENOMEM',
  [-EBUSY]: 'EBUSY',
  [-EEXIST]: 'EEXIST',
  [-EINVAL]: 'EINVAL',
  [-EFAULT]: 'EFAULT',
};

/** The errno name of a result (`OK` for 0), e.g. for traces and test messages. */
export function pagingStatusName(status: number): string {
  return NAMES[status] ?? `errno ${-status}`;
}
