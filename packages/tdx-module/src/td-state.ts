// TD life-cycle, TD operational state and vCPU state, with the op states each leaf allows.
// Source: intel/tdx-module (1.5) include/auto_gen/op_state_lookup.{h,c}, src/common/
// data_structures/td_control_structures.h (TDR lifecycle), tdx_tdvps.h (vCPU state);
// tdx-module.md §4.3–4.5.

import * as L from './leaf.js';

/** TDR.LIFECYCLE_STATE. */
export const TdLifecycle = {
  TD_HKID_ASSIGNED: 0,
  TD_KEYS_CONFIGURED: 1,
  TD_BLOCKED: 2,
  TD_TEARDOWN: 3,
} as const;
export type TdLifecycle = (typeof TdLifecycle)[keyof typeof TdLifecycle];
export const TD_LIFECYCLE_NAMES: readonly string[] = [
  'TD_HKID_ASSIGNED',
  'TD_KEYS_CONFIGURED',
  'TD_BLOCKED',
  'TD_TEARDOWN',
];

/** TDCS.OP_STATE. */
export const OpState = {
  UNINITIALIZED: 0,
  INITIALIZED: 1,
  RUNNABLE: 2,
  LIVE_EXPORT: 3,
  PAUSED_EXPORT: 4,
  POST_EXPORT: 5,
  MEMORY_IMPORT: 6,
  STATE_IMPORT: 7,
  POST_IMPORT: 8,
  LIVE_IMPORT: 9,
  FAILED_IMPORT: 10,
} as const;
export type OpState = (typeof OpState)[keyof typeof OpState];
export const OP_STATE_NAMES: readonly string[] = [
  'OP_STATE_UNINITIALIZED',
  'OP_STATE_INITIALIZED',
  'OP_STATE_RUNNABLE',
  'OP_STATE_LIVE_EXPORT',
  'OP_STATE_PAUSED_EXPORT',
  'OP_STATE_POST_EXPORT',
  'OP_STATE_MEMORY_IMPORT',
  'OP_STATE_STATE_IMPORT',
  'OP_STATE_POST_IMPORT',
  'OP_STATE_LIVE_IMPORT',
  'OP_STATE_FAILED_IMPORT',
];

/** TDVPS.STATE. */
export const VcpuState = {
  VCPU_UNINITIALIZED: 0x0,
  VCPU_READY: 0x2,
  VCPU_ACTIVE: 0x4,
  VCPU_DISABLED: 0x8,
  VCPU_IMPORT: 0x10,
} as const;
export type VcpuState = (typeof VcpuState)[keyof typeof VcpuState];

function ops(...states: number[]): number {
  let m = 0;
  for (const s of states) m |= 1 << s;
  return m;
}
const O = OpState;
const ALL_OPS = 0x7ff;

/** Op states in which TLB tracking is required (op_state_lookup tlb_tracking_required). */
export const TLB_TRACKING_OP_STATES = ops(O.RUNNABLE, O.LIVE_EXPORT, O.LIVE_IMPORT);

const ALLOWED = new Map<number, number>([
  [L.TDH_VP_ENTER, ops(O.RUNNABLE, O.LIVE_EXPORT, O.LIVE_IMPORT)],
  [L.TDH_MNG_ADDCX, ops(O.UNINITIALIZED)],
  [L.TDH_MEM_PAGE_ADD, ops(O.INITIALIZED)],
  [
    L.TDH_MEM_SEPT_ADD,
    ops(
      O.INITIALIZED,
      O.RUNNABLE,
      O.LIVE_EXPORT,
      O.MEMORY_IMPORT,
      O.STATE_IMPORT,
      O.POST_IMPORT,
      O.LIVE_IMPORT,
    ),
  ],
  [L.TDH_VP_ADDCX, ops(O.INITIALIZED, O.STATE_IMPORT)],
  [L.TDH_VP_CREATE, ops(O.INITIALIZED, O.STATE_IMPORT)],
  [L.TDH_MEM_PAGE_AUG, ops(O.INITIALIZED, O.RUNNABLE, O.LIVE_EXPORT, O.LIVE_IMPORT)],
  [
    L.TDH_MEM_RANGE_BLOCK,
    ops(
      O.INITIALIZED,
      O.RUNNABLE,
      O.LIVE_EXPORT,
      O.PAUSED_EXPORT,
      O.POST_EXPORT,
      O.POST_IMPORT,
      O.LIVE_IMPORT,
    ),
  ],
  [L.TDH_MNG_RD, ALL_OPS & ~ops(O.UNINITIALIZED)],
  [L.TDH_VP_RD, ALL_OPS & ~ops(O.UNINITIALIZED)],
  [L.TDH_MEM_SEPT_REMOVE, ALL_OPS & ~ops(O.UNINITIALIZED)],
  [L.TDH_MR_EXTEND, ops(O.INITIALIZED)],
  [L.TDH_MR_FINALIZE, ops(O.INITIALIZED)],
  [L.TDH_VP_INIT, ops(O.INITIALIZED)],
  [L.TDH_VP_FLUSH, ALL_OPS],
  [L.TDH_MNG_INIT, ops(O.UNINITIALIZED)],
  [L.TDH_MEM_PAGE_REMOVE, ALL_OPS & ~ops(O.UNINITIALIZED, O.MEMORY_IMPORT, O.STATE_IMPORT)],
  [L.TDH_MEM_TRACK, ALL_OPS & ~ops(O.UNINITIALIZED, O.FAILED_IMPORT)],
  [
    L.TDH_VP_WR,
    ops(
      O.INITIALIZED,
      O.RUNNABLE,
      O.LIVE_EXPORT,
      O.MEMORY_IMPORT,
      O.STATE_IMPORT,
      O.POST_IMPORT,
      O.LIVE_IMPORT,
      O.FAILED_IMPORT,
    ),
  ],
]);
for (const leaf of [
  L.TDH_MEM_PAGE_DEMOTE,
  L.TDH_MEM_PAGE_PROMOTE,
  L.TDH_MEM_RANGE_UNBLOCK,
  L.TDH_MEM_PAGE_RELOCATE,
]) {
  ALLOWED.set(leaf, ALLOWED.get(L.TDH_MEM_RANGE_BLOCK) as number);
}

/** ALLOWED as a table indexed by leaf number (every SEAMCALL looks its leaf up). */
const ALLOWED_BY_LEAF = new Uint32Array(256);
for (const [leaf, mask] of ALLOWED) {
  if (!(leaf >= 0 && leaf < ALLOWED_BY_LEAF.length)) throw new Error(`leaf ${leaf} out of table`);
  ALLOWED_BY_LEAF[leaf] = mask;
}

/** Whether `leaf` may run in TD op state `op` (op_state_lookup). Unknown leaves: never. */
export function opStateAllows(leaf: number, op: number): boolean {
  return ((opStateMask(leaf) >>> op) & 1) === 1;
}
/** Pre-resolved bitmask for a leaf (hot paths avoid the Map); 0 for a number no leaf has. */
export function opStateMask(leaf: number): number {
  return (leaf | 0) === leaf && leaf >= 0 && leaf < ALLOWED_BY_LEAF.length
    ? (ALLOWED_BY_LEAF[leaf] as number)
    : 0;
}

/** Module global state (tdx_global_data_t.global_state.sys_state). */
export const SysState = {
  SYSINIT_PENDING: 0,
  SYSINIT_DONE: 1,
  SYSCONFIG_DONE: 2,
  SYS_READY: 3,
  SYS_SHUTDOWN: 4,
} as const;
export type SysState = (typeof SysState)[keyof typeof SysState];
export const SYS_STATE_NAMES: readonly string[] = [
  'SYSINIT_PENDING',
  'SYSINIT_DONE',
  'SYSCONFIG_DONE',
  'SYS_READY',
  'SYS_SHUTDOWN',
];

/** KOT entry states. */
export const KotState = {
  HKID_FREE: 0,
  HKID_ASSIGNED: 1,
  HKID_FLUSHED: 2,
  HKID_RESERVED: 3,
} as const;
export type KotState = (typeof KotState)[keyof typeof KotState];

/** PAMT page types (pamt_manager.h). */
export const PageType = {
  PT_NDA: 0,
  PT_RSVD: 1,
  PT_REG: 3,
  PT_TDR: 4,
  PT_TDCX: 5,
  PT_TDVPR: 6,
  PT_EPT: 8,
} as const;
export type PageType = (typeof PageType)[keyof typeof PageType];
export const PAGE_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'PT_NDA',
  1: 'PT_RSVD',
  3: 'PT_REG',
  4: 'PT_TDR',
  5: 'PT_TDCX',
  6: 'PT_TDVPR',
  8: 'PT_EPT',
};
/** PAMT page sizes. */
export const PT_4KB = 0;
export const PT_2MB = 1;
export const PT_1GB = 2;

// Sizes of the control structures ([M15] tdx_api_defs.h / td_control_structures.h).
export const MIN_NUM_TDCS_PAGES = 6;
export const MAX_NUM_TDCS_PAGES = 9;
/** TDCS page index that holds the L1 S-EPT root. */
export const TDCS_SEPT_ROOT_INDEX = 3;
export const MIN_TDVPS_PAGES = 6;
export const MAX_TDVPS_PAGES = 15;
