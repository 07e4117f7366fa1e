// Page-fault error-code bits, hardware and KVM-synthetic.
// Source: arch/x86/include/asm/kvm_host.h (PFERR_*_MASK); kvm-mmu.md §2.2, sev-snp.md A.4.
//
// An error code is kept as a plain number: the highest bit KVM uses is 49 (< 2^53), so it is
// exact as a double. Bits above 31 cannot go through JS bitwise operators; use pferrHas /
// pferrSet, which work on single-bit masks by division.

import { testBit } from '@kvmx/address';

export const PFERR_PRESENT_MASK = 1 << 0;
export const PFERR_WRITE_MASK = 1 << 1;
export const PFERR_USER_MASK = 1 << 2;
export const PFERR_RSVD_MASK = 1 << 3;
export const PFERR_FETCH_MASK = 1 << 4;
export const PFERR_PK_MASK = 1 << 5;
export const PFERR_SGX_MASK = 1 << 15;
/** SNP: the fault was caused by an RMP check (bit 31). */
export const PFERR_GUEST_RMP_MASK = 2 ** 31;
/** The fault happened on the final (guest-physical) translation (bit 32). */
export const PFERR_GUEST_FINAL_MASK = 2 ** 32;
/** The fault happened while walking the guest's page tables (bit 33). */
export const PFERR_GUEST_PAGE_MASK = 2 ** 33;
/** SNP: the guest's effective C-bit was 1 (bit 34). */
export const PFERR_GUEST_ENC_MASK = 2 ** 34;
/** KVM-synthetic: an access KVM makes on the guest's behalf (bit 48). */
export const PFERR_IMPLICIT_ACCESS = 2 ** 48;
/** KVM-synthetic: the fault is a private access (bit 49); `fault->is_private`. */
export const PFERR_PRIVATE_ACCESS = 2 ** 49;

/** True when single-bit `mask` is set in `code`. */
export function pferrHas(code: number, mask: number): boolean {
  return testBit(code, mask) === 1;
}

/** `code | mask` for a single-bit mask. */
export function pferrSet(code: number, mask: number): number {
  return pferrHas(code, mask) ? code : code + mask;
}

/** `code & ~mask` for a single-bit mask. */
export function pferrClear(code: number, mask: number): number {
  return pferrHas(code, mask) ? code - mask : code;
}
