// The `kvmx bench faultin` workload (CONTRACTS §1, issue 10): a TDX VM with 64 GiB of
// guest_memfd-backed private memory; the guest accepts N distinct private 4 KiB pages in a
// random, deterministic order (the GFN set of @kvmx/paging benchGfns(), which bench/c/faultin.c
// draws identically). Each TDG.MEM.PAGE.ACCEPT finds the page missing, the TD exits with an EPT
// violation, and KVM's fault path runs through the facade: memslot and attribute checks,
// guest_memfd allocation, the mirror map with TDH.MEM.SEPT.ADD for each missing level,
// TDH.MEM.PAGE.AUG with its PAMT checks; the ACCEPT is re-executed and maps the page. Events
// are off (nobody listens). One call is one run on a fresh VM; the caller repeats runs and
// takes medians.

import { PAGE_SIZE } from '@kvmx/address';
import {
  checkInvariantsAt,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  Kvm,
  type KvmResult,
  type Vcpu,
} from '@kvmx/kvm-x86';
import { FramePool } from '@kvmx/paging';

/** The guest: 64 GiB of private memory (2^24 4 KiB pages). */
export const FAULTIN_GUEST_BYTES = 64 * 2 ** 30;
export const FAULTIN_GUEST_PAGES = FAULTIN_GUEST_BYTES / PAGE_SIZE;
/** The memslot starts at GPA 4 GiB, as in bench/c/faultin.c. */
export const FAULTIN_SLOT_GPA = 2 ** 32;

/** How the invariant checker runs during the fault-in. */
export type CheckerMode = 'off' | 'on';

export interface FaultinRun {
  readonly pages: number;
  /** Wall time of the fault-in loop. */
  readonly seconds: number;
  /** CPU time (user + system) of the fault-in loop. */
  readonly cpuSeconds: number;
  readonly pagesPerSec: number;
  /** Resident set size right after the loop. */
  readonly rssBytes: number;
  /** Pages the S-EPT maps (MAPPED) afterwards; must equal `pages`. */
  readonly mapped: number;
  /** Sum of the mapped GFNs (decimal string; equal in the C program). */
  readonly gfnSum: string;
  /** S-EPT tables added (TDR.CHLDCNT growth minus the pages). */
  readonly septTables: number;
  /** Invariant violations found (checker on); must be 0. */
  readonly violations: number;
  /** Minor page faults of this process during the loop (a warm run should have few). */
  readonly pageFaults: number;
  /** How many times the checker ran. */
  readonly checks: number;
}

function must<T>(r: KvmResult<T>, what: string): T {
  if (!r.ok) throw new Error(`bench faultin: ${what} failed: ${r.error}`);
  return r.value;
}

export interface FaultinVm {
  readonly vm: Kvm;
  readonly vcpu: Vcpu;
}

/**
 * The VMM's set-up (as the KVM TDX selftests do it): KVM_CREATE_VM(TDX), INIT_VM, one vCPU,
 * a 64 GiB guest_memfd bound to one memslot, the whole slot set PRIVATE, FINALIZE_VM.
 */
export function createFaultinVm(reserveTables = 0, pages = 0): FaultinVm {
  const pool = new FramePool();
  // A warm pool: room for the page tables made (and touched) before the clock starts.
  if (reserveTables > 0) {
    pool.reserve(reserveTables);
    // ...and the per-frame arrays for every frame the run allocates (the guest's pages too).
    pool.reserveFrames(pages + reserveTables + 64);
  }
  const vm = must(Kvm.create({ type: 'tdx', gpaw: 48, pool }), 'KVM_CREATE_VM');
  must(vm.tdxInitVm(), 'KVM_TDX_INIT_VM');
  const vcpu = must(vm.createVcpu(), 'KVM_CREATE_VCPU');
  must(vm.tdxInitVcpu(vcpu), 'KVM_TDX_INIT_VCPU');
  const fd = must(vm.createGuestMemfd({ size: FAULTIN_GUEST_BYTES }), 'KVM_CREATE_GUEST_MEMFD');
  // Warm: guest_memfd's page index touched before the clock, as the C program touches its
  // gmem_pfn array in its warm runs.
  if (reserveTables > 0) vm.gmems.get(fd)?.pages.reserve(FAULTIN_GUEST_PAGES);
  must(
    vm.setUserMemoryRegion2({
      slot: 1,
      flags: KVM_MEM_GUEST_MEMFD,
      guestPhysAddr: FAULTIN_SLOT_GPA,
      memorySize: FAULTIN_GUEST_BYTES,
      guestMemfd: fd,
      guestMemfdOffset: 0,
    }),
    'KVM_SET_USER_MEMORY_REGION2',
  );
  must(
    vm.setMemoryAttributes({
      address: FAULTIN_SLOT_GPA,
      size: FAULTIN_GUEST_BYTES,
      attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
    }),
    'KVM_SET_MEMORY_ATTRIBUTES',
  );
  must(vm.tdxFinalizeVm(), 'KVM_TDX_FINALIZE_VM');
  // Warm: the PAMT entries of every frame the run can use (the guest's pages, the tables, the
  // TD's own pages), as the C program touches its PAMT arrays.
  if (reserveTables > 0) {
    vm.tdx?.module.pamt.reserve(pool.allocated + reserveTables + pages + 64);
  }
  return { vm, vcpu };
}

/** Host measurements the CLI injects (the workload itself uses no host API but these). */
export interface BenchHost {
  /** Monotonic milliseconds. */
  now(): number;
  /** CPU microseconds (user + system) of this process. */
  cpuMicros(): number;
  rssBytes(): number;
  /** Minor page faults of the process so far (first touches of fresh memory). */
  minorFaults(): number;
}

/**
 * One run: a fresh VM, then the guest accepts the GFNs `gfns` (slot-relative page indexes) in
 * order. With the checker on, the invariant checker runs after every fault-in.
 */
export function runFaultin(
  gfns: Int32Array,
  mode: CheckerMode,
  host: BenchHost,
  warm = true,
): FaultinRun {
  const { vm, vcpu } = createFaultinVm(warm ? tablesFor(gfns.length) : 0, gfns.length);
  const n = gfns.length;
  const check = mode === 'on' ? checkerFor(vm) : null;
  let violations = 0;
  let checks = 0;
  const chld0 = childCount(vm);
  const f0 = host.minorFaults();
  const c0 = host.cpuMicros();
  const t0 = host.now();
  for (let i = 0; i < n; i++) {
    const gpa = FAULTIN_SLOT_GPA + (gfns[i] as number) * PAGE_SIZE;
    const r = vcpu.accept(gpa);
    if (r.ret !== 0 || r.status !== 'TDX_SUCCESS') {
      throw new Error(
        `bench faultin: accept of ${gpa.toString(16)} returned ret ${r.ret}, ${r.status ?? 'no status'}`,
      );
    }
    if (check !== null) {
      violations += check(gpa);
      checks++;
    }
  }
  const t1 = host.now();
  const c1 = host.cpuMicros();
  const pageFaults = host.minorFaults() - f0;
  const rssBytes = host.rssBytes();
  const seconds = (t1 - t0) / 1000;
  const verify = verifyFaultin(vm, gfns);
  vm.destroy();
  return {
    pages: n,
    seconds,
    cpuSeconds: (c1 - c0) / 1e6,
    pagesPerSec: n / seconds,
    rssBytes,
    mapped: verify.mapped,
    gfnSum: verify.gfnSum,
    septTables: verify.chldcnt - chld0 - verify.mapped,
    violations,
    checks,
    pageFaults,
  };
}

/**
 * The checker the "on" run uses after each fault-in: the invariants at the page the step
 * touched (checkInvariantsAt; the whole-state checker would make the run quadratic). Returns
 * the violations it found.
 */
function checkerFor(vm: Kvm): (gpa: number) => number {
  return (gpa) => {
    const gfn = gpa / PAGE_SIZE;
    return checkInvariantsAt(vm, gfn, gfn + 1).length;
  };
}

/** Untimed: every GFN is MAPPED in the S-EPT; the sum of the GFNs; the TD's child count. */
function verifyFaultin(
  vm: Kvm,
  gfns: Int32Array,
): { mapped: number; gfnSum: string; chldcnt: number } {
  const tdx = vm.tdx;
  if (tdx === null) throw new Error('bench faultin: not a TD');
  const module = tdx.module;
  let mapped = 0;
  // At most 2^24 GFNs below 2^25: the sum stays below 2^53.
  let sum = 0;
  for (let i = 0; i < gfns.length; i++) {
    const gpa = FAULTIN_SLOT_GPA + (gfns[i] as number) * PAGE_SIZE;
    const e = module.septEntry(tdx.tdr, gpa, 0);
    if (e !== null && e.state === 'MAPPED' && e.level === 0) {
      mapped++;
      sum += gpa / PAGE_SIZE;
    }
  }
  return { mapped, gfnSum: String(sum), chldcnt: childCount(vm) };
}

/** TDR.CHLDCNT: the TD's child pages (TDCS, TDVPS, S-EPT tables, guest pages). */
function childCount(vm: Kvm): number {
  const tdx = vm.tdx;
  return tdx === null ? -1 : (tdx.module.td(tdx.tdr)?.chldcnt ?? -1);
}

/**
 * Page tables a fault-in of `pages` random GFNs of the guest can need at most: per tree one
 * table per level, bounded by the tables the 64 GiB guest has (32,768 PTs, 64 PDs, a PDPT
 * and a PML4 page); the mirror and the S-EPT each have theirs.
 */
export function tablesFor(pages: number): number {
  const perTree = Math.min(3 * pages, FAULTIN_GUEST_PAGES / 512 + 64 + 2);
  return 2 * perTree + 16;
}
