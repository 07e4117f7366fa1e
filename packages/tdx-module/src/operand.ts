// Operand ids: the low 32 bits the module adds to a status to say which input failed.
// Source: intel/tdx-module include/auto_gen/tdx_error_codes_defs.h (OPERAND_ID_*); Linux names
// TDX_OPERAND_ID_RCX/TDR/SEPT/TD_EPOCH in arch/x86/include/asm/shared/tdx_errno.h.

export const OPERAND_ID_RAX = 0;
export const OPERAND_ID_RCX = 1;
export const OPERAND_ID_RDX = 2;
export const OPERAND_ID_RBX = 3;
export const OPERAND_ID_RBP = 5;
export const OPERAND_ID_RSI = 6;
export const OPERAND_ID_RDI = 7;
export const OPERAND_ID_R8 = 8;
export const OPERAND_ID_R9 = 9;
export const OPERAND_ID_R10 = 10;
export const OPERAND_ID_R11 = 11;
export const OPERAND_ID_R12 = 12;
export const OPERAND_ID_R13 = 13;
export const OPERAND_ID_R14 = 14;
export const OPERAND_ID_R15 = 15;
export const OPERAND_ID_ATTRIBUTES = 64;
export const OPERAND_ID_XFAM = 65;
export const OPERAND_ID_EXEC_CONTROLS = 66;
export const OPERAND_ID_EPTP_CONTROLS = 67;
export const OPERAND_ID_MAX_VCPUS = 68;
export const OPERAND_ID_CPUID_CONFIG = 69;
export const OPERAND_ID_TSC_FREQUENCY = 70;
export const OPERAND_ID_NUM_L2_VMS = 71;
export const OPERAND_ID_IA32_ARCH_CAPABILITIES_CONFIG = 72;
export const OPERAND_ID_PAGE = 95;
export const OPERAND_ID_TDMR_INFO_PA = 96;
export const OPERAND_ID_TDR = 128;
export const OPERAND_ID_TDCX = 129;
export const OPERAND_ID_TDVPR = 130;
export const OPERAND_ID_REG_PAGE = 132;
export const OPERAND_ID_TDCS = 144;
export const OPERAND_ID_TDVPS = 145;
export const OPERAND_ID_SEPT_TREE = 146;
export const OPERAND_ID_SEPT_ENTRY = 147;
export const OPERAND_ID_RTMR = 168;
export const OPERAND_ID_TD_EPOCH = 169;
export const OPERAND_ID_MIGSC = 171;
export const OPERAND_ID_OP_STATE = 172;
export const OPERAND_ID_METADATA_FIELD = 176;
export const OPERAND_ID_SYS = 184;
export const OPERAND_ID_TDMR = 185;
export const OPERAND_ID_KOT = 186;
export const OPERAND_ID_KET = 187;
export const OPERAND_ID_WBCACHE = 188;

/** Operand id → name (without the OPERAND_ID_ prefix), for every id the module defines. */
export const OPERAND_NAMES: ReadonlyMap<number, string> = new Map<number, string>([
  [0, 'RAX'],
  [1, 'RCX'],
  [2, 'RDX'],
  [3, 'RBX'],
  [5, 'RBP'],
  [6, 'RSI'],
  [7, 'RDI'],
  [8, 'R8'],
  [9, 'R9'],
  [10, 'R10'],
  [11, 'R11'],
  [12, 'R12'],
  [13, 'R13'],
  [14, 'R14'],
  [15, 'R15'],
  [64, 'ATTRIBUTES'],
  [65, 'XFAM'],
  [66, 'EXEC_CONTROLS'],
  [67, 'EPTP_CONTROLS'],
  [68, 'MAX_VCPUS'],
  [69, 'CPUID_CONFIG'],
  [70, 'TSC_FREQUENCY'],
  [71, 'NUM_L2_VMS'],
  [72, 'IA32_ARCH_CAPABILITIES_CONFIG'],
  [95, 'PAGE'],
  [96, 'TDMR_INFO_PA'],
  [97, 'GPA_LIST_ENTRY'],
  [98, 'MIG_BUFF_LIST_ENTRY'],
  [99, 'NEW_PAGE_LIST_ENTRY'],
  [128, 'TDR'],
  [129, 'TDCX'],
  [130, 'TDVPR'],
  [132, 'REG_PAGE'],
  [144, 'TDCS'],
  [145, 'TDVPS'],
  [146, 'SEPT_TREE'],
  [147, 'SEPT_ENTRY'],
  [168, 'RTMR'],
  [169, 'TD_EPOCH'],
  [170, 'L2_VAPIC_GPA'],
  [171, 'MIGSC'],
  [172, 'OP_STATE'],
  [173, 'MIG'],
  [174, 'SERVTD_BINDINGS'],
  [176, 'METADATA_FIELD'],
  [184, 'SYS'],
  [185, 'TDMR'],
  [186, 'KOT'],
  [187, 'KET'],
  [188, 'WBCACHE'],
]);

/** The operand's name, or null for an id the module does not define. */
export function operandName(id: number): string | null {
  return OPERAND_NAMES.get(id) ?? null;
}
