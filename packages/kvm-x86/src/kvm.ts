// struct kvm: one VM and its ioctls — memslots, guest_memfd, memory attributes, the MMU
// entry points (fault, pre-fault, zaps), the VMM's view of shared memory, and teardown.
// Sources: virt/kvm/kvm_main.c, virt/kvm/guest_memfd.c, arch/x86/kvm/x86.c,
// arch/x86/kvm/mmu/mmu.c (Linux 6.17-rc); kvm-mmu.md §1–§2, selftests.md.

import {
  canonicalGfn,
  type Gpaw,
  hex,
  isVmTypeName,
  KVM_MAX_HUGEPAGE_LEVEL,
  PAGE_SIZE,
  PG_LEVEL_2M,
  PG_LEVEL_4K,
  type PgLevel,
  pagesPerHpage,
  tdxRootLevel,
  type VmTypeName,
  vmTypeName,
  vmTypeNumber,
} from '@kvmx/address';
import { FrameOwner, FramePool, NO_FRAME } from '@kvmx/paging';
import type { TdxModule } from '@kvmx/tdx-module';
import {
  createVendorOps,
  EBADF,
  EEXIST,
  EFAULT,
  EINVAL,
  EIO,
  ENOENT,
  ENOMEM,
  EOPNOTSUPP,
  isKvmInjectionName,
  KVM_HC_MAP_GPA_RANGE,
  type KvmInjectionName,
  type KvmX86Ops,
  PFERR_GUEST_FINAL_MASK,
  PFERR_PRIVATE_ACCESS,
  pferrSet,
  type RmpCheckView,
  SevOps,
  supportedVmTypes,
  TD_STATE_INITIALIZED,
  TD_STATE_RUNNABLE,
  TdxOps,
  type VendorContext,
  type VendorEvent,
} from '@kvmx/vendor-ops';
import { MemoryAttributes } from './attributes.js';
import { EventBus } from './events.js';
import { type FaultOutcome, kvmMmuDoPageFault } from './fault.js';
import { GuestMemfd } from './gmem.js';
import { Memslot } from './memslot.js';
import { fail, type KvmResult, ok, okVoid } from './result.js';
import {
  KVM_FILTER_PRIVATE,
  KVM_FILTER_SHARED,
  RET_PF_EMULATE,
  RET_PF_FIXED,
  RET_PF_SPURIOUS,
  RET_PF_WRITE_PROTECTED,
  TdpMmu,
} from './tdp-mmu.js';
import {
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_CAP_GUEST_MEMFD,
  KVM_CAP_MEMORY_ATTRIBUTES,
  KVM_CAP_MEMORY_FAULT_INFO,
  KVM_CAP_USER_MEMORY2,
  KVM_CAP_VM_TYPES,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_MAX_NR_PAGES,
  KVM_MEM_READONLY,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  KVM_SET_USER_MEMORY_REGION_V1_FLAGS,
  KVM_USER_MEM_SLOTS,
} from './uapi.js';
import { Vcpu } from './vcpu.js';
import { VmmMemory } from './vmm-memory.js';

/** The modelled host: MAXPHYADDR 52 (CONTRACTS §2), so kvm_mmu_max_gfn() = 2^40 − 1. */
export const HOST_MAXPHYADDR = 52;
export const KVM_MMU_MAX_GFN = 2 ** (HOST_MAXPHYADDR - 12) - 1;

export interface CreateVmOptions {
  /** KVM_X86_*_VM: a name (`tdx`) or its number (5). */
  readonly type: VmTypeName | number;
  /**
   * The guest physical-address width (CPUID 0x80000008 EAX[23:16]), 48 or 52: for TDX the
   * GPAW (shared bit 47 or 51); for every type, 52 selects a 5-level TDP.
   */
  readonly gpaw?: number;
  /** Host memory to use (a fresh pool by default). */
  readonly pool?: FramePool;
  /** TDX: TD attribute SEPT_VE_DISABLE (a guest touching a PENDING page is fatal). */
  readonly septVeDisable?: boolean;
  /** TDX: the host's TDX module (shared by the host's TDs; on the same pool). */
  readonly tdxModule?: TdxModule;
  /** SEV/SEV-ES/SNP: the C-bit position (12..51, default 51); another value is EINVAL. */
  readonly cbit?: number;
  /** Injected KVM bugs to switch on (KVM_INJECTIONS names; an unknown name is EINVAL). */
  readonly inject?: readonly string[];
}

/** struct kvm_userspace_memory_region2. */
export interface UserMemoryRegion2 {
  readonly slot: number;
  readonly flags?: number;
  readonly guestPhysAddr: number;
  readonly memorySize: number;
  /** The VMM address of the shared backing; chosen (mmap'ed) by the facade when left out. */
  readonly userspaceAddr?: number;
  readonly guestMemfdOffset?: number;
  readonly guestMemfd?: number;
  /** Model option: back the shared half with 2 MiB host pages (hugetlbfs / THP). */
  readonly hostHugePages?: boolean;
}

/** struct kvm_memory_attributes. */
export interface MemoryAttributesArgs {
  readonly address: number;
  readonly size: number;
  readonly attributes: number;
  readonly flags?: number;
}

let nextVmId = 1;
/** File descriptors are process-wide: guest_memfds of different VMs never share a number. */
let nextFd = 10;

export class Kvm {
  readonly id: number;
  readonly vmType: VmTypeName;
  readonly pool: FramePool;
  readonly events: EventBus;
  readonly ops: KvmX86Ops;
  /** TDX: guest physical-address width; 48 for other types. */
  readonly gpaw: Gpaw;
  readonly attributes = new MemoryAttributes();
  readonly memslots = new Map<number, Memslot>();
  readonly gmems = new Map<number, GuestMemfd>();
  readonly vcpus: Vcpu[] = [];
  readonly vmm: VmmMemory;
  readonly mmu: TdpMmu;
  readonly septVeDisable: boolean;
  /** Injected KVM bugs switched on for this VM (`kvmx explore --inject`); empty normally. */
  readonly injected: ReadonlySet<KvmInjectionName>;
  /** injected.has('private-in-direct'), asked on every fault (the set never changes). */
  readonly injectedPrivateInDirect: boolean;
  /** kvm->arch.hypercall_exit_enabled (KVM_CAP_EXIT_HYPERCALL). */
  hypercallExitEnabled = 0;
  /** Messages of KVM_BUG_ON()s hit; a bugged VM refuses further ioctls with -EIO. */
  readonly bugs: string[] = [];
  /** kvm_vm_dead(): why the VM was killed (KVM_RUN then fails with -EIO), or null. */
  dead: string | null = null;
  /** kvm->mmu_invalidate_seq. */
  mmuInvalidateSeq = 0;
  /** The memslots generation (MMIO SPTEs carry it). */
  memslotsGeneration = 0;
  vmFdOpen = true;
  destroyed = false;

  private constructor(
    vmType: VmTypeName,
    gpaw: Gpaw,
    pool: FramePool,
    septVeDisable: boolean,
    ops: KvmX86Ops,
    events: EventBus,
    injected: ReadonlySet<KvmInjectionName>,
  ) {
    this.id = nextVmId++;
    this.injected = injected;
    this.injectedPrivateInDirect = injected.has('private-in-direct');
    this.vmType = vmType;
    this.gpaw = gpaw;
    this.pool = pool;
    this.septVeDisable = septVeDisable;
    this.vmm = new VmmMemory(pool);
    this.ops = ops;
    this.events = events;
    this.mmu = new TdpMmu({
      pool,
      ops,
      events,
      // kvm_mmu_get_tdp_level(): 5-level only for a guest physical width above 48 bits.
      rootLevel: tdxRootLevel(gpaw),
      mirrored: vmType === 'tdx',
      bug: (m) => this.kvmBug(m),
      injected,
    });
  }

  /**
   * KVM_CREATE_VM(type): EINVAL for a type this host does not support (KVM_CAP_VM_TYPES) or
   * a TDX GPAW other than 48/52. The vendor's vm_init sets the per-VM flags.
   */
  static create(options: CreateVmOptions): KvmResult<Kvm> {
    const name = typeof options.type === 'number' ? vmTypeName(options.type) : options.type;
    if (name === undefined || !isVmTypeName(name)) return fail(EINVAL);
    const gpaw = options.gpaw ?? 48;
    if (gpaw !== 48 && gpaw !== 52) return fail(EINVAL);
    const pool = options.pool ?? new FramePool();
    const events = new EventBus();
    let self: Kvm | null = null;
    const injected = new Set<KvmInjectionName>();
    for (const n of options.inject ?? []) {
      if (!isKvmInjectionName(n)) return fail(EINVAL);
      injected.add(n);
    }
    const ctx: VendorContext = {
      pool,
      injected,
      // Vendor code builds events only while somebody listens.
      get emit() {
        return events.active ? (e: VendorEvent) => events.emit(e) : null;
      },
      kickAllVcpus: () => self?.kickAllVcpus(),
      bug: (m) => self?.kvmBug(m),
    };
    const septVeDisable = options.septVeDisable ?? false;
    const ops = createVendorOps(name, ctx, {
      gpaw,
      septVeDisable,
      ...(options.tdxModule ? { tdxModule: options.tdxModule } : {}),
      ...(options.cbit !== undefined ? { cbit: options.cbit } : {}),
    });
    if (ops === null) return fail(EINVAL);
    events.onActiveChange = (on) => ops.setTracing?.(on);
    self = new Kvm(name, gpaw, pool, septVeDisable, ops, events, injected);
    return ok(self);
  }

  get arch() {
    return this.ops.arch;
  }

  /** The TD's vendor state (struct kvm_tdx), or null for other VM types. */
  get tdx(): TdxOps | null {
    return this.ops instanceof TdxOps ? this.ops : null;
  }

  /** The SEV/SEV-ES/SNP vendor state (struct kvm_sev_info and the RMP), or null. */
  get sev(): SevOps | null {
    return this.ops instanceof SevOps ? this.ops : null;
  }

  // ---- SEV: KVM_MEMORY_ENCRYPT_OP sub-commands -------------------------------------------

  /** VMSA pages given to the firmware by SNP_LAUNCH_FINISH, reclaimed at VM destruction. */
  private readonly vmsaPfns: number[] = [];

  /**
   * KVM_SEV_INIT2 (sev_guest_init2): ASID, VMSA features; EINVAL on a VM that is not
   * SEV/SEV-ES/SNP (sev_guest_init2 checks the VM type), EINVAL once vCPUs exist.
   */
  sevInit2(args: { vmsaFeatures?: number; ghcbVersion?: number } = {}): KvmResult {
    const sev = this.sev;
    if (sev === null) return fail(EINVAL);
    if (this.vmIoctlErrno() !== 0) return fail(this.vmIoctlErrno());
    return sevResult(sev.init2(args, this.vcpus.length));
  }

  /** KVM_SEV_SNP_LAUNCH_START (snp_launch_start): ENOTTY unless SNP; the SNP context. */
  snpLaunchStart(policy?: number): KvmResult {
    const sev = this.sev;
    if (sev === null) return fail(EINVAL);
    if (this.vmIoctlErrno() !== 0) return fail(this.vmIoctlErrno());
    return sevResult(sev.snpLaunchStart(policy));
  }

  /**
   * KVM_SEV_SNP_LAUNCH_UPDATE of [gpa, gpa+size) with page `type` (KVM_SEV_SNP_PAGE_TYPE_*):
   * models sev.c snp_launch_update() → kvm_gmem_populate() → sev_gmem_post_populate(). The
   * source is the memslot's shared backing at the same GPA (CONTRACTS §2); each page becomes
   * private in the RMP, is measured (not for UNMEASURED/ZERO contents), and ends validated.
   * Returns the pages done (the kernel writes gfn_start/len back).
   */
  snpLaunchUpdate(region: { gpa: number; size: number; type: number }): KvmResult<number> {
    const sev = this.sev;
    if (sev === null) return fail(EINVAL);
    if (this.vmIoctlErrno() !== 0) return fail(this.vmIoctlErrno());
    if (region.gpa % PAGE_SIZE !== 0) return fail(EINVAL);
    const params = { gfnStart: region.gpa / PAGE_SIZE, len: region.size, type: region.type };
    const slotIndex = (gfn: number) => {
      const slot = this.gfnToMemslot(gfn);
      const file = slot?.gmem?.file;
      if (slot === undefined || !file || file.closed) return null;
      return { slot, file, index: gfn - slot.baseGfn + (slot.gmem?.pgoff ?? 0) };
    };
    const r = sev.snpLaunchUpdate(params, {
      slotCanBePrivate: (gfn) => this.gfnToMemslot(gfn)?.canBePrivate === true,
      slotPagesFrom: (gfn) => {
        const slot = this.gfnToMemslot(gfn);
        return slot === undefined ? 0 : slot.endGfn - gfn;
      },
      memIsPrivate: (gfn) => this.memIsPrivate(gfn),
      // __kvm_gmem_get_pfn(): no gmem_prepare here; kvm_gmem_populate() checks uptodate.
      gmemGetPfn: (gfn) => {
        const at = slotIndex(gfn);
        if (at === null) return -EFAULT;
        const got = at.file.getOrAllocate(this.pool, at.index);
        if (got.pfn === NO_FRAME) return -ENOMEM;
        return { pfn: got.pfn, prepared: at.file.prepared.has(at.index) };
      },
      copySource: (gfn, pfn) => {
        const slot = this.gfnToMemslot(gfn);
        const src = slot === undefined ? undefined : this.vmm.peek(slot.gfnToHvaPage(gfn));
        if (src === undefined) this.pool.zero(pfn);
        else this.pool.copy(pfn, 0, src, 0, PAGE_SIZE);
      },
      zeroPage: (pfn) => this.pool.zero(pfn),
      markPrepared: (gfn) => {
        const at = slotIndex(gfn);
        if (at !== null) at.file.prepared.add(at.index);
      },
    });
    if (r.ret < 0) return fail(-r.ret);
    return ok(params.gfnStart - region.gpa / PAGE_SIZE);
  }

  /**
   * KVM_SEV_SNP_LAUNCH_FINISH (snp_launch_finish): each vCPU's VMSA page (a fresh host page)
   * goes to the firmware, private and immutable at INITIAL_VMSA_GPA; pre-faulting is allowed
   * afterwards. ENOTTY unless SNP.
   */
  snpLaunchFinish(): KvmResult {
    const sev = this.sev;
    if (sev === null) return fail(EINVAL);
    if (this.vmIoctlErrno() !== 0) return fail(this.vmIoctlErrno());
    if (!sev.sev.snpActive || !sev.sev.snpContext) return sevResult(sev.snpLaunchFinish([]));
    const pfns: number[] = [];
    for (let i = 0; i < this.vcpus.length; i++) {
      const pfn = this.pool.alloc(FrameOwner.SNP_FIRMWARE);
      if (pfn === NO_FRAME) {
        for (const p of pfns) this.pool.free(p);
        return fail(ENOMEM);
      }
      pfns.push(pfn);
    }
    const r = sev.snpLaunchFinish(pfns);
    this.vmsaPfns.push(...pfns);
    return sevResult(r);
  }

  /** `check` with `root: rmp`: the RMP entry of the guest_memfd frame behind `gpa`, if any. */
  rmpView(gpa: number): RmpCheckView | null {
    const sev = this.sev;
    if (sev === null) return null;
    const gfn = Math.floor(gpa / PAGE_SIZE);
    const slot = this.gfnToMemslot(gfn);
    const file = slot?.gmem?.file;
    if (slot === undefined || !file) return null;
    const pfn = file.pages.get(gfn - slot.baseGfn + (slot.gmem?.pgoff ?? 0));
    return pfn === undefined ? null : sev.rmpView(gfn * PAGE_SIZE, pfn);
  }

  // ---- TDX: KVM_MEMORY_ENCRYPT_OP sub-commands ------------------------------------------

  /** KVM_TDX_INIT_VM: tdx_td_init() (HKID, TDR, TDCS, MNG.CREATE … MNG.INIT). */
  tdxInitVm(args: { maxVcpus?: number } = {}): KvmResult {
    const tdx = this.tdx;
    if (tdx === null) return fail(EINVAL);
    if (this.vmIoctlErrno() !== 0) return fail(this.vmIoctlErrno());
    const r = tdx.tdInit(args.maxVcpus ?? 8);
    return r === 0 ? okVoid() : fail(r);
  }

  /** KVM_TDX_INIT_VCPU: tdx_td_vcpu_init() (TDVPR, TDCX, VP.CREATE, VP.ADDCX, VP.INIT). */
  tdxInitVcpu(vcpu: Vcpu, rcx = 0): KvmResult {
    const tdx = this.tdx;
    if (tdx === null || vcpu.kvm !== this) return fail(EINVAL);
    if (this.vmIoctlErrno() !== 0) return fail(this.vmIoctlErrno());
    const r = tdx.vcpuInit(vcpu.id, rcx);
    return r === 0 ? okVoid() : fail(r);
  }

  /**
   * KVM_TDX_INIT_MEM_REGION on `vcpu`: models tdx.c tdx_vcpu_init_mem_region() →
   * kvm_gmem_populate() → tdx_gmem_post_populate(): per page, map the private GPA through
   * the mirror (SEPT.ADD for missing levels; set_external_spte only counts it premapped),
   * TDH.MEM.PAGE.ADD from the source (the shared backing at `sourceGpa`, by default the
   * same GPA), and with `measure` TDH.MR.EXTEND per 256 bytes. Returns the pages added.
   */
  tdxInitMemRegion(
    vcpu: Vcpu,
    region: { gpa: number; nrPages: number; sourceGpa?: number },
    measure: boolean,
  ): KvmResult<number> {
    const tdx = this.tdx;
    if (tdx === null || vcpu.kvm !== this) return fail(EINVAL);
    if (this.vmIoctlErrno() !== 0) return fail(this.vmIoctlErrno());
    if (tdx.state !== TD_STATE_INITIALIZED || !tdx.vcpus.get(vcpu.id)?.initialized)
      return fail(EINVAL);
    const { gpa, nrPages } = region;
    const source = region.sourceGpa ?? gpa;
    const end = gpa + nrPages * PAGE_SIZE;
    if (
      gpa % PAGE_SIZE !== 0 ||
      source % PAGE_SIZE !== 0 ||
      nrPages <= 0 ||
      canonicalGfn(this, gpa) !== gpa / PAGE_SIZE ||
      canonicalGfn(this, end - PAGE_SIZE) !== (end - PAGE_SIZE) / PAGE_SIZE
    ) {
      return fail(EINVAL);
    }
    if (this.mmu.allocRoots() !== 0) return fail(ENOMEM);
    for (let i = 0; i < nrPages; i++) {
      const r = this.populateOne(vcpu, tdx, gpa / PAGE_SIZE + i, source / PAGE_SIZE + i, measure);
      if (r < 0) return i === 0 ? fail(r) : ok(i);
    }
    return ok(nrPages);
  }

  /** kvm_gmem_populate() for one page with tdx_gmem_post_populate(). */
  private populateOne(
    vcpu: Vcpu,
    tdx: TdxOps,
    gfn: number,
    srcGfn: number,
    measure: boolean,
  ): number {
    const slot = this.gfnToMemslot(gfn);
    if (slot === undefined || !slot.canBePrivate) return -EINVAL;
    const file = slot.gmem?.file;
    if (!file || file.closed) return -EFAULT;
    if (!this.memIsPrivate(gfn)) return -EINVAL;
    const index = gfn - slot.baseGfn + (slot.gmem?.pgoff ?? 0);
    if (file.prepared.has(index)) return -EEXIST;
    const srcSlot = this.gfnToMemslot(srcGfn);
    if (srcSlot === undefined) return -EFAULT;
    const srcPfn = this.vmm.pfnFor(srcSlot.gfnToHvaPage(srcGfn));
    if (srcPfn === NO_FRAME) return -ENOMEM;
    const code = pferrSet(PFERR_GUEST_FINAL_MASK, PFERR_PRIVATE_ACCESS);
    const mapped = this.tdpMapPage(vcpu, gfn * PAGE_SIZE, code);
    if (mapped.ret < 0) return mapped.ret;
    const root = this.mmu.mirrorRoot;
    const leaf = root === null ? null : this.mmu.lookup(root, gfn);
    if (leaf === null) return -EIO;
    return tdx.pageAdd(gfn, leaf.pfn, srcPfn, measure);
  }

  /** KVM_TDX_FINALIZE_VM: tdx_td_finalize() (no premapped pages left, TDH.MR.FINALIZE). */
  tdxFinalizeVm(): KvmResult {
    const tdx = this.tdx;
    if (tdx === null) return fail(EINVAL);
    if (this.vmIoctlErrno() !== 0) return fail(this.vmIoctlErrno());
    const r = tdx.finalize();
    return r === 0 ? okVoid() : fail(r);
  }

  /** True once KVM_TDX_FINALIZE_VM succeeded (TD_STATE_RUNNABLE). */
  get tdxRunnable(): boolean {
    return this.tdx?.state === TD_STATE_RUNNABLE;
  }

  get gfnDirectBits(): number {
    return this.ops.arch.gfnDirectBits;
  }

  /** What a VM ioctl fails with before doing anything: EBADF once the VM fd is closed, EIO for a bugged or dead VM. */
  private vmIoctlErrno(): number {
    if (!this.vmFdOpen) return EBADF;
    if (this.bugs.length > 0 || this.dead !== null) return EIO;
    return 0;
  }

  /** KVM_BUG_ON(): remember, report, and refuse further ioctls. */
  kvmBug(message: string): void {
    this.bugs.push(message);
    if (this.events.active)
      this.events.emit({ type: 'violation', invariant: 'kvm-bug', detail: message });
  }

  /** kvm_vm_dead(): KVM kills the VM on purpose (e.g. a TD touching a PENDING page). */
  vmDead(message: string): void {
    this.dead = message;
    if (this.events.active) {
      this.events.emit({ type: 'exit', vcpu: -1, reason: 'vm_dead', detail: message });
    }
  }

  /**
   * What a kick does beyond the model's own vCPUs (which are never in guest mode between
   * operations): a driver that keeps a vCPU "running" elsewhere — e.g. holding the TD's epoch
   * in the module — releases it here, as KVM_REQ_OUTSIDE_GUEST_MODE forces a real vCPU out.
   */
  onKick: (() => void) | null = null;

  kickAllVcpus(): void {
    for (const v of this.vcpus) v.kicks++;
    this.onKick?.();
  }

  // ---- capabilities, vCPUs -----------------------------------------------------------

  /**
   * KVM_CHECK_EXTENSION on /dev/kvm (kvm_vm_ioctl_check_extension_generic() and x86's
   * kvm_vm_ioctl_check_extension() without a VM): KVM_CAP_VM_TYPES is the bitmask of types
   * this build runs; 0 for capabilities the model does not know.
   */
  static checkExtension(cap: number): number {
    switch (cap) {
      case KVM_CAP_VM_TYPES:
        return supportedVmTypes().reduce((mask, t) => mask | (1 << vmTypeNumber(t)), 0);
      case KVM_CAP_USER_MEMORY2:
      case KVM_CAP_MEMORY_FAULT_INFO:
      case KVM_CAP_GUEST_MEMFD:
        return 1;
      case KVM_CAP_EXIT_HYPERCALL:
        return 1 << KVM_HC_MAP_GPA_RANGE; // KVM_EXIT_HYPERCALL_VALID_MASK
      case KVM_CAP_MEMORY_ATTRIBUTES:
        return KVM_MEMORY_ATTRIBUTE_PRIVATE; // !kvm: every attribute some VM type supports
      default:
        return 0;
    }
  }

  /** KVM_CHECK_EXTENSION on the VM fd: KVM_CAP_MEMORY_ATTRIBUTES depends on the VM's type. */
  checkExtension(cap: number): number {
    if (cap === KVM_CAP_MEMORY_ATTRIBUTES) return this.supportedMemAttributes();
    return Kvm.checkExtension(cap);
  }

  /** KVM_ENABLE_CAP. Only KVM_CAP_EXIT_HYPERCALL is modelled (args[0] = bitmask of nrs). */
  enableCap(cap: number, arg: number): KvmResult {
    if (this.vmIoctlErrno() !== 0) return fail(this.vmIoctlErrno());
    if (cap !== KVM_CAP_EXIT_HYPERCALL) return fail(EINVAL);
    if ((arg & ~(1 << 12)) !== 0) return fail(EINVAL);
    this.hypercallExitEnabled = arg;
    // user_exit_on_hypercall(): SEV's page-state changes read the same mask.
    const sev = this.sev;
    if (sev !== null) sev.hypercallExitEnabled = (arg & (1 << KVM_HC_MAP_GPA_RANGE)) !== 0;
    return okVoid();
  }

  /** KVM_CREATE_VCPU (a TD's vCPUs only after KVM_TDX_INIT_VM: tdx_vcpu_create()). */
  createVcpu(): KvmResult<Vcpu> {
    if (this.vmIoctlErrno() !== 0) return fail(this.vmIoctlErrno());
    const tdx = this.tdx;
    if (tdx !== null && tdx.state !== TD_STATE_INITIALIZED) return fail(EIO);
    const vcpu = new Vcpu(this, this.vcpus.length);
    this.vcpus.push(vcpu);
    return ok(vcpu);
  }

  // ---- memory attributes ---------------------------------------------------------------

  /** kvm_supported_mem_attributes(). */
  supportedMemAttributes(): number {
    return this.arch.hasPrivateMem ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
  }

  /** kvm_mem_is_private(kvm, gfn). */
  memIsPrivate(gfn: number): boolean {
    return (this.attributes.get(gfn) & KVM_MEMORY_ATTRIBUTE_PRIVATE) !== 0;
  }

  /**
   * KVM_SET_MEMORY_ATTRIBUTES: kvm_vm_ioctl_set_mem_attributes() validation, then
   * kvm_vm_set_mem_attributes(): pre pass (zap what the new value contradicts), store, post
   * pass (huge-page mixed tracking).
   */
  setMemoryAttributes(args: MemoryAttributesArgs): KvmResult {
    if (this.vmIoctlErrno() !== 0) return fail(this.vmIoctlErrno());
    const { address, size, attributes } = args;
    if ((args.flags ?? 0) !== 0) return fail(EINVAL);
    if ((attributes & ~this.supportedMemAttributes()) !== 0) return fail(EINVAL);
    if (size === 0 || address + size > 2 ** 64) return fail(EINVAL);
    if (address % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0) return fail(EINVAL);
    const start = address / PAGE_SIZE;
    const end = start + size / PAGE_SIZE;
    if (this.attributes.rangeHas(start, end, attributes)) return okVoid();
    // Pre pass: converting to private zaps shared mappings, to shared zaps private ones.
    const filter =
      (attributes & KVM_MEMORY_ATTRIBUTE_PRIVATE) !== 0 ? KVM_FILTER_SHARED : KVM_FILTER_PRIVATE;
    this.mmuInvalidateSeq++;
    // kvm_arch_pre_set_memory_attributes(); injection no-zap-shared-on-private skips it when
    // converting to private, leaving the shared mappings in place.
    const skipZap = filter === KVM_FILTER_SHARED && this.injected.has('no-zap-shared-on-private');
    for (const slot of skipZap ? [] : this.slotsOverlapping(start, end)) {
      const s = Math.max(start, slot.baseGfn);
      const e = Math.min(end, slot.endGfn);
      this.mmu.unmapGfnRange(s, e, filter);
    }
    this.attributes.set(start, end, attributes);
    for (const slot of this.slotsOverlapping(start, end)) {
      this.postSetMemoryAttributes(
        slot,
        Math.max(start, slot.baseGfn),
        Math.min(end, slot.endGfn),
        attributes,
      );
    }
    this.mmuInvalidateSeq++;
    if (this.events.active) {
      this.events.emit({
        type: 'attributes',
        gpa: hex(address),
        size: hex(size),
        attributes: hex(attributes),
      });
    }
    return okVoid();
  }

  /** hugepage_has_attrs(kvm, slot, gfn, level, attrs). */
  private hugepageHasAttrs(slot: Memslot, gfn: number, level: PgLevel, attrs: number): boolean {
    const n = pagesPerHpage(level);
    if (level === PG_LEVEL_2M) return this.attributes.rangeHas(gfn, gfn + n, attrs);
    const step = pagesPerHpage((level - 1) as PgLevel);
    for (let g = gfn; g < gfn + n; g += step) {
      if (slot.isMixed(g, (level - 1) as PgLevel) || this.attributes.get(g) !== attrs) return false;
    }
    return true;
  }

  /** models mmu.c: kvm_arch_post_set_memory_attributes() for one slot's clipped range. */
  private postSetMemoryAttributes(slot: Memslot, start: number, end: number, attrs: number): void {
    for (let level = PG_LEVEL_2M; level <= KVM_MAX_HUGEPAGE_LEVEL; level++) {
      const lvl = level as PgLevel;
      const n = pagesPerHpage(lvl);
      let gfn = start - (start % n);
      const inSlot = (g: number) => g >= slot.baseGfn && g + n <= slot.endGfn;
      if (gfn !== start || gfn + n > end) {
        if (inSlot(gfn)) slot.setMixed(gfn, lvl, !this.hugepageHasAttrs(slot, gfn, lvl, attrs));
        gfn += n;
      }
      for (; gfn + n <= end; gfn += n) slot.setMixed(gfn, lvl, false);
      if (gfn < end && gfn + n <= slot.endGfn) {
        slot.setMixed(gfn, lvl, !this.hugepageHasAttrs(slot, gfn, lvl, attrs));
      }
    }
  }

  /** models mmu.c: kvm_mmu_init_memslot_memory_attributes(). */
  private initMemslotMemoryAttributes(slot: Memslot): void {
    if (!this.arch.hasPrivateMem) return;
    for (let level = PG_LEVEL_2M; level <= KVM_MAX_HUGEPAGE_LEVEL; level++) {
      const lvl = level as PgLevel;
      const n = pagesPerHpage(lvl);
      let start = slot.baseGfn - (slot.baseGfn % n);
      const end = slot.endGfn - (slot.endGfn % n);
      if (start < slot.baseGfn) start += n;
      for (let gfn = start; gfn < end; gfn += n) {
        slot.setMixed(gfn, lvl, !this.hugepageHasAttrs(slot, gfn, lvl, this.attributes.get(gfn)));
      }
    }
  }

  // ---- memslots --------------------------------------------------------------------------

  /**
   * The memslot containing an alias-free GFN (kvm_vcpu_gfn_to_memslot()). Models kvm_host.h:
   * ____gfn_to_memslot() — the memslots' last_used_slot first, then search_memslots(). KVM's
   * kvm_replace_memslot() points the cache at a replacing slot; the model drops it on every
   * memslot change (memslotsChanged()), which finds the same slots.
   */
  gfnToMemslot(gfn: number): Memslot | undefined {
    const last = this.lastUsedSlot;
    if (last?.containsGfn(gfn)) return last;
    for (const slot of this.memslots.values()) {
      if (slot.containsGfn(gfn)) {
        this.lastUsedSlot = slot;
        return slot;
      }
    }
    return undefined;
  }
  /** The slot gfnToMemslot() found last; memslotsChanged() forgets it. */
  private lastUsedSlot: Memslot | null = null;

  /** After any memslot change: a new generation, and no cached slot (not even a dead one). */
  private memslotsChanged(): void {
    this.memslotsGeneration += 2;
    this.lastUsedSlot = null;
  }

  slotsOverlapping(start: number, end: number): Memslot[] {
    const out: Memslot[] = [];
    for (const slot of this.memslots.values()) {
      if (slot.baseGfn < end && start < slot.endGfn) out.push(slot);
    }
    return out.sort((a, b) => a.baseGfn - b.baseGfn);
  }

  /** KVM_SET_USER_MEMORY_REGION (v1): GUEST_MEMFD and other v2-only flags are EINVAL. */
  setUserMemoryRegion(region: UserMemoryRegion2): KvmResult {
    if (((region.flags ?? 0) & ~KVM_SET_USER_MEMORY_REGION_V1_FLAGS) !== 0) return fail(EINVAL);
    return this.setUserMemoryRegion2({ ...region, guestMemfd: 0, guestMemfdOffset: 0 });
  }

  /** models kvm_main.c: check_memory_region_flags(). */
  private checkMemoryRegionFlags(flags: number): number {
    let valid = KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_GUEST_MEMFD;
    // Dirty logging private memory is not supported.
    if ((flags & KVM_MEM_GUEST_MEMFD) !== 0) valid &= ~KVM_MEM_LOG_DIRTY_PAGES;
    // kvm_arch_has_readonly_mem() is !has_protected_state on x86; never with GUEST_MEMFD.
    if (!this.arch.hasProtectedState && (flags & KVM_MEM_GUEST_MEMFD) === 0)
      valid |= KVM_MEM_READONLY;
    return (flags & ~valid) !== 0 ? -EINVAL : 0;
  }

  /**
   * KVM_SET_USER_MEMORY_REGION2: models kvm_main.c __kvm_set_memory_region() with
   * kvm_gmem_bind() and x86's kvm_arch_prepare_memory_region(): create, delete (size 0),
   * move (new GPA), flags-only change.
   */
  setUserMemoryRegion2(region: UserMemoryRegion2): KvmResult {
    if (this.vmIoctlErrno() !== 0) return fail(this.vmIoctlErrno());
    const flags = region.flags ?? 0;
    const r = this.checkMemoryRegionFlags(flags);
    if (r !== 0) return fail(r);
    const id = region.slot & 0xffff;
    const asId = region.slot >>> 16;
    if (asId !== 0 || id >= KVM_USER_MEM_SLOTS) return fail(EINVAL);
    const { guestPhysAddr: gpa, memorySize: size } = region;
    if (size % PAGE_SIZE !== 0 || gpa % PAGE_SIZE !== 0) return fail(EINVAL);
    const hva = region.userspaceAddr;
    if (hva !== undefined && hva % PAGE_SIZE !== 0) return fail(EINVAL);
    const gmemOffset = region.guestMemfdOffset ?? 0;
    if (
      (flags & KVM_MEM_GUEST_MEMFD) !== 0 &&
      (gmemOffset % PAGE_SIZE !== 0 || gmemOffset + size > 2 ** 63)
    ) {
      return fail(EINVAL);
    }
    if (gpa + size > 2 ** 64) return fail(EINVAL);
    const npages = size / PAGE_SIZE;
    if (npages > KVM_MEM_MAX_NR_PAGES) return fail(EINVAL);
    const old = this.memslots.get(id);
    const baseGfn = gpa / PAGE_SIZE;

    if (size === 0) {
      if (old === undefined) return fail(EINVAL);
      this.deleteMemslot(old);
      return okVoid();
    }
    let change: 'create' | 'move' | 'flags';
    if (old === undefined) change = 'create';
    else {
      // Private memslots are immutable: they can only be deleted.
      if ((flags & KVM_MEM_GUEST_MEMFD) !== 0) return fail(EINVAL);
      if (
        (hva !== undefined && hva !== old.userspaceAddr) ||
        npages !== old.npages ||
        ((flags ^ old.flags) & KVM_MEM_READONLY) !== 0
      ) {
        return fail(EINVAL);
      }
      if (baseGfn !== old.baseGfn) change = 'move';
      else if (flags !== old.flags) change = 'flags';
      else return okVoid();
    }
    if (change !== 'flags') {
      for (const s of this.memslots.values()) {
        if (s.id !== id && s.baseGfn < baseGfn + npages && baseGfn < s.endGfn) return fail(EEXIST);
      }
      // kvm_arch_prepare_memory_region(): beyond the host's MAXPHYADDR, or an alias GFN.
      const last = baseGfn + npages - 1;
      if (last > KVM_MMU_MAX_GFN) return fail(EINVAL);
      if (this.gfnDirectBits !== 0 && canonicalGfn(this, last * PAGE_SIZE) !== last)
        return fail(EINVAL);
    }
    if (change === 'create') {
      let gmem: GuestMemfd | undefined;
      if ((flags & KVM_MEM_GUEST_MEMFD) !== 0) {
        // kvm_gmem_bind(): the fd must be a guest_memfd of this VM; offset rules; no overlap.
        // Any descriptor that is not one of this VM's guest_memfds (/dev/kvm, the VM fd, a
        // memfd, another VM's guest_memfd) is EINVAL; a closed one is EBADF.
        gmem = this.gmems.get(region.guestMemfd ?? -1);
        if (gmem === undefined || gmem.vmId !== this.id) return fail(EINVAL);
        if (gmem.closed) return fail(EBADF);
        const start = gmemOffset / PAGE_SIZE;
        if (gmemOffset + size > gmem.size) return fail(EINVAL);
        if (gmem.overlapsBinding(start, start + npages)) return fail(EINVAL);
      }
      const userspaceAddr = hva ?? this.vmm.mmap(size, gpa, region.hostHugePages ?? false);
      const slot = new Memslot(id, baseGfn, npages, flags, userspaceAddr, null);
      if (gmem !== undefined) {
        const start = gmemOffset / PAGE_SIZE;
        slot.gmem = { file: gmem, pgoff: start };
        gmem.bindings.push({ start, end: start + npages, slot });
        if (this.events.active) {
          this.events.emit({
            type: 'gmem',
            op: 'bind',
            gmem: gmem.fd,
            offset: hex(gmemOffset),
            size: hex(size),
          });
        }
      }
      this.memslots.set(id, slot);
      this.initMemslotMemoryAttributes(slot);
      this.memslotsChanged();
      return okVoid();
    }
    const slot = old as Memslot;
    if (change === 'move') {
      // KVM_MR_MOVE: the old GPA range is flushed (kvm_arch_flush_shadow_memslot), then the
      // slot reappears with fresh metadata at the new base.
      this.flushShadowMemslot(slot);
      this.memslots.delete(id);
      const moved = new Memslot(id, baseGfn, npages, flags, slot.userspaceAddr, null);
      this.memslots.set(id, moved);
      this.initMemslotMemoryAttributes(moved);
    } else {
      slot.flags = flags;
    }
    this.memslotsChanged();
    return okVoid();
  }

  /** KVM_MR_DELETE: flush the slot's mappings (both kinds), unbind its guest_memfd. */
  private deleteMemslot(slot: Memslot): void {
    this.flushShadowMemslot(slot);
    const file = slot.gmem?.file;
    if (file) {
      file.bindings = file.bindings.filter((b) => b.slot !== slot);
      if (this.events.active) {
        this.events.emit({
          type: 'gmem',
          op: 'unbind',
          gmem: file.fd,
          offset: hex((slot.gmem?.pgoff ?? 0) * PAGE_SIZE),
          size: hex(slot.npages * PAGE_SIZE),
        });
      }
    }
    this.memslots.delete(slot.id);
    this.memslotsChanged();
  }

  /**
   * models mmu.c: kvm_arch_flush_shadow_memslot() — a DEFAULT VM (SLOT_ZAP_ALL quirk on)
   * zaps everything (kvm_mmu_zap_all_fast, direct roots only); every other type zaps the
   * slot's range with both filters (kvm_mmu_zap_memslot), so a TD loses the slot's private
   * leaves too.
   */
  private flushShadowMemslot(slot: Memslot): void {
    this.mmuInvalidateSeq++;
    if (this.vmType === 'default') {
      this.mmu.zapAllDirect();
      return;
    }
    this.mmu.unmapGfnRange(slot.baseGfn, slot.endGfn, KVM_FILTER_PRIVATE | KVM_FILTER_SHARED);
  }

  // ---- guest_memfd -----------------------------------------------------------------------

  /** KVM_CREATE_GUEST_MEMFD: no flags are valid in this version; size > 0, page-aligned. */
  createGuestMemfd(args: { size: number; flags?: number }): KvmResult<number> {
    if (this.vmIoctlErrno() !== 0) return fail(this.vmIoctlErrno());
    const flags = args.flags ?? 0;
    if (flags !== 0) return fail(EINVAL);
    if (args.size <= 0 || args.size % PAGE_SIZE !== 0) return fail(EINVAL);
    const fd = nextFd++;
    const file = new GuestMemfd(fd, this.id, args.size, flags);
    file.noZero = this.injected.has('no-zero-on-accept');
    this.gmems.set(fd, file);
    return ok(fd);
  }

  /**
   * fallocate() on a guest_memfd: models guest_memfd.c kvm_gmem_fallocate() →
   * kvm_gmem_punch_hole() (zap private mappings of every binding, then drop the pages) or
   * kvm_gmem_allocate() (EINVAL beyond the file's size).
   */
  gmemFallocate(fd: number, mode: number, offset: number, len: number): KvmResult {
    const gmem = this.gmems.get(fd);
    if (gmem === undefined || gmem.closed) return fail(EBADF);
    if (offset < 0 || len <= 0) return fail(EINVAL); // vfs_fallocate()
    if ((mode & FALLOC_FL_KEEP_SIZE) === 0) return fail(EOPNOTSUPP);
    if ((mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) !== 0) return fail(EOPNOTSUPP);
    if (offset % PAGE_SIZE !== 0 || len % PAGE_SIZE !== 0) return fail(EINVAL);
    const start = offset / PAGE_SIZE;
    const end = (offset + len) / PAGE_SIZE;
    if ((mode & FALLOC_FL_PUNCH_HOLE) !== 0) {
      this.gmemInvalidate(gmem, start, end);
      const freed = gmem.truncate(this.pool, start, end);
      if (this.ops.gmemInvalidate) for (const pfn of freed) this.ops.gmemInvalidate(pfn, pfn + 1);
      if (this.events.active) {
        this.events.emit({
          type: 'gmem',
          op: 'punch_hole',
          gmem: fd,
          offset: hex(offset),
          size: hex(len),
        });
      }
      return okVoid();
    }
    if (offset + len > gmem.size) return fail(EINVAL);
    for (let i = start; i < end; i++) {
      const r = gmem.getOrAllocate(this.pool, i);
      if (r.pfn === NO_FRAME) return fail(ENOMEM);
    }
    if (this.events.active) {
      this.events.emit({
        type: 'gmem',
        op: 'allocate',
        gmem: fd,
        offset: hex(offset),
        size: hex(len),
      });
    }
    return okVoid();
  }

  /**
   * models guest_memfd.c: kvm_gmem_invalidate_begin() — for each binding of [start, end),
   * zap the GFN range with attr_filter = KVM_FILTER_PRIVATE.
   */
  private gmemInvalidate(gmem: GuestMemfd, start: number, end: number): void {
    for (const b of gmem.bindingsIn(start, end)) {
      const pgoff = b.start;
      const s = b.slot.baseGfn + Math.max(pgoff, start) - pgoff;
      const e = b.slot.baseGfn + Math.min(pgoff + b.slot.npages, end) - pgoff;
      this.mmuInvalidateSeq++;
      this.mmu.unmapGfnRange(s, e, KVM_FILTER_PRIVATE);
    }
  }

  /**
   * close() of a guest_memfd: models kvm_gmem_release() — zap every binding's private
   * mappings, detach the slots, free the pages; drops the file's reference on the VM.
   */
  gmemClose(fd: number): KvmResult {
    const gmem = this.gmems.get(fd);
    if (gmem === undefined || gmem.closed) return fail(EBADF);
    this.gmemInvalidate(gmem, 0, gmem.npages);
    for (const b of gmem.bindings) if (b.slot.gmem) b.slot.gmem.file = null;
    gmem.bindings = [];
    const freed = gmem.truncate(this.pool, 0, gmem.npages);
    if (this.ops.gmemInvalidate) for (const pfn of freed) this.ops.gmemInvalidate(pfn, pfn + 1);
    gmem.closed = true;
    if (this.events.active) {
      this.events.emit({
        type: 'gmem',
        op: 'release',
        gmem: fd,
        offset: '0x0',
        size: hex(gmem.size),
      });
    }
    this.maybeDestroy();
    return okVoid();
  }

  /**
   * models guest_memfd.c: kvm_gmem_get_pfn() — the folio behind `gfn` in the slot's file,
   * allocated zeroed on first use; vendor gmem_prepare on a page's first hand-out.
   */
  gmemGetPfn(slot: Memslot, gfn: number): { pfn: number; maxOrder: number } | { errno: number } {
    const r = this.gmemGetPfnOrErrno(slot, gfn);
    return r < 0 ? { errno: r } : { pfn: r, maxOrder: 0 };
  }

  /**
   * gmemGetPfn() for the fault path, without a result object: the PFN (folio order 0), or a
   * negative errno.
   */
  gmemGetPfnOrErrno(slot: Memslot, gfn: number): number {
    const file = slot.gmem?.file;
    if (!file || file.closed) return -EFAULT;
    const index = gfn - slot.baseGfn + (slot.gmem?.pgoff ?? 0);
    const pfn = file.allocatePfn(this.pool, index);
    if (pfn === NO_FRAME) return -ENOMEM;
    if (file.fresh && this.events.active) {
      this.events.emit({
        type: 'gmem',
        op: 'allocate',
        gmem: file.fd,
        offset: hex(index * PAGE_SIZE),
        size: hex(PAGE_SIZE),
        pfn: hex(pfn),
      });
    }
    if (this.ops.gmemPrepare !== undefined && !file.prepared.has(index)) {
      const ret = this.ops.gmemPrepare(pfn, gfn, 0);
      if (ret !== 0) return ret;
    }
    file.prepared.add(index);
    return pfn;
  }

  // ---- MMU entry points ------------------------------------------------------------------

  /**
   * An MMU-notifier invalidation of the VMM memory behind [gpa, gpa+size): every slot whose
   * HVA range overlaps it gets kvm_unmap_gfn_range() with attr_filter = KVM_FILTER_SHARED
   * (kvm_main.c kvm_mmu_notifier_invalidate_range_start()), so mirrors are never touched.
   */
  invalidateHva(gpa: number, size: number): KvmResult {
    const start = Math.floor(gpa / PAGE_SIZE);
    const end = Math.ceil((gpa + size) / PAGE_SIZE);
    const hvaRanges: Array<[number, number]> = [];
    for (const slot of this.slotsOverlapping(start, end)) {
      const s = Math.max(start, slot.baseGfn);
      const e = Math.min(end, slot.endGfn);
      hvaRanges.push([slot.gfnToHvaPage(s), slot.gfnToHvaPage(e - 1) + 1]);
    }
    this.mmuInvalidateSeq++;
    for (const slot of this.memslots.values()) {
      const first = slot.gfnToHvaPage(slot.baseGfn);
      const last = first + slot.npages;
      for (const [hs, he] of hvaRanges) {
        const s = Math.max(hs, first);
        const e = Math.min(he, last);
        if (s >= e) continue;
        this.mmu.unmapGfnRange(
          slot.baseGfn + (s - first),
          slot.baseGfn + (e - first),
          KVM_FILTER_SHARED,
        );
      }
    }
    return okVoid();
  }

  /**
   * KVM_PRE_FAULT_MEMORY on `vcpu`: models x86 kvm_arch_vcpu_pre_fault_memory() looped by
   * kvm_vcpu_pre_fault_memory(). Returns the bytes mapped; an error only if nothing was.
   */
  preFaultMemory(vcpu: Vcpu, gpa: number, size: number): KvmResult<number> {
    if (this.vmIoctlErrno() !== 0) return fail(this.vmIoctlErrno());
    if (gpa % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0 || size === 0) return fail(EINVAL);
    let done = 0;
    while (done < size) {
      const r = this.preFaultOne(vcpu, gpa + done, size - done);
      if (r < 0) return done === 0 ? fail(-r) : ok(done);
      done += r;
    }
    return ok(done);
  }

  private preFaultOne(vcpu: Vcpu, gpa: number, size: number): number {
    if (!this.arch.preFaultAllowed) return -EOPNOTSUPP;
    if (this.mmu.allocRoots() !== 0) return -ENOMEM;
    const gfn = gpa / PAGE_SIZE;
    if (this.gfnDirectBits !== 0 && canonicalGfn(this, gpa) !== gfn) return -EINVAL;
    let errorCode = PFERR_GUEST_FINAL_MASK;
    let addr = gpa;
    if (this.arch.hasPrivateMem && this.memIsPrivate(gfn)) {
      errorCode = pferrSet(errorCode, PFERR_PRIVATE_ACCESS);
    } else if (this.gfnDirectBits !== 0) {
      addr = gpa + this.gfnDirectBits * PAGE_SIZE;
    }
    const out = this.tdpMapPage(vcpu, addr, errorCode);
    if (out.ret < 0) return out.ret;
    const hsize = pagesPerHpage(out.level) * PAGE_SIZE;
    const end = gpa - (gpa % hsize) + hsize;
    return Math.min(size, end - gpa);
  }

  /**
   * models mmu.c: kvm_tdp_map_page() — fault in one page on behalf of KVM (pre-fault, TDX's
   * INIT_MEM_REGION), retrying RET_PF_RETRY; RET_PF_EMULATE is -ENOENT.
   */
  tdpMapPage(
    vcpu: Vcpu,
    gpa: number,
    errorCode: number,
  ): { ret: number; level: PgLevel; outcome: FaultOutcome | null } {
    for (let tries = 0; tries < 16; tries++) {
      const out = kvmMmuDoPageFault(this, vcpu, gpa, errorCode, true);
      if (out.ret < 0) return { ret: out.ret, level: PG_LEVEL_4K, outcome: out };
      switch (out.ret) {
        case RET_PF_FIXED:
        case RET_PF_SPURIOUS:
        case RET_PF_WRITE_PROTECTED:
          return { ret: 0, level: out.level, outcome: out };
        case RET_PF_EMULATE:
          return { ret: -ENOENT, level: PG_LEVEL_4K, outcome: out };
        default:
          break;
      }
    }
    return { ret: -EIO, level: PG_LEVEL_4K, outcome: null };
  }

  // ---- the VMM's view of shared memory ----------------------------------------------------

  /**
   * The VMM reads the shared backing of [gpa, gpa+size) through the memslots' userspace
   * addresses (never guest_memfd: the host cannot read private memory). EFAULT where no slot.
   */
  hostRead(gpa: number, size: number): KvmResult<Uint8Array> {
    const out = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const addr = gpa + done;
      const gfn = canonicalGfn(this, addr);
      const slot = this.gfnToMemslot(gfn);
      if (slot === undefined) return fail(EFAULT);
      const off = addr % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, size - done);
      const pfn = this.vmm.peek(slot.gfnToHvaPage(gfn));
      if (pfn === undefined) out.fill(0, done, done + n);
      else this.pool.read(pfn, off, n, out.subarray(done, done + n));
      done += n;
    }
    return ok(out);
  }

  /** The VMM writes `data` into the shared backing at gpa (EFAULT where no slot). */
  hostWrite(gpa: number, data: Uint8Array): KvmResult {
    let done = 0;
    while (done < data.length) {
      const addr = gpa + done;
      const gfn = canonicalGfn(this, addr);
      const slot = this.gfnToMemslot(gfn);
      if (slot === undefined) return fail(EFAULT);
      const off = addr % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, data.length - done);
      const pfn = this.vmm.pfnFor(slot.gfnToHvaPage(gfn));
      if (pfn === NO_FRAME) return fail(ENOMEM);
      // SNP: the CPU checks the RMP on every host write; an assigned frame raises an RMP #PF
      // (the VMM gets SIGBUS, the write does not happen).
      if (this.hostWriteRefused(pfn)) return fail(EFAULT);
      this.pool.write(pfn, off, data.subarray(done, done + n));
      done += n;
    }
    return okVoid();
  }

  /**
   * A host kernel write to frame `pfn` (a buggy or hostile host touching guest memory through
   * the direct map): refused with EFAULT when the RMP says the frame is assigned (the RMP #PF
   * of arch/x86/mm/fault.c), else done.
   */
  hostWriteFrame(pfn: number, offset: number, data: Uint8Array): KvmResult {
    if (!this.pool.contains(pfn) || offset < 0 || offset + data.length > PAGE_SIZE)
      return fail(EINVAL);
    if (this.hostWriteRefused(pfn)) return fail(EFAULT);
    this.pool.write(pfn, offset, data);
    return okVoid();
  }

  /** The RMP check of a host write (SNP hosts; a no-op elsewhere): true when refused. */
  private hostWriteRefused(pfn: number): boolean {
    const sev = this.sev;
    if (sev === null) return false;
    const code = sev.hostAccessCheck(pfn, true);
    if (code !== 0 && this.events.active) {
      this.events.emit({
        type: 'rmp',
        op: 'host_write_fault',
        pfn: hex(pfn),
        assigned: true,
        level: PG_LEVEL_4K,
        by: 'X86_PF_RMP',
      });
    }
    return code !== 0;
  }

  // ---- teardown ----------------------------------------------------------------------------

  /** close() of the VM fd: the VM lives on while guest_memfd files hold references. */
  closeVmFd(): void {
    this.vmFdOpen = false;
    this.maybeDestroy();
  }

  /**
   * Full teardown as a VMM exiting does it: close every guest_memfd (zapping private leaves
   * while a TD's HKID is still assigned), then the VM fd, which destroys the VM.
   */
  destroy(): void {
    for (const gmem of [...this.gmems.values()]) if (!gmem.closed) this.gmemClose(gmem.fd);
    this.closeVmFd();
  }

  private maybeDestroy(): void {
    if (this.destroyed || this.vmFdOpen) return;
    for (const g of this.gmems.values()) if (!g.closed) return;
    this.destroyVm();
  }

  /**
   * models kvm_main.c: kvm_destroy_vm() → kvm_arch_pre_destroy_vm (vm_pre_destroy: TDX
   * releases the HKID) → kvm_arch_destroy_vm (MMU uninit: every root zapped, mirror tables
   * reclaimed through free_external_spt; vCPUs freed) → vm_destroy.
   */
  private destroyVm(): void {
    this.destroyed = true;
    this.ops.vmPreDestroy?.();
    this.mmu.teardown();
    for (const v of this.vcpus) this.ops.vcpuFree?.(v.id);
    // sev_free_vcpu(): each VMSA page is reclaimed from the firmware (snp_page_reclaim) and
    // freed; a page that cannot be made shared again is leaked.
    const sev = this.sev;
    for (const pfn of this.vmsaPfns) {
      if (sev === null || sev.snpPageReclaim(pfn) === 0) this.pool.free(pfn);
    }
    this.vmsaPfns.length = 0;
    this.ops.vmDestroy?.();
  }
}

/** A SEV command's result as an ioctl result: 0, or the negative errno. */
function sevResult(r: { readonly ret: number }): KvmResult {
  return r.ret === 0 ? okVoid() : fail(-r.ret);
}
