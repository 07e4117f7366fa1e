// SEAMCALL and TDCALL leaf numbers, and which versions each accepts.
// Source: intel/tdx-module include/tdx_api_defs.h (seamcall_leaf_opcode_e, tdcall_leaf_opcode_e),
// src/vmm_dispatcher/tdx_vmm_dispatcher.c (version gate); Linux arch/x86/virt/vmx/tdx/tdx.h agrees
// on the subset it uses. tdx-module.md §1.1–1.2.

export const TDH_VP_ENTER = 0;
export const TDH_MNG_ADDCX = 1;
export const TDH_MEM_PAGE_ADD = 2;
export const TDH_MEM_SEPT_ADD = 3;
export const TDH_VP_ADDCX = 4;
export const TDH_MEM_PAGE_RELOCATE = 5;
export const TDH_MEM_PAGE_AUG = 6;
export const TDH_MEM_RANGE_BLOCK = 7;
export const TDH_MNG_KEY_CONFIG = 8;
export const TDH_MNG_CREATE = 9;
export const TDH_VP_CREATE = 10;
export const TDH_MNG_RD = 11;
export const TDH_MEM_RD = 12;
export const TDH_MNG_WR = 13;
export const TDH_MEM_WR = 14;
export const TDH_MEM_PAGE_DEMOTE = 15;
export const TDH_MR_EXTEND = 16;
export const TDH_MR_FINALIZE = 17;
export const TDH_VP_FLUSH = 18;
export const TDH_MNG_VPFLUSHDONE = 19;
export const TDH_MNG_KEY_FREEID = 20;
export const TDH_MNG_INIT = 21;
export const TDH_VP_INIT = 22;
export const TDH_MEM_PAGE_PROMOTE = 23;
export const TDH_PHYMEM_PAGE_RDMD = 24;
export const TDH_MEM_SEPT_RD = 25;
export const TDH_VP_RD = 26;
export const TDH_MNG_KEY_RECLAIMID = 27;
export const TDH_PHYMEM_PAGE_RECLAIM = 28;
export const TDH_MEM_PAGE_REMOVE = 29;
export const TDH_MEM_SEPT_REMOVE = 30;
export const TDH_SYS_KEY_CONFIG = 31;
export const TDH_SYS_INFO = 32;
export const TDH_SYS_INIT = 33;
export const TDH_SYS_RD = 34;
export const TDH_SYS_LP_INIT = 35;
export const TDH_SYS_TDMR_INIT = 36;
export const TDH_SYS_RDALL = 37;
export const TDH_MEM_TRACK = 38;
export const TDH_MEM_RANGE_UNBLOCK = 39;
export const TDH_PHYMEM_CACHE_WB = 40;
export const TDH_PHYMEM_PAGE_WBINVD = 41;
export const TDH_MEM_SEPT_WR = 42;
export const TDH_VP_WR = 43;
export const TDH_SYS_LP_SHUTDOWN = 44;
export const TDH_SYS_CONFIG = 45;
export const TDH_SERVTD_BIND = 48;
export const TDH_SERVTD_PREBIND = 49;
export const TDH_SYS_SHUTDOWN = 52;
export const TDH_SYS_UPDATE = 53;

/** Leaf number → the module's name with dots (CONTRACTS: `"leaf":"TDH.MEM.PAGE.AUG"`). */
export const SEAMCALL_LEAF_NAMES: ReadonlyMap<number, string> = new Map<number, string>([
  [0, 'TDH.VP.ENTER'],
  [1, 'TDH.MNG.ADDCX'],
  [2, 'TDH.MEM.PAGE.ADD'],
  [3, 'TDH.MEM.SEPT.ADD'],
  [4, 'TDH.VP.ADDCX'],
  [5, 'TDH.MEM.PAGE.RELOCATE'],
  [6, 'TDH.MEM.PAGE.AUG'],
  [7, 'TDH.MEM.RANGE.BLOCK'],
  [8, 'TDH.MNG.KEY.CONFIG'],
  [9, 'TDH.MNG.CREATE'],
  [10, 'TDH.VP.CREATE'],
  [11, 'TDH.MNG.RD'],
  [12, 'TDH.MEM.RD'],
  [13, 'TDH.MNG.WR'],
  [14, 'TDH.MEM.WR'],
  [15, 'TDH.MEM.PAGE.DEMOTE'],
  [16, 'TDH.MR.EXTEND'],
  [17, 'TDH.MR.FINALIZE'],
  [18, 'TDH.VP.FLUSH'],
  [19, 'TDH.MNG.VPFLUSHDONE'],
  [20, 'TDH.MNG.KEY.FREEID'],
  [21, 'TDH.MNG.INIT'],
  [22, 'TDH.VP.INIT'],
  [23, 'TDH.MEM.PAGE.PROMOTE'],
  [24, 'TDH.PHYMEM.PAGE.RDMD'],
  [25, 'TDH.MEM.SEPT.RD'],
  [26, 'TDH.VP.RD'],
  [27, 'TDH.MNG.KEY.RECLAIMID'],
  [28, 'TDH.PHYMEM.PAGE.RECLAIM'],
  [29, 'TDH.MEM.PAGE.REMOVE'],
  [30, 'TDH.MEM.SEPT.REMOVE'],
  [31, 'TDH.SYS.KEY.CONFIG'],
  [32, 'TDH.SYS.INFO'],
  [33, 'TDH.SYS.INIT'],
  [34, 'TDH.SYS.RD'],
  [35, 'TDH.SYS.LP.INIT'],
  [36, 'TDH.SYS.TDMR.INIT'],
  [37, 'TDH.SYS.RDALL'],
  [38, 'TDH.MEM.TRACK'],
  [39, 'TDH.MEM.RANGE.UNBLOCK'],
  [40, 'TDH.PHYMEM.CACHE.WB'],
  [41, 'TDH.PHYMEM.PAGE.WBINVD'],
  [42, 'TDH.MEM.SEPT.WR'],
  [43, 'TDH.VP.WR'],
  [44, 'TDH.SYS.LP.SHUTDOWN'],
  [45, 'TDH.SYS.CONFIG'],
  [48, 'TDH.SERVTD.BIND'],
  [49, 'TDH.SERVTD.PREBIND'],
  [52, 'TDH.SYS.SHUTDOWN'],
  [53, 'TDH.SYS.UPDATE'],
  [64, 'TDH.EXPORT.ABORT'],
  [65, 'TDH.EXPORT.BLOCKW'],
  [66, 'TDH.EXPORT.RESTORE'],
  [68, 'TDH.EXPORT.MEM'],
  [70, 'TDH.EXPORT.PAUSE'],
  [71, 'TDH.EXPORT.TRACK'],
  [72, 'TDH.EXPORT.STATE.IMMUTABLE'],
  [73, 'TDH.EXPORT.STATE.TD'],
  [74, 'TDH.EXPORT.STATE.VP'],
  [75, 'TDH.EXPORT.UNBLOCKW'],
  [80, 'TDH.IMPORT.ABORT'],
  [81, 'TDH.IMPORT.END'],
  [82, 'TDH.IMPORT.COMMIT'],
  [83, 'TDH.IMPORT.MEM'],
  [84, 'TDH.IMPORT.TRACK'],
  [85, 'TDH.IMPORT.STATE.IMMUTABLE'],
  [86, 'TDH.IMPORT.STATE.TD'],
  [87, 'TDH.IMPORT.STATE.VP'],
  [96, 'TDH.MIG.STREAM.CREATE'],
]);

/** The leaf numbers of SEAMCALL_LEAF_NAMES as a flag table: the dispatcher asks on every call. */
const KNOWN_LEAVES = new Uint8Array(128);
for (const n of SEAMCALL_LEAF_NAMES.keys()) KNOWN_LEAVES[n] = 1;

/** True when `leaf` is a SEAMCALL leaf the module has (any number; no Map lookup). */
export function isSeamcallLeaf(leaf: number): boolean {
  return leaf >= 0 && leaf < 128 && KNOWN_LEAVES[leaf] === 1;
}

const LEAF_BY_NAME = new Map<string, number>();
for (const [n, name] of SEAMCALL_LEAF_NAMES) LEAF_BY_NAME.set(name, n);

export function seamcallLeafName(leaf: number): string | undefined {
  return SEAMCALL_LEAF_NAMES.get(leaf);
}
/** Accepts `TDH.MEM.PAGE.AUG` or `TDH_MEM_PAGE_AUG`. */
export function seamcallLeafByName(name: string): number | undefined {
  return LEAF_BY_NAME.get(name.replaceAll('_', '.').toUpperCase());
}

/** Which module the model imitates where versions differ. */
export type ModuleVersion = '1.5' | 'newer';

/**
 * Highest RAX version each leaf accepts. [M15] (1.5.01): versions above 0 only for PAGE.PROMOTE,
 * SEPT.ADD, SEPT.REMOVE, MNG.RD, VP.RD. Newer modules ([M20]) also take VP.INIT v1 (x2APIC ID in
 * R8, which upstream KVM requires), SYS.INIT v1 and MEM.SHARED.SEPT.WR.
 */
export function maxLeafVersion(leaf: number, module: ModuleVersion): number {
  switch (leaf) {
    case TDH_MEM_PAGE_PROMOTE:
    case TDH_MEM_SEPT_ADD:
    case TDH_MEM_SEPT_REMOVE:
    case TDH_MNG_RD:
    case TDH_VP_RD:
      return 1;
    case TDH_VP_INIT:
    case TDH_SYS_INIT:
      return module === 'newer' ? 1 : 0;
    default:
      return 0;
  }
}

/** Leaves that run before the module reaches SYS_READY (tdx_vmm_dispatcher.c global-state gate). */
export function allowedBeforeSysReady(leaf: number): boolean {
  switch (leaf) {
    case TDH_SYS_INFO:
    case TDH_SYS_RD:
    case TDH_SYS_RDALL:
    case TDH_SYS_INIT:
    case TDH_SYS_LP_INIT:
    case TDH_SYS_CONFIG:
    case TDH_SYS_KEY_CONFIG:
    case TDH_SYS_LP_SHUTDOWN:
    case TDH_SYS_UPDATE:
      return true;
    default:
      return false;
  }
}

// Guest TDCALL leaves (tdcall_leaf_opcode_e).
export const TDG_VP_VMCALL = 0;
export const TDG_VP_INFO = 1;
export const TDG_MR_RTMR_EXTEND = 2;
export const TDG_VP_VEINFO_GET = 3;
export const TDG_MR_REPORT = 4;
export const TDG_VP_CPUIDVE_SET = 5;
export const TDG_MEM_PAGE_ACCEPT = 6;
export const TDG_VM_RD = 7;
export const TDG_VM_WR = 8;

export const TDCALL_LEAF_NAMES: ReadonlyMap<number, string> = new Map<number, string>([
  [0, 'TDG.VP.VMCALL'],
  [1, 'TDG.VP.INFO'],
  [2, 'TDG.MR.RTMR.EXTEND'],
  [3, 'TDG.VP.VEINFO.GET'],
  [4, 'TDG.MR.REPORT'],
  [5, 'TDG.VP.CPUIDVE.SET'],
  [6, 'TDG.MEM.PAGE.ACCEPT'],
  [7, 'TDG.VM.RD'],
  [8, 'TDG.VM.WR'],
  [9, 'TDG.VP.RD'],
  [10, 'TDG.VP.WR'],
  [11, 'TDG.SYS.RD'],
  [12, 'TDG.SYS.RDALL'],
]);
