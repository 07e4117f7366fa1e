// TDX's vendor ops: KVM's arch/x86/kvm/vmx/tdx.c on top of @kvmx/tdx-module.
// Sources: torvalds/linux arch/x86/kvm/vmx/tdx.c as first merged (6.16, [T-tdx] in
// kvm-mmu.md) — tdx_vm_init, tdx_td_init, tdx_td_vcpu_init, tdx_gmem_post_populate,
// tdx_td_finalize, tdx_sept_link_private_spt, tdx_sept_set_private_spte,
// tdx_sept_remove_private_spte (tdx_sept_zap_private_spte, tdx_track,
// tdx_sept_drop_private_spte), tdx_sept_free_private_spt, tdx_mmu_release_hkid,
// tdx_vcpu_free, tdx_vm_destroy; tdx-module.md §7; kvm-mmu.md §1.6, §2.3, §2.11.
//
// One TdxOps per TD (it is `struct kvm_tdx`). SEAMCALLs go through the module's typed
// wrappers; the module's event listener is turned into VendorEvents while KVM's bus listens.

import {
  type Gpaw,
  isAddrDirect,
  PAGE_SIZE,
  PG_LEVEL_4K,
  TDX_SHARED_BIT_PWL_4,
  TDX_SHARED_BIT_PWL_5,
  type VmTypeName,
} from '@kvmx/address';
import { FrameOwner, NO_FRAME } from '@kvmx/paging';
import {
  encodeTdParams,
  formatStatus,
  isSuccess,
  LastLookupMap,
  statusHex,
  statusName,
  TDG_MEM_PAGE_ACCEPT,
  TDVMCALL_MAP_GPA,
  TDX_EPT_ENTRY_STATE_INCORRECT,
  TDX_OPERAND_BUSY,
  type TdxCallEvent,
  type TdxModule,
  type TdxStatus,
} from '@kvmx/tdx-module';
import { EBUSY, EINVAL, EIO, ENOMEM, ENOSPC } from './errno.js';
import type { HwFault, KvmX86Ops, VendorContext, VmArch } from './ops.js';
import { PFERR_PRIVATE_ACCESS, PFERR_WRITE_MASK, pferrSet } from './pferr.js';

/** enum kvm_tdx_state (tdx.h). */
export const TD_STATE_UNINITIALIZED = 0;
export const TD_STATE_INITIALIZED = 1;
export const TD_STATE_RUNNABLE = 2;

/** TD ATTRIBUTES bit 28, the only attribute KVM supports (KVM_SUPPORTED_TD_ATTRS). */
export const TDX_TD_ATTR_SEPT_VE_DISABLE = 1 << 28;
/** TD_PARAMS.CONFIG_FLAGS.NO_RBP_MOD, which KVM always sets. */
export const TDX_CONFIG_FLAGS_NO_RBP_MOD = 1 << 2;
// Statuses @kvmx/tdx-module defines but does not export from its index; compared by name.
const isStatus = (st: TdxStatus, name: string): boolean => statusName(st.hi) === name;

/** TDX_SUCCESS as a status value (what a skipped SEAMCALL is taken to have returned). */
const TDX_SUCCESS_STATUS: TdxStatus = { hi: 0, lo: 0 };

/** tdx_mmu_release_hkid(): CACHE.WB is resumed at most this many times per package. */
const CACHE_WB_MAX_RESUMES = 10000;

/** SEAMCALL leaves whose RCX carries GPA | S-EPT level. */
const GPA_LEAVES = new Set([
  'TDH.MEM.SEPT.ADD',
  'TDH.MEM.SEPT.REMOVE',
  'TDH.MEM.PAGE.ADD',
  'TDH.MEM.PAGE.AUG',
  'TDH.MEM.PAGE.REMOVE',
  'TDH.MEM.PAGE.DEMOTE',
  'TDH.MEM.PAGE.PROMOTE',
  'TDH.MEM.RANGE.BLOCK',
  'TDH.MEM.RANGE.UNBLOCK',
  'TDH.MR.EXTEND',
]);

/** pg_level_to_tdx_sept_level(): KVM's PG_LEVEL_4K.. → the module's 0... */
export function pgLevelToTdxSeptLevel(level: number): number {
  return level - 1;
}

/** Per-vCPU TDX state (struct vcpu_tdx). */
export interface TdxVcpu {
  readonly tdvpr: number;
  readonly tdcx: number[];
  initialized: boolean;
}

export class TdxOps implements KvmX86Ops {
  readonly vmType: VmTypeName = 'tdx';
  readonly arch: VmArch;
  readonly module: TdxModule;
  readonly gpaw: Gpaw;
  /** kvm_tdx->state. */
  state = TD_STATE_UNINITIALIZED;
  /** kvm_tdx->td.tdr_page, as a physical address; -1 before INIT_VM. */
  tdr = -1;
  /** kvm_tdx->hkid; -1 when none is assigned. */
  hkid = -1;
  /** TDCS pages (PAs). */
  readonly tdcs: number[] = [];
  /** kvm_tdx->nr_premapped: mirror leaves waiting for INIT_MEM_REGION's PAGE.ADD. */
  nrPremapped = 0;
  /**
   * Frames removed from the TD (TDH.MEM.PAGE.REMOVE) whose cache lines tagged with the TD's
   * HKID have not been written back and invalidated (TDH.PHYMEM.PAGE.WBINVD) yet. KVM flushes
   * each right after its removal, so outside that window it stays empty: a frame left here can
   * have dirty HKID-tagged lines written back over whatever its next owner puts there.
   */
  readonly hkidDirty = new Set<number>();
  /** kvm_tdx->attributes as passed to KVM_TDX_INIT_VM. */
  attributes = 0;
  /** kvm_tdx->wait_for_sept_zap: vCPUs may not enter while set. */
  waitForSeptZap = false;
  /** The last SEAMCALL error KVM reported (kvm_tdx_cmd.hw_error). */
  hwError: TdxStatus | null = null;
  /** By vCPU id; every TD entry and exit of a vCPU looks its record up. */
  readonly vcpus = new LastLookupMap<TdxVcpu>();
  /** Pages whose reclaim failed: leaked, as KVM leaks them. */
  readonly leaked: number[] = [];
  private readonly ctx: VendorContext;

  constructor(ctx: VendorContext, module: TdxModule, gpaw: Gpaw, septVeDisable: boolean) {
    this.ctx = ctx;
    this.module = module;
    this.gpaw = gpaw;
    this.attributes = septVeDisable ? TDX_TD_ATTR_SEPT_VE_DISABLE : 0;
    // models tdx.c: tdx_vm_init() — private memory, protected state, no pre-fault until
    // finalize, MMIO SPTE value 0 (the TD gets a #VE), direct bits = the shared bit.
    this.arch = {
      hasPrivateMem: true,
      hasProtectedState: true,
      preFaultAllowed: false,
      gfnDirectBits: gpaw === 52 ? TDX_SHARED_BIT_PWL_5 : TDX_SHARED_BIT_PWL_4,
      shadowMmioValue: 0,
    };
  }

  /** is_hkid_assigned(). */
  get hkidAssigned(): boolean {
    return this.hkid >= 0;
  }

  /** Forward the module's SEAMCALL/TDCALL events while KVM's bus has listeners. */
  setTracing(on: boolean): void {
    this.module.setListener(on ? (e) => this.forward(e) : null);
  }

  private forward(e: TdxCallEvent): void {
    const emit = this.ctx.emit;
    if (emit === null) return;
    const status = statusName(e.status.hi) ?? formatStatus(e.status);
    const rcxLo = e.rcx.lo >>> 0;
    const gpa = e.rcx.hi * 2 ** 32 + (rcxLo - (rcxLo % PAGE_SIZE));
    if (e.type === 'tdcall') {
      // TDG.MEM.PAGE.ACCEPT carries GPA | level in RCX; a TDG.VP.VMCALL's RCX is the mask of
      // the registers it exposes, and MapGPA's GPA is in R12 (GHCI). Other VMCALL
      // sub-functions carry no GPA, so the event has none.
      if (e.leaf !== TDG_MEM_PAGE_ACCEPT) {
        const mapGpa = e.r11.hi === 0 && e.r11.lo >>> 0 === TDVMCALL_MAP_GPA;
        const r12 = e.r12.hi * 2 ** 32 + (e.r12.lo >>> 0);
        emit({
          type: 'tdcall',
          leaf: e.name,
          ...(mapGpa ? { gpa: `0x${r12.toString(16)}` } : {}),
          status,
        });
        return;
      }
      emit({ type: 'tdcall', leaf: e.name, gpa: `0x${gpa.toString(16)}`, status });
      return;
    }
    // Leaves whose RCX is GPA | module level (the S-EPT and page leaves).
    const gpaLeaf = GPA_LEAVES.has(e.name);
    emit({
      type: 'seamcall',
      leaf: e.name,
      status,
      code: statusHex(e.status),
      ...(gpaLeaf ? { gpa: `0x${gpa.toString(16)}`, level: (rcxLo & 7) + 1 } : {}),
    });
  }

  // ---- fault classification ---------------------------------------------------------

  /**
   * models vmx/common.h: __vmx_handle_ept_violation() with vt_is_tdx_private_gpa() — a GPA
   * without the shared bit is private; and tdx_handle_ept_violation(): a private EPT
   * violation is always handled as a write.
   */
  faultErrorCode(fault: HwFault): number {
    if (isAddrDirect({ vmType: 'tdx', gpaw: this.gpaw }, fault.gpa)) return fault.errorCode;
    return pferrSet(pferrSet(fault.errorCode, PFERR_WRITE_MASK), PFERR_PRIVATE_ACCESS);
  }

  /** models tdx.c: tdx_gmem_private_max_mapping_level() — 4K only. */
  privateMaxMappingLevel(): number {
    return PG_LEVEL_4K;
  }

  // ---- KVM_TDX_INIT_VM / INIT_VCPU / INIT_MEM_REGION / FINALIZE_VM --------------------

  /**
   * models tdx.c: tdx_td_init() — allocate an HKID, the TDR and TDCS pages;
   * TDH.MNG.CREATE, TDH.MNG.KEY.CONFIG on one LP per package, TDH.MNG.ADDCX per TDCS page,
   * TDH.MNG.INIT with TD_PARAMS. On failure everything is torn down again.
   */
  tdInit(maxVcpus: number): number {
    if (this.state !== TD_STATE_UNINITIALIZED) return -EINVAL;
    const mod = this.module;
    const pool = this.ctx.pool;
    // tdx_guest_keyid_alloc(): the host's KeyID IDA (-ENOSPC when exhausted).
    const hkid = mod.keyIds.alloc();
    if (hkid < 0) return -ENOSPC;
    const tdrPfn = pool.alloc(FrameOwner.TDX_TDR);
    if (tdrPfn === NO_FRAME) {
      mod.keyIds.free(hkid);
      return -ENOMEM;
    }
    this.hkid = hkid;
    this.tdr = tdrPfn * PAGE_SIZE;
    let st = mod.mngCreate(this.tdr, hkid);
    if (!isSuccess(st)) return this.initFailed(st);
    for (let pkg = 0; pkg < mod.packages; pkg++) {
      mod.onLp(pkg * mod.lpsPerPackage);
      st = mod.mngKeyConfig(this.tdr);
      if (!isSuccess(st)) {
        mod.onLp(0);
        return this.initFailed(st);
      }
    }
    mod.onLp(0);
    for (let i = 0; i < mod.tdcsPages; i++) {
      const pfn = pool.alloc(FrameOwner.TDX_TDCS);
      if (pfn === NO_FRAME) return this.initFailed(null);
      this.tdcs.push(pfn * PAGE_SIZE);
      st = mod.mngAddcx(this.tdr, pfn * PAGE_SIZE);
      if (!isSuccess(st)) return this.initFailed(st);
    }
    const params = pool.alloc(FrameOwner.HOST);
    if (params === NO_FRAME) return this.initFailed(null);
    pool.write(
      params,
      0,
      encodeTdParams({
        maxVcpus,
        attributes: this.attributes,
        gpaw: this.gpaw,
        configFlags: TDX_CONFIG_FLAGS_NO_RBP_MOD,
      }),
    );
    st = mod.mngInit(this.tdr, params * PAGE_SIZE);
    pool.free(params);
    if (!isSuccess(st)) return this.initFailed(st);
    this.state = TD_STATE_INITIALIZED;
    return 0;
  }

  private initFailed(st: TdxStatus | null): number {
    this.hwError = st;
    this.releaseHkid();
    this.reclaimTdControlPages();
    return st === null ? -ENOMEM : -EIO;
  }

  /**
   * models tdx.c: tdx_td_vcpu_init() — TDVPR and TDCX pages, TDH.VP.CREATE,
   * TDH.VP.ADDCX per page, TDH.VP.INIT with the initial RCX.
   */
  vcpuInit(vcpuId: number, rcx = 0): number {
    if (this.state !== TD_STATE_INITIALIZED) return -EINVAL;
    if (this.vcpus.get(vcpuId)?.initialized) return -EINVAL;
    const mod = this.module;
    const pool = this.ctx.pool;
    const tdvprPfn = pool.alloc(FrameOwner.TDX_TDVPR);
    if (tdvprPfn === NO_FRAME) return -ENOMEM;
    const v: TdxVcpu = { tdvpr: tdvprPfn * PAGE_SIZE, tdcx: [], initialized: false };
    this.vcpus.set(vcpuId, v);
    let st = mod.vpCreate(this.tdr, v.tdvpr);
    if (!isSuccess(st)) return this.fail(st);
    for (let j = 1; j < mod.tdvpsPages; j++) {
      const pfn = pool.alloc(FrameOwner.TDX_TDVPX);
      if (pfn === NO_FRAME) return -ENOMEM;
      v.tdcx.push(pfn * PAGE_SIZE);
      st = mod.vpAddcx(v.tdvpr, pfn * PAGE_SIZE);
      if (!isSuccess(st)) return this.fail(st);
    }
    st = mod.vpInit(v.tdvpr, rcx);
    if (!isSuccess(st)) return this.fail(st);
    v.initialized = true;
    return 0;
  }

  /**
   * The second half of tdx_gmem_post_populate(): the mirror path is built (set_external_spte
   * counted the page as premapped); TDH.MEM.PAGE.ADD copies `sourcePfn` into `pfn`, then,
   * when measured, TDH.MR.EXTEND over each 256-byte chunk.
   */
  pageAdd(gfn: number, pfn: number, sourcePfn: number, measure: boolean): number {
    if (this.state !== TD_STATE_INITIALIZED) return -EINVAL;
    const gpa = gfn * PAGE_SIZE;
    const st = this.module.memPageAdd(this.tdr, gpa, pfn * PAGE_SIZE, sourcePfn * PAGE_SIZE);
    if (!isSuccess(st)) {
      this.hwError = st;
      return st.hi === TDX_OPERAND_BUSY ? -EBUSY : -EIO;
    }
    if (this.nrPremapped === 0) this.ctx.bug('tdx_gmem_post_populate: nr_premapped is 0');
    else this.nrPremapped--;
    if (measure) {
      for (let off = 0; off < PAGE_SIZE; off += 256) {
        const m = this.module.mrExtend(this.tdr, gpa + off);
        if (!isSuccess(m)) return this.fail(m);
      }
    }
    return 0;
  }

  /** models tdx.c: tdx_td_finalize() — no premapped pages left, TDH.MR.FINALIZE. */
  finalize(): number {
    if (this.state !== TD_STATE_INITIALIZED) return -EINVAL;
    if (this.nrPremapped !== 0) return -EINVAL;
    const st = this.module.mrFinalize(this.tdr);
    if (!isSuccess(st)) {
      this.hwError = st;
      return st.hi === TDX_OPERAND_BUSY ? -EBUSY : -EIO;
    }
    this.state = TD_STATE_RUNNABLE;
    this.arch.preFaultAllowed = true;
    return 0;
  }

  private fail(st: TdxStatus): number {
    this.hwError = st;
    this.ctx.bug(`SEAMCALL failed: ${formatStatus(st)}`);
    return -EIO;
  }

  // ---- external S-EPT hooks ------------------------------------------------------------

  /**
   * models tdx.c: tdx_sept_link_private_spt() — TDH.MEM.SEPT.ADD at the module level of the
   * entry being written; BUSY → -EBUSY (the fault retries); anything else is a KVM bug.
   */
  linkExternalSpt(gfn: number, level: number, externalSpt: number): number {
    const st = this.module.memSeptAdd(
      this.tdr,
      gfn * PAGE_SIZE,
      pgLevelToTdxSeptLevel(level),
      externalSpt * PAGE_SIZE,
    );
    if (st.hi === TDX_OPERAND_BUSY) return -EBUSY;
    if (!isSuccess(st)) return this.fail(st);
    return 0;
  }

  /**
   * models tdx.c: tdx_sept_set_private_spte() — 4K only, HKID assigned; TDH.MEM.PAGE.AUG once
   * the TD is runnable, before that only nr_premapped++ (INIT_MEM_REGION adds the page).
   */
  setExternalSpte(gfn: number, level: number, pfn: number): number {
    if (!this.hkidAssigned || level !== PG_LEVEL_4K) {
      this.ctx.bug(`tdx_sept_set_private_spte: level ${level}, hkid ${this.hkid}`);
      return -EINVAL;
    }
    if (this.state !== TD_STATE_RUNNABLE) {
      this.nrPremapped++;
      return 0;
    }
    const st = this.module.memPageAug(this.tdr, gfn * PAGE_SIZE, 0, pfn * PAGE_SIZE);
    if (st.hi === TDX_OPERAND_BUSY) return -EBUSY;
    if (!isSuccess(st)) return this.fail(st);
    return 0;
  }

  /**
   * models tdx.c: tdx_sept_remove_private_spte() — TDH.MEM.RANGE.BLOCK (a premapped page that
   * was never added just drops nr_premapped), tdx_track() (TDH.MEM.TRACK, kick vCPUs; only
   * when runnable), TDH.MEM.PAGE.REMOVE, TDH.PHYMEM.PAGE.WBINVD with the TD's HKID, clear.
   * BLOCK, TRACK and REMOVE each get one retry after forcing vCPUs out on BUSY.
   */
  removeExternalSpte(gfn: number, level: number, pfn: number): number {
    if (!this.hkidAssigned) {
      this.ctx.bug('tdx_sept_remove_private_spte: HKID not assigned');
      return -EINVAL;
    }
    const gpa = gfn * PAGE_SIZE;
    const tdxLevel = pgLevelToTdxSeptLevel(level);
    // tdx_sept_zap_private_spte(); injection remove-without-block skips it entirely.
    const skipBlock = this.ctx.injected?.has('remove-without-block') === true;
    const block = skipBlock
      ? TDX_SUCCESS_STATUS
      : this.withBusyRetry(() => this.module.memRangeBlock(this.tdr, gpa, tdxLevel));
    if (
      block.hi === TDX_EPT_ENTRY_STATE_INCORRECT &&
      this.state !== TD_STATE_RUNNABLE &&
      this.module.septEntry(this.tdr, gpa)?.state !== 'MAPPED'
    ) {
      // Premapped but never PAGE.ADDed.
      if (this.nrPremapped === 0) this.ctx.bug('premapped zap with nr_premapped == 0');
      else this.nrPremapped--;
      return 0;
    }
    if (!isSuccess(block)) return this.fail(block);
    // tdx_track(); injection remove-without-track forgets it before PAGE.REMOVE.
    if (this.ctx.injected?.has('remove-without-track') !== true) this.track();
    // tdx_sept_drop_private_spte()
    const remove = this.withBusyRetry(() => this.module.memPageRemove(this.tdr, gpa, tdxLevel));
    if (!isSuccess(remove)) return this.fail(remove);
    // The removed frame may hold lines tagged with the TD's HKID until the WBINVD below.
    this.hkidDirty.add(pfn);
    // tdh_phymem_page_wbinvd_hkid(); injection reuse-without-wbinvd skips it.
    if (this.ctx.injected?.has('reuse-without-wbinvd') !== true) {
      const wb = this.module.phymemPageWbinvd(pfn * PAGE_SIZE, this.hkid);
      if (!isSuccess(wb)) return this.fail(wb);
      this.hkidDirty.delete(pfn);
    }
    this.ctx.pool.zero(pfn); // tdx_clear_page()
    return 0;
  }

  /** models tdx.c: tdx_track() — TDH.MEM.TRACK then kick every vCPU; skipped before finalize. */
  private track(): void {
    if (this.state !== TD_STATE_RUNNABLE) return;
    const st = this.withBusyRetry(() => this.module.memTrack(this.tdr));
    if (!isSuccess(st)) this.fail(st);
    this.ctx.kickAllVcpus();
  }

  /**
   * The single BUSY retry: tdx_no_vcpus_enter_start() sets wait_for_sept_zap and kicks all
   * vCPUs out of guest mode, the SEAMCALL is retried once, then the flag is cleared.
   */
  private withBusyRetry(call: () => TdxStatus): TdxStatus {
    const st = call();
    if (st.hi !== TDX_OPERAND_BUSY) return st;
    this.waitForSeptZap = true;
    this.ctx.kickAllVcpus();
    const again = call();
    this.waitForSeptZap = false;
    return again;
  }

  /**
   * models tdx.c: tdx_sept_free_private_spt() — only after the HKID is released (KVM never
   * frees S-EPT tables of a live TD): TDH.PHYMEM.PAGE.RECLAIM, then clear.
   */
  freeExternalSpt(gfn: number, level: number, externalSpt: number): number {
    void gfn;
    void level;
    if (this.hkidAssigned) {
      this.ctx.bug('tdx_sept_free_private_spt: HKID still assigned');
      return -EINVAL;
    }
    return this.reclaimPage(externalSpt) ? 0 : -EIO;
  }

  /** models tdx.c: __tdx_reclaim_page() + tdx_clear_page(); false (leaked) on failure. */
  private reclaimPage(pfn: number): boolean {
    const st = this.module.phymemPageReclaim(pfn * PAGE_SIZE);
    if (!isSuccess(st)) {
      this.hwError = st;
      this.ctx.bug(`TDH.PHYMEM.PAGE.RECLAIM ${formatStatus(st)}: page leaked`);
      this.leaked.push(pfn);
      return false;
    }
    this.ctx.pool.zero(pfn);
    return true;
  }

  // ---- teardown ------------------------------------------------------------------------

  /** vm_pre_destroy → tdx_mmu_release_hkid(). */
  vmPreDestroy(): void {
    this.releaseHkid();
  }

  /**
   * models tdx.c: tdx_mmu_release_hkid() — TDH.VP.FLUSH for each associated vCPU,
   * TDH.MNG.VPFLUSHDONE, TDH.PHYMEM.CACHE.WB on one LP per package (resumed while
   * interrupted; "no HKID ready" counts as done), TDH.MNG.KEY.FREEID, free the HKID.
   */
  private releaseHkid(): void {
    if (!this.hkidAssigned) return;
    const mod = this.module;
    if (this.tdr >= 0 && mod.td(this.tdr) !== undefined) {
      for (const v of this.vcpus.values()) {
        const mv = mod.vcpu(v.tdvpr);
        if (mv !== undefined && mv.assocLp >= 0) {
          mod.onLp(mv.assocLp);
          mod.vpFlush(v.tdvpr);
        }
      }
      mod.onLp(0);
      const done = mod.mngVpflushdone(this.tdr);
      if (isStatus(done, 'TDX_FLUSHVP_NOT_DONE') || !isSuccess(done)) {
        if (!isStatus(done, 'TDX_FLUSHVP_NOT_DONE')) this.fail(done);
        return; // HKID leaked
      }
      for (let pkg = 0; pkg < mod.packages; pkg++) {
        mod.onLp(pkg * mod.lpsPerPackage);
        let st = mod.phymemCacheWb(false);
        for (
          let i = 0;
          i < CACHE_WB_MAX_RESUMES && isStatus(st, 'TDX_INTERRUPTED_RESUMABLE');
          i++
        ) {
          st = mod.phymemCacheWb(true);
        }
        if (!isSuccess(st) && !isStatus(st, 'TDX_NO_HKID_READY_TO_WBCACHE')) this.hwError = st;
      }
      mod.onLp(0);
      const free = mod.mngKeyFreeid(this.tdr);
      if (!isSuccess(free)) {
        this.fail(free);
        return; // HKID leaked
      }
    }
    mod.keyIds.free(this.hkid); // tdx_hkid_free()
    this.hkid = -1;
  }

  /** models tdx.c: tdx_vcpu_free() — reclaim the TDCX pages, then the TDVPR. */
  vcpuFree(vcpuId: number): void {
    const v = this.vcpus.get(vcpuId);
    if (v === undefined || this.hkidAssigned) return;
    for (const p of v.tdcx) if (this.reclaimPage(p / PAGE_SIZE)) this.ctx.pool.free(p / PAGE_SIZE);
    if (this.reclaimPage(v.tdvpr / PAGE_SIZE)) this.ctx.pool.free(v.tdvpr / PAGE_SIZE);
    this.vcpus.delete(vcpuId);
  }

  /** vm_destroy → tdx_vm_destroy() → tdx_reclaim_td_control_pages(). */
  vmDestroy(): void {
    this.reclaimTdControlPages();
  }

  /**
   * models tdx.c: tdx_reclaim_td_control_pages() — with the HKID gone: RECLAIM each TDCS page,
   * then the TDR, then TDH.PHYMEM.PAGE.WBINVD of the TDR with the global KeyID.
   */
  private reclaimTdControlPages(): void {
    if (this.hkidAssigned || this.tdr < 0) return;
    const pool = this.ctx.pool;
    for (const p of this.tdcs) if (this.reclaimPage(p / PAGE_SIZE)) pool.free(p / PAGE_SIZE);
    this.tdcs.length = 0;
    const tdrPfn = this.tdr / PAGE_SIZE;
    if (this.module.td(this.tdr) === undefined) {
      pool.free(tdrPfn); // TDH.MNG.CREATE never took it
    } else if (this.reclaimPage(tdrPfn)) {
      const st = this.module.phymemPageWbinvd(this.tdr, this.module.tdxKeyIdStart);
      if (!isSuccess(st)) this.fail(st);
      else pool.free(tdrPfn);
    }
    this.tdr = -1;
  }
}
