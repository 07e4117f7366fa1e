// The host kernel's wrappers around the RMP instructions, as KVM calls them.
// models arch/x86/virt/svm/sev.c: rmp_make_private(), rmp_make_shared(), rmpupdate(),
// psmash(); and arch/x86/kvm/svm/sev.c: snp_rmptable_psmash().

import type { PgLevel } from '@kvmx/address';
import { EFAULT, EINVAL } from './errno.js';
import { PTRS_PER_PMD, type Rmp, type RmpState } from './rmp.js';
import { RMP_SUCCESS } from './rmp-status.js';

/**
 * models sev.c: rmpupdate(). The kernel retries while the instruction returns
 * RMPUPDATE_FAIL_OVERLAP, because there the overlap is a transient race with another CPU; the
 * model has no concurrency, so the same state would be seen again and the kernel would spin —
 * here any nonzero code is reported as -EFAULT at once, as the kernel does for other codes.
 * (The kernel's direct-map split, adjust_direct_map(), is host-side only and not modelled.)
 */
export function rmpupdate(rmp: Rmp, pfn: number, state: RmpState): number {
  const ret = rmp.rmpupdate(pfn, state);
  return ret === RMP_SUCCESS ? 0 : -EFAULT;
}

/** models sev.c: rmp_make_private(): assign `pfn` to `asid` at `gpa`. 0 or -EFAULT. */
export function rmpMakePrivate(
  rmp: Rmp,
  pfn: number,
  gpa: number,
  level: PgLevel,
  asid: number,
  immutable: boolean,
): number {
  return rmpupdate(rmp, pfn, { gpa, assigned: true, pageSize: level, immutable, asid });
}

/** models sev.c: rmp_make_shared(): back to hypervisor-owned (all fields zero but the size). */
export function rmpMakeShared(rmp: Rmp, pfn: number, level: PgLevel): number {
  return rmpupdate(rmp, pfn, {
    gpa: 0,
    assigned: false,
    pageSize: level,
    immutable: false,
    asid: 0,
  });
}

/** models sev.c: psmash(): -EINVAL for a PFN the kernel has no page for, else the code. */
export function psmash(rmp: Rmp, pfn: number): number {
  if (!rmp.covers(pfn)) return -EINVAL;
  return rmp.psmash(pfn);
}

/**
 * models kvm/svm/sev.c: snp_rmptable_psmash(): PSMASH the 2M region containing `pfn` (the
 * kernel retries on PSMASH_FAIL_INUSE, which the model never returns).
 */
export function snpRmptablePsmash(rmp: Rmp, pfn: number): number {
  return psmash(rmp, pfn - (pfn % PTRS_PER_PMD));
}
