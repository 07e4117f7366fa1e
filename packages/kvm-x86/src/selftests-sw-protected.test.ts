// Replays of the KVM selftests for KVM_X86_SW_PROTECTED_VM through the facade:
// private_mem_conversions_test (phases 1–4, one and two vCPUs, one and two memslots) and
// private_mem_kvm_exits_test (selftests.md B.1, B.2).

import { describe, expect, it } from 'vitest';
import type { KvmExit } from './exit.js';
import { checkInvariants } from './invariants.js';
import { Kvm } from './kvm.js';
import { allBytes, expectClean, must } from './test-helpers.js';
import {
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_EXIT_HYPERCALL,
  KVM_EXIT_MEMORY_FAULT,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
} from './uapi.js';
import type { RunResult, Vcpu } from './vcpu.js';

const SZ_4K = 0x1000;
const SZ_2M = 0x200000;
const BASE_DATA_SLOT = 10;
const BASE_DATA_GPA = 2 ** 32;
const PER_CPU_DATA_SIZE = SZ_2M + SZ_4K; // 513 pages
const PER_CPU_SIZE = 2 * SZ_2M; // align_up(0x201000, 2 MiB) with 4K backing
// Test-private hypercall flags (KVM passes them through unchecked).
const MAP_GPA_SET_ATTRIBUTES = 1 << 0;
const MAP_GPA_SHARED = 1 << 1;
const MAP_GPA_DO_FALLOCATE = 1 << 2;
const TEST_RANGES: readonly [number, number][] = [
  [0, SZ_4K],
  [0, SZ_2M],
  [SZ_4K, SZ_4K],
  [SZ_4K, SZ_2M],
  [SZ_2M, SZ_4K],
];

interface Harness {
  kvm: Kvm;
  vcpus: Vcpu[];
  gmem: number;
  memfdSize: number;
  slotSize: number;
  /** Exit log per vCPU: 'HC' (hypercall), 'IO' (ucall SYNC). */
  log: string[][];
  /** args[1] of each hypercall, per vCPU. */
  npages: number[][];
}

/** The test's setup: one guest_memfd, nr_memslots slots carved from it, exit enabled. */
function setup(nrVcpus: number, nrMemslots: number): Harness {
  const kvm = must(Kvm.create({ type: 'sw_protected' }));
  must(kvm.enableCap(KVM_CAP_EXIT_HYPERCALL, 1 << 12));
  const memfdSize = PER_CPU_SIZE * nrVcpus;
  const slotSize = memfdSize / nrMemslots;
  const gmem = must(kvm.createGuestMemfd({ size: memfdSize }));
  for (let i = 0; i < nrMemslots; i++) {
    must(
      kvm.setUserMemoryRegion2({
        slot: BASE_DATA_SLOT + i,
        flags: KVM_MEM_GUEST_MEMFD,
        guestPhysAddr: BASE_DATA_GPA + i * slotSize,
        memorySize: slotSize,
        guestMemfd: gmem,
        guestMemfdOffset: i * slotSize,
      }),
    );
  }
  const vcpus: Vcpu[] = [];
  for (let i = 0; i < nrVcpus; i++) vcpus.push(must(kvm.createVcpu()));
  return {
    kvm,
    vcpus,
    gmem,
    memfdSize,
    slotSize,
    log: vcpus.map(() => []),
    npages: vcpus.map(() => []),
  };
}

/**
 * The host's handle_exit_hypercall(): optional fallocate (punch for SHARED, allocate for
 * private) on the guest_memfd behind the range, then the attributes when SET_ATTRIBUTES.
 */
function hostHypercall(h: Harness, vcpu: number, exit: Extract<KvmExit, { reason: 3 }>): number {
  expect(exit.nr).toBe(12);
  const [gpa, npages, flags] = exit.args;
  const size = npages * SZ_4K;
  h.log[vcpu]?.push('HC');
  h.npages[vcpu]?.push(npages);
  if ((flags & MAP_GPA_DO_FALLOCATE) !== 0) {
    // vm_guest_mem_fallocate(): per overlapped memslot, at slot offset + (gpa − slot gpa).
    let done = 0;
    while (done < size) {
      const addr = gpa + done;
      const slotIdx = Math.floor((addr - BASE_DATA_GPA) / h.slotSize);
      const slotGpa = BASE_DATA_GPA + slotIdx * h.slotSize;
      const len = Math.min(size - done, slotGpa + h.slotSize - addr);
      const mode =
        FALLOC_FL_KEEP_SIZE | ((flags & MAP_GPA_SHARED) !== 0 ? FALLOC_FL_PUNCH_HOLE : 0);
      must(h.kvm.gmemFallocate(h.gmem, mode, slotIdx * h.slotSize + (addr - slotGpa), len));
      done += len;
    }
  }
  if ((flags & MAP_GPA_SET_ATTRIBUTES) !== 0) {
    const attributes = (flags & MAP_GPA_SHARED) !== 0 ? 0 : KVM_MEMORY_ATTRIBUTE_PRIVATE;
    must(h.kvm.setMemoryAttributes({ address: gpa, size, attributes }));
  }
  return 0;
}

/** One guest operation (one KVM_RUN), with the VMM answering hypercall exits. */
function guest(h: Harness, i: number, op: (v: Vcpu) => RunResult): RunResult {
  const vcpu = h.vcpus[i] as Vcpu;
  let r = op(vcpu);
  while (r.exit !== null) {
    expect(r.exit.reason).toBe(KVM_EXIT_HYPERCALL);
    if (r.exit.reason !== KVM_EXIT_HYPERCALL) break;
    r = vcpu.resume(hostHypercall(h, i, r.exit));
  }
  expect(r.ret).toBe(0);
  return r;
}

function mapGpa(h: Harness, i: number, gpa: number, size: number, flags: number): void {
  const r = guest(h, i, (v) => v.hypercall(12, gpa, size / SZ_4K, flags));
  expect(r.hypercallRet).toBe(0);
}

function write(h: Harness, i: number, gpa: number, size: number, byte: number): void {
  guest(h, i, (v) => v.write(gpa, size, byte));
}

function expectGuestReads(h: Harness, i: number, gpa: number, size: number, byte: number): void {
  const r = guest(h, i, (v) => v.read(gpa, size));
  expect(allBytes(r.data, byte)).toBe(true);
}

/** ucall SYNC: the host checks the shared backing (HVA) and, for SYNC_SHARED, rewrites it. */
function sync(
  h: Harness,
  i: number,
  gpa: number,
  size: number,
  expected: number,
  next?: number,
): void {
  h.log[i]?.push('IO');
  for (let off = 0; off < size; off += SZ_4K) {
    const bytes = must(h.kvm.hostRead(gpa + off, Math.min(SZ_4K, size - off)));
    expect(allBytes(bytes, expected)).toBe(true);
    if (next !== undefined) {
      must(h.kvm.hostWrite(gpa + off, new Uint8Array(Math.min(SZ_4K, size - off)).fill(next)));
    }
  }
}

/** guest_test_explicit_conversion(): phases 1 and 2 for the vCPU at `base`. */
function* explicitConversion(h: Harness, i: number, base: number, doFallocate: boolean) {
  const F = doFallocate ? MAP_GPA_DO_FALLOCATE : 0;
  write(h, i, base, PER_CPU_DATA_SIZE, 0xaa);
  expectGuestReads(h, i, base, PER_CPU_DATA_SIZE, 0xaa);
  sync(h, i, base, PER_CPU_DATA_SIZE, 0xaa, 0xcc);
  expectGuestReads(h, i, base, PER_CPU_DATA_SIZE, 0xcc);
  yield;
  for (const [offset, size] of TEST_RANGES) {
    const gpa = base + offset;
    const before = h.log[i]?.length ?? 0;
    write(h, i, gpa, size, 0x11);
    mapGpa(h, i, gpa, size, MAP_GPA_SET_ATTRIBUTES | F);
    yield;
    if (size > SZ_4K) {
      write(h, i, gpa, SZ_4K, 0x22);
    } else {
      write(h, i, gpa, size, 0x22);
      sync(h, i, gpa, SZ_4K, 0x11); // SYNC_PRIVATE: the host still sees the shared 0x11
      expectGuestReads(h, i, gpa, size, 0x22);
      if (offset > 0) expectGuestReads(h, i, base, offset, 0xcc);
      expectGuestReads(h, i, gpa + size, PER_CPU_DATA_SIZE - offset - size, 0xcc);
      sync(h, i, gpa, SZ_4K, 0x11); // the page loop's even page
    }
    yield;
    mapGpa(h, i, gpa, size, MAP_GPA_SET_ATTRIBUTES | MAP_GPA_SHARED | F);
    write(h, i, gpa, size, 0x33);
    sync(h, i, gpa, size, 0x33, 0x44);
    expectGuestReads(h, i, gpa, size, 0x44);
    write(h, i, gpa, size, 0xcc);
    mapGpa(h, i, base, PER_CPU_DATA_SIZE, 0x7);
    const exits = h.log[i]?.slice(before);
    expect(exits).toEqual(
      size === SZ_4K ? ['HC', 'IO', 'IO', 'HC', 'IO', 'HC'] : ['HC', 'HC', 'IO', 'HC'],
    );
    yield;
  }
}

/** guest_test_punch_hole(): phases 3 and 4. */
function* punchHole(h: Harness, i: number, base: number, precise: boolean) {
  const before = h.log[i]?.length ?? 0;
  mapGpa(h, i, base, PER_CPU_DATA_SIZE, MAP_GPA_SET_ATTRIBUTES);
  yield;
  for (const [offset, size] of TEST_RANGES) {
    const gpa = base + offset;
    // Punch the whole region without changing attributes: they stay private.
    mapGpa(h, i, base, PER_CPU_DATA_SIZE, MAP_GPA_SHARED | MAP_GPA_DO_FALLOCATE);
    if (precise) {
      write(h, i, gpa, size, 0xcc);
      expectGuestReads(h, i, gpa, size, 0xcc);
    } else {
      write(h, i, base, PER_CPU_DATA_SIZE, 0xcc);
      expectGuestReads(h, i, base, PER_CPU_DATA_SIZE, 0xcc);
    }
    yield;
    mapGpa(h, i, gpa, size, MAP_GPA_SHARED | MAP_GPA_DO_FALLOCATE);
    expectGuestReads(h, i, gpa, size, 0x00); // re-faulted private pages are zero-filled
    yield;
  }
  expect(h.log[i]?.slice(before)).toEqual(new Array(11).fill('HC'));
}

function* guestCode(h: Harness, i: number) {
  const base = BASE_DATA_GPA + i * PER_CPU_SIZE;
  yield* explicitConversion(h, i, base, false);
  yield* explicitConversion(h, i, base, true);
  yield* punchHole(h, i, base, false);
  yield* punchHole(h, i, base, true);
}

/** Run all vCPUs' guest code interleaved, checking the invariants between steps. */
function runAll(h: Harness): void {
  const gens = h.vcpus.map((_, i) => guestCode(h, i));
  let live = gens.length;
  const done = new Array(gens.length).fill(false);
  while (live > 0) {
    gens.forEach((g, i) => {
      if (done[i]) return;
      if (g.next().done) {
        done[i] = true;
        live--;
      }
      expect(checkInvariants(h.kvm)).toEqual([]);
    });
  }
}

describe('private_mem_conversions_test (sw_protected)', () => {
  for (const [nrVcpus, nrMemslots] of [
    [1, 1],
    [2, 1],
    [2, 2],
  ] as const) {
    it(`phases 1–4 with ${nrVcpus} vCPU(s) and ${nrMemslots} memslot(s)`, () => {
      const h = setup(nrVcpus, nrMemslots);
      runAll(h);
      for (let i = 0; i < nrVcpus; i++) {
        // args[1]: 1 for 4K ranges, 512 for 2M, 513 for the whole region.
        expect(new Set(h.npages[i])).toEqual(new Set([1, 512, 513]));
      }
      // kvm_vm_free(), then the gmem file (which keeps the VM alive) is still usable.
      h.kvm.closeVmFd();
      expect(h.kvm.destroyed).toBe(false);
      must(h.kvm.gmemFallocate(h.gmem, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, h.memfdSize));
      must(h.kvm.gmemFallocate(h.gmem, FALLOC_FL_KEEP_SIZE, 0, h.memfdSize));
      expectClean(h.kvm);
      must(h.kvm.gmemClose(h.gmem));
      expect(h.kvm.destroyed).toBe(true);
      expect(h.kvm.pool.countOwnedBy(4 /* GUEST_MEMFD */)).toBe(0);
    }, 60_000);
  }
});

describe('private_mem_kvm_exits_test (sw_protected)', () => {
  const GPA = 0xc0000000;

  function exitsVm(flags: number) {
    const kvm = must(Kvm.create({ type: 'sw_protected' }));
    const vcpu = must(kvm.createVcpu());
    const fd = flags !== 0 ? must(kvm.createGuestMemfd({ size: SZ_4K })) : undefined;
    must(
      kvm.setUserMemoryRegion2({
        slot: 10,
        flags,
        guestPhysAddr: GPA,
        memorySize: SZ_4K,
        ...(fd !== undefined ? { guestMemfd: fd } : {}),
      }),
    );
    must(
      kvm.setMemoryAttributes({
        address: GPA,
        size: SZ_4K,
        attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
      }),
    );
    return { kvm, vcpu };
  }

  it('a private access after the memslot is deleted exits with MEMORY_FAULT, flags PRIVATE', () => {
    const { kvm, vcpu } = exitsVm(KVM_MEM_GUEST_MEMFD);
    // The guest reads the private page successfully while the slot exists …
    const ok = vcpu.read(GPA, 8);
    expect(ok.exit).toBeNull();
    expect(allBytes(ok.data, 0)).toBe(true);
    // … then the main thread deletes the slot.
    must(kvm.setUserMemoryRegion2({ slot: 10, guestPhysAddr: GPA, memorySize: 0 }));
    const r = vcpu.read(GPA, 8);
    expect(r.ret).toBe(-14);
    expect(r.exit).toEqual({ reason: KVM_EXIT_MEMORY_FAULT, gpa: GPA, size: 4096, flags: 8 });
    expectClean(kvm);
  });

  it('a private attribute on a slot without guest_memfd exits with MEMORY_FAULT', () => {
    const { kvm, vcpu } = exitsVm(0);
    const r = vcpu.read(GPA, 8);
    expect(r.ret).toBe(-14);
    expect(r.exit).toEqual({ reason: KVM_EXIT_MEMORY_FAULT, gpa: GPA, size: 4096, flags: 8 });
    expectClean(kvm);
  });
});
