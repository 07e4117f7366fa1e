// The step executor: one VM, driven one decoded scenario step at a time, each step's outcome
// returned as a value. It holds what executing steps needs to remember (the vCPUs, the
// guest_memfd files named by id, the exits vCPUs wait in) and nothing about files, positions,
// expectations or events: the scenario runner adds those, the explorer adds generation,
// injections, invariant checks, snapshots and shrinking. A new operation, or a fix to how
// one runs, is made here once for both (CONTRACTS §2 pins the semantics).

import { PAGE_SIZE } from '@kvmx/address';
import {
  checkInvariants,
  checkInvariantsAt,
  errnoName,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_EXIT_HYPERCALL,
  KVM_HC_MAP_GPA_RANGE,
  KVM_MAP_GPA_RANGE_ENCRYPTED,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  Kvm,
  type KvmEventListener,
  type KvmExit,
  type KvmResult,
  type RunResult,
  type Vcpu,
  type Violation,
} from '@kvmx/kvm-x86';
import type { OpArgsMap, SnpPageTypeName, StepOp, VmConfig } from './scenario.js';
import { rawSeamcall, type SeamcallStatus } from './seamcall.js';

/** Most KVM_RUNs one guest step may take while `autoConvert` answers its exits. */
export const MAX_AUTO_EXITS = 10_000;

/**
 * What one step did, as plain values. At most the fields the step can produce are set; a
 * step that succeeded without output is `{}` (the shared `DONE`, never mutated).
 */
export interface StepResult {
  /** errno name of a failed ioctl, or of a KVM_RUN that returned an error. */
  readonly error?: string;
  /** Guest operations: what the last KVM_RUN returned (after `autoConvert`'s answers). */
  readonly run?: RunResult;
  /** `hostRead`: the bytes read. */
  readonly data?: Uint8Array;
  /** `preFault`: bytes mapped (KVM_PRE_FAULT_MEMORY's progress). */
  readonly mapped?: number;
  /** `initMemRegion`: pages added (TDX) or launched (SNP). */
  readonly pages?: number;
  /** `seamcall`: the module's status and the output registers RCX, RDX, R8 (hex). */
  readonly seamcall?: { readonly status: SeamcallStatus; readonly outputs: Record<string, string> };
  /** Input that only now turns out to be bad (a scenario stops with exit status 2). */
  readonly badInput?: string;
}

/** Why the VM of a `vm` section could not be set up. */
export interface VmSetupFailure {
  /** The ioctl that failed: KVM_CREATE_VM, KVM_TDX_INIT_VM, KVM_CREATE_VCPU(1), … */
  readonly ioctl: string;
  readonly error: string;
  /** `<ioctl> failed with <error>` (KVM_CREATE_VM names the VM type). */
  readonly message: string;
  /** The VM, when KVM_CREATE_VM itself succeeded. */
  readonly kvm?: Kvm;
}

export interface StepExecutorOptions {
  /** Subscribed to the VM's events right after KVM_CREATE_VM, so set-up events reach it too. */
  readonly onEvent?: KvmEventListener;
}

const DONE: StepResult = Object.freeze({});

/** `opSize` markers: the last guest operation's reach is not a range / there was none. */
const UNKNOWN_REACH = -1;
const NO_OPERATION = -2;

/**
 * One VM driven step by step. `open()` does what a VMM does before the first step:
 * KVM_CREATE_VM, the per-type launch start (KVM_TDX_INIT_VM; KVM_SEV_INIT2 and, for SNP,
 * KVM_SEV_SNP_LAUNCH_START), KVM_CREATE_VCPU (+ KVM_TDX_INIT_VCPU) per vCPU, and
 * KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL) when asked.
 */
export class StepExecutor {
  readonly kvm: Kvm;
  readonly vcpus: Vcpu[] = [];
  /** Per vCPU: the exit its last guest operation stopped in and still waits in, or null. */
  readonly pendingExits: (KvmExit | null)[] = [];
  private readonly config: VmConfig;
  /** guest_memfd ids of the scenario → fds. */
  private readonly gmemById = new Map<number, number>();
  /** vCPUs stopped by a #VE (their pending operation is an access to a PENDING page). */
  private readonly pendingVe = new Set<number>();
  /**
   * Per vCPU: the GPA range of its last guest operation (other than `resume`), which a
   * `resume` continues; size UNKNOWN_REACH when the operation's reach is not a range (a
   * hypercall), NO_OPERATION when there is nothing to continue (before the first operation,
   * or once a `resume` found the vCPU idle).
   */
  private readonly opGpa: number[] = [];
  private readonly opSize: number[] = [];

  private constructor(kvm: Kvm, config: VmConfig) {
    this.kvm = kvm;
    this.config = config;
  }

  /** The VM a scenario's `vm` section describes, or which set-up ioctl failed. */
  static open(config: VmConfig, options: StepExecutorOptions = {}): StepExecutor | VmSetupFailure {
    const sevType = isSevType(config.type);
    const r = Kvm.create({
      type: config.type,
      gpaw: config.gpaw,
      septVeDisable: config.septVeDisable,
      ...(config.inject !== undefined ? { inject: [config.inject] } : {}),
      ...(sevType ? { cbit: config.cbit } : {}),
    });
    if (!r.ok) {
      return {
        ioctl: 'KVM_CREATE_VM',
        error: r.error,
        message: `KVM_CREATE_VM(${config.type}) failed with ${r.error}`,
      };
    }
    const kvm = r.value;
    if (options.onEvent !== undefined) kvm.events.on(options.onEvent);
    const failed = (ioctl: string, error: string): VmSetupFailure => ({
      ioctl,
      error,
      message: `${ioctl} failed with ${error}`,
      kvm,
    });
    const ex = new StepExecutor(kvm, config);
    if (config.type === 'tdx') {
      const init = kvm.tdxInitVm({ maxVcpus: config.vcpus });
      if (!init.ok) return failed('KVM_TDX_INIT_VM', init.error);
    }
    if (sevType) {
      // vm_sev_launch() of the selftests: KVM_SEV_INIT2, then for SNP
      // KVM_SEV_SNP_LAUNCH_START with the default policy.
      const init = kvm.sevInit2();
      if (!init.ok) return failed('KVM_SEV_INIT2', init.error);
      if (config.type === 'snp') {
        const start = kvm.snpLaunchStart();
        if (!start.ok) return failed('KVM_SEV_SNP_LAUNCH_START', start.error);
      }
    }
    for (let i = 0; i < config.vcpus; i++) {
      const v = kvm.createVcpu();
      if (!v.ok) return failed(`KVM_CREATE_VCPU(${i})`, v.error);
      const vcpu = v.value;
      if (config.type === 'tdx') {
        const init = kvm.tdxInitVcpu(vcpu);
        if (!init.ok) return failed(`KVM_TDX_INIT_VCPU(${i})`, init.error);
        vcpu.autoAccept = config.autoAccept;
      }
      ex.vcpus.push(vcpu);
      ex.pendingExits.push(null);
      ex.opGpa.push(0);
      ex.opSize.push(NO_OPERATION);
    }
    if (config.exitHypercall) {
      const c = kvm.enableCap(KVM_CAP_EXIT_HYPERCALL, 1 << KVM_HC_MAP_GPA_RANGE);
      if (!c.ok) return failed('KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL)', c.error);
    }
    return ex;
  }

  /** `open()`, with a failure as its message. */
  static create(config: VmConfig, options: StepExecutorOptions = {}): StepExecutor | string {
    const ex = StepExecutor.open(config, options);
    return ex instanceof StepExecutor ? ex : ex.message;
  }

  /**
   * False when `op` names a vCPU that cannot take it now — the vCPU does not exist, or a guest
   * operation is asked of a vCPU whose exit still waits for `resume` (only an `accept` may
   * follow a #VE) — which `execute` answers with `badInput` (CONTRACTS §2).
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
        if (v === undefined) return false;
        return !v.hasPendingExit || (op.op === 'accept' && this.pendingVe.has(op.args.vcpu));
      }
      case 'resume':
      case 'preFault':
        return this.vcpus[op.args.vcpu] !== undefined;
      default:
        return true;
    }
  }

  /** The invariant checker over the whole VM (ARCHITECTURE.md), as a value. */
  violations(): Violation[] {
    return checkInvariants(this.kvm);
  }

  /**
   * The invariant checker after `op` ran, as cheap as it can be while finding what the
   * whole-VM checker would find at the GFNs the step could change: a step that changes state
   * only at the GFNs of its own range (attributes, fallocate, guest accesses and conversions,
   * invalidations, pre-faults, host accesses) is checked there with `checkInvariantsAt`, and
   * so is a `resume`, over the range of the guest operation it continues; a step that can
   * change state anywhere (memslots, finalize, teardown, raw SEAMCALLs) gets the whole
   * checker, and so does fallocate on a guest_memfd named by id (it may back several slots).
   * A huge leaf that overlaps the range is checked whole (its span's attributes, its frame),
   * so huge host backing needs no more than the range either. A caller that checks step by
   * step checks the whole VM once more at the end of a sequence: that finds what a step left
   * outside its range (the VMM's huge host pages around a host access, say). Given the
   * step's result, a memslot ioctl that failed is known to have changed nothing (KVM
   * validates the region before it touches a slot) and gets the VM-wide checks only.
   */
  violationsAfter(op: StepOp, result?: StepResult): Violation[] {
    let gpa: number;
    let size: number;
    switch (op.op) {
      case 'memslot':
        if (result?.error !== undefined) return checkInvariantsAt(this.kvm, 0, 0);
        return checkInvariants(this.kvm);
      case 'punchHole':
      case 'allocate':
        if (this.gmemById.size > 0) return checkInvariants(this.kvm);
        gpa = op.args.gpa;
        size = op.args.size;
        break;
      case 'resume': {
        const n = op.args.vcpu;
        size = this.opSize[n] ?? UNKNOWN_REACH;
        // Nothing was continued: KVM_RUN returned at once and changed nothing.
        if (size === NO_OPERATION) return checkInvariantsAt(this.kvm, 0, 0);
        if (size === UNKNOWN_REACH) return checkInvariants(this.kvm);
        gpa = this.opGpa[n] ?? 0;
        break;
      }
      default: {
        const range = touchedRange(op);
        if (range === null) return checkInvariants(this.kvm);
        gpa = range.gpa;
        size = range.size;
      }
    }
    const first = Math.floor(gpa / PAGE_SIZE);
    const end = Math.ceil((gpa + Math.max(size, 1)) / PAGE_SIZE);
    return checkInvariantsAt(this.kvm, first, end);
  }

  /**
   * Execute one step. Illegal operations come back as the system's answer (`error`, an exit);
   * input the scenario format accepts but this VM cannot take comes back as `badInput`.
   * Exceptions from the model propagate: they are model bugs. `check` is the caller's (an
   * assertion about the model, not an operation on it).
   */
  execute(op: StepOp): StepResult {
    const kvm = this.kvm;
    switch (op.op) {
      case 'memslot':
        return this.memslot(op.args);
      case 'setAttributes':
        return ioctl(
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
        return ioctl(kvm.hostWrite(op.args.gpa, filled(op.args.size, op.args.byte)));
      case 'hostRead': {
        const r = kvm.hostRead(op.args.gpa, op.args.size);
        return r.ok ? { data: r.value } : { error: r.error };
      }
      case 'invalidateHva':
        return ioctl(kvm.invalidateHva(op.args.gpa, op.args.size));
      case 'preFault': {
        const v = this.vcpus[op.args.vcpu];
        if (v === undefined) return { badInput: `vCPU ${op.args.vcpu} does not exist` };
        const r = kvm.preFaultMemory(v, op.args.gpa, op.args.size);
        return r.ok ? { mapped: r.value } : { error: r.error };
      }
      case 'destroy':
        kvm.destroy();
        return DONE;
      case 'initMemRegion':
        return this.initMemRegion(op.args);
      case 'finalize':
        // KVM_SEV_SNP_LAUNCH_FINISH for the SEV family, KVM_TDX_FINALIZE_VM for a TD.
        if (kvm.sev !== null) return ioctl(kvm.snpLaunchFinish());
        if (kvm.tdx === null) return { badInput: 'finalize is modelled for TDX and SNP only' };
        return ioctl(kvm.tdxFinalizeVm());
      case 'seamcall': {
        const r = rawSeamcall(kvm, op.args);
        return 'badInput' in r ? { badInput: r.badInput } : { seamcall: r };
      }
      case 'check':
        return { badInput: 'check is an assertion for the caller, not an operation' };
      case 'write':
      case 'read':
      case 'mapGpa':
      case 'hypercall':
      case 'resume':
      case 'accept':
      case 'pvalidate':
        return this.guest(op);
    }
  }

  private memslot(a: OpArgsMap['memslot']): StepResult {
    const kvm = this.kvm;
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
        // KVM_CREATE_GUEST_MEMFD, as the VMM does before binding a slot to it.
        // Default: just large enough for the binding, in whole pages.
        const size =
          a.guestMemfd.size ?? Math.ceil((a.guestMemfd.offset + a.size) / PAGE_SIZE) * PAGE_SIZE;
        const r = kvm.createGuestMemfd({ size });
        if (!r.ok) return { error: r.error };
        guestMemfd = r.value;
        if (id !== undefined) this.gmemById.set(id, r.value);
      }
    }
    return ioctl(
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

  /**
   * fallocate() on the guest_memfd behind [gpa, gpa+size): offset = the slot's guest_memfd
   * offset + (gpa − slot gpa), no rounding; EINVAL unless the range lies inside one
   * guest_memfd-bound slot (CONTRACTS §2).
   */
  private fallocate(a: OpArgsMap['punchHole'], punch: boolean): StepResult {
    const kvm = this.kvm;
    const slot = kvm.gfnToMemslot(Math.floor(a.gpa / PAGE_SIZE));
    const file = slot?.gmem?.file;
    if (slot === undefined || file === undefined || file === null) return { error: 'EINVAL' };
    const slotGpa = slot.baseGfn * PAGE_SIZE;
    if (a.gpa + a.size > slot.endGfn * PAGE_SIZE) return { error: 'EINVAL' };
    const offset = (slot.gmem?.pgoff ?? 0) * PAGE_SIZE + (a.gpa - slotGpa);
    const mode = FALLOC_FL_KEEP_SIZE | (punch ? FALLOC_FL_PUNCH_HOLE : 0);
    return ioctl(kvm.gmemFallocate(file.fd, mode, offset, a.size));
  }

  /**
   * KVM_TDX_INIT_MEM_REGION: the source is the memslot's shared backing at the same GPA; the
   * ioctl counts pages, so a size that is not whole pages is refused as the VMM would. For
   * SNP, KVM_SEV_SNP_LAUNCH_UPDATE with `pageType`, or NORMAL (UNMEASURED with measure: false).
   */
  private initMemRegion(a: OpArgsMap['initMemRegion']): StepResult {
    const kvm = this.kvm;
    if (kvm.sev !== null) {
      const name = a.pageType ?? (a.measure ? 'normal' : 'unmeasured');
      const r = kvm.snpLaunchUpdate({ gpa: a.gpa, size: a.size, type: SNP_PAGE_TYPES[name] });
      return r.ok ? { pages: r.value } : { error: r.error };
    }
    if (a.pageType !== undefined) return { badInput: 'initMemRegion: pageType is for SNP VMs' };
    if (kvm.tdx === null) return { badInput: 'initMemRegion is modelled for TDX and SNP only' };
    if (a.size === 0 || a.size % PAGE_SIZE !== 0) return { error: 'EINVAL' };
    const vcpu = this.vcpus[0];
    if (vcpu === undefined) return { badInput: 'the VM has no vCPU' };
    const r = kvm.tdxInitMemRegion(vcpu, { gpa: a.gpa, nrPages: a.size / PAGE_SIZE }, a.measure);
    return r.ok ? { pages: r.value } : { error: r.error };
  }

  /** A guest operation: one KVM_RUN, plus `autoConvert`'s answers to MAP_GPA_RANGE exits. */
  private guest(op: GuestStep): StepResult {
    const n = op.args.vcpu;
    const vcpu = this.vcpus[n];
    if (vcpu === undefined) return { badInput: `vCPU ${n} does not exist` };
    const veAccept = op.op === 'accept' && this.pendingVe.has(n);
    if (op.op !== 'resume' && vcpu.hasPendingExit && !veAccept) {
      return {
        badInput: `${op.op} on vCPU ${n}, which has a pending exit; continue it with resume first`,
      };
    }
    if (op.op !== 'resume' && !veAccept) {
      // What a later resume continues (an accept in a #VE handler is its own operation).
      const range = touchedRange(op);
      this.opGpa[n] = range === null ? 0 : range.gpa;
      this.opSize[n] = range === null ? UNKNOWN_REACH : range.size;
    } else if (op.op === 'resume' && !vcpu.hasPendingExit) {
      // KVM_RUN with nothing to continue returns at once: this resume changes nothing.
      this.opSize[n] = NO_OPERATION;
    }
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
      case 'hypercall': {
        // Hypercall arguments are registers: 64-bit values the guest puts in RBX, RCX, RDX.
        const [a0 = 0n, a1 = 0n, a2 = 0n] = op.args.args;
        const big = [op.args.nr, a0, a1, a2].find((v) => v >= 1n << 53n);
        if (big !== undefined) {
          return {
            badInput: `hypercall values at or above 2^53 are not modelled (0x${big.toString(16)})`,
          };
        }
        r = vcpu.hypercall(Number(op.args.nr), Number(a0), Number(a1), Number(a2));
        break;
      }
      case 'resume':
        r = vcpu.resume(op.args.ret === undefined ? 0 : signed64(op.args.ret));
        break;
      case 'pvalidate':
        r = vcpu.pvalidate(op.args.gpa, op.args.size, op.args.validate);
        break;
      case 'accept':
        if (op.args.level !== 1) {
          return { badInput: 'accept: only 4K accepts (level 1) are modelled' };
        }
        r = vcpu.accept(op.args.gpa, op.args.size);
        break;
    }
    r = this.autoAnswer(vcpu, r);
    if (op.op === 'resume' || !veAccept) this.pendingVe.delete(n);
    // A #VE the guest did not handle: the access stops, the scenario accepts and resumes.
    if (r.ve !== undefined) this.pendingVe.add(n);
    this.pendingExits[n] = vcpu.hasPendingExit ? r.exit : null;
    return r.ret < 0 ? { run: r, error: errnoName(r.ret) } : { run: r };
  }

  /**
   * vm.autoConvert: answer KVM_HC_MAP_GPA_RANGE exits as the selftests' VMM does —
   * KVM_SET_MEMORY_ATTRIBUTES over [args[0], args[0] + args[1] pages) with PRIVATE iff the
   * ENCRYPTED attribute is set, then KVM_RUN again with ret 0 (or the errno on failure).
   */
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

type GuestStep = Extract<
  StepOp,
  { op: 'write' | 'read' | 'mapGpa' | 'hypercall' | 'resume' | 'accept' | 'pvalidate' }
>;

/**
 * The GPA range a step can change state in, or null when it can change state anywhere. A
 * guest access also faults in, accepts (`autoAccept`) or converts (`autoConvert` answers the
 * MAP_GPA_RANGE exits of `mapGpa`, for its own range) only there.
 */
export function touchedRange(op: StepOp): { gpa: number; size: number } | null {
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
    case 'accept':
      return op.args;
    default:
      // memslot, finalize, destroy, seamcall, resume (continues an operation whose range
      // the executor does not keep), initMemRegion, hypercall, pvalidate, anything new.
      return null;
  }
}

/** The bytes of a `hostWrite`, in one scratch buffer (the facade copies what it writes). */
let scratch = new Uint8Array(0x4000);
function filled(size: number, byte: number): Uint8Array {
  if (size > scratch.length) scratch = new Uint8Array(size);
  return scratch.subarray(0, size).fill(byte);
}

function ioctl(r: KvmResult<unknown>): StepResult {
  return r.ok ? DONE : { error: r.error };
}

/** The SEV family: KVM_SEV_INIT2 at creation, the C-bit position from `vm.cbit`. */
function isSevType(type: string): boolean {
  return type === 'sev' || type === 'sev_es' || type === 'snp';
}

/** KVM_SEV_SNP_PAGE_TYPE_* by the scenario's `pageType` names (include/uapi/linux/kvm.h). */
const SNP_PAGE_TYPES: Readonly<Record<SnpPageTypeName, number>> = {
  normal: 1,
  zero: 3,
  unmeasured: 4,
  secrets: 5,
  cpuid: 6,
};

function access(priv: boolean | undefined): { private?: boolean } {
  return priv === undefined ? {} : { private: priv };
}

/** A u64 register value as the signed number the facade takes (-22 for 2^64 − 22). */
function signed64(v: bigint): number {
  return Number(v >= 1n << 63n ? v - (1n << 64n) : v);
}
