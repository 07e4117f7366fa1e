// Runs scenario steps directly against the @kvmx/kvm-x86 facade, one at a time, with the
// semantics of the scenario runner (CONTRACTS §2): the same ioctls, the same guest_memfd
// creation for `memslot`, the same fallocate offsets, the same `autoConvert` answers. The
// explorer needs what the runner does not offer: a step at a time, no event objects, the
// invariant checker's answer as a value, and the outcome of each step so the reproduction
// can state it as expectations. The round-trip test (explore.test.ts) replays reproductions
// through the real runner to keep the two in step.

import { PAGE_SIZE } from '@kvmx/address';
import {
  checkInvariants,
  checkInvariantsAt,
  exitReasonName,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  fail,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_EXIT_HYPERCALL,
  KVM_HC_MAP_GPA_RANGE,
  KVM_MAP_GPA_RANGE_ENCRYPTED,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  Kvm,
  type KvmExit,
  type KvmResult,
  type RunResult,
  type Vcpu,
  type Violation,
} from '@kvmx/kvm-x86';
import type { OpArgsMap, StepOp, VmConfig } from '@kvmx/scenario';
import { isSuccess, SeamRegs, seamcallLeafByName, statusName } from '@kvmx/tdx-module';

/** What one executed step did, as a scenario `expect` can state it. */
export interface StepOutcome {
  /** errno name of a failed host operation, or of a KVM_RUN that failed without an exit. */
  error?: string;
  /** Exit reason a guest operation stopped in (absent: completed, or a host operation). */
  exit?: string;
  /** TDX status name of a raw SEAMCALL. */
  status?: string;
}

/** Most KVM_RUNs one guest step may take while `autoConvert` answers exits (as the runner). */
const MAX_AUTO_EXITS = 100_000;

/** Register indexes in SeamRegs (REG_NAMES order). */
const RCX = 1;
const RDX = 2;
const R8 = 8;
const R9 = 9;

/**
 * One VM driven step by step. `create()` does what the runner does before the first step:
 * KVM_CREATE_VM, TDX's INIT_VM, KVM_CREATE_VCPU (+ TDX INIT_VCPU) per vCPU,
 * KVM_ENABLE_CAP(EXIT_HYPERCALL).
 */
export class StepExecutor {
  readonly kvm: Kvm;
  readonly vcpus: Vcpu[] = [];
  private readonly config: VmConfig;
  /** Per vCPU: the exit its last guest operation stopped in, waiting for `resume`. */
  readonly pendingExits: (KvmExit | null)[] = [];
  /** Per vCPU: the last exit the generator answered by converting (see decodeStep). */
  readonly lastAnswered: (KvmExit | null)[] = [];
  /** A memslot with huge host backing exists (leaves may cover more than a step's range). */
  private hugeBacking = false;
  /** guest_memfd ids of the scenario → fds. */
  private readonly gmemById = new Map<number, number>();

  private constructor(kvm: Kvm, config: VmConfig) {
    this.kvm = kvm;
    this.config = config;
  }

  /** The VM a scenario's `vm` section describes, or why it could not be created. */
  static create(config: VmConfig): StepExecutor | string {
    const r = Kvm.create({
      type: config.type,
      gpaw: config.gpaw,
      septVeDisable: config.septVeDisable,
      ...(config.inject !== undefined ? { inject: [config.inject] } : {}),
    });
    if (!r.ok) return `KVM_CREATE_VM(${config.type}) failed with ${r.error}`;
    const kvm = r.value;
    const ex = new StepExecutor(kvm, config);
    // SEV, SEV-ES, SNP: vm_sev_launch() as the runner does it — KVM_SEV_INIT2, and for SNP
    // KVM_SEV_SNP_LAUNCH_START. (Reached through optional members: the facade's SEV ioctls
    // are new, and a facade without them has no SEV VMs either.)
    const sev = kvm as unknown as {
      sev?: unknown;
      sevInit2?: () => KvmResult;
      snpLaunchStart?: () => KvmResult;
    };
    if (sev.sev !== null && sev.sev !== undefined && sev.sevInit2 !== undefined) {
      const init = sev.sevInit2();
      if (!init.ok) return `KVM_SEV_INIT2 failed with ${init.error}`;
      if (config.type === 'snp' && sev.snpLaunchStart !== undefined) {
        const start = sev.snpLaunchStart();
        if (!start.ok) return `KVM_SEV_SNP_LAUNCH_START failed with ${start.error}`;
      }
    }
    if (kvm.tdx !== null) {
      const init = kvm.tdxInitVm({ maxVcpus: config.vcpus });
      if (!init.ok) return `KVM_TDX_INIT_VM failed with ${init.error}`;
    }
    for (let i = 0; i < config.vcpus; i++) {
      const v = kvm.createVcpu();
      if (!v.ok) return `KVM_CREATE_VCPU(${i}) failed with ${v.error}`;
      if (kvm.tdx !== null) {
        const init = kvm.tdxInitVcpu(v.value);
        if (!init.ok) return `KVM_TDX_INIT_VCPU(${i}) failed with ${init.error}`;
      }
      v.value.autoAccept = config.autoAccept;
      ex.vcpus.push(v.value);
      ex.pendingExits.push(null);
      ex.lastAnswered.push(null);
    }
    if (config.exitHypercall) {
      const c = kvm.enableCap(KVM_CAP_EXIT_HYPERCALL, 1 << KVM_HC_MAP_GPA_RANGE);
      if (!c.ok) return `KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL) failed with ${c.error}`;
    }
    return ex;
  }

  /**
   * True when `op` can run now: a guest operation on a vCPU whose exit still waits for
   * `resume` is bad input in a scenario (CONTRACTS §2), so the explorer leaves it out.
   */
  canRun(op: StepOp): boolean {
    switch (op.op) {
      case 'write':
      case 'read':
      case 'mapGpa':
      case 'accept':
      case 'hypercall':
      case 'pvalidate': {
        const v = this.vcpus[op.args.vcpu];
        return v !== undefined && !v.hasPendingExit;
      }
      case 'resume':
      case 'preFault':
        return this.vcpus[op.args.vcpu] !== undefined;
      default:
        return true;
    }
  }

  /** The invariant checker (ARCHITECTURE.md), as a value. */
  violations(): Violation[] {
    return checkInvariants(this.kvm);
  }

  /**
   * The invariant checker after `op` ran, as cheap as it can be while finding everything the
   * whole-VM checker would: a step that touches only the GFNs of its own range (attributes,
   * fallocate, guest accesses and conversions, invalidations, pre-faults, host accesses) is
   * checked there with `checkInvariantsAt`; a step that can change state anywhere (memslots,
   * finalize, teardown, raw SEAMCALLs) gets the whole checker. With huge host backing a leaf
   * may cover more than the range, so every step gets the whole checker (the explored VMs
   * never ask for it). The caller checks the whole VM once more at the end of a sequence.
   */
  violationsAfter(op: StepOp): Violation[] {
    // A guest_memfd file named by id may back more than one slot: fallocate reaches them all.
    const shared = this.gmemById.size > 0 && (op.op === 'punchHole' || op.op === 'allocate');
    const range = this.hugeBacking || shared ? null : touchedGfns(op);
    if (range === null) return checkInvariants(this.kvm);
    return checkInvariantsAt(this.kvm, range[0], range[1]);
  }

  /** Execute one step. Exceptions from the model propagate: they are model bugs. */
  execute(op: StepOp): StepOutcome {
    const kvm = this.kvm;
    switch (op.op) {
      case 'memslot':
        return this.memslot(op.args);
      case 'setAttributes':
        return host(
          kvm.setMemoryAttributes({
            address: op.args.gpa,
            size: op.args.size,
            attributes: op.args.private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
          }),
        );
      case 'punchHole':
      case 'allocate':
        return this.fallocate(op.args, op.op === 'punchHole');
      case 'hostWrite':
        return host(kvm.hostWrite(op.args.gpa, new Uint8Array(op.args.size).fill(op.args.byte)));
      case 'hostRead':
        return host(kvm.hostRead(op.args.gpa, op.args.size));
      case 'invalidateHva':
        return host(kvm.invalidateHva(op.args.gpa, op.args.size));
      case 'preFault': {
        const v = this.vcpus[op.args.vcpu];
        if (v === undefined) return { error: 'EINVAL' };
        return host(kvm.preFaultMemory(v, op.args.gpa, op.args.size));
      }
      case 'finalize': {
        // KVM_SEV_SNP_LAUNCH_FINISH for an SEV-family VM (as the runner), else KVM_TDX_FINALIZE_VM.
        const sev = kvm as unknown as { sev?: unknown; snpLaunchFinish?: () => KvmResult };
        if (sev.sev !== null && sev.sev !== undefined && sev.snpLaunchFinish !== undefined) {
          return host(sev.snpLaunchFinish());
        }
        return host(kvm.tdxFinalizeVm());
      }
      case 'destroy':
        kvm.destroy();
        return {};
      case 'seamcall':
        return this.seamcall(op.args);
      case 'write':
      case 'read':
      case 'mapGpa':
      case 'accept':
      case 'resume':
        return this.guest(op);
      default:
        throw new Error(`the explorer does not generate ${op.op} steps`);
    }
  }

  private memslot(a: OpArgsMap['memslot']): StepOutcome {
    const kvm = this.kvm;
    if (a.hostHugePages === true) this.hugeBacking = true;
    let flags = 0;
    if (a.readonly) flags |= KVM_MEM_READONLY;
    if (a.logDirty) flags |= KVM_MEM_LOG_DIRTY_PAGES;
    let guestMemfd: number | undefined;
    if (a.guestMemfd !== null && a.size !== 0) {
      flags |= KVM_MEM_GUEST_MEMFD;
      const id = a.guestMemfd.id;
      const existing = id === undefined ? undefined : this.gmemById.get(id);
      if (existing !== undefined) guestMemfd = existing;
      else {
        const size =
          a.guestMemfd.size ?? Math.ceil((a.guestMemfd.offset + a.size) / PAGE_SIZE) * PAGE_SIZE;
        const r = kvm.createGuestMemfd({ size });
        if (!r.ok) return { error: r.error };
        guestMemfd = r.value;
        if (id !== undefined) this.gmemById.set(id, r.value);
      }
    }
    return host(
      kvm.setUserMemoryRegion2({
        slot: a.slot,
        flags,
        guestPhysAddr: a.gpa,
        memorySize: a.size,
        ...(guestMemfd !== undefined
          ? { guestMemfd, guestMemfdOffset: a.guestMemfd?.offset ?? 0 }
          : {}),
        ...(a.hostHugePages === true ? { hostHugePages: true } : {}),
      }),
    );
  }

  /** fallocate() on the guest_memfd behind [gpa, gpa+size), as CONTRACTS §2 pins it. */
  private fallocate(a: OpArgsMap['punchHole'], punch: boolean): StepOutcome {
    const kvm = this.kvm;
    const slot = kvm.gfnToMemslot(Math.floor(a.gpa / PAGE_SIZE));
    const file = slot?.gmem?.file;
    if (slot === undefined || file === undefined || file === null) return { error: 'EINVAL' };
    const slotGpa = slot.baseGfn * PAGE_SIZE;
    if (a.gpa + a.size > slot.endGfn * PAGE_SIZE) return { error: 'EINVAL' };
    const offset = (slot.gmem?.pgoff ?? 0) * PAGE_SIZE + (a.gpa - slotGpa);
    const mode = FALLOC_FL_KEEP_SIZE | (punch ? FALLOC_FL_PUNCH_HOLE : 0);
    return host(kvm.gmemFallocate(file.fd, mode, offset, a.size));
  }

  /** A raw SEAMCALL from a hostile host kernel: registers as given, no KVM bookkeeping. */
  private seamcall(a: OpArgsMap['seamcall']): StepOutcome {
    const tdx = this.kvm.tdx;
    const leaf = seamcallLeafByName(a.leaf);
    if (tdx === null || leaf === undefined) return { error: 'EINVAL' };
    const regs = new SeamRegs();
    if (a.rcx !== undefined) regs.setBig(RCX, a.rcx);
    if (a.rdx !== undefined) regs.setBig(RDX, a.rdx);
    if (a.r8 !== undefined) regs.setBig(R8, a.r8);
    if (a.r9 !== undefined) regs.setBig(R9, a.r9);
    const r = tdx.module.seamcall(leaf, regs);
    return { status: isSuccess(r.status) ? 'TDX_SUCCESS' : (statusName(r.status.hi) ?? 'unknown') };
  }

  /** A guest operation: one KVM_RUN, plus `autoConvert`'s answers to MAP_GPA_RANGE exits. */
  private guest(op: StepOp & { args: { vcpu: number } }): StepOutcome {
    const vcpu = this.vcpus[op.args.vcpu];
    if (vcpu === undefined) return { error: 'EINVAL' };
    let r: RunResult;
    switch (op.op) {
      case 'write':
        r = vcpu.write(op.args.gpa, op.args.size, op.args.byte, access(op.args.private));
        break;
      case 'read':
        r = vcpu.read(op.args.gpa, op.args.size, access(op.args.private));
        break;
      case 'mapGpa':
        r = vcpu.mapGpa(op.args.gpa, op.args.size, op.args.shared);
        break;
      case 'accept':
        r = vcpu.accept(op.args.gpa, op.args.size);
        break;
      case 'resume':
        r = vcpu.resume(0);
        break;
      default:
        return { error: 'EINVAL' };
    }
    r = this.autoAnswer(vcpu, r);
    this.pendingExits[op.args.vcpu] = vcpu.hasPendingExit ? r.exit : null;
    if (r.exit !== null) return { exit: exitReasonName(r.exit) };
    const out: StepOutcome = {};
    if (r.ret < 0) out.error = errnoOf(r.ret);
    if (r.status !== undefined && op.op === 'accept') out.status = r.status;
    return out;
  }

  /** vm.autoConvert: KVM_SET_MEMORY_ATTRIBUTES for each MAP_GPA_RANGE exit, then KVM_RUN. */
  private autoAnswer(vcpu: Vcpu, first: RunResult): RunResult {
    let r = first;
    if (!this.config.autoConvert) return r;
    for (let n = 0; n < MAX_AUTO_EXITS; n++) {
      const exit = r.exit;
      if (exit === null || exit.reason !== KVM_EXIT_HYPERCALL || exit.nr !== KVM_HC_MAP_GPA_RANGE)
        return r;
      const [gpa = 0, npages = 0, attrs = 0] = exit.args;
      const set = this.kvm.setMemoryAttributes({
        address: gpa,
        size: npages * PAGE_SIZE,
        attributes: (attrs & KVM_MAP_GPA_RANGE_ENCRYPTED) !== 0 ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
      });
      r = vcpu.resume(set.ok ? 0 : -set.errno);
    }
    return r;
  }
}

/**
 * The GFNs [start, end) a step can change state at, or null when it can change state
 * anywhere. A guest access also faults in, accepts (`autoAccept`) or converts
 * (`autoConvert` answers the MAP_GPA_RANGE exits of `mapGpa`, for its own range) only there.
 */
function touchedGfns(op: StepOp): [number, number] | null {
  switch (op.op) {
    case 'setAttributes':
    case 'punchHole':
    case 'allocate':
    case 'hostWrite':
    case 'hostRead':
    case 'invalidateHva':
    case 'preFault':
    case 'write':
    case 'read':
    case 'mapGpa':
      return gfnSpan(op.args.gpa, op.args.size);
    case 'accept':
      return gfnSpan(op.args.gpa, op.args.size ?? PAGE_SIZE);
    default:
      // memslot, finalize, destroy, seamcall, resume (continues an operation whose range
      // the executor does not keep), anything new.
      return null;
  }
}

function gfnSpan(gpa: number, size: number): [number, number] {
  return [Math.floor(gpa / PAGE_SIZE), Math.ceil((gpa + Math.max(size, 1)) / PAGE_SIZE)];
}

function host(r: KvmResult<unknown>): StepOutcome {
  return r.ok ? {} : { error: r.error };
}

function access(priv: boolean | undefined): { private?: boolean } {
  return priv === undefined ? {} : { private: priv };
}

/** The errno name of a negative KVM_RUN return, as the facade names it. */
function errnoOf(ret: number): string {
  const r = fail(ret);
  return r.ok ? `E${-ret}` : r.error;
}
