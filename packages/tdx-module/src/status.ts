// TDX module completion statuses (the value a SEAMCALL or TDCALL returns in RAX).
//
// Source: intel/tdx-module include/auto_gen/tdx_error_codes_defs.h (TDX 1.5 branch) and the
// api_error_code_t layout in include/tdx_api_defs.h; tdx-module.md §2. Linux's subset lives in
// arch/x86/include/asm/shared/tdx_errno.h.
//
// Layout of the 64-bit value:
//   63 error | 62 non_recoverable | 61 fatal | 60 host_recoverability_hint | 59:48 reserved
//   47:40 class | 39:32 details_l1 (code within class) | 31:0 operand id / details_l2
//
// Every base status has zero low 32 bits, and the module reports an operand by *adding* its id
// (api_error_with_operand_id). So a status is kept as two uint32 halves: `hi` (bits 63:32, which
// alone names the status) and `lo` (the operand id, a VMX exit reason after TDH.VP.ENTER, or a
// page level after TDG.MEM.PAGE.ACCEPT). The constants below are the `hi` halves: compare
// `status.hi === TDX_OPERAND_BUSY` the way Linux compares `err & TDX_SEAMCALL_STATUS_MASK`.
// BigInt appears only in display helpers (performance.md B.4: statuses have bits 63:61 set, so as
// doubles they lose their low bits).

import { type Word64, word64Hex, word64ToBigInt } from '@kvmx/address';
import { operandName } from './operand.js';

/** A TDX status: bits 63:32 in `hi`, bits 31:0 in `lo` (both unsigned). Word64-compatible. */
export interface TdxStatus {
  readonly hi: number;
  readonly lo: number;
}

// --- the status table (module 1.5 values; [M20] additions marked) -------------------------------

// General (class 0x00)
export const TDX_SUCCESS = 0x00000000;
export const TDX_NON_RECOVERABLE_VCPU = 0x40000001;
export const TDX_NON_RECOVERABLE_TD = 0x60000002;
export const TDX_INTERRUPTED_RESUMABLE = 0x80000003;
export const TDX_INTERRUPTED_RESTARTABLE = 0x80000004;
export const TDX_NON_RECOVERABLE_TD_NON_ACCESSIBLE = 0x60000005;
export const TDX_INVALID_RESUMPTION = 0xc0000006;
export const TDX_NON_RECOVERABLE_TD_WRONG_APIC_MODE = 0xe0000007;
export const TDX_CROSS_TD_FAULT = 0x80000008;
export const TDX_CROSS_TD_TRAP = 0x90000009;
export const TDX_NON_RECOVERABLE_TD_CORRUPTED_MD = 0x6000000a;
// Operand (0x01)
export const TDX_OPERAND_INVALID = 0xc0000100;
export const TDX_OPERAND_ADDR_RANGE_ERROR = 0xc0000101;
// Busy (0x02)
export const TDX_OPERAND_BUSY = 0x80000200;
export const TDX_PREVIOUS_TLB_EPOCH_BUSY = 0x80000201;
export const TDX_SYS_BUSY = 0x80000202;
export const TDX_RND_NO_ENTROPY = 0x80000203;
export const TDX_OPERAND_BUSY_HOST_PRIORITY = 0x80000204;
export const TDX_HOST_PRIORITY_BUSY_TIMEOUT = 0x90000205;
// Page metadata (0x03, 0x04)
export const TDX_PAGE_METADATA_INCORRECT = 0xc0000300;
export const TDX_PAGE_ALREADY_FREE = 0x00000301;
export const TDX_PAGE_NOT_OWNED_BY_TD = 0xc0000302;
export const TDX_PAGE_NOT_FREE = 0xc0000303;
export const TDX_TD_ASSOCIATED_PAGES_EXIST = 0xc0000400;
// System (0x05)
export const TDX_SYS_INIT_NOT_PENDING = 0xc0000500;
export const TDX_SYS_LP_INIT_NOT_DONE = 0xc0000502;
export const TDX_SYS_LP_INIT_DONE = 0xc0000503;
export const TDX_SYS_NOT_READY = 0xc0000505;
export const TDX_SYS_SHUTDOWN = 0xc0000506;
export const TDX_SYS_KEY_CONFIG_NOT_PENDING = 0xc0000507;
export const TDX_SYS_STATE_INCORRECT = 0xc0000508;
export const TDX_SYS_CONFIG_NOT_PENDING = 0xc000050c;
// TD state (0x06)
export const TDX_TD_FATAL = 0xe0000604;
export const TDX_TD_NON_DEBUG = 0xc0000605;
export const TDX_TDCS_NOT_ALLOCATED = 0xc0000606;
export const TDX_LIFECYCLE_STATE_INCORRECT = 0xc0000607;
export const TDX_OP_STATE_INCORRECT = 0xc0000608;
export const TDX_NO_VCPUS = 0xc0000609;
export const TDX_TDCX_NUM_INCORRECT = 0xc0000610;
export const TDX_X2APIC_ID_NOT_UNIQUE = 0xc0000621;
// vCPU (0x07)
export const TDX_VCPU_STATE_INCORRECT = 0xc0000700;
export const TDX_VCPU_ASSOCIATED = 0x80000701;
export const TDX_VCPU_NOT_ASSOCIATED = 0x80000702;
export const TDX_NO_VALID_VE_INFO = 0xc0000704;
export const TDX_MAX_VCPUS_EXCEEDED = 0xc0000705;
export const TDX_TSC_ROLLBACK = 0xc0000706;
// Keys (0x08)
export const TDX_KEY_GENERATION_FAILED = 0x80000800;
export const TDX_TD_KEYS_NOT_CONFIGURED = 0x80000810;
export const TDX_KEY_STATE_INCORRECT = 0xc0000811;
export const TDX_KEY_CONFIGURED = 0x00000815;
export const TDX_WBCACHE_NOT_COMPLETE = 0x80000817;
export const TDX_HKID_NOT_FREE = 0xc0000820;
export const TDX_NO_HKID_READY_TO_WBCACHE = 0x00000821;
export const TDX_WBCACHE_RESUME_ERROR = 0xc0000823;
export const TDX_FLUSHVP_NOT_DONE = 0x80000824;
// Secure EPT (0x0B)
export const TDX_EPT_WALK_FAILED = 0xc0000b00;
export const TDX_EPT_ENTRY_FREE = 0xc0000b01;
export const TDX_EPT_ENTRY_NOT_FREE = 0xc0000b02;
export const TDX_EPT_ENTRY_NOT_PRESENT = 0xc0000b03;
export const TDX_EPT_ENTRY_NOT_LEAF = 0xc0000b04;
export const TDX_EPT_ENTRY_LEAF = 0xc0000b05;
export const TDX_GPA_RANGE_NOT_BLOCKED = 0xc0000b06;
export const TDX_GPA_RANGE_ALREADY_BLOCKED = 0x00000b07;
export const TDX_TLB_TRACKING_NOT_DONE = 0xc0000b08;
export const TDX_EPT_INVALID_PROMOTE_CONDITIONS = 0xc0000b09;
export const TDX_PAGE_ALREADY_ACCEPTED = 0x00000b0a;
export const TDX_PAGE_SIZE_MISMATCH = 0xc0000b0b;
export const TDX_GPA_RANGE_BLOCKED = 0xc0000b0c;
export const TDX_EPT_ENTRY_STATE_INCORRECT = 0xc0000b0d;
export const TDX_EPT_PAGE_NOT_FREE = 0xc0000b0e;
// Metadata (0x0C)
export const TDX_METADATA_FIELD_ID_INCORRECT = 0xc0000c00;
export const TDX_METADATA_FIELD_NOT_WRITABLE = 0xc0000c01;
export const TDX_METADATA_FIELD_NOT_READABLE = 0xc0000c02;
export const TDX_METADATA_FIELD_VALUE_NOT_VALID = 0xc0000c03;

/**
 * Every status the module defines, name → bits 63:32 (1.5 branch header; the few that only the
 * 2.0-era header has are included and marked in STATUS_SINCE_2_0).
 */
export const TDX_STATUS_TABLE: Readonly<Record<string, number>> = Object.freeze({
  TDX_SUCCESS,
  TDX_NON_RECOVERABLE_VCPU,
  TDX_NON_RECOVERABLE_TD,
  TDX_INTERRUPTED_RESUMABLE,
  TDX_INTERRUPTED_RESTARTABLE,
  TDX_NON_RECOVERABLE_TD_NON_ACCESSIBLE,
  TDX_INVALID_RESUMPTION,
  TDX_NON_RECOVERABLE_TD_WRONG_APIC_MODE,
  TDX_CROSS_TD_FAULT,
  TDX_CROSS_TD_TRAP,
  TDX_NON_RECOVERABLE_TD_CORRUPTED_MD,
  TDX_OPERAND_INVALID,
  TDX_OPERAND_ADDR_RANGE_ERROR,
  TDX_OPERAND_BUSY,
  TDX_PREVIOUS_TLB_EPOCH_BUSY,
  TDX_SYS_BUSY,
  TDX_RND_NO_ENTROPY,
  TDX_OPERAND_BUSY_HOST_PRIORITY,
  TDX_HOST_PRIORITY_BUSY_TIMEOUT,
  TDX_PAGE_METADATA_INCORRECT,
  TDX_PAGE_ALREADY_FREE,
  TDX_PAGE_NOT_OWNED_BY_TD,
  TDX_PAGE_NOT_FREE,
  TDX_HPA_RANGE_NOT_FREE: 0xc0000304,
  TDX_NO_PAMT_PAGE_PAIR: 0xc0000305,
  TDX_PAMT_PAGE_NOT_EMPTY: 0xc0000306,
  TDX_INTERRUPTED_PAMT: 0x80000307,
  TDX_MISSING_PAMT_PAGE_PAIR: 0x80000308,
  TDX_TD_ASSOCIATED_PAGES_EXIST,
  TDX_SYS_INIT_NOT_PENDING,
  TDX_SYS_LP_INIT_NOT_DONE,
  TDX_SYS_LP_INIT_DONE,
  TDX_SYS_NOT_READY,
  TDX_SYS_SHUTDOWN,
  TDX_SYS_KEY_CONFIG_NOT_PENDING,
  TDX_SYS_STATE_INCORRECT,
  TDX_SYS_INVALID_HANDOFF: 0xc0000509,
  TDX_SYS_INCOMPATIBLE_SIGSTRUCT: 0xc000050a,
  TDX_SYS_LP_INIT_NOT_PENDING: 0xc000050b,
  TDX_SYS_CONFIG_NOT_PENDING,
  TDX_INCOMPATIBLE_SEAM_CAPABILITIES: 0xc000050d,
  TDX_TD_FATAL,
  TDX_TD_NON_DEBUG,
  TDX_TDCS_NOT_ALLOCATED,
  TDX_LIFECYCLE_STATE_INCORRECT,
  TDX_OP_STATE_INCORRECT,
  TDX_NO_VCPUS,
  TDX_TDCX_NUM_INCORRECT,
  TDX_X2APIC_ID_NOT_UNIQUE,
  TDX_VCPU_STATE_INCORRECT,
  TDX_VCPU_ASSOCIATED,
  TDX_VCPU_NOT_ASSOCIATED,
  TDX_NO_VALID_VE_INFO,
  TDX_MAX_VCPUS_EXCEEDED,
  TDX_TSC_ROLLBACK,
  TDX_INTERRUPTIBILITY_BLOCKED: 0xc0000707,
  TDX_TD_VMCS_FIELD_NOT_INITIALIZED: 0xc0000730,
  TD_VMCS_FIELD_ERROR: 0xc0000731,
  TDX_KEY_GENERATION_FAILED,
  TDX_TD_KEYS_NOT_CONFIGURED,
  TDX_KEY_STATE_INCORRECT,
  TDX_KEY_CONFIGURED,
  TDX_WBCACHE_NOT_COMPLETE,
  TDX_HKID_NOT_FREE,
  TDX_NO_HKID_READY_TO_WBCACHE,
  TDX_WBCACHE_RESUME_ERROR,
  TDX_FLUSHVP_NOT_DONE,
  TDX_NUM_ACTIVATED_HKIDS_NOT_SUPPORTED: 0xc0000825,
  TDX_INCORRECT_CPUID_VALUE: 0xc0000900,
  TDX_LIMIT_CPUID_MAXVAL_SET: 0xc0000901,
  TDX_INCONSISTENT_CPUID_FIELD: 0xc0000902,
  TDX_CPUID_MAX_SUBLEAVES_UNRECOGNIZED: 0xc0000903,
  TDX_CPUID_LEAF_1F_FORMAT_UNRECOGNIZED: 0xc0000904,
  TDX_INVALID_WBINVD_SCOPE: 0xc0000905,
  TDX_INVALID_PKG_ID: 0xc0000906,
  TDX_ENABLE_MONITOR_FSM_NOT_SET: 0xc0000907,
  TDX_CPUID_LEAF_NOT_SUPPORTED: 0xc0000908,
  TDX_SMRR_NOT_LOCKED: 0xc0000910,
  TDX_INVALID_SMRR_CONFIGURATION: 0xc0000911,
  TDX_SMRR_OVERLAPS_CMR: 0xc0000912,
  TDX_SMRR_LOCK_NOT_SUPPORTED: 0xc0000913,
  TDX_SMRR_NOT_SUPPORTED: 0xc0000914,
  TDX_INCONSISTENT_MSR: 0xc0000920,
  TDX_INCORRECT_MSR_VALUE: 0xc0000921,
  TDX_SEAMREPORT_NOT_AVAILABLE: 0xc0000930,
  TDX_SEAMDB_GETREF_NOT_AVAILABLE: 0xc0000931,
  TDX_SEAMDB_REPORT_NOT_AVAILABLE: 0xc0000932,
  TDX_SEAMVERIFYREPORT_NOT_AVAILABLE: 0xc0000933,
  TDX_INVALID_TDMR: 0xc0000a00,
  TDX_NON_ORDERED_TDMR: 0xc0000a01,
  TDX_TDMR_OUTSIDE_CMRS: 0xc0000a02,
  TDX_TDMR_ALREADY_INITIALIZED: 0x00000a03,
  TDX_INVALID_PAMT: 0xc0000a10,
  TDX_PAMT_OUTSIDE_CMRS: 0xc0000a11,
  TDX_PAMT_OVERLAP: 0xc0000a12,
  TDX_INVALID_RESERVED_IN_TDMR: 0xc0000a20,
  TDX_NON_ORDERED_RESERVED_IN_TDMR: 0xc0000a21,
  TDX_CMR_LIST_INVALID: 0xc0000a22,
  TDX_EPT_WALK_FAILED,
  TDX_EPT_ENTRY_FREE,
  TDX_EPT_ENTRY_NOT_FREE,
  TDX_EPT_ENTRY_NOT_PRESENT,
  TDX_EPT_ENTRY_NOT_LEAF,
  TDX_EPT_ENTRY_LEAF,
  TDX_GPA_RANGE_NOT_BLOCKED,
  TDX_GPA_RANGE_ALREADY_BLOCKED,
  TDX_TLB_TRACKING_NOT_DONE,
  TDX_EPT_INVALID_PROMOTE_CONDITIONS,
  TDX_PAGE_ALREADY_ACCEPTED,
  TDX_PAGE_SIZE_MISMATCH,
  TDX_GPA_RANGE_BLOCKED,
  TDX_EPT_ENTRY_STATE_INCORRECT,
  TDX_EPT_PAGE_NOT_FREE,
  TDX_L2_SEPT_WALK_FAILED: 0xc0000b0f,
  TDX_L2_SEPT_ENTRY_NOT_FREE: 0xc0000b10,
  TDX_PAGE_ATTR_INVALID: 0xc0000b11,
  TDX_L2_SEPT_PAGE_NOT_PROVIDED: 0xc0000b12,
  TDX_METADATA_FIELD_ID_INCORRECT,
  TDX_METADATA_FIELD_NOT_WRITABLE,
  TDX_METADATA_FIELD_NOT_READABLE,
  TDX_METADATA_FIELD_VALUE_NOT_VALID,
  TDX_METADATA_LIST_OVERFLOW: 0xc0000c04,
  TDX_INVALID_METADATA_LIST_HEADER: 0xc0000c05,
  TDX_REQUIRED_METADATA_FIELD_MISSING: 0xc0000c06,
  TDX_METADATA_ELEMENT_SIZE_INCORRECT: 0xc0000c07,
  TDX_METADATA_LAST_ELEMENT_INCORRECT: 0xc0000c08,
  TDX_METADATA_FIELD_CURRENTLY_NOT_WRITABLE: 0xc0000c09,
  TDX_METADATA_WR_MASK_NOT_VALID: 0xc0000c0a,
  TDX_METADATA_FIRST_FIELD_ID_IN_CONTEXT: 0x00000c0b,
  TDX_METADATA_FIELD_SKIP: 0x00000c0c,
  TDX_SERVTD_ALREADY_BOUND_FOR_TYPE: 0xc0000d00,
  TDX_SERVTD_TYPE_MISMATCH: 0xc0000d01,
  TDX_SERVTD_ATTR_MISMATCH: 0xc0000d02,
  TDX_SERVTD_INFO_HASH_MISMATCH: 0xc0000d03,
  TDX_SERVTD_UUID_MISMATCH: 0xc0000d04,
  TDX_SERVTD_NOT_BOUND: 0xc0000d05,
  TDX_SERVTD_BOUND: 0xc0000d06,
  TDX_TARGET_UUID_MISMATCH: 0xc0000d07,
  TDX_TARGET_UUID_UPDATED: 0xc0000d08,
  TDX_INVALID_MBMD: 0xc0000e00,
  TDX_INCORRECT_MBMD_MAC: 0xc0000e01,
  TDX_NOT_WRITE_BLOCKED: 0xc0000e02,
  TDX_ALREADY_WRITE_BLOCKED: 0x00000e03,
  TDX_NOT_EXPORTED: 0xc0000e04,
  TDX_MIGRATION_STREAM_STATE_INCORRECT: 0xc0000e05,
  TDX_MAX_MIGS_NUM_EXCEEDED: 0xc0000e06,
  TDX_EXPORTED_DIRTY_PAGES_REMAIN: 0xc0000e07,
  TDX_MIGRATION_DECRYPTION_KEY_NOT_SET: 0xc0000e08,
  TDX_TD_NOT_MIGRATABLE: 0xc0000e09,
  TDX_PREVIOUS_EXPORT_CLEANUP_INCOMPLETE: 0xc0000e0a,
  TDX_NUM_MIGS_HIGHER_THAN_CREATED: 0xc0000e0b,
  TDX_IMPORT_MISMATCH: 0xc0000e0c,
  TDX_MIGRATION_EPOCH_OVERFLOW: 0xc0000e0d,
  TDX_MAX_EXPORTS_EXCEEDED: 0xc0000e0e,
  TDX_INVALID_PAGE_MAC: 0xc0000e0f,
  TDX_MIGRATED_IN_CURRENT_EPOCH: 0xc0000e10,
  TDX_DISALLOWED_IMPORT_OVER_REMOVED: 0xc0000e11,
  TDX_SOME_VCPUS_NOT_MIGRATED: 0xc0000e12,
  TDX_ALL_VCPUS_IMPORTED: 0xc0000e13,
  TDX_MIN_MIGS_NOT_CREATED: 0xc0000e14,
  TDX_VCPU_ALREADY_EXPORTED: 0xc0000e15,
  TDX_INVALID_MIGRATION_DECRYPTION_KEY: 0xc0000e16,
  TDX_INVALID_CPUSVN: 0xc0001000,
  TDX_INVALID_REPORTMACSTRUCT: 0xc0001001,
  TDX_L2_EXIT_HOST_ROUTED_ASYNC: 0x00001100,
  TDX_L2_EXIT_HOST_ROUTED_TDVMCALL: 0x00001101,
  TDX_L2_EXIT_PENDING_INTERRUPT: 0x00001102,
  TDX_PENDING_INTERRUPT: 0x00001120,
  TDX_TD_EXIT_BEFORE_L2_ENTRY: 0x00001140,
  TDX_TD_EXIT_ON_L2_VM_EXIT: 0x00001141,
  TDX_TD_EXIT_ON_L2_TO_L1: 0x00001142,
  TDX_GLA_NOT_CANONICAL: 0xc0001160,
});

/** Names that only the 2.0-era module defines ([M20] Dynamic PAMT). */
export const STATUS_SINCE_2_0: readonly string[] = Object.freeze([
  'TDX_HPA_RANGE_NOT_FREE',
  'TDX_NO_PAMT_PAGE_PAIR',
  'TDX_PAMT_PAGE_NOT_EMPTY',
  'TDX_INTERRUPTED_PAMT',
  'TDX_MISSING_PAMT_PAGE_PAIR',
]);

/**
 * Software statuses Linux synthesises around the SEAMCALL instruction (asm/tdx.h); class 0xFF is
 * never used by the module. Listed so that `decode status` can name what a kernel log prints.
 */
export const LINUX_SW_STATUS_TABLE: Readonly<Record<string, TdxStatus>> = Object.freeze({
  TDX_SEAMCALL_VMFAILINVALID: Object.freeze({ hi: 0x8000ff00, lo: 0xffff0000 }),
  TDX_SEAMCALL_GP: Object.freeze({ hi: 0x8000ff00, lo: 13 }),
  TDX_SEAMCALL_UD: Object.freeze({ hi: 0x8000ff00, lo: 6 }),
});

/**
 * Values Linux defines differently from the module (asm/shared/tdx_errno.h vs the module's
 * header; tdx-module.md §2.4): Linux's bits 63:32 → the name Linux gives them.
 */
export const LINUX_DIVERGENT_STATUS: ReadonlyMap<number, string> = new Map([
  [0x40000002, 'TDX_NON_RECOVERABLE_TD'],
  [0x60000007, 'TDX_NON_RECOVERABLE_TD_WRONG_APIC_MODE'],
]);

const NAME_BY_HI = new Map<number, string>();
const NAME_BY_CLASS_CODE = new Map<number, string>();
for (const [name, hi] of Object.entries(TDX_STATUS_TABLE)) {
  NAME_BY_HI.set(hi, name);
  NAME_BY_CLASS_CODE.set(hi & 0xffff, name);
}

// Status bits in `hi` (bits 63..60 of the 64-bit value are bits 31..28 of hi).
export const STATUS_HI_ERROR = 0x80000000;
export const STATUS_HI_NON_RECOVERABLE = 0x40000000;
export const STATUS_HI_FATAL = 0x20000000;
export const STATUS_HI_HOST_RECOVERABILITY_HINT = 0x10000000;

/** The name of a status from its high half, or undefined when the module defines none. */
export function statusName(hi: number): string | undefined {
  return NAME_BY_HI.get(hi >>> 0);
}

/** `base + operand` as the module forms it. */
export function tdxStatus(hi: number, lo = 0): TdxStatus {
  return { hi: hi >>> 0, lo: lo >>> 0 };
}

export const SUCCESS_STATUS: TdxStatus = Object.freeze({ hi: 0, lo: 0 });

export function isSuccess(s: TdxStatus): boolean {
  return s.hi === 0 && s.lo === 0;
}
/** Bit 63: the call failed (TDX_ERROR). */
export function isStatusError(s: TdxStatus): boolean {
  return (s.hi & STATUS_HI_ERROR) !== 0;
}

/** What the low 32 bits of a status mean for that status. */
export type StatusLowBits = 'operand' | 'exitReason' | 'level';

function lowBitsKind(hi: number): StatusLowBits {
  const classCode = hi & 0xffff;
  // TDG.MEM.PAGE.ACCEPT reports the page level (tdx-module.md §6.1).
  if (
    classCode === (TDX_PAGE_ALREADY_ACCEPTED & 0xffff) ||
    classCode === (TDX_PAGE_SIZE_MISMATCH & 0xffff)
  ) {
    return 'level';
  }
  // TDH.VP.ENTER: class-0 completion statuses carry the VMX basic exit reason (tdx-module.md §1.3).
  if (((hi >>> 8) & 0xff) === 0 && classCode !== (TDX_OPERAND_INVALID & 0xffff))
    return 'exitReason';
  return 'operand';
}

/** The decoded view of any 64-bit status value (the fields of CONTRACTS §1 `decode status`). */
export interface StatusDecode {
  /** The base status name without operand, or `UNKNOWN` when the module defines none. */
  readonly name: string;
  /** The full value, lowercase 0x hex. */
  readonly code: string;
  /** Bits 47:40. */
  readonly class: number;
  /** Bits 39:32 (details_l1: the code within the class). */
  readonly details: number;
  /** Bits 31:0. */
  readonly operandId: number;
  /** The operand's name when the low bits are an operand id the module defines, else null. */
  readonly operand: string | null;
  /** How the low bits read for this status: operand id, VMX exit reason, or page level. */
  readonly lowBits: StatusLowBits;
  readonly error: boolean;
  readonly nonRecoverable: boolean;
  readonly fatal: boolean;
  readonly hostRecoverabilityHint: boolean;
  /** True when the value's bits 63:32 are exactly a defined status. */
  readonly known: boolean;
  /**
   * When bits 63:32 are not a defined status but class/code (47:32) are, the status those name
   * (the value then has unexpected top bits, e.g. Linux's NON_RECOVERABLE_TD constant).
   */
  readonly classCodeMatch: string | null;
  /** When the value is Linux's (divergent) constant for a status, Linux's name for it. */
  readonly linuxName: string | null;
}

/**
 * The operand's name. Operand id 0 is RAX, but most statuses carry no operand and read 0 there
 * too: RAX is named only for the statuses that report operands of the SEAMCALL itself
 * (OPERAND_INVALID, OPERAND_ADDR_RANGE_ERROR, OPERAND_BUSY).
 */
function operandOf(
  lowBits: StatusLowBits,
  unknown: boolean,
  hi: number,
  lo: number,
): string | null {
  if (lowBits !== 'operand' || unknown) return null;
  if (lo === 0) {
    const classCode = hi & 0xffff;
    const named =
      classCode === (TDX_OPERAND_INVALID & 0xffff) ||
      classCode === (TDX_OPERAND_ADDR_RANGE_ERROR & 0xffff) ||
      classCode === (TDX_OPERAND_BUSY & 0xffff);
    return named ? 'RAX' : null;
  }
  return operandName(lo);
}

/** Decode any 64-bit value as a TDX status. */
export function decodeStatus(value: Word64): StatusDecode {
  const hi = value.hi >>> 0;
  const lo = value.lo >>> 0;
  let name = NAME_BY_HI.get(hi);
  let known = name !== undefined;
  let software = false;
  let classCodeMatch: string | null = null;
  if (name === undefined) {
    for (const [swName, sw] of Object.entries(LINUX_SW_STATUS_TABLE)) {
      if (sw.hi === hi && sw.lo === lo) {
        name = swName;
        known = true;
        software = true;
      }
    }
  }
  if (name === undefined) classCodeMatch = NAME_BY_CLASS_CODE.get(hi & 0xffff) ?? null;
  const lowBits = lowBitsKind(hi);
  return {
    name: name ?? 'UNKNOWN',
    code: word64Hex({ hi, lo }),
    class: (hi >>> 8) & 0xff,
    details: hi & 0xff,
    operandId: lo,
    operand: operandOf(lowBits, software || (!known && classCodeMatch === null), hi, lo),
    lowBits,
    error: (hi & STATUS_HI_ERROR) !== 0,
    nonRecoverable: (hi & STATUS_HI_NON_RECOVERABLE) !== 0,
    fatal: (hi & STATUS_HI_FATAL) !== 0,
    hostRecoverabilityHint: (hi & STATUS_HI_HOST_RECOVERABILITY_HINT) !== 0,
    known,
    classCodeMatch,
    linuxName: LINUX_DIVERGENT_STATUS.get(hi) ?? null,
  };
}

/** `TDX_EPT_ENTRY_STATE_INCORRECT|SEPT_TREE`-style text, for logs and events. */
export function formatStatus(s: TdxStatus): string {
  const d = decodeStatus(s);
  if (d.operand !== null) return `${d.name}|${d.operand}`;
  if (d.operandId === 0) return d.name;
  return `${d.name}+0x${d.operandId.toString(16)}`;
}

/** The 64-bit value as a bigint (display and serialisation only). */
export function statusToBigInt(s: TdxStatus): bigint {
  return word64ToBigInt(s);
}

/** Lowercase 0x hex of the full value. */
export function statusHex(s: TdxStatus): string {
  return word64Hex(s);
}
