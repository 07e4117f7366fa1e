// Fault error-code bits only SNP involves, beside the shared PFERR_* table in ../pferr.ts:
// the #NPF size-mismatch and VMPL bits, KVM's synthetic mask, the host #PF RMP bit and the
// #VC code of an unvalidated page.
//
// Sources: arch/x86/include/asm/kvm_host.h (PFERR_GUEST_SIZEM_BIT 35, PFERR_GUEST_VMPL_BIT
// 36, verified in the SNP host series that added them with PFERR_GUEST_RMP_BIT 31 and
// PFERR_GUEST_ENC_BIT 34; PFERR_SYNTHETIC_MASK), arch/x86/include/asm/trap_pf.h (X86_PF_RMP
// = BIT(31)), sev-snp.md A.2 (#VC PAGE_NOT_VALIDATED 0x404), kvm-mmu.md §2.2.
//
// The codes reach bit 49, above what JS bitwise operators see: combine them with
// pferrHas / pferrSet / pferrClear from ../pferr.ts, never with `|` or `&`.

import { PFERR_IMPLICIT_ACCESS, PFERR_PRIVATE_ACCESS } from '../pferr.js';

/** PVALIDATE/RMPADJUST asked for 4K on a 2M RMP entry (bit 35). */
export const PFERR_GUEST_SIZEM_MASK = 2 ** 35;
/** VMPL permission check failure (bit 36). */
export const PFERR_GUEST_VMPL_MASK = 2 ** 36;
/** PFERR_IMPLICIT_ACCESS | PFERR_PRIVATE_ACCESS: bits hardware must never report. */
export const PFERR_SYNTHETIC_MASK = PFERR_IMPLICIT_ACCESS + PFERR_PRIVATE_ACCESS;

/** Host #PF error-code bit for an RMP violation (X86_PF_RMP). */
export const X86_PF_RMP = 2 ** 31;
/** Host #PF: write access. */
export const X86_PF_WRITE = 2 ** 1;
/** Host #PF: the page was present (a protection fault). */
export const X86_PF_PROT = 2 ** 0;

/** #VC error code for an access to a page whose RMP Validated bit is clear. */
export const SVM_EXIT_VC_PAGE_NOT_VALIDATED = 0x404;
