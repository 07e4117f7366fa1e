// A vCPU: each guest operation is one KVM_RUN. The guest touches memory through the EPT the
// hardware would walk (the direct root; for a TD's private GPAs the private EPT), an EPT
// violation enters kvm_mmu_page_fault(), and the run stops at the first exit to userspace.
// An operation stopped by an exit is continued by resume(), like re-entering KVM_RUN.
// Sources: arch/x86/kvm/x86.c (vcpu_run, kvm_emulate_hypercall, complete_hypercall_exit),
// arch/x86/kvm/vmx/vmx.c / common.h (__vmx_handle_ept_violation), arch/x86/kvm/mmu/mmu.c
// (kvm_mmu_page_fault); kvm-mmu.md §1.11, §2.9.

import { canonicalGfn, hex, isAddrDirect, PAGE_SIZE } from '@kvmx/address';
import { EPT_MMIO, isMmioSpte, isShadowPresentPte, isWritablePte, TDX_MMIO } from '@kvmx/paging';
import {
  EBUSY,
  EIO,
  KVM_ENOSYS,
  KVM_EXIT_HYPERCALL_LONG_MODE,
  KVM_HC_MAP_GPA_RANGE,
  KVM_MAP_GPA_RANGE_DECRYPTED,
  KVM_MAP_GPA_RANGE_ENCRYPTED,
  KVM_MAP_GPA_RANGE_PAGE_SZ_4K,
  kvmHcMapGpaRange,
  PFERR_GUEST_FINAL_MASK,
  PFERR_PRESENT_MASK,
  PFERR_WRITE_MASK,
} from '@kvmx/vendor-ops';
import { exitFields, exitReasonName, type KvmExit } from './exit.js';
import { kvmMmuDoPageFault } from './fault.js';
import type { Kvm } from './kvm.js';
import { RET_PF_EMULATE } from './tdp-mmu.js';
import { KVM_EXIT_HYPERCALL, KVM_EXIT_MEMORY_FAULT, KVM_EXIT_MMIO } from './uapi.js';

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
}

/** Options of a guest access. */
export interface AccessOptions {
  /**
   * What the guest meant: TDX sets or clears the shared bit in the GPA for it; SEV/SNP would
   * set the C-bit; SW_PROTECTED ignores it (the attributes decide).
   */
  readonly private?: boolean;
}

type Step = () => RunResult;

const MAX_FAULT_RETRIES = 8;

export class Vcpu {
  readonly kvm: Kvm;
  readonly id: number;
  /** KVM_REQ_OUTSIDE_GUEST_MODE kicks received (TDX zaps force vCPUs out). */
  kicks = 0;
  /** The guest operation an exit interrupted, continued by resume(). */
  private pending: Step | null = null;
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
    return this.start(this.accessStep(this.guestGpa(gpa, options), size, true, data));
  }

  /** The guest writes `data` at gpa. */
  writeBytes(gpa: number, data: Uint8Array, options: AccessOptions = {}): RunResult {
    return this.start(this.accessStep(this.guestGpa(gpa, options), data.length, true, data));
  }

  /** The guest reads `size` bytes at gpa. */
  read(gpa: number, size: number, options: AccessOptions = {}): RunResult {
    return this.start(
      this.accessStep(this.guestGpa(gpa, options), size, false, new Uint8Array(size)),
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

  private start(step: Step): RunResult {
    // Another operation while an exit waits for resume() is refused (CONTRACTS: bad input).
    if (this.pending !== null) return { ret: -EBUSY, exit: null };
    return this.run(step);
  }

  private run(step: Step): RunResult {
    const r = step();
    if (r.exit !== null) {
      this.pending = step;
      this.emitExit(r.exit);
    }
    return r;
  }

  private emitExit(exit: KvmExit): void {
    const ev = this.kvm.events;
    if (!ev.active) return;
    ev.emit({ type: 'exit', vcpu: this.id, reason: exitReasonName(exit), ...exitFields(exit) });
  }

  /** A resumable access: `done` advances across exits. */
  private accessStep(gpa: number, size: number, write: boolean, buf: Uint8Array): Step {
    let done = 0;
    return () => {
      while (done < size) {
        const addr = gpa + done;
        const off = addr % PAGE_SIZE;
        const n = Math.min(PAGE_SIZE - off, size - done);
        const r = this.accessPage(addr - off, off, n, write, buf.subarray(done, done + n));
        if (r !== null) return r;
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
  ): RunResult | null {
    const kvm = this.kvm;
    for (let tries = 0; tries < MAX_FAULT_RETRIES; tries++) {
      const t = this.translate(pageGpa);
      if (t.kind === 'mmio') return this.mmioExit(pageGpa + off, n, write);
      if (t.kind === 'mapped' && (!write || t.writable)) {
        if (write) kvm.pool.write(t.pfn, off, chunk);
        else kvm.pool.read(t.pfn, off, n, chunk);
        return null;
      }
      // EPT violation: the vendor classifies it (PFERR_PRIVATE_ACCESS) and KVM handles it.
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

  /** The hardware walk of the EPT that serves `gpa`. */
  translate(
    gpa: number,
  ): { kind: 'none' } | { kind: 'mmio' } | { kind: 'mapped'; pfn: number; writable: boolean } {
    const kvm = this.kvm;
    const mmu = kvm.mmu;
    const direct = isAddrDirect(kvm, gpa);
    const root = direct ? mmu.directRoot : mmu.mirrorRoot;
    if (root === null) return { kind: 'none' };
    const gfn = canonicalGfn(kvm, gpa);
    const w = mmu.walk(root, gfn);
    const lo = mmu.lo(w.sp, w.index);
    const hi = mmu.hi(w.sp, w.index);
    if (!isShadowPresentPte(lo)) {
      const mmio = kvm.vmType === 'tdx' ? TDX_MMIO : EPT_MMIO;
      if (direct && isMmioSpte(lo, hi, mmio)) return { kind: 'mmio' };
      return { kind: 'none' };
    }
    const leaf = mmu.lookup(root, gfn);
    if (leaf === null) return { kind: 'none' };
    return { kind: 'mapped', pfn: leaf.pfn, writable: isWritablePte(lo) };
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
