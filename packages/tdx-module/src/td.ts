// Per-TD and per-vCPU state the module keeps (TDR + TDCS, TDVPR + TDVPS), reduced to the fields
// the model uses. Models intel/tdx-module src/common/data_structures/td_control_structures.h
// (tdr_t, tdcs_t) and tdx_tdvps.h (tdvps_t); tdx-module.md §8.

import type { PagingTree } from '@kvmx/paging';
import { Mrtd } from './mrtd.js';
import { OpState, TdLifecycle, VcpuState } from './td-state.js';

/** A TD: its TDR fields and, once the TDCS exists, the TDCS fields. Keyed by TDR PFN. */
export class Td {
  readonly tdrPfn: number;
  hkid: number;
  lifecycle: number = TdLifecycle.TD_HKID_ASSIGNED;
  fatal = false;
  /** Bit per package where TDH.MNG.KEY.CONFIG ran. */
  pkgConfigBitmap = 0;
  /** TDR.CHLDCNT: 4K units of all child pages. */
  chldcnt = 0;
  /** PFNs of the TDCS pages, in TDH.MNG.ADDCX order. */
  readonly tdcx: number[] = [];
  opState: number = OpState.UNINITIALIZED;
  numVcpus = 0;
  numAssocVcpus = 0;
  maxVcpus = 0;
  /** TDCS.TD_EPOCH (1 after TDH.MNG.INIT). */
  tdEpoch = 0;
  /** TDCS.REFCOUNT[2]: vCPUs inside the TD per epoch parity. */
  readonly refcount = new Int32Array(2);
  /** ATTRIBUTES (low and high 32 bits). */
  attributesLo = 0;
  attributesHi = 0;
  xfamLo = 0;
  xfamHi = 0;
  /** GPAW: 48 or 52 (TD_PARAMS.CONFIG_FLAGS.GPAW). */
  gpaw: 48 | 52 = 48;
  /** S-EPT root level in module numbering: 3 (4-level) or 4 (5-level). */
  septRootLevel = 3;
  tscFrequency = 0;
  readonly mrtd = new Mrtd();
  /** The L1 Secure-EPT (a @kvmx/paging tree rooted at TDCS page 3), from TDH.MNG.INIT on. */
  sept: PagingTree | null = null;
  /** TDVPR PFNs of this TD's vCPUs. */
  readonly vcpus = new Set<number>();

  constructor(tdrPfn: number, hkid: number) {
    this.tdrPfn = tdrPfn;
    this.hkid = hkid;
  }

  /** TD ATTRIBUTES bit 28: SEPT_VE_DISABLE. */
  get septVeDisable(): boolean {
    return (this.attributesLo & (1 << 28)) !== 0;
  }
  /** The PFN of the L1 S-EPT root (TDCS page 3), or -1 before the TDCS exists. */
  get septRoot(): number {
    return this.tdcx[3] ?? -1;
  }
}

/** How a TD exit ended the last TDH.VP.ENTER (TDVPS last_td_exit and the exit registers). */
export interface TdExit {
  /** VMX basic exit reason (bits 31:0 of the VP.ENTER status). */
  readonly reason: number;
  readonly exitQualification: number;
  /** Extended exit qualification (type in bits 3:0: 1 ACCEPT, 6 PENDING_EPT_VIOLATION). */
  readonly extExitQualification: number;
  /** Faulting GPA (EPT violations). */
  readonly gpa: number;
  /** TDG.VP.VMCALL registers R10..R13 the guest exposed, when the exit is a TDVMCALL. */
  readonly vmcall: {
    readonly r10: number;
    readonly r11: number;
    readonly r12: number;
    readonly r13: number;
  } | null;
}

/** A vCPU: TDVPR + TDVPS. Keyed by TDVPR PFN. */
export class Vcpu {
  readonly tdvprPfn: number;
  readonly td: Td;
  state: number = VcpuState.VCPU_UNINITIALIZED;
  /** TDVPS pages including the TDVPR itself. */
  readonly pages: number[];
  /** Logical processor the vCPU is associated with, -1 for none. */
  assocLp = -1;
  vcpuIndex = -1;
  x2apicId = -1;
  /** Initial guest RCX (TDH.VP.INIT RDX). */
  initRcx = 0;
  /** The TD epoch this vCPU entered with. */
  vcpuEpoch = 0;
  /** Inside the TD (between VP.ENTER and its TD exit). */
  inGuest = false;
  /** The exit that ended the last VP.ENTER. */
  lastExit: TdExit | null = null;
  /** R10/R11 the host passed back at the VP.ENTER after a TDVMCALL exit (TDVMCALL status). */
  vmcallReturnR10 = 0;
  vmcallReturnR10Hi = 0;
  vmcallReturnR11 = 0;
  /** TD VMCS fields the host wrote with TDH.VP.WR (class 0), by field id. */
  readonly vmcs = new Map<bigint, bigint>();

  constructor(tdvprPfn: number, td: Td) {
    this.tdvprPfn = tdvprPfn;
    this.td = td;
    this.pages = [tdvprPfn];
  }
}
