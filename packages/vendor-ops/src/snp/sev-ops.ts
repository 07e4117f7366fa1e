// The SVM vendor ops of a SEV, SEV-ES or SNP VM: the KvmX86Ops the common MMU calls, plus the
// SEV-specific entry points KVM's SVM code has (KVM_MEMORY_ENCRYPT_OP commands, VMGEXIT, the
// RMP #NPF follow-up, PVALIDATE and the RMP access checks the CPU makes).
// models arch/x86/kvm/svm/svm.c: svm_vm_init() (flags), npf_interception() (private = ENC,
// then sev_handle_rmp_fault), the svm_x86_ops members .gmem_prepare = sev_gmem_prepare,
// .gmem_invalidate = sev_gmem_invalidate, .private_max_mapping_level =
// sev_private_max_mapping_level; and arch/x86/kvm/svm/sev.c for the rest (see each file).
//
// The RMP belongs to the host, not to a VM: every SevOps built on one FramePool shares the
// RMP that hostRmp(pool) returns, as all SNP guests on a machine share one table.

import type { PgLevel, Word64 } from '@kvmx/address';
import { hex } from '@kvmx/address';
import type { FramePool } from '@kvmx/paging';
import { VMX_EPT_MISCONFIG_WX_VALUE } from '../default-ops.js';
import { EINVAL } from '../errno.js';
import type { HwFault, KvmX86Ops, VendorContext, VmArch } from '../ops.js';
import { type GhcbMsrResult, sevHandleVmgexitMsrProtocol, snpCompletePscMsr } from './ghcb-msr.js';
import {
  type GmemInvalidateResult,
  sevGmemInvalidate,
  sevGmemPrepare,
  sevPrivateMaxMappingLevel,
} from './gmem-hooks.js';
import {
  newPscState,
  type PscBuffer,
  type PscResult,
  type PscState,
  snpCompleteOnePsc,
  snpVmgexitPsc,
} from './psc-buffer.js';
import { type GuestAccess, Rmp, type RmpGuestResult } from './rmp.js';
import type { RmpEvent } from './rmp-event.js';
import {
  checkRmpInvariant,
  type NptMapping,
  type RmpCheckView,
  type RmpViolation,
  rmpCheckView,
} from './rmp-invariant.js';
import {
  type SevCmdResult,
  SevGuest,
  type SevInit2Args,
  SNP_DEFAULT_POLICY,
  type SnpLaunchUpdateParams,
  type SnpPopulateContext,
} from './sev-guest.js';
import {
  DEFAULT_SEV_ASIDS,
  SevAsidAllocator,
  type SevCbit,
  type SevVmType,
  SVM_SEV_FEAT_DEBUG_SWAP,
  sevCbit,
  sevVmFlags,
} from './sev-vm.js';
import {
  type RmpFaultContext,
  type RmpFaultOutcome,
  sevHandleRmpFault,
  snpNpfErrorCode,
} from './snp-fault.js';

/** Per-host SEV state: the RMP and the ASID space, one per FramePool. */
export interface SevHost {
  readonly rmp: Rmp;
  readonly asids: SevAsidAllocator;
  /** sev_supported_vmsa_features (KVM_X86_SEV_VMSA_FEATURES): DEBUG_SWAP in the model. */
  readonly supportedVmsaFeatures: number;
}

const hosts = new WeakMap<FramePool, SevHost>();

/** The SEV state of the host whose memory is `pool` (created on first use). */
export function sevHost(pool: FramePool): SevHost {
  let h = hosts.get(pool);
  if (h === undefined) {
    h = {
      rmp: new Rmp({ maxPfn: pool.basePfn + pool.maxFrames }),
      asids: new SevAsidAllocator(DEFAULT_SEV_ASIDS),
      supportedVmsaFeatures: SVM_SEV_FEAT_DEBUG_SWAP,
    };
    hosts.set(pool, h);
  }
  return h;
}

/** Options of a SEV-family VM. */
export interface SevOpsOptions {
  /** The C-bit position (CPUID 0x8000001F EBX[5:0]); 51 by default. */
  readonly cbit?: number;
  /** The host's SEV state; sevHost(ctx.pool) by default. */
  readonly host?: SevHost;
}

/** Per-vCPU SEV-ES state (struct vcpu_sev_es_state, the parts modelled). */
export interface SevVcpu {
  /** sev_es.ghcb_registered_gpa (SNP: set by the MSR protocol's REG_GPA). */
  ghcbRegisteredGpa: number | null;
  readonly psc: PscState;
  /** The PSC buffer of a full-GHCB page-state change in flight. */
  pscBuffer: PscBuffer | null;
  /** The kind of KVM_EXIT_HYPERCALL this vCPU is waiting on, if any. */
  pending: 'psc_msr' | 'psc' | null;
}

export class SevOps implements KvmX86Ops {
  readonly vmType: SevVmType;
  readonly arch: VmArch;
  readonly host: SevHost;
  readonly sev: SevGuest;
  readonly cbit: SevCbit;
  /** user_exit_on_hypercall(kvm, KVM_HC_MAP_GPA_RANGE), set by KVM_CAP_EXIT_HYPERCALL. */
  hypercallExitEnabled = false;
  readonly vcpus = new Map<number, SevVcpu>();
  private readonly ctx: VendorContext;
  private tracing = false;

  /** Throws RangeError for a C-bit position outside 12..51 (bad input, not a KVM answer). */
  constructor(vmType: SevVmType, ctx: VendorContext, options: SevOpsOptions = {}) {
    const cbit = sevCbit(options.cbit);
    if (cbit === undefined) throw new RangeError(`C-bit position out of range: ${options.cbit}`);
    this.vmType = vmType;
    this.ctx = ctx;
    this.cbit = cbit;
    this.host = options.host ?? sevHost(ctx.pool);
    this.sev = new SevGuest(vmType, this.host.rmp);
    const flags = sevVmFlags(vmType);
    // models svm.c: svm_vm_init() — has_private_mem only for SNP; pre_fault_allowed =
    // !has_private_mem; protected state for SEV-ES and SNP. No direct bits: the C-bit never
    // reaches the GPA KVM sees. The model's page tables are EPT-format for every VM type.
    this.arch = {
      hasPrivateMem: flags.hasPrivateMem,
      hasProtectedState: flags.hasProtectedState,
      preFaultAllowed: flags.preFaultAllowed,
      gfnDirectBits: 0,
      shadowMmioValue: VMX_EPT_MISCONFIG_WX_VALUE,
    };
  }

  get rmp(): Rmp {
    return this.host.rmp;
  }

  /** Report RMP changes made on this VM's behalf to VendorContext.emit. */
  setTracing(on: boolean): void {
    this.tracing = on;
  }

  // ---- kvm_x86_ops ------------------------------------------------------------------

  /** models svm.c: npf_interception(): PFERR_PRIVATE_ACCESS iff SNP and the ENC bit. */
  faultErrorCode(fault: HwFault): number {
    return snpNpfErrorCode(fault.errorCode, this.sev.snpActive, fault.enc === true);
  }

  /** models sev.c: sev_private_max_mapping_level(). */
  privateMaxMappingLevel(pfn: number): number {
    return sevPrivateMaxMappingLevel(this.rmp, this.sev, pfn);
  }

  /** models sev.c: sev_gmem_prepare(). */
  gmemPrepare(pfn: number, gfn: number, maxOrder: number): number {
    // Injection snp-unassigned-private: sev_gmem_prepare() returns 0 without the RMPUPDATE
    // that assigns the page to the guest, and KVM maps it as private anyway.
    if (this.ctx.injected?.has('snp-unassigned-private') === true) return 0;
    return this.traced(() => sevGmemPrepare(this.rmp, this.sev, pfn, gfn, maxOrder));
  }

  /** models sev.c: sev_gmem_invalidate() (a no-op for a VM that is not SNP: nothing assigned). */
  gmemInvalidate(startPfn: number, endPfn: number): void {
    this.gmemInvalidateResult(startPfn, endPfn);
  }

  /** gmemInvalidate() with what it did. */
  gmemInvalidateResult(startPfn: number, endPfn: number): GmemInvalidateResult {
    return this.traced(() => sevGmemInvalidate(this.rmp, startPfn, endPfn));
  }

  /** sev_vm_destroy(): the ASID goes back (SNP: after decommissioning the context). */
  vmDestroy(): void {
    if (this.sev.active) this.host.asids.free(this.sev.asid);
  }

  // ---- KVM_MEMORY_ENCRYPT_OP ----------------------------------------------------------

  /** KVM_SEV_INIT2 (sev_guest_init2 → __sev_guest_init). */
  init2(args: SevInit2Args = {}, vcpusCreated = 0): SevCmdResult {
    return this.sev.init2(args, vcpusCreated, this.host.supportedVmsaFeatures, this.host.asids);
  }

  /** KVM_SEV_SNP_LAUNCH_START (snp_launch_start). */
  snpLaunchStart(policy: number = SNP_DEFAULT_POLICY, flags = 0): SevCmdResult {
    return this.sev.snpLaunchStart(policy, flags);
  }

  /** KVM_SEV_SNP_LAUNCH_UPDATE (snp_launch_update). */
  snpLaunchUpdate(params: SnpLaunchUpdateParams, ctx: SnpPopulateContext): SevCmdResult {
    return this.traced(() => this.sev.snpLaunchUpdate(params, ctx));
  }

  /** KVM_SEV_SNP_LAUNCH_FINISH (snp_launch_finish): pre-faulting allowed afterwards. */
  snpLaunchFinish(vmsaPfns: readonly number[], flags = 0): SevCmdResult {
    const r = this.traced(() => this.sev.snpLaunchFinish(vmsaPfns, flags));
    if (r.ret === 0) this.arch.preFaultAllowed = true;
    return r;
  }

  /** sev_free_vcpu() → snp_page_reclaim() of a VMSA page: 0, or the page is leaked. */
  snpPageReclaim(pfn: number): number {
    return this.traced(() => this.sev.snpPageReclaim(pfn));
  }

  /**
   * What a VMM does first for this type (CONTRACTS §2 "Creating the VM"): KVM_SEV_INIT2 with
   * an all-zero struct, and for SNP KVM_SEV_SNP_LAUNCH_START with the default policy.
   */
  vmmCreate(): SevCmdResult {
    const r = this.init2();
    if (r.ret !== 0 || this.vmType !== 'snp') return r;
    return this.snpLaunchStart(SNP_DEFAULT_POLICY);
  }

  // ---- the guest's instructions and the CPU's checks ----------------------------------

  /** The guest's PVALIDATE of `gpa` backed by `pfn` (the CPU's view; asid = this VM's). */
  pvalidate(gpa: number, pfn: number, level: PgLevel, validate: boolean): RmpGuestResult {
    return this.traced(() => this.rmp.pvalidate(this.sev.asid, gpa, pfn, level, validate));
  }

  /** The guest's RMPADJUST at `vmpl` (only the VMSA attribute is modelled). */
  rmpadjust(gpa: number, pfn: number, level: PgLevel, vmpl: number, attrs: number): RmpGuestResult {
    return this.traced(() => this.rmp.rmpadjust(this.sev.asid, gpa, pfn, level, vmpl, attrs));
  }

  /**
   * The RMP checks on a guest access through a present NPT mapping (SNP only; SEV/SEV-ES
   * guests have no RMP checks). RMP_ACCESS_OK, RMP_ACCESS_VC, or an #NPF error code.
   */
  checkGuestAccess(gpa: number, pfn: number, nptLevel: PgLevel, access: GuestAccess): number {
    if (!this.sev.snpActive) return 0;
    return this.rmp.checkGuestAccess(this.sev.asid, gpa, pfn, nptLevel, access);
  }

  /** A host write to frame `pfn`: 0, or the host #PF error code of an RMP violation. */
  hostAccessCheck(pfn: number, write: boolean): number {
    return this.rmp.hostAccessCheck(pfn, write);
  }

  /** models sev.c: sev_handle_rmp_fault(), after the MMU handled an #NPF with the RMP bit. */
  handleRmpFault(gpa: number, ctx: RmpFaultContext): RmpFaultOutcome {
    return this.traced(() => sevHandleRmpFault(this.rmp, ctx, gpa));
  }

  // ---- VMGEXIT --------------------------------------------------------------------------

  /** The vCPU's SEV-ES state. */
  vcpu(vcpuId: number): SevVcpu {
    let v = this.vcpus.get(vcpuId);
    if (v === undefined) {
      v = { ghcbRegisteredGpa: null, psc: newPscState(), pscBuffer: null, pending: null };
      this.vcpus.set(vcpuId, v);
    }
    return v;
  }

  /** VMGEXIT with an MSR-protocol request in the GHCB MSR (sev_handle_vmgexit_msr_protocol). */
  vmgexitMsr(vcpuId: number, msr: Word64): GhcbMsrResult {
    const v = this.vcpu(vcpuId);
    const r = sevHandleVmgexitMsrProtocol(
      {
        snpActive: this.sev.snpActive,
        ghcbVersion: this.sev.ghcbVersion,
        cbit: this.cbit.position,
        exitHypercallEnabled: this.hypercallExitEnabled,
      },
      msr,
    );
    if (r.kind === 'resume' && r.registeredGpa !== undefined) v.ghcbRegisteredGpa = r.registeredGpa;
    if (r.kind === 'hypercall') v.pending = 'psc_msr';
    return r;
  }

  /** KVM_RUN after the MSR-protocol PSC exit: the GHCB MSR answer (snp_complete_psc_msr). */
  completePscMsr(vcpuId: number, ret: number): Word64 {
    this.vcpu(vcpuId).pending = null;
    return snpCompletePscMsr(ret);
  }

  /** VMGEXIT(SVM_VMGEXIT_PSC) with the GHCB at `ghcbGpa` holding `psc` (snp_begin_psc). */
  vmgexitPsc(vcpuId: number, ghcbGpa: number, psc: PscBuffer): PscResult {
    const v = this.vcpu(vcpuId);
    const r = snpVmgexitPsc(this.hypercallExitEnabled, ghcbGpa, v.ghcbRegisteredGpa, v.psc, psc);
    v.pscBuffer = r.kind === 'hypercall' ? psc : null;
    v.pending = r.kind === 'hypercall' ? 'psc' : null;
    return r;
  }

  /** KVM_RUN after a PSC-buffer exit (snp_complete_one_psc): the next exit, or done. */
  completePsc(vcpuId: number, ret: number): PscResult {
    const v = this.vcpu(vcpuId);
    const psc = v.pscBuffer;
    if (psc === null || v.pending !== 'psc') return { kind: 'error', errno: -EINVAL };
    const r = snpCompleteOnePsc(this.hypercallExitEnabled, v.psc, psc, ret);
    if (r.kind !== 'hypercall') {
      v.pscBuffer = null;
      v.pending = null;
    }
    return r;
  }

  // ---- checks -----------------------------------------------------------------------------

  /** The RMP invariant over this VM's NPT leaves (empty when it holds; always for SEV/ES). */
  checkRmp(mappings: Iterable<NptMapping>): RmpViolation[] {
    if (!this.sev.snpActive) return [];
    return checkRmpInvariant(this.rmp, this.sev.asid, mappings);
  }

  /** `check` with `root: rmp` for the private frame `pfn` behind `gpa`. */
  rmpView(gpa: number, pfn: number): RmpCheckView {
    return rmpCheckView(this.rmp, this.sev.asid, gpa, pfn);
  }

  // ---- events -----------------------------------------------------------------------------

  /** Runs `fn` with this VM's RMP events forwarded to the bus (the RMP is host-wide). */
  private traced<T>(fn: () => T): T {
    const emit = this.ctx.emit;
    if (!this.tracing || emit === null) return fn();
    this.rmp.setListener((e) => emit(rmpVendorEvent(e)));
    try {
      return fn();
    } finally {
      this.rmp.setListener(null);
    }
  }
}

/**
 * An RMP event in the vendor event shape (`pfn`, `gfn`, `level` as ops.ts declares them),
 * with the rest of CONTRACTS' rmp fields (gpa, pageSize, validated, asid, immutable, vmsa, by).
 */
export function rmpVendorEvent(e: RmpEvent) {
  return {
    type: 'rmp' as const,
    op: e.op,
    by: e.by,
    pfn: hex(e.pfn),
    gfn: hex(Math.floor(e.gpa / 4096)),
    gpa: hex(e.gpa),
    assigned: e.assigned,
    level: e.pageSize,
    pageSize: e.pageSize,
    validated: e.validated,
    asid: e.asid,
    immutable: e.immutable,
    vmsa: e.vmsa,
  };
}
