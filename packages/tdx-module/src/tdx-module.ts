// The TDX module: SEAMCALL dispatch, TD/vCPU life cycle, PAMT, HKIDs, Secure-EPT, TLB tracking,
// MRTD, and the guest TDCALLs the MMU cares about.
//
// Version: the model follows TDX module 1.5 (intel/tdx-module tag TDX_1.5.01, tdx-module.md [M15])
// by default. With `version: 'newer'` it also takes what upstream KVM needs from later modules:
// TDH.VP.INIT version 1 (x2APIC ID in R8, TDX_X2APIC_ID_NOT_UNIQUE) and TDH.SYS.INIT version 1.
//
// Each leaf follows the module's check order (tdx-module.md §8): operand format → TDR lock and
// PAMT type → build state (lifecycle, fatal, TDCS) → op state → GPA/level → S-EPT tree lock →
// walk → entry lock → entry state → target page PAMT → TLB-tracking gate → commit. Statuses are
// returned as values (hi/lo halves); nothing here throws for an illegal call.
//
// Registers: a leaf reads its inputs from a SeamRegs and writes its outputs into the same object,
// as the SEAMCALL instruction does. The typed wrappers use a private register file and return the
// status; their outputs are in `out`.

import { type PgLevel, pageOffset, testBit } from '@kvmx/address';
import { FrameOwner, type FramePool, PagingTree } from '@kvmx/paging';
import { TdxKeyIdPool } from './keyid-pool.js';
import { LastLookupMap } from './last-lookup-map.js';
import type { ModuleVersion } from './leaf.js';
import * as L from './leaf.js';
import {
  allowedBeforeSysReady,
  maxLeafVersion,
  SEAMCALL_LEAF_NAMES,
  TDCALL_LEAF_NAMES,
} from './leaf.js';
import { type HeldLock, type LockMode, type LockResource, LockTable, lockKey } from './locks.js';
import { MR_EXTEND_CHUNK } from './mrtd.js';
import {
  OPERAND_ID_ATTRIBUTES,
  OPERAND_ID_EPTP_CONTROLS,
  OPERAND_ID_EXEC_CONTROLS,
  OPERAND_ID_KET,
  OPERAND_ID_KOT,
  OPERAND_ID_MAX_VCPUS,
  OPERAND_ID_NUM_L2_VMS,
  OPERAND_ID_OP_STATE,
  OPERAND_ID_R8,
  OPERAND_ID_R9,
  OPERAND_ID_R10,
  OPERAND_ID_RAX,
  OPERAND_ID_RCX,
  OPERAND_ID_RDX,
  OPERAND_ID_SEPT_TREE,
  OPERAND_ID_TD_EPOCH,
  OPERAND_ID_TSC_FREQUENCY,
  OPERAND_ID_WBCACHE,
  OPERAND_ID_XFAM,
} from './operand.js';
import { Pamt } from './pamt.js';
import {
  REG_R8,
  REG_R9,
  REG_R10,
  REG_R11,
  REG_R12,
  REG_R13,
  REG_RCX,
  REG_RDX,
  SeamRegs,
} from './regs.js';
import {
  ALLOWED_MR_EXTEND,
  ALLOWED_PAGE_ACCEPT,
  ALLOWED_PAGE_ADD,
  ALLOWED_PAGE_AUG,
  ALLOWED_PAGE_DEMOTE,
  ALLOWED_PAGE_PROMOTE,
  ALLOWED_PAGE_REMOVE,
  ALLOWED_RANGE_BLOCK,
  ALLOWED_RANGE_UNBLOCK,
  ALLOWED_SEPT_ADD,
  ALLOWED_SEPT_REMOVE,
  isAnyBlocked,
  isLeafState,
  SEPT_FREE_HI,
  SEPT_FREE_LO,
  SEPT_HI_TDHP,
  SEPT_STATE_NAMES,
  SeptState,
  septArchHi,
  septArchLo,
  septEntryHi,
  septEntryLo,
  septEntryPfn,
  septLevelState,
  septStateOf,
  septStateRwx,
  stateAllowed,
  stateNeedsTlbTracking,
} from './sept-state.js';
import * as St from './status.js';
import { SUCCESS_STATUS, type TdxStatus } from './status.js';
import { Td, type TdExit, Vcpu } from './td.js';
import {
  KotState,
  MAX_NUM_TDCS_PAGES,
  MIN_NUM_TDCS_PAGES,
  OpState,
  opStateMask,
  PageType,
  PT_2MB,
  PT_4KB,
  SysState,
  TDCS_SEPT_ROOT_INDEX,
  TdLifecycle,
  TLB_TRACKING_OP_STATES,
  VcpuState,
} from './td-state.js';

/** VMX basic exit reasons the model produces (SDM Appendix C; Linux uapi/asm/vmx.h). */
export const EXIT_REASON_EXTERNAL_INTERRUPT = 1;
export const EXIT_REASON_EPT_VIOLATION = 48;
export const EXIT_REASON_TDCALL = 77;
/** Extended exit qualification types (tdx-module.md §6.1; Linux TDX_EXT_EXIT_QUAL_TYPE_*). */
export const EXT_EXIT_QUAL_TYPE_NONE = 0;
export const EXT_EXIT_QUAL_TYPE_ACCEPT = 1;
export const EXT_EXIT_QUAL_TYPE_PENDING_EPT_VIOLATION = 6;
/** TDG.VP.VMCALL sub-function MapGPA (GHCI; Linux TDVMCALL_MAP_GPA). */
export const TDVMCALL_MAP_GPA = 0x10001;

/** Bit position of the HKID in a keyed physical address (the model's MAXPHYADDR is 52). */
export const HKID_SHIFT = 52;
const TWO32 = 2 ** 32;
const NO_LP = -1;

export interface TdxModuleOptions {
  /** Host memory: every page handed to the module is a frame of this pool. */
  readonly pool: FramePool;
  /** Which module to imitate where versions differ (default '1.5'). */
  readonly version?: ModuleVersion;
  /** CPU packages (each needs its own TDH.MNG.KEY.CONFIG). Default 1. */
  readonly packages?: number;
  /** Logical processors per package. Default 4. */
  readonly lpsPerPackage?: number;
  /** First TDX KeyID: the module's global private KeyID; guest HKIDs follow. Default 32. */
  readonly tdxKeyIdStart?: number;
  /** Number of TDX KeyIDs including the global one. Default 32. */
  readonly tdxKeyIds?: number;
  /** TDCS pages a TD needs (TDCS_BASE_SIZE / 4096, 6..9). Default 6. */
  readonly tdcsPages?: number;
  /** TDVPS pages a vCPU needs including the TDVPR (TDVPS_BASE_SIZE / 4096). Default 6. */
  readonly tdvpsPages?: number;
  /** ATTRIBUTES bits TDH.MNG.INIT accepts (low 32 bits). Default DEBUG (0) | SEPT_VE_DISABLE (28). */
  readonly supportedAttributes?: number;
  /**
   * Start with the module initialised (TDH.SYS.INIT, LP.INIT on every LP, CONFIG, KEY.CONFIG on
   * every package, TDMR.INIT done) as Linux leaves it after boot. Default true.
   */
  readonly ready?: boolean;
}

/** One SEAMCALL or TDCALL as the event stream reports it. */
export interface TdxCallEvent {
  readonly type: 'seamcall' | 'tdcall';
  readonly leaf: number;
  /** The module's name with dots (`TDH.MEM.PAGE.AUG`, `TDG.MEM.PAGE.ACCEPT`). */
  readonly name: string;
  readonly version: number;
  /** Input operands RCX, RDX, R8, R9 (as the caller passed them). */
  readonly rcx: TdxStatus;
  readonly rdx: TdxStatus;
  readonly r8: TdxStatus;
  readonly r9: TdxStatus;
  /** R11 and R12: a TDG.VP.VMCALL's sub-function and its first argument (MapGPA: the GPA). */
  readonly r11: TdxStatus;
  readonly r12: TdxStatus;
  readonly status: TdxStatus;
  /** Logical processor the call ran on. */
  readonly lp: number;
}
export type TdxEventListener = (event: TdxCallEvent) => void;

/** SEAMCALL result: the status (RAX) and the register file holding the outputs. */
export interface SeamcallResult {
  readonly status: TdxStatus;
  readonly regs: SeamRegs;
}

/** What TDG.MEM.PAGE.ACCEPT did. */
export type AcceptOutcome =
  /** The TDCALL completed with this status in the guest's RAX. */
  | { readonly kind: 'status'; readonly status: TdxStatus }
  /** The TD exited to the host (EPT violation); VP.ENTER returned with `exit`. */
  | { readonly kind: 'exit'; readonly exit: TdExit };

/** What a guest access to a GPA did. */
export type GuestAccessOutcome =
  | { readonly kind: 'ok'; readonly pfn: number }
  /** #VE injected into the guest (PENDING page, SEPT_VE_DISABLE clear). */
  | { readonly kind: 've' }
  | { readonly kind: 'exit'; readonly exit: TdExit }
  /** A shared GPA: translated by the VMM's shared EPT, not by the module. */
  | { readonly kind: 'shared' };

/** TDG.VP.VMCALL<MapGPA> as the VMM receives it. */
export interface MapGpaRequest {
  /** Start GPA as the guest wrote it (shared bit set = convert to shared). */
  readonly gpa: number;
  readonly size: number;
  readonly toShared: boolean;
  readonly exit: TdExit;
}

// Fields TDH.MNG.RD / TDH.VP.RD return (the model's kept subset; ids from Linux
// arch/x86/kvm/vmx/tdx_arch.h and arch/x86/virt/vmx/tdx/tdx_global_metadata.c, UNVERIFIED beyond
// these names).
/** Bytes and 4K pages covered by one entry at module level 0..4. */
const LEVEL_BYTES = [2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39, 2 ** 48];
/** 1 / LEVEL_BYTES: an exact power of two, so `x * LEVEL_INV[l]` equals `x / LEVEL_BYTES[l]`. */
const LEVEL_INV = [2 ** -12, 2 ** -21, 2 ** -30, 2 ** -39, 2 ** -48];
const LEVEL_PAGES = [1, 2 ** 9, 2 ** 18, 2 ** 27, 2 ** 36];

/** Structure of the tree: NL_MAPPED and NL_BLOCKED entries point at tables. */
function isSeptTable(lo: number, hi: number): boolean {
  const s = septStateOf(lo >>> 0, hi >>> 0);
  return s === SeptState.NL_MAPPED || s === SeptState.NL_BLOCKED;
}
function isSeptLeaf(lo: number, hi: number): boolean {
  return isLeafState(septStateOf(lo >>> 0, hi >>> 0));
}

/**
 * The TD's Secure-EPT as a @kvmx/paging tree: its root is TDCS page 3, its tables are the pages
 * the host donates through TDH.MEM.SEPT.ADD (never freed by the tree), and entry meaning is the
 * module's state encoding (sept-state.ts).
 */
function newSeptTree(pool: FramePool, td: Td, pwl: number): PagingTree {
  return new PagingTree(pool, {
    rootLevel: (pwl + 1) as 4 | 5,
    rootPfn: td.septRoot,
    name: 'sept',
    tableOwner: FrameOwner.TDX_SEPT,
    emptyLo: SEPT_FREE_LO,
    emptyHi: SEPT_FREE_HI | 0,
    nonleafLo: septEntryLo(SeptState.NL_MAPPED, 0),
    nonleafHi: septEntryHi(SeptState.NL_MAPPED, 0) | 0,
    isTable: isSeptTable,
    isLeaf: isSeptLeaf,
    freeTables: false,
  });
}

export class TdxModule {
  readonly pool: FramePool;
  readonly version: ModuleVersion;
  readonly packages: number;
  readonly lpsPerPackage: number;
  readonly tdxKeyIdStart: number;
  readonly tdxKeyIds: number;
  readonly tdcsPages: number;
  readonly tdvpsPages: number;
  readonly supportedAttributes: number;
  readonly pamt: Pamt;
  readonly locks = new LockTable();

  /** Module global state. */
  sysState: number = SysState.SYSINIT_PENDING;
  /** The logical processor the next call runs on (`onLp`). */
  lp = 0;
  /** Key ownership table: KOT state per HKID (index = HKID). */
  readonly kotState: Uint8Array;
  /** Per HKID: packages that still need TDH.PHYMEM.CACHE.WB (bitmap). */
  readonly kotWbinvd: Int32Array;
  /** TDs by TDR PFN. */
  readonly tds = new LastLookupMap<Td>();
  /** vCPUs by TDVPR PFN. */
  readonly vcpus = new LastLookupMap<Vcpu>();
  /** Fault injection: the next N RNG uses return TDX_RND_NO_ENTROPY. */
  entropyFailures = 0;
  /** Fault injection: the next N TDH.PHYMEM.CACHE.WB calls see a pending interrupt. */
  cacheWbInterrupts = 0;
  /** Called by a raw TDH.VP.ENTER while the vCPU is in the TD (guest code); see enterGuest. */
  guestRunner: ((tdvprPa: number) => void) | null = null;
  /**
   * The typed wrappers' register file: inputs are loaded here and the leaf's outputs stay here
   * (as the instruction leaves them in the registers) until the next wrapper call.
   */
  readonly out = new SeamRegs();
  /** The host's guest-KeyID allocator (Linux tdx_guest_keyid_alloc), over the guest HKIDs. */
  readonly keyIds: TdxKeyIdPool;

  private listener: TdxEventListener | null = null;
  private lpInitDone = new Set<number>();
  private pkgSysKeyConfigured = 0;
  private globalHkid = -1;
  /** Per package: HKIDs snapshotted by an interrupted CACHE.WB, or null. */
  private wbSnapshot: (number[] | null)[];
  /** Status low half (operand id) set by the failing check. */
  private stLo = 0;
  // Walk results (no allocation per walk).
  private wPfn = 0;
  private wIdx = 0;
  private wLevel = 0;
  private wLo = 0;
  private wHi = 0;
  // Parsed operands.
  private gpa = 0;
  private level = 0;
  private pfnArg = 0;
  private readonly chunk = new Uint8Array(MR_EXTEND_CHUNK);

  constructor(options: TdxModuleOptions) {
    this.pool = options.pool;
    this.version = options.version ?? '1.5';
    this.packages = options.packages ?? 1;
    this.lpsPerPackage = options.lpsPerPackage ?? 4;
    this.tdxKeyIdStart = options.tdxKeyIdStart ?? 32;
    this.tdxKeyIds = options.tdxKeyIds ?? 32;
    this.tdcsPages = options.tdcsPages ?? MIN_NUM_TDCS_PAGES;
    this.tdvpsPages = options.tdvpsPages ?? 6;
    this.supportedAttributes = options.supportedAttributes ?? (1 << 0) | (1 << 28);
    this.pamt = new Pamt(this.pool.basePfn, this.pool.maxFrames);
    this.kotState = new Uint8Array(this.tdxKeyIdStart + this.tdxKeyIds);
    this.kotWbinvd = new Int32Array(this.tdxKeyIdStart + this.tdxKeyIds);
    this.wbSnapshot = new Array(this.packages).fill(null);
    this.keyIds = new TdxKeyIdPool(this.tdxKeyIdStart + 1, this.tdxKeyIds - 1);
    if (options.ready ?? true) this.bootAsLinux();
  }

  // ---- configuration and helpers -----------------------------------------------------

  /** All logical processors. */
  get numLps(): number {
    return this.packages * this.lpsPerPackage;
  }
  /** The package of a logical processor. */
  packageOf(lp: number): number {
    return Math.floor(lp / this.lpsPerPackage);
  }
  /** Run the following calls on logical processor `lp`. */
  onLp(lp: number): this {
    this.lp = lp;
    return this;
  }
  /** First HKID a TD may use (Linux tdx_guest_keyid_start). */
  get guestHkidStart(): number {
    return this.tdxKeyIdStart + 1;
  }
  get guestHkidEnd(): number {
    return this.tdxKeyIdStart + this.tdxKeyIds;
  }
  /** A keyed physical address: pa | hkid << 52 (Linux mk_keyed_paddr with phys bits 52). */
  keyedPa(pa: number, hkid: number): bigint {
    return BigInt(pa) | (BigInt(hkid) << BigInt(HKID_SHIFT));
  }

  /** Subscribe to the event stream (one listener; null to stop). No events are built without it. */
  setListener(listener: TdxEventListener | null): void {
    this.listener = listener;
  }

  /** Hold a module resource across calls, as a concurrent caller would. Null when unavailable. */
  hold(resource: LockResource, mode: LockMode = 'exclusive'): HeldLock | null {
    return this.locks.hold(resource, mode);
  }

  td(tdrPa: number): Td | undefined {
    return this.tds.get(Math.floor(tdrPa / 4096));
  }
  vcpu(tdvprPa: number): Vcpu | undefined {
    return this.vcpus.get(Math.floor(tdvprPa / 4096));
  }

  /** Module-internal boot sequence Linux runs (tdx.c init_tdx_module), without events. */
  private bootAsLinux(): void {
    this.sysState = SysState.SYS_READY;
    for (let lp = 0; lp < this.numLps; lp++) this.lpInitDone.add(lp);
    this.pkgSysKeyConfigured = (1 << this.packages) - 1;
    this.globalHkid = this.tdxKeyIdStart;
    this.kotState[this.globalHkid] = KotState.HKID_RESERVED;
  }

  // ---- SEAMCALL entry ----------------------------------------------------------------

  /**
   * SEAMCALL: RAX = leaf (bits 15:0) | version (bits 23:16); inputs in `regs`, outputs written
   * back into `regs`. Models tdx_vmm_dispatcher.c: tdx_vmm_dispatcher().
   */
  seamcall(rax: number, regs: SeamRegs): SeamcallResult {
    const hi = this.dispatch(rax, regs);
    const status = hi === 0 && this.stLo === 0 ? SUCCESS_STATUS : St.tdxStatus(hi, this.stLo);
    return { status, regs };
  }

  /** Dispatch; returns the status high half, low half in `stLo`. */
  private dispatch(rax: number, regs: SeamRegs): number {
    this.stLo = 0;
    const leaf = rax & 0xffff;
    const version = (rax >>> 16) & 0xff;
    const ev = this.listener;
    let snap: SeamRegs | null = null;
    if (ev !== null) snap = new SeamRegs().copyFrom(regs);
    let hi: number;
    if (!Number.isInteger(rax) || rax < 0 || rax >= 2 ** 24 || !L.isSeamcallLeaf(leaf)) {
      hi = this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_RAX);
    } else if (version > maxLeafVersion(leaf, this.version)) {
      hi = this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_RAX);
    } else if (this.sysState === SysState.SYS_SHUTDOWN && leaf !== L.TDH_SYS_LP_SHUTDOWN) {
      hi = this.e(St.TDX_SYS_SHUTDOWN);
    } else if (this.sysState !== SysState.SYS_READY && !allowedBeforeSysReady(leaf)) {
      hi = this.e(St.TDX_SYS_NOT_READY);
    } else {
      hi = this.runLeaf(leaf, version, regs);
    }
    if (snap !== null) this.emit('seamcall', leaf, version, snap, hi);
    return hi;
  }

  private emit(
    type: 'seamcall' | 'tdcall',
    leaf: number,
    version: number,
    snap: SeamRegs,
    hi: number,
  ): void {
    const names = type === 'seamcall' ? SEAMCALL_LEAF_NAMES : TDCALL_LEAF_NAMES;
    this.listener?.({
      type,
      leaf,
      name: names.get(leaf) ?? `leaf ${leaf}`,
      version,
      rcx: snap.word(REG_RCX),
      rdx: snap.word(REG_RDX),
      r8: snap.word(REG_R8),
      r9: snap.word(REG_R9),
      r11: snap.word(REG_R11),
      r12: snap.word(REG_R12),
      status: St.tdxStatus(hi, this.stLo),
      lp: this.lp,
    });
  }

  private runLeaf(leaf: number, version: number, r: SeamRegs): number {
    // The leaves of a running TD's fault path first: a switch over imported constants (not
    // literals) is a chain of comparisons in V8.
    switch (leaf) {
      case L.TDH_MEM_PAGE_AUG:
        return this.memPageAugLeaf(r);
      case L.TDH_MEM_SEPT_ADD:
        return this.memSeptAddLeaf(r, version);
      case L.TDH_SYS_INIT:
        return this.sysInitLeaf(r);
      case L.TDH_SYS_LP_INIT:
        return this.sysLpInitLeaf();
      case L.TDH_SYS_CONFIG:
        return this.sysConfigLeaf(r);
      case L.TDH_SYS_KEY_CONFIG:
        return this.sysKeyConfigLeaf();
      case L.TDH_SYS_TDMR_INIT:
        return this.sysTdmrInitLeaf(r);
      case L.TDH_SYS_LP_SHUTDOWN:
        this.sysState = SysState.SYS_SHUTDOWN;
        return 0;
      case L.TDH_MNG_CREATE:
        return this.mngCreateLeaf(r);
      case L.TDH_MNG_KEY_CONFIG:
        return this.mngKeyConfigLeaf(r);
      case L.TDH_MNG_ADDCX:
        return this.mngAddcxLeaf(r);
      case L.TDH_MNG_INIT:
        return this.mngInitLeaf(r);
      case L.TDH_VP_CREATE:
        return this.vpCreateLeaf(r);
      case L.TDH_VP_ADDCX:
        return this.vpAddcxLeaf(r);
      case L.TDH_VP_INIT:
        return this.vpInitLeaf(r, version);
      case L.TDH_MR_EXTEND:
        return this.mrExtendLeaf(r);
      case L.TDH_MR_FINALIZE:
        return this.mrFinalizeLeaf(r);
      case L.TDH_VP_ENTER:
        return this.vpEnterLeaf(r);
      case L.TDH_VP_FLUSH:
        return this.vpFlushLeaf(r);
      case L.TDH_MNG_VPFLUSHDONE:
        return this.mngVpflushdoneLeaf(r);
      case L.TDH_PHYMEM_CACHE_WB:
        return this.phymemCacheWbLeaf(r);
      case L.TDH_MNG_KEY_FREEID:
        return this.mngKeyFreeidLeaf(r);
      case L.TDH_MNG_KEY_RECLAIMID:
        return 0; // a no-op in 1.5 (tdh_mng_key_reclaimid.c)
      case L.TDH_PHYMEM_PAGE_RECLAIM:
        return this.phymemPageReclaimLeaf(r);
      case L.TDH_PHYMEM_PAGE_WBINVD:
        return this.phymemPageWbinvdLeaf(r);
      case L.TDH_PHYMEM_PAGE_RDMD:
        return this.phymemPageRdmdLeaf(r);
      case L.TDH_MNG_RD:
        return this.mngRdLeaf(r);
      case L.TDH_VP_RD:
        return this.vpRdLeaf(r);
      case L.TDH_VP_WR:
        return this.vpWrLeaf(r);
      case L.TDH_MEM_PAGE_ADD:
        return this.memPageAddLeaf(r);
      case L.TDH_MEM_RANGE_BLOCK:
        return this.memRangeBlockLeaf(r);
      case L.TDH_MEM_TRACK:
        return this.memTrackLeaf(r);
      case L.TDH_MEM_RANGE_UNBLOCK:
        return this.memRangeUnblockLeaf(r);
      case L.TDH_MEM_PAGE_REMOVE:
        return this.memPageRemoveLeaf(r);
      case L.TDH_MEM_SEPT_REMOVE:
        return this.memSeptRemoveLeaf(r);
      case L.TDH_MEM_PAGE_DEMOTE:
        return this.memPageDemoteLeaf(r);
      case L.TDH_MEM_PAGE_PROMOTE:
        return this.memPagePromoteLeaf(r);
      default:
        // Defined by the module but not modelled (migration, service TDs, debug MEM.RD/WR,
        // RELOCATE, SYS.RD…): refused as an unsupported leaf would be.
        return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_RAX);
    }
  }

  /** Set the operand and return the status high half. */
  private e(hi: number, lo = 0): number {
    this.stLo = lo;
    return hi;
  }

  private busy(key: string, mode: LockMode): boolean {
    return this.locks.size !== 0 && !this.locks.canTake(key, mode);
  }

  // ---- operand checks ----------------------------------------------------------------

  /**
   * A 4K-aligned host PA operand with no HKID bits (check_and_lock_explicit_4k_private_hpa's
   * format part): bad format → OPERAND_INVALID, outside the TDMRs → OPERAND_ADDR_RANGE_ERROR.
   * In the model the TDMRs are the frames the pool has handed out. Sets `pfnArg`.
   */
  private hpaOperand(r: SeamRegs, reg: number): number {
    const lo = r.lo[reg] as number;
    const hi = r.hi[reg] as number;
    if ((lo & 0xfff) !== 0 || hi >>> 20 !== 0) return this.e(St.TDX_OPERAND_INVALID, reg);
    const pfn = hi * 0x100000 + (lo >>> 12);
    if (!this.pamt.covers(pfn) || !this.pool.contains(pfn)) {
      return this.e(St.TDX_OPERAND_ADDR_RANGE_ERROR, reg);
    }
    this.pfnArg = pfn;
    return 0;
  }

  /** A new 4K page for the module: PAMT entry lockable and PT_NDA at 4K. */
  private ndaPage(pfn: number, operand: number): number {
    if (this.locks.size !== 0 && this.busy(`page:${pfn * 4096}`, 'exclusive')) {
      return this.e(St.TDX_OPERAND_BUSY, operand);
    }
    const pamt = this.pamt;
    if (pamt.walkSize(pfn, PT_4KB) !== PT_4KB || pamt.pt(pfn, PT_4KB) !== PageType.PT_NDA) {
      return this.e(St.TDX_PAGE_METADATA_INCORRECT, operand);
    }
    return 0;
  }

  /**
   * Resolve the TDR named by register `reg` (plain PA, or td_handle_and_flags when `flags`), take
   * its PAMT lock in `mode`, and check it is a PT_TDR page. Returns the TD or null (status set).
   */
  private tdrOperand(r: SeamRegs, reg: number, mode: LockMode, flags: boolean): Td | null {
    const lo = r.lo[reg] as number;
    const hi = r.hi[reg] as number;
    const reservedLo = flags ? 0xffe : 0xfff;
    if ((lo & reservedLo) !== 0 || hi >>> 20 !== 0) {
      this.stHi = this.e(St.TDX_OPERAND_INVALID, reg);
      return null;
    }
    const pfn = hi * 0x100000 + (lo >>> 12);
    if (!this.pamt.covers(pfn) || !this.pool.contains(pfn)) {
      this.stHi = this.e(St.TDX_OPERAND_ADDR_RANGE_ERROR, reg);
      return null;
    }
    if (this.locks.size !== 0 && this.busy(`page:${pfn * 4096}`, mode)) {
      this.stHi = this.e(St.TDX_OPERAND_BUSY, reg);
      return null;
    }
    const td = this.tds.get(pfn);
    if (td === undefined || this.pamt.pt(pfn, PT_4KB) !== PageType.PT_TDR) {
      this.stHi = this.e(St.TDX_PAGE_METADATA_INCORRECT, reg);
      return null;
    }
    return td;
  }
  /** Status high half of the last failed operand helper that returns an object. */
  private stHi = 0;

  /**
   * The build-state check (check_td_in_correct_build_state + op-state lock and lookup):
   * keys configured, not fatal, TDCS allocated, then the leaf's op states.
   */
  private buildState(td: Td, leaf: number, opLock: boolean): number {
    if (td.lifecycle !== TdLifecycle.TD_KEYS_CONFIGURED)
      return this.e(St.TDX_TD_KEYS_NOT_CONFIGURED);
    if (td.fatal) return this.e(St.TDX_TD_FATAL);
    if (td.tdcx.length < this.tdcsPages) return this.e(St.TDX_TDCS_NOT_ALLOCATED);
    if (opLock && this.locks.size !== 0 && this.busy(`opState:${td.tdrPfn * 4096}`, 'shared')) {
      return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_OP_STATE);
    }
    if (((opStateMask(leaf) >>> td.opState) & 1) === 0) return this.e(St.TDX_OP_STATE_INCORRECT);
    return 0;
  }

  /** A TDVPR operand: PAMT lock, PT_TDVPR, its vCPU and TD. */
  private tdvprOperand(
    r: SeamRegs,
    reg: number,
    mode: LockMode,
    handleFlags: boolean,
  ): Vcpu | null {
    const lo = r.lo[reg] as number;
    const hi = r.hi[reg] as number;
    // VP.ENTER's handle: bits 51:12 PA, bit 52 host_recoverability_hint, bit 53 resume_l1.
    const hiReserved = handleFlags ? 0xffc00000 : 0xfff00000;
    if ((lo & 0xfff) !== 0 || (hi & hiReserved) !== 0) {
      this.stHi = this.e(St.TDX_OPERAND_INVALID, reg);
      return null;
    }
    const pfn = (hi & 0xfffff) * 0x100000 + (lo >>> 12);
    if (!this.pamt.covers(pfn) || !this.pool.contains(pfn)) {
      this.stHi = this.e(St.TDX_OPERAND_ADDR_RANGE_ERROR, reg);
      return null;
    }
    if (this.locks.size !== 0 && this.busy(`page:${pfn * 4096}`, mode)) {
      this.stHi = this.e(St.TDX_OPERAND_BUSY, reg);
      return null;
    }
    const vcpu = this.vcpus.get(pfn);
    if (vcpu === undefined || this.pamt.pt(pfn, PT_4KB) !== PageType.PT_TDVPR) {
      this.stHi = this.e(St.TDX_PAGE_METADATA_INCORRECT, reg);
      return null;
    }
    // The owner TDR is locked implicitly shared.
    if (this.locks.size !== 0 && this.busy(`page:${vcpu.td.tdrPfn * 4096}`, 'shared')) {
      this.stHi = this.e(St.TDX_OPERAND_BUSY, reg);
      return null;
    }
    return vcpu;
  }

  /**
   * A "GPA | level" operand (page_info_api_input_t) for TD `td`: level in [minLevel, maxLevel],
   * bits 11:3 and 63:52 zero, GPA aligned to the level, private and inside GPAW. Sets gpa/level.
   */
  private gpaLevelOperand(r: SeamRegs, td: Td, minLevel: number, maxLevel: number): number {
    const lo = r.lo[REG_RCX] as number;
    const hi = r.hi[REG_RCX] as number;
    const level = lo & 7;
    if ((lo & 0xff8) !== 0 || hi >>> 20 !== 0 || level < minLevel || level > maxLevel) {
      return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_RCX);
    }
    const gpa = hi * TWO32 + ((lo & 0xfffff000) >>> 0);
    return this.privateGpa(td, gpa, level) ? 0 : this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_RCX);
  }

  /** check_and_walk_private_gpa's address part: aligned, shared bit clear, within GPAW. */
  private privateGpa(td: Td, gpa: number, level: number): boolean {
    const size = LEVEL_BYTES[level] as number;
    // Not `%`: on doubles above 2^31 it is an x87 fprem loop (performance.md B.3); and a
    // multiplication by the exact inverse, not a division.
    if (Math.floor(gpa * (LEVEL_INV[level] as number)) * size !== gpa) return false;
    // GPAW 48: bits 51:47 must be clear (47 is the shared bit); GPAW 52: bit 51 (shared) clear.
    const limit = td.gpaw === 48 ? 2 ** 47 : 2 ** 51;
    if (gpa >= limit) return false;
    this.gpa = gpa;
    this.level = level;
    return true;
  }

  // ---- Secure-EPT walk ---------------------------------------------------------------

  /**
   * Walk the TD's S-EPT towards `level` (secure_ept_walk): descend through NL_MAPPED entries,
   * stop at a leaf or an entry without RWX. Returns true when the entry at `level` was reached;
   * either way wPfn/wIdx/wLevel/wLo/wHi describe the entry where the walk ended.
   */
  private septWalk(td: Td, gpa: number, level: number): boolean {
    // Reads the tree's tables in place (tableBase/childBase of the PagingTree); the tree's own
    // walk() would record a path the module does not need on its hottest leaves.
    const tree = td.sept as PagingTree;
    const store = this.pool.store;
    const gfn = Math.floor(gpa / 4096);
    let table = tree.root;
    let base = tree.tableBase(table);
    let l = td.septRootLevel;
    let idx = 0;
    let lo = 0;
    let hi = 0;
    let wGfn = 0;
    let reached = false;
    // The GFN split once (performance.md B.6): TDX levels 0-2 (4K, 2M, 1G) index and align
    // with int32 ops on its low 27 bits (`& 0x7ffffff` is exact for any integer below 2^53:
    // ToInt32 is modular).
    const low = gfn & 0x7ffffff;
    for (;;) {
      if (l <= 2) {
        const shift = 9 * l;
        idx = (low >>> shift) & 511;
        wGfn = gfn - (low & ((1 << shift) - 1));
      } else {
        const pages = LEVEL_PAGES[l] as number;
        const q = Math.floor(gfn / pages); // exact: a power of two divides
        idx = q & 511; // ToInt32 keeps the low bits of any integer below 2^53
        wGfn = q * pages;
      }
      const w = base + 2 * idx;
      lo = (store[w] as number) >>> 0;
      hi = (store[w + 1] as number) >>> 0;
      if (l === level) {
        reached = true;
        break;
      }
      if (septStateOf(lo, hi) !== SeptState.NL_MAPPED) break;
      const next = tree.childBase(lo, hi);
      if (next === 0) break;
      table = septEntryPfn(lo, hi);
      base = next;
      l--;
    }
    // The entry where the walk ended, recorded once (not at every level).
    this.wPfn = table;
    this.wIdx = idx;
    this.wLevel = l;
    this.wLo = lo;
    this.wHi = hi;
    this.wGfn = wGfn;
    this.wTd = td;
    return reached;
  }
  private wGfn = 0;
  private wTd: Td | null = null;

  /** Write the walked entry through the S-EPT tree's write path. */
  private setEntry(lo: number, hi: number): void {
    ((this.wTd as Td).sept as PagingTree).writeEntry(
      this.wPfn,
      this.wIdx,
      this.wGfn,
      this.wLevel + 1,
      lo | 0,
      hi | 0,
    );
    this.wLo = lo >>> 0;
    this.wHi = hi >>> 0;
  }

  /**
   * Link a new S-EPT table under the walked entry (which becomes NL_MAPPED). `leaves`: how many
   * leaf entries the table holds when known (0 for a table just filled with FREE entries, the
   * tree's empty value: the tree then skips its 512-entry count), else undefined.
   */
  private linkSeptTable(td: Td, table: number, leaves?: number): void {
    const tree = td.sept as PagingTree;
    const r = tree.linkTable(
      this.wGfn,
      this.wLevel as PgLevel,
      table,
      septEntryLo(SeptState.NL_MAPPED, table) | 0,
      septEntryHi(SeptState.NL_MAPPED, table) | 0,
      leaves,
    );
    if (r !== 0) throw new Error(`S-EPT linkTable failed (${r}): model bug`);
    this.wLo = septEntryLo(SeptState.NL_MAPPED, table);
    this.wHi = septEntryHi(SeptState.NL_MAPPED, table);
  }

  /** RCX/RDX error details of the walked entry (set_arch_septe_details_in_vmm_regs). */
  private septDetails(r: SeamRegs): void {
    r.setWord(REG_RCX, septArchLo(this.wLo, this.wHi), septArchHi(this.wLo, this.wHi));
    r.setWord(REG_RDX, septLevelState(this.wLevel, septStateOf(this.wLo, this.wHi)), 0);
  }

  /** Lock check of the S-EPT tree and the walked entry; busy entry sets host priority. */
  private septTreeBusy(td: Td, mode: LockMode): boolean {
    return this.locks.size !== 0 && this.busy(`sept:${td.tdrPfn * 4096}`, mode);
  }
  private entryBusy(td: Td): boolean {
    if (this.locks.size === 0) return false;
    const key = lockKey({
      kind: 'septEntry',
      tdr: td.tdrPfn * 4096,
      gpa: this.gpa,
      level: this.level,
    });
    if (this.locks.canTake(key, 'exclusive')) return false;
    // sept_lock_acquire_host: a host that loses sets TDHP so the guest yields next time.
    this.pool.writeWord64(this.wPfn, this.wIdx, this.wLo | 0, this.wHi | SEPT_HI_TDHP | 0);
    this.wHi = (this.wHi | SEPT_HI_TDHP) >>> 0;
    return true;
  }

  /**
   * The common S-EPT leaf prologue: GPA/level operand, tree lock, walk (EPT_WALK_FAILED with
   * details), entry lock, allowed state (EPT_ENTRY_STATE_INCORRECT with details).
   */
  private septPrologue(
    r: SeamRegs,
    td: Td,
    minLevel: number,
    maxLevel: number,
    treeMode: LockMode,
    allowed: number,
  ): number {
    if (this.gpaLevelOperand(r, td, minLevel, maxLevel) !== 0) return St.TDX_OPERAND_INVALID;
    if (this.septTreeBusy(td, treeMode)) return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_SEPT_TREE);
    r.setWord(REG_RCX, 0, 0).setWord(REG_RDX, 0, 0);
    if (!this.septWalk(td, this.gpa, this.level)) {
      this.septDetails(r);
      return this.e(St.TDX_EPT_WALK_FAILED, OPERAND_ID_RCX);
    }
    if (this.entryBusy(td)) {
      this.septDetails(r);
      return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_RCX);
    }
    const state = septStateOf(this.wLo, this.wHi);
    if (!stateAllowed(allowed, state)) {
      this.septDetails(r);
      if (allowed === ALLOWED_RANGE_BLOCK && isAnyBlocked(state)) {
        return this.e(St.TDX_GPA_RANGE_ALREADY_BLOCKED, OPERAND_ID_RCX);
      }
      return this.e(St.TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_ID_RCX);
    }
    return 0;
  }

  /** is_tlb_tracked(): the BLOCK at `bepoch` is no longer visible to any vCPU. */
  isTlbTracked(td: Td, bepoch: number): boolean {
    if (bepoch < td.tdEpoch - 1) return true;
    return bepoch === td.tdEpoch - 1 && td.refcount[bepoch & 1] === 0;
  }

  /** Whether the TLB-tracking gate applies (entry state flag AND op-state flag). */
  private trackingRequired(td: Td, state: number): boolean {
    return stateNeedsTlbTracking(state) && ((TLB_TRACKING_OP_STATES >>> td.opState) & 1) === 1;
  }

  // ---- system leaves -----------------------------------------------------------------

  // models tdh_sys_init.c
  private sysInitLeaf(r: SeamRegs): number {
    if (this.sysState !== SysState.SYSINIT_PENDING) return this.e(St.TDX_SYS_INIT_NOT_PENDING);
    if (r.lo[REG_RCX] !== 0 || r.hi[REG_RCX] !== 0)
      return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_RCX);
    this.sysState = SysState.SYSINIT_DONE;
    return 0;
  }
  // models tdh_sys_lp_init.c
  private sysLpInitLeaf(): number {
    if (this.sysState === SysState.SYSINIT_PENDING) return this.e(St.TDX_SYS_INIT_NOT_PENDING);
    if (this.lpInitDone.has(this.lp)) return this.e(St.TDX_SYS_LP_INIT_DONE);
    this.lpInitDone.add(this.lp);
    return 0;
  }
  // models tdh_sys_config.c (TDMRs are the pool's frames; only the global KeyID is taken from R8)
  private sysConfigLeaf(r: SeamRegs): number {
    if (this.sysState !== SysState.SYSINIT_DONE) return this.e(St.TDX_SYS_CONFIG_NOT_PENDING);
    if (this.lpInitDone.size < this.numLps) return this.e(St.TDX_SYS_LP_INIT_NOT_DONE);
    const hkid = r.get(REG_R8);
    if (!r.fits53(REG_R8) || hkid < this.tdxKeyIdStart || hkid >= this.guestHkidEnd) {
      return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_R8);
    }
    this.globalHkid = hkid;
    this.kotState[hkid] = KotState.HKID_RESERVED;
    this.sysState = SysState.SYSCONFIG_DONE;
    return 0;
  }
  // models tdh_sys_key_config.c
  private sysKeyConfigLeaf(): number {
    if (this.sysState !== SysState.SYSCONFIG_DONE) return this.e(St.TDX_SYS_KEY_CONFIG_NOT_PENDING);
    const bit = 1 << this.packageOf(this.lp);
    if ((this.pkgSysKeyConfigured & bit) !== 0) return this.e(St.TDX_SYS_KEY_CONFIG_NOT_PENDING);
    this.pkgSysKeyConfigured |= bit;
    if (this.pkgSysKeyConfigured === (1 << this.packages) - 1) this.sysState = SysState.SYS_READY;
    return 0;
  }
  // models tdh_sys_tdmr_init.c: the model initialises the whole TDMR in one call.
  private sysTdmrInitLeaf(r: SeamRegs): number {
    if (this.sysState !== SysState.SYS_READY) return this.e(St.TDX_SYS_NOT_READY);
    const base = this.pool.basePfn * 4096;
    if (r.get(REG_RCX) !== base) return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_RCX);
    r.set(REG_RDX, base + this.pool.maxFrames * 4096);
    return 0;
  }

  // ---- TD build leaves ----------------------------------------------------------------

  // models tdh_mng_create.c
  private mngCreateLeaf(r: SeamRegs): number {
    {
      const h = this.hpaOperand(r, REG_RCX);
      if (h !== 0) return h;
    }
    const pfn = this.pfnArg;
    {
      const h = this.ndaPage(pfn, OPERAND_ID_RCX);
      if (h !== 0) return h;
    }
    const hkid = r.get(REG_RDX);
    if (
      !r.fits53(REG_RDX) ||
      hkid > 0xffff ||
      hkid < this.tdxKeyIdStart ||
      hkid >= this.guestHkidEnd
    ) {
      return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_RDX);
    }
    if (this.locks.size !== 0 && this.busy('kot', 'exclusive'))
      return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_KOT);
    if (this.kotState[hkid] !== KotState.HKID_FREE) return this.e(St.TDX_HKID_NOT_FREE);
    if (this.entropyFailures > 0) {
      this.entropyFailures--;
      return this.e(St.TDX_RND_NO_ENTROPY);
    }
    this.pool.zero(pfn);
    this.kotState[hkid] = KotState.HKID_ASSIGNED;
    this.pamt.set(pfn, PT_4KB, PageType.PT_TDR, 0);
    this.tds.set(pfn, new Td(pfn, hkid));
    return 0;
  }

  // models tdh_mng_key_config.c
  private mngKeyConfigLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RCX, 'exclusive', false);
    if (td === null) return this.stHi;
    if (td.fatal) return this.e(St.TDX_TD_FATAL);
    if (td.lifecycle !== TdLifecycle.TD_HKID_ASSIGNED)
      return this.e(St.TDX_LIFECYCLE_STATE_INCORRECT);
    const pkg = this.packageOf(this.lp);
    const bit = 1 << pkg;
    if ((td.pkgConfigBitmap & bit) !== 0) return this.e(St.TDX_KEY_CONFIGURED);
    if (this.locks.size !== 0 && this.busy(`ket:${pkg}`, 'exclusive')) {
      return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_KET);
    }
    if (this.entropyFailures > 0) {
      this.entropyFailures--;
      return this.e(St.TDX_KEY_GENERATION_FAILED);
    }
    td.pkgConfigBitmap |= bit;
    if (td.pkgConfigBitmap === (1 << this.packages) - 1)
      td.lifecycle = TdLifecycle.TD_KEYS_CONFIGURED;
    return 0;
  }

  // models tdh_mng_add_cx.c
  private mngAddcxLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RDX, 'exclusive', false);
    if (td === null) return this.stHi;
    if (td.fatal) return this.e(St.TDX_TD_FATAL);
    if (td.lifecycle !== TdLifecycle.TD_KEYS_CONFIGURED)
      return this.e(St.TDX_TD_KEYS_NOT_CONFIGURED);
    {
      const h = this.hpaOperand(r, REG_RCX);
      if (h !== 0) return h;
    }
    const pfn = this.pfnArg;
    {
      const h = this.ndaPage(pfn, OPERAND_ID_RCX);
      if (h !== 0) return h;
    }
    const index = td.tdcx.length;
    if (index >= MAX_NUM_TDCS_PAGES || index >= this.tdcsPages)
      return this.e(St.TDX_TDCX_NUM_INCORRECT);
    if (index >= MIN_NUM_TDCS_PAGES && td.opState !== OpState.UNINITIALIZED) {
      return this.e(St.TDX_OP_STATE_INCORRECT);
    }
    if (index === MIN_NUM_TDCS_PAGES - 1 && this.entropyFailures > 0) {
      // Adding the 6th page generates the TD's migration key.
      this.entropyFailures--;
      return this.e(St.TDX_RND_NO_ENTROPY);
    }
    // MOVDIR64B fill: page 2 (MSR bitmaps) all ones, page 3 (L1 S-EPT root) FREE entries.
    if (index === 2) this.pool.fillWords(pfn, -1, -1);
    else if (index === TDCS_SEPT_ROOT_INDEX)
      this.pool.fillWords(pfn, SEPT_FREE_LO, SEPT_FREE_HI | 0);
    else this.pool.zero(pfn);
    td.tdcx.push(pfn);
    td.chldcnt++;
    this.pamt.set(pfn, PT_4KB, PageType.PT_TDCX, td.tdrPfn);
    return 0;
  }

  // models tdh_mng_init.c (TD_PARAMS: attributes, XFAM, MAX_VCPUS, NUM_L2_VMS, EPTP_CONTROLS,
  // CONFIG_FLAGS, TSC_FREQUENCY; CPUID configuration is not modelled)
  private mngInitLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RCX, 'exclusive', false);
    if (td === null) return this.stHi;
    const bs = this.buildState(td, L.TDH_MNG_INIT, false);
    if (bs !== 0) return bs;
    const plo = r.lo[REG_RDX] as number;
    const phi = r.hi[REG_RDX] as number;
    if ((plo & 0x3ff) !== 0 || phi >>> 20 !== 0)
      return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_RDX);
    const ppfn = phi * 0x100000 + (plo >>> 12);
    if (!this.pool.contains(ppfn)) return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_RDX);
    // TD_PARAMS must be in shared memory: not a page the module owns.
    if (
      this.pamt.covers(ppfn) &&
      this.pamt.pt(ppfn, this.pamt.walkSize(ppfn, PT_4KB)) !== PageType.PT_NDA
    ) {
      return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_RDX);
    }
    const p = this.pool.read(ppfn, plo & 0xfff, 48);
    const u32 = (o: number) =>
      ((p[o] as number) |
        ((p[o + 1] as number) << 8) |
        ((p[o + 2] as number) << 16) |
        ((p[o + 3] as number) << 24)) >>>
      0;
    const attrLo = u32(0);
    const attrHi = u32(4);
    if ((attrLo & ~this.supportedAttributes) !== 0 || attrHi !== 0) {
      return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_ATTRIBUTES);
    }
    const xfamLo = u32(8);
    const xfamHi = u32(12);
    if ((xfamLo & 3) !== 3) return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_XFAM);
    const maxVcpus = (p[16] as number) | ((p[17] as number) << 8);
    if (maxVcpus === 0) return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_MAX_VCPUS);
    if ((p[18] as number) > 3) return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_NUM_L2_VMS);
    const eptpLo = u32(24);
    const eptpHi = u32(28);
    const pwl = (eptpLo >>> 3) & 7;
    if ((eptpLo & 7) !== 6 || (pwl !== 3 && pwl !== 4) || (eptpLo & ~0x3f) !== 0 || eptpHi !== 0) {
      return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_EPTP_CONTROLS);
    }
    const cfgLo = u32(32);
    const cfgHi = u32(36);
    if ((cfgLo & ~0xf) !== 0 || cfgHi !== 0)
      return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_EXEC_CONTROLS);
    const gpaw52 = (cfgLo & 1) !== 0;
    if (gpaw52 && pwl !== 4) return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_EPTP_CONTROLS);
    const tsc = (p[40] as number) | ((p[41] as number) << 8);
    if (tsc === 0) return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_TSC_FREQUENCY);
    td.attributesLo = attrLo;
    td.attributesHi = attrHi;
    td.xfamLo = xfamLo;
    td.xfamHi = xfamHi;
    td.maxVcpus = maxVcpus;
    td.septRootLevel = pwl;
    td.gpaw = gpaw52 ? 52 : 48;
    td.sept = newSeptTree(this.pool, td, pwl);
    td.tscFrequency = tsc;
    td.numVcpus = 0;
    td.numAssocVcpus = 0;
    td.tdEpoch = 1;
    td.refcount[0] = 0;
    td.refcount[1] = 0;
    td.opState = OpState.INITIALIZED;
    return 0;
  }

  // models tdh_vp_create.c
  private vpCreateLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RDX, 'shared', false);
    if (td === null) return this.stHi;
    const bs = this.buildState(td, L.TDH_VP_CREATE, true);
    if (bs !== 0) return bs;
    {
      const h = this.hpaOperand(r, REG_RCX);
      if (h !== 0) return h;
    }
    const pfn = this.pfnArg;
    {
      const h = this.ndaPage(pfn, OPERAND_ID_RCX);
      if (h !== 0) return h;
    }
    this.pool.zero(pfn);
    const v = new Vcpu(pfn, td);
    this.vcpus.set(pfn, v);
    td.vcpus.add(pfn);
    td.chldcnt++;
    this.pamt.set(pfn, PT_4KB, PageType.PT_TDVPR, td.tdrPfn);
    return 0;
  }

  // models tdh_vp_addcx.c
  private vpAddcxLeaf(r: SeamRegs): number {
    const v = this.tdvprOperand(r, REG_RDX, 'exclusive', false);
    if (v === null) return this.stHi;
    const td = v.td;
    const bs = this.buildState(td, L.TDH_VP_ADDCX, true);
    if (bs !== 0) return bs;
    if (v.state !== VcpuState.VCPU_UNINITIALIZED) return this.e(St.TDX_VCPU_STATE_INCORRECT);
    if (v.pages.length >= this.tdvpsPages) return this.e(St.TDX_TDCX_NUM_INCORRECT);
    {
      const h = this.hpaOperand(r, REG_RCX);
      if (h !== 0) return h;
    }
    const pfn = this.pfnArg;
    {
      const h = this.ndaPage(pfn, OPERAND_ID_RCX);
      if (h !== 0) return h;
    }
    this.pool.zero(pfn);
    v.pages.push(pfn);
    td.chldcnt++;
    this.pamt.set(pfn, PT_4KB, PageType.PT_TDCX, td.tdrPfn);
    return 0;
  }

  // models tdh_vp_init.c (v0 in 1.5; v1 with the x2APIC ID in R8 in newer modules)
  private vpInitLeaf(r: SeamRegs, version: number): number {
    const v = this.tdvprOperand(r, REG_RCX, 'exclusive', false);
    if (v === null) return this.stHi;
    const td = v.td;
    const bs = this.buildState(td, L.TDH_VP_INIT, true);
    if (bs !== 0) return bs;
    if (v.pages.length < this.tdvpsPages) return this.e(St.TDX_TDCX_NUM_INCORRECT);
    if (v.state !== VcpuState.VCPU_UNINITIALIZED) return this.e(St.TDX_VCPU_STATE_INCORRECT);
    let x2apic = -1;
    if (version >= 1) {
      x2apic = r.get(REG_R8);
      if (!r.fits53(REG_R8) || x2apic >= TWO32)
        return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_R8);
      for (const other of td.vcpus) {
        if (this.vcpus.get(other)?.x2apicId === x2apic) return this.e(St.TDX_X2APIC_ID_NOT_UNIQUE);
      }
    }
    if (td.numVcpus >= td.maxVcpus) return this.e(St.TDX_MAX_VCPUS_EXCEEDED);
    v.vcpuIndex = td.numVcpus++;
    v.x2apicId = x2apic;
    v.initRcx = r.get(REG_RDX);
    v.state = VcpuState.VCPU_READY;
    v.assocLp = this.lp;
    td.numAssocVcpus++;
    return 0;
  }

  // models tdh_mr_extend.c
  private mrExtendLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RDX, 'exclusive', false);
    if (td === null) return this.stHi;
    const bs = this.buildState(td, L.TDH_MR_EXTEND, false);
    if (bs !== 0) return bs;
    const gpa = r.get(REG_RCX);
    if (
      !r.fits53(REG_RCX) ||
      gpa % MR_EXTEND_CHUNK !== 0 ||
      !this.privateGpa(td, gpa - (gpa % 4096), 0)
    ) {
      return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_RCX);
    }
    r.setWord(REG_RCX, 0, 0).setWord(REG_RDX, 0, 0);
    // A leaf of any size ends the walk successfully.
    const reached = this.septWalk(td, gpa, 0);
    const state = septStateOf(this.wLo, this.wHi);
    if (!reached && !isLeafState(state)) {
      this.septDetails(r);
      return this.e(St.TDX_EPT_WALK_FAILED, OPERAND_ID_RCX);
    }
    if (!stateAllowed(ALLOWED_MR_EXTEND, state)) {
      this.septDetails(r);
      return this.e(St.TDX_EPT_ENTRY_NOT_PRESENT, OPERAND_ID_RCX);
    }
    const leafPages = 2 ** (9 * this.wLevel);
    const pfn = septEntryPfn(this.wLo, this.wHi) + (Math.floor(gpa / 4096) % leafPages);
    this.pool.read(pfn, gpa % 4096, MR_EXTEND_CHUNK, this.chunk);
    td.mrtd.extend(gpa, this.chunk);
    return 0;
  }

  // models tdh_mr_finalize.c
  private mrFinalizeLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RCX, 'exclusive', false);
    if (td === null) return this.stHi;
    const bs = this.buildState(td, L.TDH_MR_FINALIZE, false);
    if (bs !== 0) return bs;
    if (td.numVcpus === 0) return this.e(St.TDX_NO_VCPUS);
    td.mrtd.finalize();
    td.opState = OpState.RUNNABLE;
    return 0;
  }

  // ---- vCPU entry and exit -------------------------------------------------------------

  // models tdh_vp_enter.c: raw SEAMCALL = enter, run guest code (guestRunner), exit.
  private vpEnterLeaf(r: SeamRegs): number {
    const hi = this.enterChecks(r);
    if (hi !== 0) return hi;
    const v = this.vcpuEntering as Vcpu;
    this.guestRunner?.(v.tdvprPfn * 4096);
    if (v.inGuest) this.tdExit(v, EXIT_REASON_EXTERNAL_INTERRUPT, 0, 0, 0, null);
    const exit = v.lastExit as TdExit;
    this.writeExitRegs(r, exit);
    return this.e(0, exit.reason);
  }

  private vcpuEntering: Vcpu | null = null;

  /** VP.ENTER's checks and the entry itself (vCPU left inside the TD). */
  private enterChecks(r: SeamRegs): number {
    const v = this.tdvprOperand(r, REG_RCX, 'shared', true);
    if (v === null) return this.stHi;
    const td = v.td;
    const bs = this.buildState(td, L.TDH_VP_ENTER, true);
    if (bs !== 0) return bs;
    if (v.state !== VcpuState.VCPU_READY || v.inGuest) return this.e(St.TDX_VCPU_STATE_INCORRECT);
    if (v.assocLp !== NO_LP && v.assocLp !== this.lp) return this.e(St.TDX_VCPU_ASSOCIATED);
    if (this.locks.size !== 0 && this.busy(`epoch:${td.tdrPfn * 4096}`, 'shared')) {
      return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_TD_EPOCH);
    }
    if (v.assocLp === NO_LP) {
      v.assocLp = this.lp;
      td.numAssocVcpus++;
    }
    // TDVMCALL return values the host passes back (R10 status, R11 output).
    if (v.lastExit?.vmcall) {
      v.vmcallReturnR10 = r.lo[REG_R10] as number;
      v.vmcallReturnR10Hi = r.hi[REG_R10] as number;
      v.vmcallReturnR11 = r.get(REG_R11);
    }
    const epoch = td.tdEpoch;
    td.refcount[epoch & 1] = (td.refcount[epoch & 1] as number) + 1;
    v.vcpuEpoch = epoch;
    v.inGuest = true;
    v.state = VcpuState.VCPU_ACTIVE;
    v.lastExit = null;
    this.vcpuEntering = v;
    return 0;
  }

  /** A TD exit (td_exit.c): drop the epoch reference, record the exit. */
  private tdExit(
    v: Vcpu,
    reason: number,
    qual: number,
    extQual: number,
    gpa: number,
    vmcall: TdExit['vmcall'],
  ): TdExit {
    const td = v.td;
    const slot = v.vcpuEpoch & 1;
    td.refcount[slot] = (td.refcount[slot] as number) - 1;
    v.inGuest = false;
    v.state = VcpuState.VCPU_READY;
    const exit: TdExit = {
      reason,
      exitQualification: qual,
      extExitQualification: extQual,
      gpa,
      vmcall,
    };
    v.lastExit = exit;
    return exit;
  }

  private writeExitRegs(r: SeamRegs, exit: TdExit): void {
    r.set(REG_RCX, exit.exitQualification);
    r.set(REG_RDX, exit.extExitQualification);
    r.set(REG_R8, exit.gpa);
    r.set(REG_R9, 0);
    if (exit.vmcall !== null) {
      r.set(REG_R10, exit.vmcall.r10).set(REG_R11, exit.vmcall.r11);
      r.set(REG_R12, exit.vmcall.r12).set(REG_R13, exit.vmcall.r13);
    }
  }

  /**
   * TDH.VP.ENTER, first half: the checks and the entry. On success the vCPU stays inside the TD
   * (it holds a reference on the current TD epoch) until a guest operation exits or `exitGuest`.
   * This is how interleavings with TRACK/REMOVE are driven.
   */
  enterGuest(tdvprPa: number, regs: SeamRegs = new SeamRegs()): TdxStatus {
    this.stLo = 0;
    regs.set(REG_RCX, tdvprPa);
    const snap = this.listener !== null ? new SeamRegs().copyFrom(regs) : null;
    const hi =
      this.sysState !== SysState.SYS_READY ? this.e(St.TDX_SYS_NOT_READY) : this.enterChecks(regs);
    if (hi !== 0 && snap !== null) this.emit('seamcall', L.TDH_VP_ENTER, 0, snap, hi);
    if (hi === 0 && snap !== null) this.enterSnap.set(Math.floor(tdvprPa / 4096), snap);
    return hi === 0 ? SUCCESS_STATUS : St.tdxStatus(hi, this.stLo);
  }
  private readonly enterSnap = new Map<number, SeamRegs>();

  /**
   * TDH.VP.ENTER, second half: the TD exits (an external interrupt by default) and the SEAMCALL
   * returns TDX_SUCCESS | exit reason with the exit registers in `regs`.
   */
  exitGuest(tdvprPa: number, regs: SeamRegs = this.out): SeamcallResult {
    if (!this.exitGuestQuiet(tdvprPa, regs)) {
      return { status: St.tdxStatus(St.TDX_VCPU_STATE_INCORRECT), regs };
    }
    return this.enterStatus(tdvprPa, regs);
  }

  /**
   * exitGuest() for a caller that drops the result (the same state changes, registers and
   * events; no result object). False when the vCPU was not inside the TD.
   */
  exitGuestQuiet(tdvprPa: number, regs: SeamRegs = this.out): boolean {
    const v = this.vcpu(tdvprPa);
    if (v === undefined || !v.inGuest) return false;
    this.tdExit(v, EXIT_REASON_EXTERNAL_INTERRUPT, 0, 0, 0, null);
    this.completeEnter(v, regs);
    return true;
  }

  /** The end of TDH.VP.ENTER for the vCPU's last exit: exit registers written, event emitted. */
  private completeEnter(v: Vcpu, regs: SeamRegs): void {
    const exit = v.lastExit as TdExit;
    this.writeExitRegs(regs, exit);
    const snap = this.enterSnap.size === 0 ? undefined : this.enterSnap.get(v.tdvprPfn);
    if (snap !== undefined) {
      this.enterSnap.delete(v.tdvprPfn);
      this.stLo = exit.reason;
      this.emit('seamcall', L.TDH_VP_ENTER, 0, snap, 0);
    }
  }

  /** VP.ENTER's result after completeEnter(): TDX_SUCCESS | the exit reason. */
  private enterStatus(tdvprPa: number, regs: SeamRegs): SeamcallResult {
    const exit = (this.vcpu(tdvprPa) as Vcpu).lastExit as TdExit;
    return { status: St.tdxStatus(0, exit.reason), regs };
  }

  /** The VP.ENTER result of a vCPU whose guest operation caused a TD exit. */
  enterResult(tdvprPa: number, regs: SeamRegs = this.out): SeamcallResult | null {
    return this.enterResultQuiet(tdvprPa, regs) ? this.enterStatus(tdvprPa, regs) : null;
  }

  /** enterResult() for a caller that drops the result; false when there is none. */
  enterResultQuiet(tdvprPa: number, regs: SeamRegs = this.out): boolean {
    const v = this.vcpu(tdvprPa);
    if (v === undefined || v.inGuest || v.lastExit === null) return false;
    this.completeEnter(v, regs);
    return true;
  }

  // models tdh_vp_flush.c
  private vpFlushLeaf(r: SeamRegs): number {
    const v = this.tdvprOperand(r, REG_RCX, 'exclusive', false);
    if (v === null) return this.stHi;
    if (v.td.lifecycle !== TdLifecycle.TD_KEYS_CONFIGURED)
      return this.e(St.TDX_TD_KEYS_NOT_CONFIGURED);
    // A vCPU inside the TD holds its TDVPS; nobody else can flush it.
    if (v.inGuest) return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_RCX);
    if (v.assocLp === NO_LP || v.assocLp !== this.lp) return this.e(St.TDX_VCPU_NOT_ASSOCIATED);
    v.assocLp = NO_LP;
    v.td.numAssocVcpus--;
    return 0;
  }

  // ---- teardown leaves ----------------------------------------------------------------

  // models tdh_mng_vpflushdone.c
  private mngVpflushdoneLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RCX, 'exclusive', false);
    if (td === null) return this.stHi;
    if (this.locks.size !== 0 && this.busy('kot', 'exclusive'))
      return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_KOT);
    if (
      td.lifecycle !== TdLifecycle.TD_HKID_ASSIGNED &&
      td.lifecycle !== TdLifecycle.TD_KEYS_CONFIGURED
    ) {
      return this.e(St.TDX_LIFECYCLE_STATE_INCORRECT);
    }
    if (
      td.tdcx.length >= this.tdcsPages &&
      td.opState !== OpState.UNINITIALIZED &&
      td.numAssocVcpus !== 0
    ) {
      return this.e(St.TDX_FLUSHVP_NOT_DONE);
    }
    this.kotState[td.hkid] = KotState.HKID_FLUSHED;
    this.kotWbinvd[td.hkid] = (1 << this.packages) - 1;
    td.lifecycle = TdLifecycle.TD_BLOCKED;
    return 0;
  }

  // models tdh_phymem_cache_wb.c
  private phymemCacheWbLeaf(r: SeamRegs): number {
    const resume = r.get(REG_RCX);
    if (!r.fits53(REG_RCX) || resume > 1) return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_RCX);
    const pkg = this.packageOf(this.lp);
    if (this.locks.size !== 0 && this.busy(`wbcache:${pkg}`, 'exclusive')) {
      return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_WBCACHE);
    }
    if (this.locks.size !== 0 && this.busy('kot', 'shared'))
      return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_KOT);
    let snapshot = this.wbSnapshot[pkg] ?? null;
    if (resume === 1) {
      if (snapshot === null) return this.e(St.TDX_WBCACHE_RESUME_ERROR);
    } else {
      snapshot = [];
      for (let h = 0; h < this.kotState.length; h++) {
        if (
          this.kotState[h] === KotState.HKID_FLUSHED &&
          ((this.kotWbinvd[h] as number) & (1 << pkg)) !== 0
        ) {
          snapshot.push(h);
        }
      }
      if (snapshot.length === 0) {
        this.wbSnapshot[pkg] = null;
        return this.e(St.TDX_NO_HKID_READY_TO_WBCACHE);
      }
    }
    if (this.cacheWbInterrupts > 0) {
      this.cacheWbInterrupts--;
      this.wbSnapshot[pkg] = snapshot;
      return this.e(St.TDX_INTERRUPTED_RESUMABLE);
    }
    for (const h of snapshot) this.kotWbinvd[h] = (this.kotWbinvd[h] as number) & ~(1 << pkg);
    this.wbSnapshot[pkg] = null;
    return 0;
  }

  // models tdh_mng_key_freeid.c
  private mngKeyFreeidLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RCX, 'exclusive', false);
    if (td === null) return this.stHi;
    if (td.lifecycle !== TdLifecycle.TD_BLOCKED) return this.e(St.TDX_LIFECYCLE_STATE_INCORRECT);
    if (this.locks.size !== 0 && this.busy('kot', 'exclusive'))
      return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_KOT);
    if (this.kotWbinvd[td.hkid] !== 0) return this.e(St.TDX_WBCACHE_NOT_COMPLETE);
    this.kotState[td.hkid] = KotState.HKID_FREE;
    td.lifecycle = TdLifecycle.TD_TEARDOWN;
    return 0;
  }

  // models tdh_phymem_page_reclaim.c
  private phymemPageReclaimLeaf(r: SeamRegs): number {
    {
      const h = this.hpaOperand(r, REG_RCX);
      if (h !== 0) return h;
    }
    const pfn = this.pfnArg;
    const pamt = this.pamt;
    const size = pamt.walkSize(pfn, PT_4KB);
    const base = pfn - (pfn % 512 ** size);
    if (this.locks.size !== 0 && this.busy(`page:${base * 4096}`, 'exclusive')) {
      return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_RCX);
    }
    const pt = pamt.pt(base, size);
    const owner = pamt.owner(base, size);
    r.set(REG_RCX, pt)
      .set(REG_RDX, owner > 0 ? owner * 4096 : 0)
      .set(REG_R8, size);
    if (pt === PageType.PT_NDA || pt === PageType.PT_RSVD)
      return this.e(St.TDX_PAGE_METADATA_INCORRECT, OPERAND_ID_RCX);
    if (pt === PageType.PT_TDR) {
      const td = this.tds.get(base) as Td;
      if (td.lifecycle !== TdLifecycle.TD_TEARDOWN) return this.e(St.TDX_LIFECYCLE_STATE_INCORRECT);
      if (td.chldcnt !== 0) return this.e(St.TDX_TD_ASSOCIATED_PAGES_EXIST);
      this.tds.delete(base);
    } else {
      const td = this.tds.get(owner);
      if (td === undefined || td.lifecycle !== TdLifecycle.TD_TEARDOWN) {
        return this.e(St.TDX_LIFECYCLE_STATE_INCORRECT);
      }
      td.chldcnt -= 512 ** size;
      if (pt === PageType.PT_TDVPR) {
        this.vcpus.delete(base);
        td.vcpus.delete(base);
      }
    }
    pamt.clear(base, size);
    return 0;
  }

  // models tdh_phymem_page_wbinvd.c
  private phymemPageWbinvdLeaf(r: SeamRegs): number {
    const lo = r.lo[REG_RCX] as number;
    const hi = r.hi[REG_RCX] as number;
    if ((lo & 0xfff) !== 0) return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_RCX);
    const hkid = hi >>> 20;
    if (hkid >= this.kotState.length) return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_RCX);
    const pfn = (hi & 0xfffff) * 0x100000 + (lo >>> 12);
    if (!this.pamt.covers(pfn) || !this.pool.contains(pfn)) {
      return this.e(St.TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_ID_RCX);
    }
    if (this.locks.size !== 0 && this.busy(`page:${pfn * 4096}`, 'shared')) {
      return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_RCX);
    }
    if (
      this.pamt.walkSize(pfn, PT_4KB) !== PT_4KB ||
      this.pamt.pt(pfn, PT_4KB) !== PageType.PT_NDA
    ) {
      return this.e(St.TDX_PAGE_METADATA_INCORRECT, OPERAND_ID_RCX);
    }
    return 0;
  }

  // models tdh_phymem_page_rdmd.c
  private phymemPageRdmdLeaf(r: SeamRegs): number {
    {
      const h = this.hpaOperand(r, REG_RCX);
      if (h !== 0) return h;
    }
    const pfn = this.pfnArg;
    const size = this.pamt.walkSize(pfn, PT_4KB);
    const base = pfn - (pfn % 512 ** size);
    const pt = this.pamt.pt(base, size);
    const owner = this.pamt.owner(base, size);
    r.set(REG_RCX, pt)
      .set(REG_RDX, owner > 0 ? owner * 4096 : 0)
      .set(REG_R8, size);
    r.set(
      REG_R9,
      pt === PageType.PT_REG || pt === PageType.PT_EPT ? this.pamt.bepoch(base, size) : 0,
    );
    return 0;
  }

  // models tdh_mng_rd.c for the fields the model keeps (MNG_FIELDS). TDR fields are readable in
  // any life-cycle state; TDCS fields need the keys configured, the TDCS allocated and an
  // initialised op state. RDX (next field id) is left as passed.
  private mngRdLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RCX, 'shared', false);
    if (td === null) return this.stHi;
    const field = r.big(REG_RDX);
    r.set(REG_R8, 0);
    const value = readTdField(td, field, this.packages);
    if (value === undefined) return this.e(St.TDX_METADATA_FIELD_ID_INCORRECT, OPERAND_ID_RDX);
    if (!isTdrField(field)) {
      const bs = this.buildState(td, L.TDH_MNG_RD, true);
      if (bs !== 0) return bs;
    }
    r.setBig(REG_R8, value);
    return 0;
  }

  // models tdh_vp_rd.c for the fields the model keeps (VP_FIELDS)
  private vpRdLeaf(r: SeamRegs): number {
    const v = this.tdvprOperand(r, REG_RCX, 'shared', false);
    if (v === null) return this.stHi;
    const bs = this.buildState(v.td, L.TDH_VP_RD, true);
    if (bs !== 0) return bs;
    const field = r.big(REG_RDX);
    r.set(REG_R8, 0);
    const value = isTdVmcsField(field) ? (v.vmcs.get(field) ?? 0n) : readVpField(v, field);
    if (value === undefined) return this.e(St.TDX_METADATA_FIELD_ID_INCORRECT, OPERAND_ID_RDX);
    r.setBig(REG_R8, value);
    return 0;
  }

  // models tdh_vp_rd_wr.c for TD VMCS fields (class 0): the model stores what the host writes
  // (KVM's td_vmcs_write*() in tdx_vcpu_init and later) and returns the previous value in R8;
  // it does not check per-field write masks.
  private vpWrLeaf(r: SeamRegs): number {
    const v = this.tdvprOperand(r, REG_RCX, 'exclusive', false);
    if (v === null) return this.stHi;
    const bs = this.buildState(v.td, L.TDH_VP_WR, true);
    if (bs !== 0) return bs;
    const field = r.big(REG_RDX);
    if (!isTdVmcsField(field)) return this.e(St.TDX_METADATA_FIELD_ID_INCORRECT, OPERAND_ID_RDX);
    const value = r.big(REG_R8);
    const mask = r.big(REG_R9);
    const old = v.vmcs.get(field) ?? 0n;
    v.vmcs.set(field, (old & ~mask) | (value & mask));
    r.setBig(REG_R8, old);
    return 0;
  }

  // ---- Secure-EPT leaves ---------------------------------------------------------------

  // models tdh_mem_sept_add.c
  private memSeptAddLeaf(r: SeamRegs, version: number): number {
    const td = this.tdrOperand(r, REG_RDX, 'shared', true);
    if (td === null) return this.stHi;
    const allowExisting = ((r.lo[REG_RDX] as number) & 1) !== 0;
    const bs = this.buildState(td, L.TDH_MEM_SEPT_ADD, true);
    if (bs !== 0) return bs;
    const newLo = r.lo[REG_R8] as number;
    const newHi = r.hi[REG_R8] as number;
    const pre = this.septPrologue(r, td, 1, td.septRootLevel, 'shared', ALLOWED_SEPT_ADD);
    if (pre !== 0) return pre;
    const state = septStateOf(this.wLo, this.wHi);
    if (state === SeptState.NL_MAPPED) {
      if (!allowExisting && version === 0) {
        this.septDetails(r);
        return this.e(St.TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_ID_RCX);
      }
      // The table already exists: the page is not consumed (R8 bit 63 set).
      r.setWord(REG_R8, newLo, (newHi | 0x80000000) >>> 0);
      return 0;
    }
    const regs8 = this.scratch.setWord(REG_R8, newLo, newHi);
    {
      const h = this.hpaOperand(regs8, REG_R8);
      if (h !== 0) return h;
    }
    const pfn = this.pfnArg;
    {
      const h = this.ndaPage(pfn, OPERAND_ID_R8);
      if (h !== 0) return h;
    }
    this.pool.fillWords(pfn, SEPT_FREE_LO, SEPT_FREE_HI | 0);
    this.pamt.set(pfn, PT_4KB, PageType.PT_EPT, td.tdrPfn);
    td.chldcnt++;
    this.linkSeptTable(td, pfn, 0);
    return 0;
  }
  private readonly scratch = new SeamRegs();

  // models tdh_mem_page_add.c
  private memPageAddLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RDX, 'exclusive', false);
    if (td === null) return this.stHi;
    const bs = this.buildState(td, L.TDH_MEM_PAGE_ADD, false);
    if (bs !== 0) return bs;
    if (this.gpaLevelOperand(r, td, 0, 0) !== 0) return St.TDX_OPERAND_INVALID;
    {
      const h = this.hpaOperand(r, REG_R8);
      if (h !== 0) return h;
    }
    const target = this.pfnArg;
    const slo = r.lo[REG_R9] as number;
    const shi = r.hi[REG_R9] as number;
    if ((slo & 0xfff) !== 0 || shi >>> 20 !== 0)
      return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_R9);
    const source = shi * 0x100000 + (slo >>> 12);
    if (!this.pool.contains(source)) return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_R9);
    r.setWord(REG_RCX, 0, 0).setWord(REG_RDX, 0, 0);
    if (!this.septWalk(td, this.gpa, 0)) {
      this.septDetails(r);
      return this.e(St.TDX_EPT_WALK_FAILED, OPERAND_ID_RCX);
    }
    if (this.entryBusy(td)) {
      this.septDetails(r);
      return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_RCX);
    }
    if (!stateAllowed(ALLOWED_PAGE_ADD, septStateOf(this.wLo, this.wHi))) {
      this.septDetails(r);
      return this.e(St.TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_ID_RCX);
    }
    {
      const h = this.ndaPage(target, OPERAND_ID_R8);
      if (h !== 0) return h;
    }
    this.pool.copy(target, 0, source, 0, 4096);
    this.setEntry(septEntryLo(SeptState.MAPPED, target), septEntryHi(SeptState.MAPPED, target));
    td.mrtd.pageAdd(this.gpa);
    td.chldcnt++;
    this.pamt.set(target, PT_4KB, PageType.PT_REG, td.tdrPfn);
    return 0;
  }

  // models tdh_mem_page_aug.c
  private memPageAugLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RDX, 'shared', false);
    if (td === null) return this.stHi;
    const bs = this.buildState(td, L.TDH_MEM_PAGE_AUG, true);
    if (bs !== 0) return bs;
    const hlo = r.lo[REG_R8] as number;
    const hhi = r.hi[REG_R8] as number;
    const pre = this.septPrologue(r, td, 0, 1, 'shared', ALLOWED_PAGE_AUG);
    if (pre !== 0) return pre;
    const level = this.level;
    const regs8 = this.scratch.setWord(REG_R8, hlo, hhi);
    {
      const h = this.hpaOperand(regs8, REG_R8);
      if (h !== 0) return h;
    }
    const pfn = this.pfnArg;
    const pages = level === 0 ? 1 : 512;
    if (Math.floor(pfn / pages) * pages !== pfn)
      return this.e(St.TDX_OPERAND_INVALID, OPERAND_ID_R8);
    if (this.locks.size !== 0 && this.busy(`page:${pfn * 4096}`, 'exclusive')) {
      return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_R8);
    }
    const pamt = this.pamt;
    if (level === 0) {
      if (pamt.walkSize(pfn, PT_4KB) !== PT_4KB || pamt.pt(pfn, PT_4KB) !== PageType.PT_NDA) {
        return this.e(St.TDX_PAGE_METADATA_INCORRECT, OPERAND_ID_R8);
      }
    } else if (
      !pamt.covers(pfn + 511) ||
      pamt.walkSize(pfn, PT_2MB) !== PT_2MB ||
      pamt.pt(pfn, PT_2MB) !== PageType.PT_NDA ||
      !pamt.all4kFree(pfn)
    ) {
      return this.e(St.TDX_PAGE_METADATA_INCORRECT, OPERAND_ID_R8);
    }
    this.setEntry(septEntryLo(SeptState.PENDING, pfn), septEntryHi(SeptState.PENDING, pfn));
    td.chldcnt += pages;
    pamt.set(pfn, level === 0 ? PT_4KB : PT_2MB, PageType.PT_REG, td.tdrPfn);
    return 0;
  }

  // models tdh_mem_range_block.c
  private memRangeBlockLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RDX, 'shared', false);
    if (td === null) return this.stHi;
    const bs = this.buildState(td, L.TDH_MEM_RANGE_BLOCK, true);
    if (bs !== 0) return bs;
    const pre = this.septPrologue(r, td, 0, td.septRootLevel, 'exclusive', ALLOWED_RANGE_BLOCK);
    if (pre !== 0) return pre;
    const state = septStateOf(this.wLo, this.wHi);
    const next =
      state === SeptState.NL_MAPPED
        ? SeptState.NL_BLOCKED
        : state === SeptState.MAPPED || state === SeptState.BLOCKEDW
          ? SeptState.BLOCKED
          : SeptState.PENDING_BLOCKED;
    const pfn = septEntryPfn(this.wLo, this.wHi);
    this.setEntry(septEntryLo(next, pfn), septEntryHi(next, pfn));
    // Record the epoch of the block on the page (leaf) or on the child S-EPT page (non-leaf).
    if (isLeafState(next)) this.pamt.setBepoch(pfn, this.level, td.tdEpoch);
    else this.pamt.setBepoch(pfn, PT_4KB, td.tdEpoch);
    return 0;
  }

  // models tdh_mem_track.c
  private memTrackLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RCX, 'shared', false);
    if (td === null) return this.stHi;
    const bs = this.buildState(td, L.TDH_MEM_TRACK, true);
    if (bs !== 0) return bs;
    if (this.locks.size !== 0 && this.busy(`epoch:${td.tdrPfn * 4096}`, 'exclusive')) {
      return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_TD_EPOCH);
    }
    // vCPUs still running with the previous epoch block the advance.
    if (td.refcount[1 - (td.tdEpoch & 1)] !== 0) return this.e(St.TDX_PREVIOUS_TLB_EPOCH_BUSY);
    td.tdEpoch++;
    return 0;
  }

  // models tdh_mem_range_unblock.c
  private memRangeUnblockLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RDX, 'shared', false);
    if (td === null) return this.stHi;
    const bs = this.buildState(td, L.TDH_MEM_RANGE_UNBLOCK, true);
    if (bs !== 0) return bs;
    const pre = this.septPrologue(r, td, 0, td.septRootLevel, 'exclusive', ALLOWED_RANGE_UNBLOCK);
    if (pre !== 0) return pre;
    const state = septStateOf(this.wLo, this.wHi);
    const pfn = septEntryPfn(this.wLo, this.wHi);
    const bepoch = isLeafState(state)
      ? this.pamt.bepoch(pfn, this.level)
      : this.pamt.bepoch(pfn, PT_4KB);
    if (this.trackingRequired(td, state) && !this.isTlbTracked(td, bepoch)) {
      // 1.5 names the S-EPT tree; the 2.0-era module (is_tlb_and_iotlb_tracked) names RCX.
      return this.e(
        St.TDX_TLB_TRACKING_NOT_DONE,
        this.version === '1.5' ? OPERAND_ID_SEPT_TREE : OPERAND_ID_RCX,
      );
    }
    const next =
      state === SeptState.NL_BLOCKED
        ? SeptState.NL_MAPPED
        : state === SeptState.BLOCKED
          ? SeptState.MAPPED
          : SeptState.PENDING;
    this.setEntry(septEntryLo(next, pfn), septEntryHi(next, pfn));
    return 0;
  }

  /** The blocked-and-tracked gate of REMOVE-like leaves for the walked entry. */
  private removeGate(r: SeamRegs, td: Td, state: number, bepoch: number): number {
    if (!this.trackingRequired(td, state)) return 0;
    if (!isAnyBlocked(state)) {
      this.septDetails(r);
      return this.e(St.TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_ID_RCX);
    }
    if (!this.isTlbTracked(td, bepoch)) return this.e(St.TDX_TLB_TRACKING_NOT_DONE, OPERAND_ID_RCX);
    return 0;
  }

  // models tdh_mem_page_remove.c
  private memPageRemoveLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RDX, 'shared', false);
    if (td === null) return this.stHi;
    const bs = this.buildState(td, L.TDH_MEM_PAGE_REMOVE, true);
    if (bs !== 0) return bs;
    const pre = this.septPrologue(r, td, 0, 2, 'shared', ALLOWED_PAGE_REMOVE);
    if (pre !== 0) return pre;
    const state = septStateOf(this.wLo, this.wHi);
    const pfn = septEntryPfn(this.wLo, this.wHi);
    const size = this.level;
    if (this.locks.size !== 0 && this.busy(`page:${pfn * 4096}`, 'exclusive')) {
      return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_RCX);
    }
    const gate = this.removeGate(r, td, state, this.pamt.bepoch(pfn, size));
    if (gate !== 0) return gate;
    this.setEntry(SEPT_FREE_LO, SEPT_FREE_HI);
    td.chldcnt -= 512 ** size;
    this.pamt.clear(pfn, size);
    r.set(REG_RCX, pfn * 4096).set(REG_RDX, 0);
    return 0;
  }

  // models tdh_mem_sept_remove.c
  private memSeptRemoveLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RDX, 'shared', false);
    if (td === null) return this.stHi;
    const bs = this.buildState(td, L.TDH_MEM_SEPT_REMOVE, true);
    if (bs !== 0) return bs;
    const pre = this.septPrologue(r, td, 1, td.septRootLevel, 'exclusive', ALLOWED_SEPT_REMOVE);
    if (pre !== 0) return pre;
    const state = septStateOf(this.wLo, this.wHi);
    const child = septEntryPfn(this.wLo, this.wHi);
    if (this.locks.size !== 0 && this.busy(`page:${child * 4096}`, 'exclusive')) {
      return this.e(St.TDX_OPERAND_BUSY, OPERAND_ID_RCX);
    }
    const gate = this.removeGate(r, td, state, this.pamt.bepoch(child, PT_4KB));
    if (gate !== 0) return gate;
    for (let i = 0; i < 512; i++) {
      const lo = this.pool.readLo(child, i) >>> 0;
      const hi = this.pool.readHi(child, i) >>> 0;
      if (septStateOf(lo, hi) !== SeptState.FREE) {
        this.septDetails(r);
        return this.e(St.TDX_EPT_PAGE_NOT_FREE, OPERAND_ID_RCX);
      }
    }
    this.setEntry(SEPT_FREE_LO, SEPT_FREE_HI);
    td.chldcnt--;
    this.pamt.clear(child, PT_4KB);
    r.set(REG_RCX, child * 4096).set(REG_RDX, 0);
    return 0;
  }

  // models tdh_mem_page_demote.c (L1 only; no L2 aliases, no Dynamic PAMT)
  private memPageDemoteLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RDX, 'shared', true);
    if (td === null) return this.stHi;
    const bs = this.buildState(td, L.TDH_MEM_PAGE_DEMOTE, true);
    if (bs !== 0) return bs;
    const nlo = r.lo[REG_R8] as number;
    const nhi = r.hi[REG_R8] as number;
    const pre = this.septPrologue(r, td, 1, 2, 'shared', ALLOWED_PAGE_DEMOTE);
    if (pre !== 0) return pre;
    const state = septStateOf(this.wLo, this.wHi);
    const pfn = septEntryPfn(this.wLo, this.wHi);
    const size = this.level;
    const gate = this.removeGate(r, td, state, this.pamt.bepoch(pfn, size));
    if (gate !== 0) return gate;
    const regs8 = this.scratch.setWord(REG_R8, nlo, nhi);
    {
      const h = this.hpaOperand(regs8, REG_R8);
      if (h !== 0) return h;
    }
    const table = this.pfnArg;
    {
      const h = this.ndaPage(table, OPERAND_ID_R8);
      if (h !== 0) return h;
    }
    const child =
      state === SeptState.PENDING || state === SeptState.PENDING_BLOCKED
        ? SeptState.PENDING
        : SeptState.MAPPED;
    const step = 512 ** (size - 1);
    for (let i = 0; i < 512; i++) {
      const p = pfn + i * step;
      this.pool.writeWord64(table, i, septEntryLo(child, p), septEntryHi(child, p) | 0);
    }
    this.pamt.set(table, PT_4KB, PageType.PT_EPT, td.tdrPfn);
    td.chldcnt++;
    // PAMT demotion: one entry at `size` becomes 512 at size - 1.
    const bepoch = this.pamt.bepoch(pfn, size);
    this.pamt.clear(pfn, size);
    for (let i = 0; i < 512; i++) {
      this.pamt.set(pfn + i * step, size - 1, PageType.PT_REG, td.tdrPfn);
      this.pamt.setBepoch(pfn + i * step, size - 1, bepoch);
    }
    this.linkSeptTable(td, table);
    return 0;
  }

  // models tdh_mem_page_promote.c (L1 only)
  private memPagePromoteLeaf(r: SeamRegs): number {
    const td = this.tdrOperand(r, REG_RDX, 'shared', false);
    if (td === null) return this.stHi;
    const bs = this.buildState(td, L.TDH_MEM_PAGE_PROMOTE, true);
    if (bs !== 0) return bs;
    const pre = this.septPrologue(r, td, 1, 2, 'shared', ALLOWED_PAGE_PROMOTE);
    if (pre !== 0) return pre;
    const state = septStateOf(this.wLo, this.wHi);
    const table = septEntryPfn(this.wLo, this.wHi);
    const gate = this.removeGate(r, td, state, this.pamt.bepoch(table, PT_4KB));
    if (gate !== 0) return gate;
    // is_sept_page_valid_for_merge: uniform MAPPED-or-PENDING leaves, contiguous, aligned.
    const size = this.level;
    const step = 512 ** (size - 1);
    const lo0 = this.pool.readLo(table, 0) >>> 0;
    const hi0 = this.pool.readHi(table, 0) >>> 0;
    const s0 = septStateOf(lo0, hi0);
    const first = septEntryPfn(lo0, hi0);
    if ((s0 !== SeptState.MAPPED && s0 !== SeptState.PENDING) || first % (512 * step) !== 0) {
      return this.e(St.TDX_EPT_INVALID_PROMOTE_CONDITIONS);
    }
    for (let i = 1; i < 512; i++) {
      const lo = this.pool.readLo(table, i) >>> 0;
      const hi = this.pool.readHi(table, i) >>> 0;
      if (septStateOf(lo, hi) !== s0 || septEntryPfn(lo, hi) !== first + i * step) {
        return this.e(St.TDX_EPT_INVALID_PROMOTE_CONDITIONS);
      }
    }
    for (let i = 0; i < 512; i++) this.pamt.clear(first + i * step, size - 1);
    this.pamt.set(first, size, PageType.PT_REG, td.tdrPfn);
    this.pamt.clear(table, PT_4KB);
    td.chldcnt--;
    this.setEntry(septEntryLo(s0, first), septEntryHi(s0, first));
    r.set(REG_RCX, table * 4096).set(REG_RDX, 0);
    return 0;
  }

  // ---- guest TDCALLs -------------------------------------------------------------------

  private guestVcpu(tdvprPa: number): Vcpu | null {
    const v = this.vcpu(tdvprPa);
    return v?.inGuest ? v : null;
  }

  /**
   * TDG.MEM.PAGE.ACCEPT from a vCPU inside the TD (tdg_mem_page_accept.c): RCX = GPA | level
   * (0 = 4K, 1 = 2M). A PENDING page is zeroed and MAPPED; otherwise a status to the guest, or a
   * TD exit (EPT violation, extended type ACCEPT) when the host must AUG first.
   */
  tdgMemPageAccept(tdvprPa: number, gpa: number, level: number): AcceptOutcome {
    const v = this.guestVcpu(tdvprPa);
    if (v === null) return { kind: 'status', status: St.tdxStatus(St.TDX_VCPU_STATE_INCORRECT) };
    const td = v.td;
    const out = this.acceptInner(v, td, gpa, level);
    if (this.listener !== null) {
      const snap = this.scratch.clear().set(REG_RCX, gpa + level);
      const hi = out.kind === 'status' ? out.status.hi : 0;
      this.stLo = out.kind === 'status' ? out.status.lo : 0;
      this.emit('tdcall', L.TDG_MEM_PAGE_ACCEPT, 0, snap, hi);
    }
    return out;
  }

  private acceptInner(v: Vcpu, td: Td, gpa: number, level: number): AcceptOutcome {
    if (!Number.isSafeInteger(gpa) || gpa < 0 || (level !== 0 && level !== 1)) {
      return acceptBadOperand();
    }
    if (!this.privateGpa(td, gpa, level)) return acceptBadOperand();
    const reached = this.septWalk(td, gpa, level);
    const state = septStateOf(this.wLo, this.wHi);
    const accessible = septStateRwx(state) !== 0 && isLeafState(state);
    if (!reached) {
      if (isLeafState(state) && accessible) {
        return { kind: 'status', status: St.tdxStatus(St.TDX_PAGE_ALREADY_ACCEPTED, this.wLevel) };
      }
      return this.acceptViolation(v, gpa);
    }
    if (this.locks.size !== 0) {
      const key = lockKey({ kind: 'septEntry', tdr: td.tdrPfn * 4096, gpa, level });
      // A host-priority bit turns the guest's BUSY_HOST_PRIORITY into plain BUSY for the guest.
      if (!this.locks.canTake(key, 'exclusive')) {
        return { kind: 'status', status: St.tdxStatus(St.TDX_OPERAND_BUSY, OPERAND_ID_RCX) };
      }
    }
    if (state === SeptState.NL_MAPPED || state === SeptState.NL_BLOCKED) {
      return { kind: 'status', status: St.tdxStatus(St.TDX_PAGE_SIZE_MISMATCH, level) };
    }
    if (accessible)
      return { kind: 'status', status: St.tdxStatus(St.TDX_PAGE_ALREADY_ACCEPTED, level) };
    if (!stateAllowed(ALLOWED_PAGE_ACCEPT, state)) return this.acceptViolation(v, gpa);
    // Zero the page(s) with the TD's key and map them.
    const pfn = septEntryPfn(this.wLo, this.wHi);
    const pages = level === 0 ? 1 : 512;
    for (let i = 0; i < pages; i++) this.pool.zero(pfn + i);
    const next = state === SeptState.PENDING ? SeptState.MAPPED : SeptState.EXPORTED_DIRTY;
    this.setEntry(septEntryLo(next, pfn), septEntryHi(next, pfn));
    return ACCEPT_SUCCESS;
  }

  /** ACCEPT of a page the host has not AUGed: EPT-violation TD exit, extended type ACCEPT. */
  private acceptViolation(v: Vcpu, gpa: number): AcceptOutcome {
    return {
      kind: 'exit',
      exit: this.tdExit(v, EXIT_REASON_EPT_VIOLATION, 0, EXT_EXIT_QUAL_TYPE_ACCEPT, gpa, null),
    };
  }

  /**
   * A guest load or store to `gpa` (the CPU's EPT walk through the S-EPT). A PENDING page raises
   * #VE, or an EPT-violation TD exit of type PENDING_EPT_VIOLATION when SEPT_VE_DISABLE is set;
   * a page the S-EPT does not map exits to the host as an EPT violation.
   */
  guestAccess(tdvprPa: number, gpa: number, write: boolean): GuestAccessOutcome {
    const v = this.guestVcpu(tdvprPa);
    if (v === null) throw new Error(`guestAccess: vCPU ${tdvprPa} is not inside the TD`);
    const td = v.td;
    const sharedBit = td.gpaw === 48 ? 2 ** 47 : 2 ** 51;
    if (testBit(gpa, sharedBit) === 1) return { kind: 'shared' };
    const page = gpa - pageOffset(gpa);
    this.septWalk(td, page, 0);
    const state = septStateOf(this.wLo, this.wHi);
    // EPT violation exit qualification: bit 0 read, bit 1 write (SDM 28.2.1).
    const qual = write ? 2 : 1;
    if (isLeafState(state)) {
      const rwx = septStateRwx(state);
      if ((write && (rwx & 2) !== 0) || (!write && rwx !== 0)) {
        const pages = 2 ** (9 * this.wLevel);
        return {
          kind: 'ok',
          pfn: septEntryPfn(this.wLo, this.wHi) + (Math.floor(page / 4096) % pages),
        };
      }
      if (state === SeptState.PENDING) {
        if (!td.septVeDisable) return { kind: 've' };
        const exit = this.tdExit(
          v,
          EXIT_REASON_EPT_VIOLATION,
          qual,
          EXT_EXIT_QUAL_TYPE_PENDING_EPT_VIOLATION,
          gpa,
          null,
        );
        return { kind: 'exit', exit };
      }
    }
    return {
      kind: 'exit',
      exit: this.tdExit(v, EXIT_REASON_EPT_VIOLATION, qual, EXT_EXIT_QUAL_TYPE_NONE, gpa, null),
    };
  }

  /**
   * TDG.VP.VMCALL<MapGPA> (GHCI): the guest asks the VMM to convert [gpa, gpa+size) — to shared
   * when the shared bit is set in `gpa`, to private otherwise. The TD exits with the TDCALL exit
   * reason and R10 = 0, R11 = MapGPA, R12 = gpa, R13 = size; the VMM answers in R10/R11 of the
   * next VP.ENTER (see `vmcallReturn`).
   */
  tdgVpVmcallMapGpa(tdvprPa: number, gpa: number, size: number): MapGpaRequest | null {
    const v = this.guestVcpu(tdvprPa);
    if (v === null) return null;
    const sharedBit = v.td.gpaw === 48 ? 2 ** 47 : 2 ** 51;
    const toShared = testBit(gpa, sharedBit) === 1;
    const vmcall = { r10: 0, r11: TDVMCALL_MAP_GPA, r12: gpa, r13: size };
    // RCX of the exit: the GPR/XMM mask the guest exposes (R10..R13 = bits 10..13).
    const exit = this.tdExit(v, EXIT_REASON_TDCALL, 0x3c00, 0, 0, vmcall);
    if (this.listener !== null) {
      const snap = this.scratch.clear().set(REG_R10, 0).set(REG_R11, TDVMCALL_MAP_GPA);
      snap.set(REG_R12, gpa).set(REG_R13, size).set(REG_RCX, 0x3c00);
      this.stLo = 0;
      this.emit('tdcall', L.TDG_VP_VMCALL, 0, snap, 0);
    }
    return { gpa, size, toShared, exit };
  }

  /**
   * TDG.VP.VMCALL with any sub-function (R10 = 0, standard GHCI call): the TD exits to the VMM
   * with the TDCALL exit reason and R10..R13 exposed. Used for sub-functions other than MapGPA.
   */
  tdgVpVmcall(tdvprPa: number, subFunction: number, r12: number, r13: number): TdExit | null {
    const v = this.guestVcpu(tdvprPa);
    if (v === null) return null;
    const vmcall = { r10: 0, r11: subFunction, r12, r13 };
    const exit = this.tdExit(v, EXIT_REASON_TDCALL, 0x3c00, 0, 0, vmcall);
    if (this.listener !== null) {
      const snap = this.scratch
        .clear()
        .set(REG_R11, subFunction)
        .set(REG_R12, r12)
        .set(REG_R13, r13);
      snap.set(REG_RCX, 0x3c00);
      this.stLo = 0;
      this.emit('tdcall', L.TDG_VP_VMCALL, 0, snap, 0);
    }
    return exit;
  }

  /**
   * TDCALL from a vCPU inside the TD (tdx_td_dispatcher): RAX = leaf. Modelled: leaf 6
   * TDG.MEM.PAGE.ACCEPT (RCX = GPA | level) and leaf 0 TDG.VP.VMCALL (R10 must be 0; R11 the
   * sub-function, R12/R13 its operands). Other leaves return TDX_OPERAND_INVALID|RAX here.
   */
  tdcall(
    tdvprPa: number,
    rax: number,
    regs: SeamRegs,
  ): { kind: 'status'; status: TdxStatus } | { kind: 'exit'; exit: TdExit } {
    const v = this.guestVcpu(tdvprPa);
    if (v === null) return { kind: 'status', status: St.tdxStatus(St.TDX_VCPU_STATE_INCORRECT) };
    if (rax === L.TDG_MEM_PAGE_ACCEPT) {
      const lo = regs.lo[REG_RCX] as number;
      if ((lo & 0xff8) !== 0 || (regs.hi[REG_RCX] as number) >>> 20 !== 0) {
        return { kind: 'status', status: St.tdxStatus(St.TDX_OPERAND_INVALID, OPERAND_ID_RCX) };
      }
      const gpa = (regs.hi[REG_RCX] as number) * TWO32 + ((lo & 0xfffff000) >>> 0);
      return this.tdgMemPageAccept(tdvprPa, gpa, lo & 7);
    }
    if (rax === L.TDG_VP_VMCALL) {
      if (regs.lo[REG_R10] !== 0 || regs.hi[REG_R10] !== 0) {
        return { kind: 'status', status: St.tdxStatus(St.TDX_OPERAND_INVALID, OPERAND_ID_R10) };
      }
      const sub = regs.get(REG_R11);
      const r12 = regs.get(REG_R12);
      const r13 = regs.get(REG_R13);
      const exit =
        sub === TDVMCALL_MAP_GPA
          ? (this.tdgVpVmcallMapGpa(tdvprPa, r12, r13) as MapGpaRequest).exit
          : (this.tdgVpVmcall(tdvprPa, sub, r12, r13) as TdExit);
      return { kind: 'exit', exit };
    }
    return { kind: 'status', status: St.tdxStatus(St.TDX_OPERAND_INVALID, OPERAND_ID_RAX) };
  }

  /** What the VMM answered the vCPU's last TDVMCALL: R10 (status, 64-bit) and R11. */
  vmcallReturn(tdvprPa: number): { r10: TdxStatus; r11: number } | null {
    const v = this.vcpu(tdvprPa);
    if (v === undefined) return null;
    return { r10: St.tdxStatus(v.vmcallReturnR10Hi, v.vmcallReturnR10), r11: v.vmcallReturnR11 };
  }

  // ---- inspection ----------------------------------------------------------------------

  /**
   * septEntry() without a result object, for checkers that read many entries: false when the
   * TD has no S-EPT; otherwise the entry the walk reached is in walkedLo / walkedHi /
   * walkedLevel (the same walk and entry septEntry() describes).
   */
  septEntryRaw(tdrPa: number, gpa: number, level = 0): boolean {
    const td = this.td(tdrPa);
    if (td === undefined || td.sept === null) return false;
    const size = LEVEL_BYTES[level] ?? 2 ** (12 + 9 * level);
    this.septWalk(td, Math.trunc(gpa / size) * size, level); // not `%`: fprem on doubles
    return true;
  }
  /** Low word (uint32) of the entry septEntryRaw() reached. */
  get walkedLo(): number {
    return this.wLo;
  }
  get walkedHi(): number {
    return this.wHi;
  }
  /** Module level (0 = 4K) of the entry septEntryRaw() reached. */
  get walkedLevel(): number {
    return this.wLevel;
  }

  /** The S-EPT entry mapping `gpa` at module level `level`, or null when the walk stops above. */
  septEntry(
    tdrPa: number,
    gpa: number,
    level = 0,
  ): { state: string; level: number; pfn: number; lo: number; hi: number } | null {
    const td = this.td(tdrPa);
    if (td === undefined || td.sept === null) return null;
    this.septWalk(td, gpa - (gpa % 2 ** (12 + 9 * level)), level);
    const state = septStateOf(this.wLo, this.wHi);
    return {
      state: SEPT_STATE_NAMES[state] ?? 'INVALID',
      level: this.wLevel,
      pfn: septEntryPfn(this.wLo, this.wHi),
      lo: this.wLo,
      hi: this.wHi,
    };
  }

  // ---- typed wrappers ------------------------------------------------------------------

  private get wr(): SeamRegs {
    return this.out;
  }

  /** Run a leaf on the wrapper register file (`out`). */
  private call(rax: number): TdxStatus {
    const hi = this.dispatch(rax, this.out);
    return hi === 0 && this.stLo === 0 ? SUCCESS_STATUS : St.tdxStatus(hi, this.stLo);
  }
  private regs(rcx: number, rdx = 0, r8 = 0, r9 = 0): SeamRegs {
    return this.wr.set(REG_RCX, rcx).set(REG_RDX, rdx).set(REG_R8, r8).set(REG_R9, r9);
  }

  sysInit(): TdxStatus {
    this.regs(0);
    return this.call(L.TDH_SYS_INIT);
  }
  sysLpInit(): TdxStatus {
    this.regs(0);
    return this.call(L.TDH_SYS_LP_INIT);
  }
  sysConfig(globalHkid: number): TdxStatus {
    this.regs(0, 0, globalHkid);
    return this.call(L.TDH_SYS_CONFIG);
  }
  sysKeyConfig(): TdxStatus {
    this.regs(0);
    return this.call(L.TDH_SYS_KEY_CONFIG);
  }
  mngCreate(tdrPa: number, hkid: number): TdxStatus {
    this.regs(tdrPa, hkid);
    return this.call(L.TDH_MNG_CREATE);
  }
  mngKeyConfig(tdrPa: number): TdxStatus {
    this.regs(tdrPa);
    return this.call(L.TDH_MNG_KEY_CONFIG);
  }
  mngAddcx(tdrPa: number, pagePa: number): TdxStatus {
    this.regs(pagePa, tdrPa);
    return this.call(L.TDH_MNG_ADDCX);
  }
  mngInit(tdrPa: number, tdParamsPa: number): TdxStatus {
    this.regs(tdrPa, tdParamsPa);
    return this.call(L.TDH_MNG_INIT);
  }
  vpCreate(tdrPa: number, tdvprPa: number): TdxStatus {
    this.regs(tdvprPa, tdrPa);
    return this.call(L.TDH_VP_CREATE);
  }
  vpAddcx(tdvprPa: number, pagePa: number): TdxStatus {
    this.regs(pagePa, tdvprPa);
    return this.call(L.TDH_VP_ADDCX);
  }
  /** TDH.VP.INIT; with `x2apicId` it is version 1 (needs `version: 'newer'`), as Linux calls it. */
  vpInit(tdvprPa: number, initialRcx: number, x2apicId?: number): TdxStatus {
    this.regs(tdvprPa, initialRcx, x2apicId ?? 0);
    return this.call(L.TDH_VP_INIT | (x2apicId === undefined ? 0 : 1 << 16));
  }
  mrExtend(tdrPa: number, gpa: number): TdxStatus {
    this.regs(gpa, tdrPa);
    return this.call(L.TDH_MR_EXTEND);
  }
  mrFinalize(tdrPa: number): TdxStatus {
    this.regs(tdrPa);
    return this.call(L.TDH_MR_FINALIZE);
  }
  /** Raw-style VP.ENTER: enter, run `guestRunner`, exit; exit registers in `out`. */
  vpEnter(tdvprPa: number): TdxStatus {
    this.regs(tdvprPa);
    return this.call(L.TDH_VP_ENTER);
  }
  vpFlush(tdvprPa: number): TdxStatus {
    this.regs(tdvprPa);
    return this.call(L.TDH_VP_FLUSH);
  }
  mngVpflushdone(tdrPa: number): TdxStatus {
    this.regs(tdrPa);
    return this.call(L.TDH_MNG_VPFLUSHDONE);
  }
  phymemCacheWb(resume: boolean): TdxStatus {
    this.regs(resume ? 1 : 0);
    return this.call(L.TDH_PHYMEM_CACHE_WB);
  }
  mngKeyFreeid(tdrPa: number): TdxStatus {
    this.regs(tdrPa);
    return this.call(L.TDH_MNG_KEY_FREEID);
  }
  phymemPageReclaim(pa: number): TdxStatus {
    this.regs(pa);
    return this.call(L.TDH_PHYMEM_PAGE_RECLAIM);
  }
  /** TDH.PHYMEM.PAGE.WBINVD of `pa` with KeyID `hkid` (mk_keyed_paddr). */
  phymemPageWbinvd(pa: number, hkid: number): TdxStatus {
    // pa | hkid << 52 as two words (pa < 2^52): no BigInt on the teardown path.
    this.wr.setWord(
      REG_RCX,
      (pa % TWO32) | 0,
      Math.floor(pa / TWO32) | (hkid << (HKID_SHIFT - 32)) | 0,
    );
    return this.call(L.TDH_PHYMEM_PAGE_WBINVD);
  }
  phymemPageRdmd(pa: number): TdxStatus {
    this.regs(pa);
    return this.call(L.TDH_PHYMEM_PAGE_RDMD);
  }
  /** TDH.MEM.SEPT.ADD: `level` is the module's level of the entry that will point at the table. */
  memSeptAdd(
    tdrPa: number,
    gpa: number,
    level: number,
    pagePa: number,
    allowExisting = false,
  ): TdxStatus {
    this.regs(gpa + level, tdrPa + (allowExisting ? 1 : 0), pagePa);
    return this.call(L.TDH_MEM_SEPT_ADD);
  }
  memPageAdd(tdrPa: number, gpa: number, pagePa: number, sourcePa: number): TdxStatus {
    this.regs(gpa, tdrPa, pagePa, sourcePa);
    return this.call(L.TDH_MEM_PAGE_ADD);
  }
  /** TDH.MEM.PAGE.AUG: `level` 0 = 4K, 1 = 2M. */
  memPageAug(tdrPa: number, gpa: number, level: number, pagePa: number): TdxStatus {
    this.regs(gpa + level, tdrPa, pagePa);
    return this.call(L.TDH_MEM_PAGE_AUG);
  }
  memRangeBlock(tdrPa: number, gpa: number, level: number): TdxStatus {
    this.regs(gpa + level, tdrPa);
    return this.call(L.TDH_MEM_RANGE_BLOCK);
  }
  memTrack(tdrPa: number): TdxStatus {
    this.regs(tdrPa);
    return this.call(L.TDH_MEM_TRACK);
  }
  memRangeUnblock(tdrPa: number, gpa: number, level: number): TdxStatus {
    this.regs(gpa + level, tdrPa);
    return this.call(L.TDH_MEM_RANGE_UNBLOCK);
  }
  memPageRemove(tdrPa: number, gpa: number, level: number): TdxStatus {
    this.regs(gpa + level, tdrPa);
    return this.call(L.TDH_MEM_PAGE_REMOVE);
  }
  memSeptRemove(tdrPa: number, gpa: number, level: number): TdxStatus {
    this.regs(gpa + level, tdrPa);
    return this.call(L.TDH_MEM_SEPT_REMOVE);
  }
  memPageDemote(tdrPa: number, gpa: number, level: number, pagePa: number): TdxStatus {
    this.regs(gpa + level, tdrPa, pagePa);
    return this.call(L.TDH_MEM_PAGE_DEMOTE);
  }
  memPagePromote(tdrPa: number, gpa: number, level: number): TdxStatus {
    this.regs(gpa + level, tdrPa);
    return this.call(L.TDH_MEM_PAGE_PROMOTE);
  }
  mngRd(tdrPa: number, fieldId: bigint): TdxStatus {
    this.regs(tdrPa);
    this.wr.setBig(REG_RDX, fieldId);
    return this.call(L.TDH_MNG_RD);
  }
  /** TDH.VP.WR of a TD VMCS field: `value` under `mask`; the old value is left in out R8. */
  vpWr(tdvprPa: number, fieldId: bigint, value: bigint, mask = 0xffffffffffffffffn): TdxStatus {
    this.regs(tdvprPa);
    this.wr.setBig(REG_RDX, fieldId).setBig(REG_R8, value).setBig(REG_R9, mask);
    return this.call(L.TDH_VP_WR);
  }
  vpRd(tdvprPa: number, fieldId: bigint): TdxStatus {
    this.regs(tdvprPa);
    this.wr.setBig(REG_RDX, fieldId);
    return this.call(L.TDH_VP_RD);
  }
}

// ---- metadata fields kept by the model -----------------------------------------------------
// Field ids from intel/tdx-module (1.5) include/auto_gen/tdr_tdcs_fields_lookup.c and
// tdvps_fields_lookup.c. Multi-element fields (REFCOUNT, MRTD, TDVPS_PAGE_PA) are read one
// element at a time at base + index, as Linux reads CPUID_VALUES.

/** TDH.MNG.RD fields the model answers. */
export const MNG_FIELDS = {
  FATAL: 0x8010000000000001n,
  NUM_TDCX: 0x8010000200000002n,
  CHLDCNT: 0x8010000300000004n,
  LIFECYCLE_STATE: 0x8010000200000005n,
  HKID: 0x8110000100000001n,
  PKG_CONFIG_BITMAP: 0x8110000300000002n,
  NUM_VCPUS: 0x9010000200000001n,
  NUM_ASSOC_VCPUS: 0x9010000200000002n,
  OP_STATE: 0x9010000200000004n,
  NUM_L2_VMS: 0x9010000100000005n,
  ATTRIBUTES: 0x1110000300000000n,
  XFAM: 0x1110000300000001n,
  MAX_VCPUS: 0x1110000200000002n,
  GPAW: 0x1110000000000003n,
  EPTP: 0x1110000300000004n,
  TSC_FREQUENCY: 0x111000010000000cn,
  TD_EPOCH: 0x9210000300000000n,
  /** Elements 0 and 1 at +1, +2. */
  REFCOUNT: 0x9210000100000001n,
  /** Six 8-byte elements at +0..+5. */
  MRTD: 0x1310000300000000n,
} as const;

/** TDH.VP.RD fields the model answers. */
export const VP_FIELDS = {
  /** TDVPS page PAs (TDVPR first), elements at +0..+14. */
  TDVPS_PAGE_PA: 0xa020000300000010n,
} as const;

/** TD VMCS fields: class 0 in bits 62:56 (Linux TDVPS_VMCS(), TD_CLASS_VMCS). */
function isTdVmcsField(field: bigint): boolean {
  return ((field >> 56n) & 0x7fn) === 0n;
}

/** TDR fields (class bits 0x80..0x82 in 63:56) are readable without a TDCS. */
function isTdrField(field: bigint): boolean {
  const cls = Number(field >> 56n);
  return cls >= 0x80 && cls <= 0x82;
}

function readTdField(td: Td, field: bigint, packages: number): bigint | undefined {
  const F = MNG_FIELDS;
  if (field >= F.REFCOUNT && field < F.REFCOUNT + 2n)
    return BigInt(td.refcount[Number(field - F.REFCOUNT)] ?? 0);
  if (field >= F.MRTD && field < F.MRTD + 6n) {
    const i = Number(field - F.MRTD);
    const m = td.mrtd.value;
    if (m === null) return 0n;
    let v = 0n;
    for (let b = 7; b >= 0; b--) v = (v << 8n) | BigInt(m[i * 8 + b] ?? 0);
    return v;
  }
  switch (field) {
    case F.FATAL:
      return td.fatal ? 1n : 0n;
    case F.NUM_TDCX:
      return BigInt(td.tdcx.length);
    case F.CHLDCNT:
      return BigInt(td.chldcnt);
    case F.LIFECYCLE_STATE:
      return BigInt(td.lifecycle);
    case F.HKID:
      return BigInt(td.hkid);
    case F.PKG_CONFIG_BITMAP:
      return BigInt(td.pkgConfigBitmap & ((1 << packages) - 1));
    case F.NUM_VCPUS:
      return BigInt(td.numVcpus);
    case F.NUM_ASSOC_VCPUS:
      return BigInt(td.numAssocVcpus);
    case F.OP_STATE:
      return BigInt(td.opState);
    case F.NUM_L2_VMS:
      return 0n;
    case F.ATTRIBUTES:
      return (BigInt(td.attributesHi) << 32n) | BigInt(td.attributesLo);
    case F.XFAM:
      return (BigInt(td.xfamHi) << 32n) | BigInt(td.xfamLo);
    case F.MAX_VCPUS:
      return BigInt(td.maxVcpus);
    case F.GPAW:
      return td.gpaw === 52 ? 1n : 0n;
    case F.EPTP:
      // WB (6) | page-walk length - 1 in bits 5:3 | S-EPT root HPA.
      return BigInt(td.septRoot) * 4096n + BigInt(6 | (td.septRootLevel << 3));
    case F.TSC_FREQUENCY:
      return BigInt(td.tscFrequency);
    case F.TD_EPOCH:
      return BigInt(td.tdEpoch);
    default:
      return undefined;
  }
}

function readVpField(v: Vcpu, field: bigint): bigint | undefined {
  const base = VP_FIELDS.TDVPS_PAGE_PA;
  if (field >= base && field < base + 15n) {
    const pfn = v.pages[Number(field - base)];
    return pfn === undefined ? 0n : BigInt(pfn) * 4096n;
  }
  return undefined;
}

/** Write a TD_PARAMS structure (1.5 layout, tdx_api_defs.h td_params_t) into 1024 bytes. */
export interface TdParams {
  /** ATTRIBUTES (low 32 bits; bit 28 SEPT_VE_DISABLE). */
  readonly attributes?: number;
  /** XFAM low 32 bits (x87 | SSE at least). */
  readonly xfam?: number;
  readonly maxVcpus: number;
  /** 48 (4-level S-EPT) or 52 (5-level). */
  readonly gpaw?: 48 | 52;
  /** TSC frequency in 25 MHz units. */
  readonly tscFrequency?: number;
  /** CONFIG_FLAGS beyond GPAW (bit 2 NO_RBP_MOD as KVM sets it). */
  readonly configFlags?: number;
}
export function encodeTdParams(p: TdParams): Uint8Array {
  const b = new Uint8Array(1024);
  const dv = new DataView(b.buffer);
  const gpaw = p.gpaw ?? 48;
  dv.setUint32(0, (p.attributes ?? 0) >>> 0, true);
  dv.setUint32(8, (p.xfam ?? 3) >>> 0, true);
  dv.setUint16(16, p.maxVcpus, true);
  // EPTP_CONTROLS: WB (6) and page-walk length - 1 in bits 5:3.
  dv.setUint32(24, 6 | ((gpaw === 52 ? 4 : 3) << 3), true);
  dv.setUint32(32, (gpaw === 52 ? 1 : 0) | ((p.configFlags ?? 1 << 2) & ~1), true);
  dv.setUint16(40, p.tscFrequency ?? 100, true);
  return b;
}

/** TDG.MEM.PAGE.ACCEPT's answer to a malformed GPA/level operand. */
/** An ACCEPT that mapped its page (immutable: one object serves every call). */
const ACCEPT_SUCCESS: AcceptOutcome = Object.freeze({ kind: 'status', status: SUCCESS_STATUS });

function acceptBadOperand(): AcceptOutcome {
  return { kind: 'status', status: St.tdxStatus(St.TDX_OPERAND_INVALID, OPERAND_ID_RCX) };
}
