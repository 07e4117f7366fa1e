// Return codes of the RMP instructions (RMPUPDATE, PSMASH, PVALIDATE, RMPADJUST), as EAX holds
// them after the instruction.
//
// Sources (sev-snp.md A.2):
// - arch/x86/include/asm/sev.h: PVALIDATE_FAIL_SIZEMISMATCH 6, PVALIDATE_FAIL_NOUPDATE 255
//   (software-defined: Linux's pvalidate() returns it when the instruction sets rFLAGS.CF),
//   RMPUPDATE_FAIL_OVERLAP 4, PSMASH_FAIL_INUSE 3.
// - PVALIDATE_FAIL_INPUT 1: in asm/sev.h of the SNP guest series (PVALIDATE_SUCCESS 0,
//   PVALIDATE_FAIL_INPUT 1, PVALIDATE_FAIL_SIZEMISMATCH 6, PVALIDATE_FAIL_NOUPDATE 255).
// - FAIL_PERMISSION 2 is the APM's generic code as seen only in third-party headers;
//   UNVERIFIED. Which code RMPUPDATE/PSMASH return for each refusal is the APM's and was not
//   read there (see rmp.ts).

/** The instruction completed. */
export const RMP_SUCCESS = 0;
/** Bad operand (unaligned 2M address, PFN outside the RMP): PVALIDATE_FAIL_INPUT. */
export const FAIL_INPUT = 1;
/** The entry may not be changed by this caller (immutable). UNVERIFIED value (APM). */
export const FAIL_PERMISSION = 2;
/** PSMASH_FAIL_INUSE: another CPU holds the entry (asm/sev.h). */
export const FAIL_INUSE = 3;
/** RMPUPDATE_FAIL_OVERLAP: a 4K and a 2M entry overlap (asm/sev.h). */
export const FAIL_OVERLAP = 4;
/** PVALIDATE_FAIL_SIZEMISMATCH: a 2M request met 4K RMP entries (asm/sev.h). */
export const FAIL_SIZEMISMATCH = 6;
/** PVALIDATE_FAIL_NOUPDATE: Linux's code for "CF=1, the Validated bit already had that value". */
export const PVALIDATE_FAIL_NOUPDATE = 255;

export const PVALIDATE_FAIL_INPUT = FAIL_INPUT;
export const PVALIDATE_FAIL_SIZEMISMATCH = FAIL_SIZEMISMATCH;
export const RMPUPDATE_FAIL_OVERLAP = FAIL_OVERLAP;
export const PSMASH_FAIL_INUSE = FAIL_INUSE;

/** RMPADJUST attribute bit a VMPL0 guest sets to mark a page as a VMSA (asm/sev.h). */
export const RMPADJUST_VMSA_PAGE_BIT = 1 << 16;

const NAMES: Readonly<Record<number, string>> = {
  [RMP_SUCCESS]: 'SUCCESS',
  [FAIL_INPUT]: 'FAIL_INPUT',
  [FAIL_PERMISSION]: 'FAIL_PERMISSION',
  [FAIL_INUSE]: 'FAIL_INUSE',
  [FAIL_OVERLAP]: 'FAIL_OVERLAP',
  [FAIL_SIZEMISMATCH]: 'FAIL_SIZEMISMATCH',
  [PVALIDATE_FAIL_NOUPDATE]: 'PVALIDATE_FAIL_NOUPDATE',
};

/** Name of an RMP instruction return code (`FAIL_SIZEMISMATCH`), or `RMP_RC_<n>`. */
export function rmpStatusName(rc: number): string {
  return NAMES[rc] ?? `RMP_RC_${rc}`;
}
