// How an SNP guest's nested page fault becomes a KVM fault, and what KVM does afterwards when
// the fault was an RMP violation.
// models arch/x86/kvm/svm/svm.c: npf_interception() (the SNP part) and
// arch/x86/kvm/svm/sev.c: sev_handle_rmp_fault() (torvalds/linux @0097f9d, read for this file).
// sev-snp.md A.4, A.9; kvm-mmu.md §2.1–2.2.

import { PAGE_SHIFT, PG_LEVEL_4K } from '@kvmx/address';
import {
  PFERR_GUEST_ENC_MASK,
  PFERR_GUEST_RMP_MASK,
  PFERR_IMPLICIT_ACCESS,
  PFERR_PRIVATE_ACCESS,
  pferrClear,
  pferrHas,
  pferrSet,
} from '../pferr.js';
import { PTRS_PER_PMD, type Rmp } from './rmp.js';
import { snpRmptablePsmash } from './rmp-linux.js';

/**
 * models svm.c: npf_interception() up to kvm_mmu_page_fault(): the hardware error code with
 * any KVM-synthetic bits cleared (KVM WARNs if hardware ever sets them), plus
 * PFERR_PRIVATE_ACCESS when the VM is an SNP guest and the fault's ENC bit (bit 34, the
 * guest's effective C-bit) is set. That is the only source of "private" for SNP: the GPA says
 * nothing. SEV and SEV-ES guests never have private faults, encrypted or not.
 */
export function snpNpfErrorCode(hwErrorCode: number, snpActive: boolean, enc = false): number {
  let code = pferrClear(hwErrorCode, PFERR_IMPLICIT_ACCESS);
  code = pferrClear(code, PFERR_PRIVATE_ACCESS);
  if (enc) code = pferrSet(code, PFERR_GUEST_ENC_MASK);
  if (snpActive && pferrHas(code, PFERR_GUEST_ENC_MASK)) {
    code = pferrSet(code, PFERR_PRIVATE_ACCESS);
  }
  return code;
}

/** npf_interception(): after the MMU handled the fault (rc > 0), does KVM call sev_handle_rmp_fault? */
export function needsRmpFaultHandling(mmuRc: number, errorCode: number): boolean {
  return mmuRc > 0 && pferrHas(errorCode, PFERR_GUEST_RMP_MASK);
}

/** What sev_handle_rmp_fault() needs from the rest of KVM. */
export interface RmpFaultContext {
  /** kvm_mem_is_private(kvm, gfn). */
  memIsPrivate(gfn: number): boolean;
  /** kvm_slot_can_be_private(gfn_to_memslot(kvm, gfn)): a memslot with guest_memfd. */
  slotCanBePrivate(gfn: number): boolean;
  /** kvm_gmem_get_pfn(): the PFN behind the GFN, or a negative errno. */
  gmemGetPfn(gfn: number): number;
  /** kvm_zap_gfn_range(kvm, start, end). */
  zapGfnRange(start: number, end: number): void;
}

/** How sev_handle_rmp_fault() ended (the kernel warns or traces; the model says which). */
export type RmpFaultOutcome =
  | 'not_private' // RMP fault on a shared GFN: unexpected, warned (those become memory-fault exits)
  | 'not_gmem_slot' // the slot has no guest_memfd: warned
  | 'no_backing' // kvm_gmem_get_pfn failed: warned
  | 'not_assigned' // the PFN is not assigned in the RMP: warned
  | 'spurious' // the entry is already 4K (a racing PSMASH): traced, nothing done
  | 'psmash_zap' // PSMASH of the 2M entry, then zap of the 2M GFN range
  | 'psmash_failed_zap'; // PSMASH failed and the entry is not 4K: warned, zapped anyway

/**
 * models sev.c: sev_handle_rmp_fault(): an #NPF with PFERR_GUEST_RMP_MASK on a private GFN
 * whose backing PFN is assigned at 2M means the guest used 4K granularity (PVALIDATE /
 * RMPADJUST with SIZEM, or an NPT mapping smaller than the RMP entry): PSMASH the 2M entry and
 * zap the NPT mappings of gfn .. gfn+511 so that they are rebuilt at 4K.
 *
 * The zap starts at the faulting GFN, not at the 2M boundary, exactly as the kernel passes
 * `gfn, gfn + PTRS_PER_PMD`: the whole 2M mapping is still dropped, since a huge SPTE that
 * overlaps the range is zapped.
 */
export function sevHandleRmpFault(rmp: Rmp, ctx: RmpFaultContext, gpa: number): RmpFaultOutcome {
  const gfn = Math.floor(gpa / 2 ** PAGE_SHIFT);
  if (!ctx.memIsPrivate(gfn)) return 'not_private';
  if (!ctx.slotCanBePrivate(gfn)) return 'not_gmem_slot';
  const pfn = ctx.gmemGetPfn(gfn);
  if (pfn < 0) return 'no_backing';
  const e = rmp.lookup(pfn);
  if (e.ret !== 0 || !e.assigned) return 'not_assigned';
  if (e.level === PG_LEVEL_4K) return 'spurious';
  const saved = rmp.caller;
  rmp.caller = 'sev_handle_rmp_fault';
  const ret = snpRmptablePsmash(rmp, pfn);
  rmp.caller = saved;
  let outcome: RmpFaultOutcome = 'psmash_zap';
  if (ret !== 0) {
    const again = rmp.lookup(pfn);
    if (again.ret === 0 && again.assigned && again.level === PG_LEVEL_4K) return 'spurious';
    outcome = 'psmash_failed_zap';
  }
  ctx.zapGfnRange(gfn, gfn + PTRS_PER_PMD);
  return outcome;
}
