// Page-fault error-code bits that SNP involves: the hardware #NPF error code (EXITINFO1) as
// KVM names its bits, KVM's synthetic bits, and the host #PF RMP bit.
//
// Sources: arch/x86/include/asm/kvm_host.h (PFERR_GUEST_RMP_BIT 31 … PFERR_GUEST_VMPL_BIT 36,
// verified in the SNP host series that added them; PFERR_IMPLICIT_ACCESS 48,
// PFERR_PRIVATE_ACCESS 49), kvm-mmu.md §2.2, sev-snp.md A.4. Host side:
// arch/x86/include/asm/trap_pf.h X86_PF_RMP = BIT(31).
//
// The codes reach bit 49, above the 32 bits JavaScript's bitwise operators see, so they are
// plain numbers (exact below 2^53) combined with the helpers below, never with `|` or `&`.

export const PFERR_PRESENT_MASK = 2 ** 0;
export const PFERR_WRITE_MASK = 2 ** 1;
export const PFERR_USER_MASK = 2 ** 2;
export const PFERR_RSVD_MASK = 2 ** 3;
export const PFERR_FETCH_MASK = 2 ** 4;
/** The fault was an RMP check failure. */
export const PFERR_GUEST_RMP_MASK = 2 ** 31;
/** The fault was on the final guest-physical address (not a guest page-table walk). */
export const PFERR_GUEST_FINAL_MASK = 2 ** 32;
/** The fault happened during the guest page-table walk. */
export const PFERR_GUEST_PAGE_MASK = 2 ** 33;
/** The guest's effective C-bit was 1: an encrypted (private) access. */
export const PFERR_GUEST_ENC_MASK = 2 ** 34;
/** PVALIDATE/RMPADJUST asked for 4K on a 2M RMP entry. */
export const PFERR_GUEST_SIZEM_MASK = 2 ** 35;
/** VMPL permission check failure. */
export const PFERR_GUEST_VMPL_MASK = 2 ** 36;
/** KVM-synthetic: an access KVM made on the guest's behalf. */
export const PFERR_IMPLICIT_ACCESS = 2 ** 48;
/** KVM-synthetic: the fault is a private access (kvm_page_fault.is_private). */
export const PFERR_PRIVATE_ACCESS = 2 ** 49;
/** PFERR_IMPLICIT_ACCESS | PFERR_PRIVATE_ACCESS. */
export const PFERR_SYNTHETIC_MASK = PFERR_IMPLICIT_ACCESS + PFERR_PRIVATE_ACCESS;

/** Host #PF error-code bit for an RMP violation (X86_PF_RMP). */
export const X86_PF_RMP = 2 ** 31;
/** Host #PF: write access. */
export const X86_PF_WRITE = 2 ** 1;
/** Host #PF: the page was present. */
export const X86_PF_PROT = 2 ** 0;

/** #VC error code for an access to a page whose RMP Validated bit is clear (sev-snp.md A.2). */
export const SVM_EXIT_VC_PAGE_NOT_VALIDATED = 0x404;

/** True when every bit of `mask` (a single power of two) is set in `code`. */
export function errorCodeHas(code: number, mask: number): boolean {
  return Math.floor(code / mask) % 2 === 1;
}

/** `code | mask` for a single-bit mask, exact above bit 31. */
export function errorCodeSet(code: number, mask: number): number {
  return errorCodeHas(code, mask) ? code : code + mask;
}

/** `code & ~mask` for a single-bit mask, exact above bit 31. */
export function errorCodeClear(code: number, mask: number): number {
  return errorCodeHas(code, mask) ? code - mask : code;
}
