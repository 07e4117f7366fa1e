// A vCPU: each guest operation is one KVM_RUN. The guest touches memory through the EPT the
// hardware would walk (the direct root; for a TD's private GPAs the private EPT), an EPT
// violation enters kvm_mmu_page_fault(), and the run stops at the first exit to userspace.
// An operation stopped by an exit is continued by resume(), like re-entering KVM_RUN.
// Sources: arch/x86/kvm/x86.c (vcpu_run, kvm_emulate_hypercall, complete_hypercall_exit),
// arch/x86/kvm/vmx/vmx.c / common.h (__vmx_handle_ept_violation), arch/x86/kvm/mmu/mmu.c
// (kvm_mmu_page_fault); kvm-mmu.md §1.11, §2.9.

import {
  canonicalGfn,
  hex,
  isAddrDirect,
  PAGE_SIZE,
  PG_LEVEL_2M,
  type PgLevel,
  pageOffset,
  type Word64,
} from '@kvmx/address';
import { EPT_MMIO, isMmioSpte, isWritablePte, TDX_MMIO } from '@kvmx/paging';
import {
  EXIT_REASON_EPT_VIOLATION,
  EXT_EXIT_QUAL_TYPE_PENDING_EPT_VIOLATION,
  formatStatus,
  isSuccess,
  SeamRegs,
  statusName,
  type TdExit,
} from '@kvmx/tdx-module';
import {
  EBADF,
  EBUSY,
  EINVAL,
  EIO,
  type GhcbMsrResult,
  ghcbMsrPscRespVal,
  ghcbMsrRegGpaReq,
  KVM_ENOSYS,
  KVM_EXIT_HYPERCALL_LONG_MODE,
  KVM_HC_MAP_GPA_RANGE,
  KVM_MAP_GPA_RANGE_DECRYPTED,
  KVM_MAP_GPA_RANGE_ENCRYPTED,
  KVM_MAP_GPA_RANGE_PAGE_SZ_4K,
  kvmHcMapGpaRange,
  type MapGpaStep,
  needsRmpFaultHandling,
  PFERR_GUEST_FINAL_MASK,
  PFERR_PRESENT_MASK,
  PFERR_WRITE_MASK,
  type PscResult,
  RMP_ACCESS_OK,
  RMP_ACCESS_VC,
  type SevOps,
  type SnpPscRequest,
  SVM_EXIT_VC_PAGE_NOT_VALIDATED,
  snpGuestPvalidateRange,
  snpMapGpaRequests,
  TD_STATE_RUNNABLE,
  TDVMCALL_STATUS_RETRY,
  type TdvmcallStatus,
  TdxMapGpa,
  type TdxOps,
  type TdxVcpu,
  tdvmcallStatusName,
} from '@kvmx/vendor-ops';
import { exitFields, exitReasonName, type KvmExit } from './exit.js';
import { kvmMmuDoPageFault } from './fault.js';
import type { Kvm } from './kvm.js';
import { RET_PF_EMULATE } from './tdp-mmu.js';
import {
  KVM_EXIT_HYPERCALL,
  KVM_EXIT_MEMORY_FAULT,
  KVM_EXIT_MMIO,
  KVM_EXIT_SYSTEM_EVENT,
} from './uapi.js';

/** The outcome of one KVM_RUN. */
export interface RunResult {
  /** KVM_RUN's return value: 0, or a negative errno (-EFAULT for a memory-fault exit). */
  readonly ret: number;
  /** The exit to userspace, or null when the guest operation completed. */
  readonly exit: KvmExit | null;
  /** For a completed read: the bytes the guest read. */
  readonly data?: Uint8Array;
  /** For a completed hypercall: the value the guest got in RAX. */
  readonly hypercallRet?: number;
  /** TDX: the guest took a #VE on a PENDING page at this GPA (no exit; accept, then resume). */
  readonly ve?: number;
  /** TDX: the status of the guest's last TDCALL (TDG.MEM.PAGE.ACCEPT). */
  readonly status?: string;
  /** TDX: what a TDG.VP.VMCALL<MapGPA> returned to the guest (R10 name, R11). */
  readonly tdvmcall?: { readonly status: string; readonly r11: number };
  /**
   * SNP: the guest took a #VC with this error code (0x404, PAGE_NOT_VALIDATED) at `vcGpa`:
   * a private access to a page it has not PVALIDATEd. Fatal for a Linux guest; no exit.
   */
  readonly vc?: number;
  readonly vcGpa?: number;
  /** SNP: a PVALIDATE failed with this return code at `pvalidateGpa` (a Linux guest then terminates). */
  readonly pvalidateRc?: number;
  readonly pvalidateGpa?: number;
  /** SNP: a completed PVALIDATE pass: the instructions that succeeded, by page size. */
  readonly pvalidated?: { readonly pages4k: number; readonly pages2m: number };
  /** SNP: a page-state change came back with this error (GHCB MSR value or SW_EXITINFO2). */
  readonly pscError?: number;
  /** SEV-ES/SNP: the GHCB MSR value a VMGEXIT of the MSR protocol returned to the guest. */
  readonly ghcbMsr?: Word64;
}

/** Options of a guest access. */
export interface AccessOptions {
  /**
   * What the guest meant: TDX sets or clears the shared bit in the GPA for it; SNP sets or
   * clears the C-bit (the ENC bit of a fault; left out, the guest uses the C-bit the page's
   * current attributes call for); SW_PROTECTED ignores it (the attributes decide).
   */
  readonly private?: boolean;
}

type Step = () => RunResult;

// SeamRegs indexes of R10 and R11 (REG_NAMES order); @kvmx/tdx-module does not export them.
const REG_R10 = 10;
const REG_R11 = 11;

const MAX_FAULT_RETRIES = 8;

/** accept()'s result when every page was accepted (immutable, so one object serves all). */
const ACCEPT_COMPLETED: RunResult = Object.freeze({ ret: 0, exit: null, status: 'TDX_SUCCESS' });

export class Vcpu {
  readonly kvm: Kvm;
  readonly id: number;
  /** KVM_REQ_OUTSIDE_GUEST_MODE kicks received (TDX zaps force vCPUs out). */
  kicks = 0;
  /** TDX: the guest answers a #VE on a PENDING page with TDG.MEM.PAGE.ACCEPT itself. */
  autoAccept = false;
  /** kvm_vcpu_has_events(): an interrupt is pending (TDX MapGPA then returns RETRY). */
  pendingInterrupt = false;
  /** The guest operation an exit interrupted, continued by resume(). */
  private pending: Step | null = null;
  /** Why the pending operation stopped. */
  private pendingKind: 'exit' | 've' | null = null;
  /** TDX: the vCPU is inside the TD (between TDH.VP.ENTER and the TD exit). */
  private inTd = false;
  /** TDX: the hardware fault handleTdExit() classifies (reused). */
  private readonly tdFault = { gpa: 0, errorCode: 0 };
  private readonly memIsPrivate = (gfn: number): boolean => this.kvm.memIsPrivate(gfn);
  /** TDX: the register file of TDH.VP.ENTER (reused; the module copies what it keeps). */
  private readonly enterRegs = new SeamRegs();
  private enterRegsDirty = false;
  /** TDX: the TDVMCALL answer KVM passes in R10/R11 at the next TDH.VP.ENTER. */
  private vmcallReturn: { status: TdvmcallStatus; r11: number } | null = null;
  /** A hypercall waiting for userspace's kvm_run.hypercall.ret. */
  private pendingHypercall: ((ret: number) => void) | null = null;

  constructor(kvm: Kvm, id: number) {
    this.kvm = kvm;
    this.id = id;
  }

  /** True while an exit is waiting for resume(). */
  get hasPendingExit(): boolean {
    return this.pending !== null;
  }

  // ---- guest operations ------------------------------------------------------------------

  /** The guest writes `size` bytes of `byte` at gpa. */
  write(gpa: number, size: number, byte: number, options: AccessOptions = {}): RunResult {
    const data = new Uint8Array(size).fill(byte & 0xff);
    return this.start(
      this.accessStep(this.guestGpa(gpa, options), size, true, data, options.private),
    );
  }

  /** The guest writes `data` at gpa. */
  writeBytes(gpa: number, data: Uint8Array, options: AccessOptions = {}): RunResult {
    return this.start(
      this.accessStep(this.guestGpa(gpa, options), data.length, true, data, options.private),
    );
  }

  /** The guest reads `size` bytes at gpa. */
  read(gpa: number, size: number, options: AccessOptions = {}): RunResult {
    return this.start(
      this.accessStep(
        this.guestGpa(gpa, options),
        size,
        false,
        new Uint8Array(size),
        options.private,
      ),
    );
  }

  /**
   * A hypercall (KVM_HC_MAP_GPA_RANGE is the one modelled): exits to userspace when the exit
   * is enabled; resume({ret}) completes it.
   */
  hypercall(nr: number, a0: number, a1: number, a2: number): RunResult {
    return this.start(this.hypercallStep(nr, a0, a1, a2));
  }

  /**
   * The guest asks to convert [gpa, gpa+size): KVM_HC_MAP_GPA_RANGE with KVM's standard
   * attributes (ENCRYPTED for private, 4K page size) for SW_PROTECTED and default VMs.
   */
  mapGpa(gpa: number, size: number, shared: boolean): RunResult {
    const sev = this.kvm.sev;
    if (sev?.sev.snpActive) return this.start(this.snpMapGpaStep(sev, gpa, size, shared));
    if (this.kvm.tdx !== null) {
      const bits = this.kvm.gfnDirectBits * PAGE_SIZE;
      const canonical = canonicalGfn(this.kvm, gpa) * PAGE_SIZE + (gpa % PAGE_SIZE);
      return this.start(this.tdxMapGpaStep(shared ? canonical + bits : canonical, size));
    }
    const attrs =
      (shared ? KVM_MAP_GPA_RANGE_DECRYPTED : KVM_MAP_GPA_RANGE_ENCRYPTED) |
      KVM_MAP_GPA_RANGE_PAGE_SZ_4K;
    return this.hypercall(KVM_HC_MAP_GPA_RANGE, gpa, size / PAGE_SIZE, attrs);
  }

  /** KVM_RUN after an exit: continue the interrupted operation (`ret` answers a hypercall). */
  resume(ret = 0): RunResult {
    const step = this.pending;
    if (step === null) return { ret: 0, exit: null };
    this.pending = null;
    this.pendingKind = null;
    if (this.pendingHypercall !== null) {
      const complete = this.pendingHypercall;
      this.pendingHypercall = null;
      complete(ret);
    }
    return this.run(step);
  }

  // ---- machinery ------------------------------------------------------------------------

  /** The GPA the guest puts on the bus for an access with the given intent. */
  guestGpa(gpa: number, options: AccessOptions): number {
    const bits = this.kvm.gfnDirectBits;
    if (bits === 0 || options.private === undefined) return gpa;
    const canonical = canonicalGfn(this.kvm, gpa) * PAGE_SIZE + (gpa % PAGE_SIZE);
    return options.private ? canonical : canonical + bits * PAGE_SIZE;
  }

  private start(step: Step, duringVe = false): RunResult {
    if (this.refused(duringVe)) return { ret: -EBUSY, exit: null };
    return this.run(step, this.pending !== null);
  }

  /**
   * Another operation while an exit waits for resume() is refused (CONTRACTS: bad input);
   * only TDG.MEM.PAGE.ACCEPT may run while a #VE is pending (the guest's #VE handler).
   */
  private refused(duringVe: boolean): boolean {
    return this.pending !== null && !(duringVe && this.pendingKind === 've');
  }

  private run(step: Step, nested = false): RunResult {
    if (!this.kvm.vmFdOpen) return { ret: -EBADF, exit: null };
    if (this.kvm.bugs.length > 0 || this.kvm.dead !== null) return { ret: -EIO, exit: null };
    const r = step();
    this.leaveTd();
    if (nested) return r;
    if (r.exit !== null || r.ve !== undefined) {
      this.pending = step;
      this.pendingKind = r.exit !== null ? 'exit' : 've';
      if (r.exit !== null) this.emitExit(r.exit);
    }
    return r;
  }

  private emitExit(exit: KvmExit): void {
    const ev = this.kvm.events;
    if (!ev.active) return;
    ev.emit({ type: 'exit', vcpu: this.id, reason: exitReasonName(exit), ...exitFields(exit) });
  }

  /** A resumable access: `done` advances across exits. */
  private accessStep(
    gpa: number,
    size: number,
    write: boolean,
    buf: Uint8Array,
    priv?: boolean,
  ): Step {
    let done = 0;
    return () => {
      while (done < size) {
        const addr = gpa + done;
        const off = addr % PAGE_SIZE;
        const n = Math.min(PAGE_SIZE - off, size - done);
        const chunk = buf.subarray(done, done + n);
        const r = this.accessPage(addr - off, off, n, write, chunk, priv);
        if (r !== null) {
          // An emulated MMIO access completes when userspace re-enters: a read gets the
          // kvm_run.mmio.data userspace leaves (zeros here), the operation moves on.
          if (r.exit?.reason === KVM_EXIT_MMIO) {
            if (!write) chunk.fill(0);
            done += n;
          }
          return r;
        }
        done += n;
      }
      return write ? { ret: 0, exit: null } : { ret: 0, exit: null, data: buf };
    };
  }

  /**
   * One page of a guest access: translate through the EPT the hardware uses; on a miss take
   * an EPT violation into kvm_mmu_page_fault() and retry. Returns null when the bytes moved,
   * or the run's result when it must stop.
   */
  private accessPage(
    pageGpa: number,
    off: number,
    n: number,
    write: boolean,
    chunk: Uint8Array,
    priv?: boolean,
  ): RunResult | null {
    const kvm = this.kvm;
    const tdx = kvm.tdx;
    if (tdx !== null && !isAddrDirect(kvm, pageGpa)) {
      return this.tdxPrivateAccess(tdx, pageGpa, off, n, write, chunk);
    }
    const sev = kvm.sev;
    if (sev?.sev.snpActive) {
      const enc = priv ?? kvm.memIsPrivate(pageGpa / PAGE_SIZE);
      return this.snpAccess(sev, pageGpa, off, n, write, chunk, enc);
    }
    for (let tries = 0; tries < MAX_FAULT_RETRIES; tries++) {
      const t = this.translate(pageGpa);
      if (t.kind === 'mmio') return this.mmioExit(pageGpa + off, n, write);
      if (t.kind === 'mapped' && (!write || t.writable)) {
        if (write) kvm.pool.write(t.pfn, off, chunk);
        else kvm.pool.read(t.pfn, off, n, chunk);
        return null;
      }
      // EPT violation: the vendor classifies it (PFERR_PRIVATE_ACCESS) and KVM handles it.
      this.leaveTd();
      let hw = PFERR_GUEST_FINAL_MASK;
      if (write) hw += PFERR_WRITE_MASK;
      if (t.kind === 'mapped') hw += PFERR_PRESENT_MASK;
      const code = kvm.ops.faultErrorCode({ gpa: pageGpa, errorCode: hw }, (gfn) =>
        kvm.memIsPrivate(gfn),
      );
      const out = kvmMmuDoPageFault(kvm, this, pageGpa, code);
      if (out.memoryFault) {
        const exit: KvmExit = { reason: KVM_EXIT_MEMORY_FAULT, ...out.memoryFault };
        return { ret: out.ret, exit };
      }
      if (out.ret < 0) return { ret: out.ret, exit: null };
      if (out.ret === RET_PF_EMULATE) return this.mmioExit(pageGpa + off, n, write);
    }
    kvm.kvmBug(`vCPU ${this.id}: fault at ${hex(pageGpa)} did not resolve`);
    return { ret: -EIO, exit: null };
  }

  /** Emulated MMIO: KVM_EXIT_MMIO with the canonical GPA (TDX strips the shared bit). */
  private mmioExit(gpa: number, len: number, isWrite: boolean): RunResult {
    const canonical = canonicalGfn(this.kvm, gpa) * PAGE_SIZE + (gpa % PAGE_SIZE);
    return { ret: 0, exit: { reason: KVM_EXIT_MMIO, gpa: canonical, len, isWrite } };
  }

  // ---- SNP guest paths -------------------------------------------------------------------

  /**
   * An SNP guest access through the NPT: the hardware walks the one (direct) root, then makes
   * the RMP checks with the access's C-bit. A miss or an RMP violation is an #NPF: the vendor
   * classifies it (private iff ENC, svm.c npf_interception()), kvm_mmu_page_fault() handles
   * it, and an RMP fault then goes to sev_handle_rmp_fault() (PSMASH on a size mismatch). An
   * unvalidated private page raises #VC(PAGE_NOT_VALIDATED) in the guest: the run stops.
   */
  private snpAccess(
    sev: SevOps,
    pageGpa: number,
    off: number,
    n: number,
    write: boolean,
    chunk: Uint8Array,
    enc: boolean,
  ): RunResult | null {
    const kvm = this.kvm;
    for (let tries = 0; tries < MAX_FAULT_RETRIES; tries++) {
      const t = this.translate(pageGpa);
      if (t.kind === 'mmio') return this.mmioExit(pageGpa + off, n, write);
      let hw = PFERR_GUEST_FINAL_MASK + (write ? PFERR_WRITE_MASK : 0);
      if (t.kind === 'mapped') {
        if (!write || t.writable) {
          const rc = sev.checkGuestAccess(pageGpa, t.pfn, t.level, { enc, write });
          if (rc === RMP_ACCESS_OK) {
            if (write) kvm.pool.write(t.pfn, off, chunk);
            else kvm.pool.read(t.pfn, off, n, chunk);
            return null;
          }
          if (rc === RMP_ACCESS_VC) {
            return { ret: 0, exit: null, vc: SVM_EXIT_VC_PAGE_NOT_VALIDATED, vcGpa: pageGpa };
          }
          hw = rc;
        } else {
          hw += PFERR_PRESENT_MASK;
        }
      }
      const r = this.snpNpf(sev, pageGpa, hw, enc);
      if (r !== null) return r;
    }
    return this.stuck(pageGpa);
  }

  /**
   * #VMEXIT(NPF) of an SNP guest: models svm.c npf_interception() — kvm_mmu_page_fault() with
   * PFERR_PRIVATE_ACCESS iff ENC, then sev_handle_rmp_fault() when the error code has the RMP
   * bit. Returns the run's result when it must stop, null to re-enter the guest.
   */
  private snpNpf(sev: SevOps, pageGpa: number, hw: number, enc: boolean): RunResult | null {
    const kvm = this.kvm;
    const code = kvm.ops.faultErrorCode({ gpa: pageGpa, errorCode: hw, enc }, (g) =>
      kvm.memIsPrivate(g),
    );
    const out = kvmMmuDoPageFault(kvm, this, pageGpa, code);
    if (out.memoryFault) {
      return { ret: out.ret, exit: { reason: KVM_EXIT_MEMORY_FAULT, ...out.memoryFault } };
    }
    if (out.ret < 0) return { ret: out.ret, exit: null };
    if (out.ret === RET_PF_EMULATE) return this.mmioExit(pageGpa, 1, false);
    if (needsRmpFaultHandling(out.ret, code)) {
      sev.handleRmpFault(pageGpa, {
        memIsPrivate: (g) => kvm.memIsPrivate(g),
        slotCanBePrivate: (g) => kvm.gfnToMemslot(g)?.canBePrivate === true,
        gmemGetPfn: (g) => {
          const slot = kvm.gfnToMemslot(g);
          if (slot === undefined) return -EINVAL;
          const got = kvm.gmemGetPfn(slot, g);
          return 'errno' in got ? got.errno : got.pfn;
        },
        zapGfnRange: (start, end) => {
          kvm.mmuInvalidateSeq++;
          kvm.mmu.zapLeafsAllRoots(start, end);
        },
      });
    }
    return null;
  }

  /**
   * The guest PVALIDATEs [gpa, gpa+size) (4K-aligned) to `validate`, as a Linux guest does
   * (2M where the range allows, 4K after FAIL_SIZEMISMATCH). PVALIDATE is a private access:
   * a page not mapped yet takes an #NPF with ENC set and is faulted in first (CONTRACTS §2);
   * an RMP #NPF goes through sev_handle_rmp_fault(); then the instruction is retried. Any
   * other failure (including NOUPDATE) stops the run with `pvalidateRc`.
   */
  pvalidate(gpa: number, size: number, validate: boolean): RunResult {
    const sev = this.kvm.sev;
    if (!sev?.sev.snpActive) return { ret: -EINVAL, exit: null };
    if (gpa % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0) return { ret: -EINVAL, exit: null };
    let cur = gpa;
    const end = gpa + size;
    let pages4k = 0;
    let pages2m = 0;
    const step: Step = () => {
      const bound = (2 * (end - cur)) / PAGE_SIZE + MAX_FAULT_RETRIES;
      for (let tries = 0; cur < end; tries++) {
        if (tries >= bound) return this.stuck(cur);
        const out = snpGuestPvalidateRange(cur, end - cur, (g, level) => {
          const t = this.translate(g);
          if (t.kind !== 'mapped') {
            return { kind: 'npf', gpa: g, errorCode: PFERR_GUEST_FINAL_MASK };
          }
          const r = sev.pvalidate(g, t.pfn, level, validate);
          if (r.kind === 'rc' && r.rc === 0 && !r.cf) {
            if (level === PG_LEVEL_2M) pages2m++;
            else pages4k++;
          }
          return r;
        });
        if (out.kind === 'done') {
          cur = end;
          break;
        }
        if (out.kind === 'fail') {
          return { ret: 0, exit: null, pvalidateRc: out.rc, pvalidateGpa: out.gpa };
        }
        // Pages before the #NPF are done; KVM resolves the fault and the guest retries.
        const r = this.snpNpf(sev, out.gpa - (out.gpa % PAGE_SIZE), out.errorCode, true);
        if (r !== null) return r;
        cur = out.gpa;
      }
      return { ret: 0, exit: null, pvalidated: { pages4k, pages2m } };
    };
    return this.start(step);
  }

  /**
   * The guest's page-state change of [gpa, gpa+size) as an SNP guest makes it (CONTRACTS §2):
   * one page through the GHCB MSR protocol, more through GHCB PSC buffers (snpMapGpaRequests).
   * Each request becomes KVM_EXIT_HYPERCALL(KVM_HC_MAP_GPA_RANGE) exits; resume(ret) answers
   * one (snp_complete_psc_msr / snp_complete_one_psc). A failed request ends the operation
   * with `pscError` (a Linux guest then terminates).
   */
  private snpMapGpaStep(sev: SevOps, gpa: number, size: number, shared: boolean): Step {
    const reqs = snpMapGpaRequests(gpa, size, shared);
    let i = 0;
    /** The outcome of completing a PSC buffer exit, consumed on re-entry. */
    let next: PscResult | null = null;
    let failed: number | null = null;
    return () => {
      while (i < reqs.length) {
        if (failed !== null) return { ret: 0, exit: null, pscError: failed };
        const req = reqs[i] as SnpPscRequest;
        let r: PscResult | GhcbMsrResult;
        if (next !== null) {
          r = next;
          next = null;
        } else if (req.kind === 'msr') {
          r = sev.vmgexitMsr(this.id, req.msr);
        } else {
          const ghcbGpa = this.snpGhcbGpa(sev);
          r = sev.vmgexitPsc(this.id, ghcbGpa, req.buffer);
        }
        switch (r.kind) {
          case 'hypercall':
            this.pendingHypercall = (ret) => {
              if (req.kind === 'msr') {
                const resp = sev.completePscMsr(this.id, ret);
                if (ghcbMsrPscRespVal(resp) !== 0) failed = ghcbMsrPscRespVal(resp);
                i++;
              } else {
                next = sev.completePsc(this.id, ret);
              }
            };
            return {
              ret: 0,
              exit: { reason: KVM_EXIT_HYPERCALL, nr: r.nr, args: r.args, flags: 0 },
            };
          case 'resume': {
            const val = ghcbMsrPscRespVal(r.msr);
            if (val !== 0) return { ret: 0, exit: null, pscError: val };
            i++;
            break;
          }
          case 'done':
            if (r.exitInfo2 !== 0) return { ret: 0, exit: null, pscError: r.exitInfo2 };
            i++;
            break;
          case 'error':
            return { ret: r.errno, exit: null };
          case 'system_event':
            return {
              ret: 0,
              exit: {
                reason: KVM_EXIT_SYSTEM_EVENT,
                eventType: r.type,
                data: r.data.map((w) => w.hi * 2 ** 32 + w.lo),
              },
            };
        }
      }
      if (failed !== null) return { ret: 0, exit: null, pscError: failed };
      return { ret: 0, exit: null };
    };
  }

  /**
   * VMGEXIT with `msr` in the GHCB MSR (the MSR protocol: REG_GPA, PSC, TERM_REQ …): models
   * sev.c sev_handle_vmgexit_msr_protocol(). Returns the value the guest reads back in the
   * GHCB MSR (`ghcbMsr`), or the exit (TERM_REQ: KVM_EXIT_SYSTEM_EVENT, SEV_TERM).
   */
  vmgexitMsr(msr: Word64): RunResult {
    const sev = this.kvm.sev;
    if (sev === null || sev.vmType === 'sev') return { ret: -EINVAL, exit: null };
    return this.start(() => {
      const r = sev.vmgexitMsr(this.id, msr);
      switch (r.kind) {
        case 'resume':
          return { ret: 0, exit: null, ghcbMsr: r.msr };
        case 'system_event':
          return {
            ret: 0,
            exit: {
              reason: KVM_EXIT_SYSTEM_EVENT,
              eventType: r.type,
              data: r.data.map((w) => w.hi * 2 ** 32 + w.lo),
            },
          };
        default:
          // A PSC request: use mapGpa(), which completes it.
          return { ret: -EINVAL, exit: null };
      }
    });
  }

  /**
   * The GPA of this vCPU's GHCB, registered with the MSR protocol's REG_GPA the first time a
   * PSC buffer is needed (a Linux guest registers it at boot). The GHCB page itself is not
   * modelled in guest memory: the model picks GFN 1 + vCPU id.
   */
  private snpGhcbGpa(sev: SevOps): number {
    const v = sev.vcpu(this.id);
    if (v.ghcbRegisteredGpa === null) sev.vmgexitMsr(this.id, ghcbMsrRegGpaReq(1 + this.id));
    return v.ghcbRegisteredGpa ?? (1 + this.id) * PAGE_SIZE;
  }

  // ---- TDX guest paths -------------------------------------------------------------------

  /**
   * TDG.MEM.PAGE.ACCEPT of [gpa, gpa+size), 4K at a time (the guest's tdx_accept_memory()).
   * An EPT-violation TD exit (the page is not AUGed yet) goes through KVM's fault path and the
   * TDCALL is re-executed. Stops at the first page whose status is not TDX_SUCCESS.
   */
  accept(gpa: number, size = PAGE_SIZE): RunResult {
    const tdx = this.kvm.tdx;
    if (tdx === null) return { ret: -EINVAL, exit: null };
    // The operation's state lives in the vCPU, not in a closure per call: one accept at a time
    // can be in progress (another is refused while it waits for resume(), before it touches
    // that state; one nested in a #VE never outlives its call), as one TDCALL at a time is on
    // a real vCPU.
    if (this.refused(true)) return { ret: -EBUSY, exit: null };
    this.acceptBase = canonicalGfn(this.kvm, gpa) * PAGE_SIZE;
    this.acceptSize = size;
    this.acceptDone = 0;
    this.acceptLast = 'TDX_SUCCESS';
    return this.start(this.acceptStep, true);
  }

  private acceptBase = 0;
  private acceptSize = 0;
  private acceptDone = 0;
  private acceptLast = 'TDX_SUCCESS';
  private readonly acceptStep: Step = () => this.acceptPages();

  /** accept()'s resumable step: `acceptDone` advances across exits. */
  private acceptPages(): RunResult {
    const tdx = this.kvm.tdx as TdxOps;
    while (this.acceptDone < this.acceptSize) {
      const page = this.acceptBase + this.acceptDone;
      for (let tries = 0; ; tries++) {
        if (tries >= MAX_FAULT_RETRIES) return this.stuck(page);
        const entered = this.enterTd(tdx);
        if (entered !== null) return entered;
        const out = tdx.module.tdgMemPageAccept(this.tdvpr(tdx), page, 0);
        if (out.kind === 'status') {
          if (isSuccess(out.status)) {
            this.acceptLast = 'TDX_SUCCESS';
            break;
          }
          this.acceptLast = statusName(out.status.hi) ?? formatStatus(out.status);
          return { ret: 0, exit: null, status: this.acceptLast };
        }
        this.inTd = false;
        const r = this.handleTdExit(tdx, out.exit);
        if (r !== null) return r;
      }
      this.acceptDone += PAGE_SIZE;
    }
    return this.acceptLast === 'TDX_SUCCESS'
      ? ACCEPT_COMPLETED
      : { ret: 0, exit: null, status: this.acceptLast };
  }

  /** The TDVPR of this vCPU's TD side. */
  private tdvpr(tdx: TdxOps): number {
    return this.tdxVcpu(tdx)?.tdvpr ?? -1;
  }

  /** This vCPU's TDX record (TdxOps.vcpus remembers its last lookup). */
  private tdxVcpu(tdx: TdxOps): TdxVcpu | undefined {
    return tdx.vcpus.get(this.id);
  }

  /**
   * TDH.VP.ENTER unless already inside: models tdx.c tdx_vcpu_pre_run() (TD runnable, vCPU
   * initialized) and the VP.ENTER that passes a TDVMCALL's answer in R10/R11.
   */
  private enterTd(tdx: TdxOps): RunResult | null {
    if (this.inTd) return null;
    const rec = this.tdxVcpu(tdx);
    if (tdx.state !== TD_STATE_RUNNABLE || rec === undefined || !rec.initialized) {
      return { ret: -EINVAL, exit: null };
    }
    // VP.ENTER's inputs: RCX (the TDVPR, which enterGuest sets) and, after a TDVMCALL, R10/R11;
    // the registers are zeroed again only after they carried R10/R11.
    const regs = this.enterRegs;
    if (this.enterRegsDirty) {
      regs.clear();
      this.enterRegsDirty = false;
    }
    if (this.vmcallReturn !== null) {
      regs.setWord(REG_R10, this.vmcallReturn.status.lo, this.vmcallReturn.status.hi);
      regs.set(REG_R11, this.vmcallReturn.r11);
      this.vmcallReturn = null;
      this.enterRegsDirty = true;
    }
    this.pendingInterrupt = false; // delivered on entry
    const st = tdx.module.enterGuest(rec.tdvpr, regs);
    if (!isSuccess(st)) {
      this.kvm.kvmBug(`TDH.VP.ENTER failed: ${formatStatus(st)}`);
      return { ret: -EIO, exit: null };
    }
    this.inTd = true;
    return null;
  }

  /** Leave the TD between operations (an external-interrupt TD exit). */
  private leaveTd(): void {
    if (!this.inTd) return;
    const tdx = this.kvm.tdx;
    this.inTd = false;
    if (tdx !== null) tdx.module.exitGuestQuiet(this.tdvpr(tdx));
  }

  /**
   * A guest access to a private GPA: the CPU walks the Secure-EPT (the module's guestAccess).
   * PENDING → #VE (the guest accepts when autoAccept is set, else the run stops with `ve`);
   * a miss → EPT-violation TD exit into KVM's fault path, then re-entry.
   */
  private tdxPrivateAccess(
    tdx: TdxOps,
    pageGpa: number,
    off: number,
    n: number,
    write: boolean,
    chunk: Uint8Array,
  ): RunResult | null {
    const pool = this.kvm.pool;
    for (let tries = 0; tries < MAX_FAULT_RETRIES; tries++) {
      const entered = this.enterTd(tdx);
      if (entered !== null) return entered;
      const out = tdx.module.guestAccess(this.tdvpr(tdx), pageGpa + off, write);
      if (out.kind === 'ok') {
        if (write) pool.write(out.pfn, off, chunk);
        else pool.read(out.pfn, off, n, chunk);
        return null;
      }
      if (out.kind === 've') {
        if (this.events()) {
          this.kvm.events.emit({
            type: 'tdcall',
            leaf: '#VE',
            gpa: hex(pageGpa),
            status: 'PENDING',
          });
        }
        if (!this.autoAccept) return { ret: 0, exit: null, ve: pageGpa };
        const acc = tdx.module.tdgMemPageAccept(this.tdvpr(tdx), pageGpa, 0);
        if (acc.kind === 'exit') {
          this.inTd = false;
          const r = this.handleTdExit(tdx, acc.exit);
          if (r !== null) return r;
        }
        continue;
      }
      if (out.kind === 'shared') break;
      this.inTd = false;
      const r = this.handleTdExit(tdx, out.exit);
      if (r !== null) return r;
    }
    return this.stuck(pageGpa);
  }

  private events(): boolean {
    return this.kvm.events.active;
  }

  private stuck(gpa: number): RunResult {
    this.kvm.kvmBug(`vCPU ${this.id}: fault at ${hex(gpa)} did not resolve`);
    return { ret: -EIO, exit: null };
  }

  /**
   * KVM's handling of a TD exit: the VP.ENTER result is taken (tdx_vcpu_run) and an EPT
   * violation goes to tdx_handle_ept_violation() — a guest touching a PENDING page with
   * SEPT_VE_DISABLE kills the VM; otherwise kvm_mmu_page_fault() with the vendor's
   * classification. Returns the run's result when it must stop, null to re-enter.
   */
  private handleTdExit(tdx: TdxOps, exit: TdExit): RunResult | null {
    tdx.module.enterResultQuiet(this.tdvpr(tdx));
    if (exit.reason !== EXIT_REASON_EPT_VIOLATION) return null;
    if (exit.extExitQualification === EXT_EXIT_QUAL_TYPE_PENDING_EPT_VIOLATION) {
      this.kvm.vmDead(`Guest access before accepting ${hex(exit.gpa)} on vCPU ${this.id}`);
      return { ret: -EIO, exit: null };
    }
    let hw = PFERR_GUEST_FINAL_MASK;
    if ((exit.exitQualification & 2) !== 0) hw += PFERR_WRITE_MASK;
    const page = exit.gpa - pageOffset(exit.gpa);
    // The vendor reads the fault and returns: one scratch object per vCPU, no closure per exit.
    const fault = this.tdFault;
    fault.gpa = page;
    fault.errorCode = hw;
    const code = this.kvm.ops.faultErrorCode(fault, this.memIsPrivate);
    const out = kvmMmuDoPageFault(this.kvm, this, page, code);
    if (out.memoryFault) {
      return { ret: out.ret, exit: { reason: KVM_EXIT_MEMORY_FAULT, ...out.memoryFault } };
    }
    if (out.ret < 0) return { ret: out.ret, exit: null };
    return null;
  }

  /**
   * The guest's TDG.VP.VMCALL<MapGPA> loop (Linux tdx_map_gpa(): on RETRY continue from R11)
   * with KVM's side (TdxMapGpa): each ≤ 2 MiB chunk is a KVM_EXIT_HYPERCALL; resume(ret)
   * answers it.
   */
  private tdxMapGpaStep(gpa: number, size: number): Step {
    const tdx = this.kvm.tdx as TdxOps;
    const end = gpa + size;
    let next = gpa;
    let state: TdxMapGpa | null = null;
    let step: MapGpaStep | null = null;
    return () => {
      for (;;) {
        if (step === null) {
          const entered = this.enterTd(tdx);
          if (entered !== null) return entered;
          const req = tdx.module.tdgVpVmcallMapGpa(this.tdvpr(tdx), next, end - next);
          this.inTd = false;
          if (req !== null) tdx.module.enterResultQuiet(this.tdvpr(tdx));
          const enabled = (this.kvm.hypercallExitEnabled & (1 << KVM_HC_MAP_GPA_RANGE)) !== 0;
          const started = TdxMapGpa.start(enabled, tdx.gpaw, next, end - next);
          state = started.state;
          step = started.step;
        }
        if (step.kind === 'exit') {
          const chunk = step.chunk;
          const s = state as TdxMapGpa;
          this.pendingHypercall = (ret) => {
            step = s.complete(ret, this.pendingInterrupt);
          };
          return {
            ret: 0,
            exit: {
              reason: KVM_EXIT_HYPERCALL,
              nr: chunk.nr,
              args: chunk.args,
              flags: chunk.flags,
            },
          };
        }
        // Back to the guest with R10/R11 at the next VP.ENTER.
        this.vmcallReturn = { status: step.status, r11: step.r11 };
        const status = step.status;
        const r11 = step.r11;
        if (status === TDVMCALL_STATUS_RETRY && r11 > next && r11 < end) {
          next = r11;
          step = null;
          continue;
        }
        const entered = this.enterTd(tdx);
        if (entered !== null) return entered;
        return { ret: 0, exit: null, tdvmcall: { status: tdvmcallStatusName(status), r11 } };
      }
    };
  }

  /** The hardware walk of the EPT that serves `gpa`. */
  translate(
    gpa: number,
  ):
    | { kind: 'none' }
    | { kind: 'mmio' }
    | { kind: 'mapped'; pfn: number; writable: boolean; level: PgLevel } {
    const kvm = this.kvm;
    const mmu = kvm.mmu;
    const direct = isAddrDirect(kvm, gpa);
    const root = direct ? mmu.directRoot : mmu.mirrorRoot;
    if (root === null) return { kind: 'none' };
    const gfn = canonicalGfn(kvm, gpa);
    const leaf = mmu.lookup(root, gfn);
    if (leaf !== null) {
      return { kind: 'mapped', pfn: leaf.pfn, writable: isWritablePte(leaf.lo), level: leaf.level };
    }
    if (!direct) return { kind: 'none' };
    // Not present: an MMIO SPTE (EPT misconfig, or value 0 for a TD) is still an exit.
    const w = mmu.walk(root, gfn);
    const mmio = kvm.vmType === 'tdx' ? TDX_MMIO : EPT_MMIO;
    return isMmioSpte(mmu.lo(w.sp, w.index), mmu.hi(w.sp, w.index), mmio)
      ? { kind: 'mmio' }
      : { kind: 'none' };
  }

  /** models x86.c: ____kvm_emulate_hypercall() + complete_hypercall_exit(). */
  private hypercallStep(nr: number, a0: number, a1: number, a2: number): Step {
    let result: number | null = null;
    return () => {
      if (result !== null) return { ret: 0, exit: null, hypercallRet: result };
      if (nr !== KVM_HC_MAP_GPA_RANGE) return { ret: 0, exit: null, hypercallRet: -KVM_ENOSYS };
      const enabled = (this.kvm.hypercallExitEnabled & (1 << KVM_HC_MAP_GPA_RANGE)) !== 0;
      const d = kvmHcMapGpaRange(enabled, a0, a1, a2);
      if (d.kind === 'ret') return { ret: 0, exit: null, hypercallRet: d.ret };
      this.pendingHypercall = (ret) => {
        result = ret;
      };
      return {
        ret: 0,
        exit: {
          reason: KVM_EXIT_HYPERCALL,
          nr,
          args: [d.gpa, d.npages, d.attrs],
          flags: KVM_EXIT_HYPERCALL_LONG_MODE,
        },
      };
    };
  }
}
