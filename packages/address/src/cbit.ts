// The SEV/SEV-ES/SNP C-bit: the guest page-table bit that selects encrypted (private) memory.
// Its position comes from CPUID Fn8000_001F EBX[5:0] (AMD APM vol. 2, 15.34.1; sev-snp.md).
// It is a property of guest page tables: the GPA of a nested page fault does not carry it,
// the fault's ENC bit (PFERR_GUEST_ENC_MASK, bit 34) does.

import { testBit } from './bits.js';

/** The C-bit position when none is configured: 51, as on current EPYC parts. */
export const DEFAULT_CBIT = 51;
/** Lowest position accepted: above the 4 KiB page offset. */
export const MIN_CBIT = 12;
/** Highest position accepted: below MAXPHYADDR 52. */
export const MAX_CBIT = 51;

/** CPUID Fn8000_001F EBX[5:0]. */
export function cbitFromCpuid(ebx: number): number {
  return ebx & 0x3f;
}

export function isValidCbit(position: number): boolean {
  return Number.isInteger(position) && position >= MIN_CBIT && position <= MAX_CBIT;
}

/** The C-bit as an address mask. */
export function cbitMask(position: number): number {
  if (!isValidCbit(position)) throw new RangeError(`C-bit position out of range: ${position}`);
  return 2 ** position;
}

/** True when the guest-side address has the C-bit set. */
export function hasCbit(addr: number, position: number): boolean {
  return testBit(addr, cbitMask(position)) === 1;
}
