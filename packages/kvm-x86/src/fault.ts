// The TDP page-fault path: kvm_mmu_do_page_fault() → kvm_tdp_page_fault() →
// kvm_mmu_faultin_pfn() → kvm_mmu_hugepage_adjust() → kvm_tdp_mmu_map().
// Sources: arch/x86/kvm/mmu/mmu_internal.h (kvm_mmu_do_page_fault), arch/x86/kvm/mmu/mmu.c
// (kvm_mmu_faultin_pfn, kvm_mmu_faultin_pfn_private, kvm_handle_noslot_fault,
// __kvm_mmu_max_mapping_level, kvm_max_private_mapping_level, kvm_mmu_hugepage_adjust,
// kvm_mmu_prepare_memory_fault_exit); kvm-mmu.md §1.11, §2.4, §2.7.

import {
  canonicalGfn,
  isAddrDirect,
  KVM_MAX_HUGEPAGE_LEVEL,
  PAGE_SIZE,
  PG_LEVEL_4K,
  type PgLevel,
  pagesPerHpage,
  type Word64,
} from '@kvmx/address';
import {
  EPT_MMIO,
  MT_MASK_WB,
  MT_MASK_WB_IPAT,
  makeMmioSpte,
  makeSpteAttrs,
  NO_FRAME,
  pfnHi,
  pfnLo,
  TDX_MMIO,
} from '@kvmx/paging';
import {
  EFAULT,
  ENOMEM,
  PFERR_FETCH_MASK,
  PFERR_PRIVATE_ACCESS,
  PFERR_WRITE_MASK,
  pferrHas,
} from '@kvmx/vendor-ops';
import type { Kvm } from './kvm.js';
import { KVM_LPAGE_MIXED_FLAG, type Memslot } from './memslot.js';
import { RET_PF_EMULATE, RET_PF_RETRY, type TdpFault } from './tdp-mmu.js';
import { KVM_MEM_READONLY, KVM_MEMORY_EXIT_FLAG_PRIVATE } from './uapi.js';
import type { Vcpu } from './vcpu.js';

/** What a page fault came to. */
export interface FaultOutcome {
  /** A RET_PF_* value, or a negative errno (-EFAULT with `memoryFault` set: exit to user). */
  readonly ret: number;
  /** The level the mapping was made at (goal_level). */
  readonly level: PgLevel;
  readonly isPrivate: boolean;
  /** The alias-free GFN. */
  readonly gfn: number;
  /** kvm_run.memory_fault when the fault must go to userspace. */
  readonly memoryFault?: { readonly gpa: number; readonly size: number; readonly flags: number };
}

/** struct kvm_page_fault, the fields this model uses. */
interface PageFault {
  addr: number;
  errorCode: number;
  isPrivate: boolean;
  write: boolean;
  exec: boolean;
  gfn: number;
  slot: Memslot | undefined;
  prefetch: boolean;
  maxLevel: PgLevel;
  goalLevel: PgLevel;
  pfn: number;
  mapWritable: boolean;
  /** No slot and shared: install an MMIO SPTE. */
  noslot: boolean;
}

/**
 * models mmu_internal.h: kvm_mmu_do_page_fault() for a TDP MMU fault whose error code the
 * vendor already classified: is_private from PFERR_PRIVATE_ACCESS, the GFN stripped of the
 * direct bits, the memslot looked up by that GFN.
 */
export function kvmMmuDoPageFault(
  kvm: Kvm,
  vcpu: Vcpu,
  addr: number,
  errorCode: number,
  prefetch = false,
): FaultOutcome {
  void vcpu;
  const gfn = canonicalGfn(kvm, addr);
  // One struct kvm_page_fault per call, as on KVM's stack: the scratch object unless a fault
  // is already being handled (an event listener re-entering KVM), then a fresh one.
  const fault = scratchBusy ? newPageFault() : scratch;
  fault.addr = addr;
  fault.errorCode = errorCode;
  fault.isPrivate = pferrHas(errorCode, PFERR_PRIVATE_ACCESS);
  fault.write = pferrHas(errorCode, PFERR_WRITE_MASK);
  fault.exec = pferrHas(errorCode, PFERR_FETCH_MASK);
  fault.gfn = gfn;
  fault.slot = kvm.gfnToMemslot(gfn);
  fault.prefetch = prefetch;
  fault.maxLevel = KVM_MAX_HUGEPAGE_LEVEL;
  fault.goalLevel = PG_LEVEL_4K;
  fault.pfn = NO_FRAME;
  fault.mapWritable = false;
  fault.noslot = false;
  if (kvm.mmu.allocRoots() !== 0) return outcome(fault, -ENOMEM);
  if (fault !== scratch) return kvmTdpPageFault(kvm, fault);
  scratchBusy = true;
  try {
    return kvmTdpPageFault(kvm, fault);
  } finally {
    // Nothing keeps the struct: the outcome copies what it needs.
    scratch.slot = undefined;
    scratchBusy = false;
  }
}

function newPageFault(): PageFault {
  return {
    addr: 0,
    errorCode: 0,
    isPrivate: false,
    write: false,
    exec: false,
    gfn: 0,
    slot: undefined,
    prefetch: false,
    maxLevel: PG_LEVEL_4K,
    goalLevel: PG_LEVEL_4K,
    pfn: NO_FRAME,
    mapWritable: false,
    noslot: false,
  };
}

const scratch = newPageFault();
let scratchBusy = false;

/** TdpFault with writable fields, for the scratch request. */
type TdpFaultRequest = { -readonly [K in keyof TdpFault]: TdpFault[K] };

function newMapRequest(): TdpFaultRequest {
  return {
    gfn: 0,
    mirror: false,
    goalLevel: PG_LEVEL_4K,
    leafLo: 0,
    leafHi: 0,
    mmio: false,
    write: false,
    prefetch: false,
  };
}

const scratchMap = newMapRequest();

/**
 * make_spte()'s attribute words for a leaf (makeSpteAttrs), remembered per combination of
 * the inputs that vary here: level, host-writable, prefetch, and the memtype (TDX: WB without
 * IPAT; others WB|IPAT, see kvmTdpPageFault). A pure function of those, so computed once each.
 */
function leafAttrs(level: PgLevel, hostWritable: boolean, prefetch: boolean, tdx: boolean): Word64 {
  const key = level * 8 + (hostWritable ? 4 : 0) + (prefetch ? 2 : 0) + (tdx ? 1 : 0);
  const cached = LEAF_ATTRS[key];
  if (cached !== undefined) return cached;
  const attrs = makeSpteAttrs({
    level,
    hostWritable,
    prefetch,
    mtMask: tdx ? MT_MASK_WB : MT_MASK_WB_IPAT,
  });
  LEAF_ATTRS[key] = attrs;
  return attrs;
}

const LEAF_ATTRS: Array<Word64 | undefined> = new Array(6 * 8).fill(undefined);

/** models mmu.c: kvm_tdp_page_fault() → kvm_tdp_mmu_page_fault(). */
function kvmTdpPageFault(kvm: Kvm, fault: PageFault): FaultOutcome {
  const r = kvmMmuFaultinPfn(kvm, fault);
  if (r !== 0) return r < 0 ? memoryFaultIfPrivate(kvm, fault, r) : outcome(fault, r);
  kvmMmuHugepageAdjust(kvm, fault);
  // tdp_mmu_get_root_for_fault(): the mirror root unless the GPA is direct; injection
  // private-in-direct takes the direct root for private faults too.
  const mirror = !isAddrDirect(kvm, fault.addr) && !kvm.injectedPrivateInDirect;
  let leafLo: number;
  let leafHi: number;
  if (fault.noslot) {
    const w = makeMmioSpte(
      fault.gfn,
      kvm.memslotsGeneration,
      kvm.vmType === 'tdx' ? TDX_MMIO : EPT_MMIO,
    );
    leafLo = w.lo | 0;
    leafHi = w.hi | 0;
  } else {
    const pages = pagesPerHpage(fault.goalLevel);
    const pfn = Math.floor(fault.pfn / pages) * pages; // not `%`: fprem on doubles
    // vmx_get_mt_mask(): TDX disables KVM_X86_QUIRK_EPT_IGNORE_GUEST_PAT (WB, no IPAT); other
    // VMs keep the quirk and get WB|IPAT.
    const attrs = leafAttrs(
      fault.goalLevel,
      fault.mapWritable,
      fault.prefetch,
      kvm.vmType === 'tdx',
    );
    leafLo = attrs.lo | pfnLo(pfn);
    leafHi = attrs.hi | pfnHi(pfn);
  }
  // The request kvm_tdp_mmu_map() reads (it keeps nothing): the scratch one with the scratch
  // struct kvm_page_fault, else a fresh one.
  const req = fault === scratch ? scratchMap : newMapRequest();
  req.gfn = fault.gfn;
  req.mirror = mirror;
  req.goalLevel = fault.goalLevel;
  req.leafLo = leafLo;
  req.leafHi = leafHi;
  req.mmio = fault.noslot;
  req.write = fault.write;
  req.prefetch = fault.prefetch;
  const ret = kvm.mmu.map(req);
  // No emulation of private accesses: RET_PF_EMULATE on a private fault is a memory fault.
  if (ret === RET_PF_EMULATE && fault.isPrivate) return memoryFault(kvm, fault, -EFAULT);
  return outcome(fault, ret);
}

/**
 * models mmu.c: kvm_mmu_faultin_pfn() in the order of kvm-mmu.md §2.4: alias check; the
 * private/shared mismatch; no slot (private → memory fault, shared → MMIO); the private path
 * through guest_memfd; the shared path through the VMM's memory (a write to a read-only
 * slot is emulated, i.e. MMIO). Returns 0 to continue, RET_PF_* to stop, or -errno.
 */
function kvmMmuFaultinPfn(kvm: Kvm, fault: PageFault): number {
  if (kvm.gfnDirectBits !== 0 && canonicalGfn(kvm, fault.gfn * PAGE_SIZE) !== fault.gfn) {
    kvm.kvmBug(`kvm_mmu_faultin_pfn: alias GFN ${fault.gfn}`);
    return -EFAULT;
  }
  if (fault.isPrivate !== kvm.memIsPrivate(fault.gfn)) return memoryFaultRet(fault);
  const slot = fault.slot;
  if (slot === undefined) {
    // kvm_handle_noslot_fault(): a private access with no slot exits to userspace.
    if (fault.isPrivate) return memoryFaultRet(fault);
    fault.noslot = true;
    return 0;
  }
  if (fault.isPrivate) {
    // kvm_mmu_faultin_pfn_private()
    if (!slot.canBePrivate) return memoryFaultRet(fault);
    // kvm_gmem_get_pfn(): guest_memfd folios are order 0 here (max_order 0).
    const r = kvm.gmemGetPfnOrErrno(slot, fault.gfn);
    if (r < 0) return r === -EFAULT ? memoryFaultRet(fault) : r;
    fault.pfn = r;
    fault.mapWritable = (slot.flags & KVM_MEM_READONLY) === 0;
    fault.maxLevel = kvmMaxPrivateMappingLevel(kvm, r, fault.maxLevel, 0);
    return 0;
  }
  if (fault.write && (slot.flags & KVM_MEM_READONLY) !== 0) return RET_PF_EMULATE;
  const pfn = kvm.vmm.pfnFor(slot.gfnToHvaPage(fault.gfn));
  if (pfn === NO_FRAME) return -ENOMEM;
  fault.pfn = pfn;
  fault.mapWritable = (slot.flags & KVM_MEM_READONLY) === 0;
  return 0;
}

/** A marker the caller turns into a memory-fault exit. */
const MEMORY_FAULT = -EFAULT;

function memoryFaultRet(fault: PageFault): number {
  void fault;
  return MEMORY_FAULT;
}

function memoryFaultIfPrivate(kvm: Kvm, fault: PageFault, r: number): FaultOutcome {
  if (r === MEMORY_FAULT) return memoryFault(kvm, fault, r);
  return outcome(fault, r);
}

/**
 * models mmu.c: kvm_mmu_prepare_memory_fault_exit() — gpa = gfn << 12 (canonical, no
 * shared bit), size = PAGE_SIZE, flags = KVM_MEMORY_EXIT_FLAG_PRIVATE iff the access was
 * private; KVM_RUN returns -EFAULT.
 */
function memoryFault(kvm: Kvm, fault: PageFault, r: number): FaultOutcome {
  void kvm;
  return {
    ret: r,
    level: PG_LEVEL_4K,
    isPrivate: fault.isPrivate,
    gfn: fault.gfn,
    memoryFault: {
      gpa: fault.gfn * PAGE_SIZE,
      size: PAGE_SIZE,
      flags: fault.isPrivate ? KVM_MEMORY_EXIT_FLAG_PRIVATE : 0,
    },
  };
}

function outcome(fault: PageFault, ret: number): FaultOutcome {
  return { ret, level: fault.goalLevel, isPrivate: fault.isPrivate, gfn: fault.gfn };
}

/**
 * models mmu.c: kvm_max_private_mapping_level() — the smaller of the fault's max level and
 * the level the guest_memfd folio order allows, then the vendor's private_max_mapping_level
 * when it returns non-zero.
 */
function kvmMaxPrivateMappingLevel(
  kvm: Kvm,
  pfn: number,
  maxLevel: PgLevel,
  gmemOrder: number,
): PgLevel {
  let level = Math.min(maxLevel, levelForOrder(gmemOrder)) as PgLevel;
  if (level === PG_LEVEL_4K) return level;
  const vendor = kvm.ops.privateMaxMappingLevel(pfn);
  if (vendor !== 0) level = Math.min(level, vendor) as PgLevel;
  return level;
}

/** kvm_max_level_for_order(): order 0 → 4K, 9 → 2M, 18 → 1G. */
function levelForOrder(order: number): PgLevel {
  if (order >= 18) return 3;
  if (order >= 9) return 2;
  return 1;
}

/**
 * models mmu.c: kvm_mmu_hugepage_adjust() with __kvm_mmu_max_mapping_level(): lower the
 * level while lpage_info forbids it (head/tail misalignment, MIXED attributes); private
 * memory stops there, shared memory is also capped by the host mapping level.
 */
function kvmMmuHugepageAdjust(kvm: Kvm, fault: PageFault): void {
  if (fault.maxLevel === PG_LEVEL_4K || fault.noslot || fault.slot === undefined) return;
  const slot = fault.slot;
  let level = Math.min(fault.maxLevel, KVM_MAX_HUGEPAGE_LEVEL) as PgLevel;
  // Injection huge-over-mixed: hugepage_has_attrs() / the KVM_LPAGE_MIXED_FLAG test is lost,
  // so a huge page over GFNs of mixed attributes is mapped whole.
  const ignoreMixed = kvm.injected.has('huge-over-mixed') ? ~KVM_LPAGE_MIXED_FLAG : -1;
  for (; level > PG_LEVEL_4K; level--) {
    if ((slot.disallowLpage(fault.gfn, level) & ignoreMixed) === 0) break;
  }
  if (!fault.isPrivate && level > PG_LEVEL_4K) {
    const host = kvm.vmm.hostMappingLevel(slot.gfnToHvaPage(fault.gfn));
    level = Math.min(level, host) as PgLevel;
  }
  fault.goalLevel = level;
}

export { RET_PF_RETRY };
