// The MMU paths: the zap table (who zaps which root), huge pages and the MIXED flag, MMIO,
// read-only slots, MMU-notifier invalidation, KVM_PRE_FAULT_MEMORY, RET_PF_* outcomes.

import { describe, expect, it } from 'vitest';
import type { KvmEvent } from './events.js';
import { kvmMmuDoPageFault } from './fault.js';
import { Kvm } from './kvm.js';
import { RET_PF_FIXED, RET_PF_SPURIOUS } from './tdp-mmu.js';
import { allBytes, expectClean, must } from './test-helpers.js';
import {
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_EXIT_MMIO,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEM_READONLY,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
} from './uapi.js';

const AREA = 0x80000000;
const PRIVATE = KVM_MEMORY_ATTRIBUTE_PRIVATE;

/** Which roots lost leaves in these events. */
function zappedRoots(events: readonly KvmEvent[]): string[] {
  const roots = new Set<string>();
  for (const e of events) {
    if (e.type === 'spte' && e.new === '0x8000000000000000' && e.old !== '0x8000000000000000')
      roots.add(e.root);
  }
  return [...roots].sort();
}

/** A TD with page 0 private-mapped and page 1 shared-mapped. */
function tdWithBothKinds() {
  const kvm = must(Kvm.create({ type: 'tdx' }));
  must(kvm.tdxInitVm());
  const vcpu = must(kvm.createVcpu());
  must(kvm.tdxInitVcpu(vcpu));
  must(kvm.enableCap(KVM_CAP_EXIT_HYPERCALL, 1 << 12));
  const fd = must(kvm.createGuestMemfd({ size: 0x4000 }));
  must(
    kvm.setUserMemoryRegion2({
      slot: 1,
      flags: KVM_MEM_GUEST_MEMFD,
      guestPhysAddr: AREA,
      memorySize: 0x4000,
      guestMemfd: fd,
    }),
  );
  must(kvm.tdxFinalizeVm());
  vcpu.autoAccept = true;
  const map = () => {
    must(kvm.setMemoryAttributes({ address: AREA, size: 0x1000, attributes: PRIVATE }));
    expect(vcpu.write(AREA, 8, 1, { private: true }).exit).toBeNull();
    expect(vcpu.write(AREA + 0x1000, 8, 2, { private: false }).exit).toBeNull();
  };
  map();
  const events: KvmEvent[] = [];
  kvm.events.on((e) => events.push(e));
  return { kvm, vcpu, fd, events, map };
}

describe('the zap table (TDX: mirror = private, direct = shared)', () => {
  it('memslot delete zaps both', () => {
    const t = tdWithBothKinds();
    must(t.kvm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: AREA, memorySize: 0 }));
    expect(zappedRoots(t.events)).toEqual(['direct', 'mirror']);
    expectClean(t.kvm);
  });

  it('an MMU-notifier invalidation zaps shared only', () => {
    const t = tdWithBothKinds();
    must(t.kvm.invalidateHva(AREA, 0x4000));
    expect(zappedRoots(t.events)).toEqual(['direct']);
    // The shared page faults back in with the same bytes.
    expect(allBytes(t.vcpu.read(AREA + 0x1000, 8, { private: false }).data, 2)).toBe(true);
    expectClean(t.kvm);
  });

  it('a guest_memfd punch hole zaps private only', () => {
    const t = tdWithBothKinds();
    must(t.kvm.gmemFallocate(t.fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, 0x4000));
    expect(zappedRoots(t.events)).toEqual(['mirror']);
    expectClean(t.kvm);
  });

  it('to private zaps shared, to shared zaps private', () => {
    const t = tdWithBothKinds();
    must(t.kvm.setMemoryAttributes({ address: AREA, size: 0x4000, attributes: PRIVATE }));
    expect(zappedRoots(t.events)).toEqual(['direct']);
    t.events.length = 0;
    must(t.kvm.setMemoryAttributes({ address: AREA, size: 0x4000, attributes: 0 }));
    expect(zappedRoots(t.events)).toEqual(['mirror']);
    expectClean(t.kvm);
  });
});

describe('huge pages', () => {
  function hugeVm(type: 'default' | 'sw_protected') {
    const kvm = must(Kvm.create({ type }));
    const vcpu = must(kvm.createVcpu());
    const fd = type === 'sw_protected' ? must(kvm.createGuestMemfd({ size: 0x400000 })) : undefined;
    must(
      kvm.setUserMemoryRegion2({
        slot: 1,
        guestPhysAddr: 0x40000000,
        memorySize: 0x400000,
        hostHugePages: true,
        ...(fd !== undefined ? { flags: KVM_MEM_GUEST_MEMFD, guestMemfd: fd } : {}),
      }),
    );
    return { kvm, vcpu };
  }

  it('shared memory backed by 2 MiB host pages is mapped with 2M leaves', () => {
    const { kvm, vcpu } = hugeVm('default');
    vcpu.write(0x40001000, 8, 0x7);
    const root = kvm.mmu.directRoot;
    if (root === null) throw new Error('no root');
    expect(kvm.mmu.lookup(root, 0x40001)?.level).toBe(2);
    expect(kvm.mmu.leafCount[2]).toBe(1);
    expect(allBytes(vcpu.read(0x401ff000, 8).data, 0)).toBe(true);
    expectClean(kvm);
  });

  it('a 4K private page inside a huge shared mapping: zap, MIXED, 4K re-faults, never a mixed huge leaf', () => {
    const { kvm, vcpu } = hugeVm('sw_protected');
    vcpu.write(0x40000000, 0x200000, 0x33);
    const root = kvm.mmu.directRoot;
    if (root === null) throw new Error('no root');
    expect(kvm.mmu.lookup(root, 0x40000)?.level).toBe(2);
    must(kvm.setMemoryAttributes({ address: 0x40005000, size: 0x1000, attributes: PRIVATE }));
    // The huge leaf straddling the range was zapped.
    expect(kvm.mmu.lookup(root, 0x40000)).toBeNull();
    expect(kvm.memslots.get(1)?.isMixed(0x40000, 2)).toBe(true);
    expect(allBytes(vcpu.read(0x40000000, 0x200000).data?.subarray(0, 0x5000), 0x33)).toBe(true);
    expect(kvm.mmu.lookup(root, 0x40000)?.level).toBe(1);
    expect(kvm.mmu.lookup(root, 0x40005)?.level).toBe(1);
    expect(allBytes(vcpu.read(0x40005000, 0x1000).data, 0)).toBe(true);
    expectClean(kvm);
    // Back to all-shared: the MIXED flag clears and a 2M leaf comes back.
    must(kvm.setMemoryAttributes({ address: 0x40005000, size: 0x1000, attributes: 0 }));
    expect(kvm.memslots.get(1)?.isMixed(0x40000, 2)).toBe(false);
    must(kvm.invalidateHva(0x40000000, 0x200000));
    vcpu.read(0x40000000, 8);
    expect(kvm.mmu.lookup(root, 0x40000)?.level).toBe(2);
    expectClean(kvm);
  });

  it('private memory maps at 4K (guest_memfd max_order 0)', () => {
    const { kvm, vcpu } = hugeVm('sw_protected');
    must(kvm.setMemoryAttributes({ address: 0x40000000, size: 0x200000, attributes: PRIVATE }));
    vcpu.write(0x40000000, 8, 1);
    const root = kvm.mmu.directRoot;
    expect(root && kvm.mmu.lookup(root, 0x40000)?.level).toBe(1);
    expectClean(kvm);
  });
});

describe('MMIO, read-only slots, faults', () => {
  it('a shared fault with no slot installs an MMIO SPTE and exits with KVM_EXIT_MMIO', () => {
    const kvm = must(Kvm.create({ type: 'default' }));
    const vcpu = must(kvm.createVcpu());
    const r = vcpu.read(0xfee00000, 4);
    expect(r.exit).toEqual({ reason: KVM_EXIT_MMIO, gpa: 0xfee00000, len: 4, isWrite: false });
    // The second access finds the MMIO SPTE (EPT misconfig) and exits the same way.
    vcpu.resume();
    expect(vcpu.translate(0xfee00000).kind).toBe('mmio');
    expect(vcpu.write(0xfee00000, 4, 1).exit).toMatchObject({
      reason: KVM_EXIT_MMIO,
      isWrite: true,
    });
    expectClean(kvm);
  });

  it('a TD’s shared MMIO exit carries the canonical GPA; the MMIO SPTE has value 0', () => {
    const kvm = must(Kvm.create({ type: 'tdx' }));
    must(kvm.tdxInitVm());
    const vcpu = must(kvm.createVcpu());
    must(kvm.tdxInitVcpu(vcpu));
    must(kvm.tdxFinalizeVm());
    const r = vcpu.read(0xfee00000 + 2 ** 47, 4);
    expect(r.exit).toEqual({ reason: KVM_EXIT_MMIO, gpa: 0xfee00000, len: 4, isWrite: false });
    expect(kvm.arch.shadowMmioValue).toBe(0);
  });

  it('a write to a read-only slot is emulated (MMIO exit); reads map normally', () => {
    const kvm = must(Kvm.create({ type: 'default' }));
    const vcpu = must(kvm.createVcpu());
    must(
      kvm.setUserMemoryRegion2({
        slot: 1,
        flags: KVM_MEM_READONLY,
        guestPhysAddr: 0x100000,
        memorySize: 0x1000,
      }),
    );
    must(kvm.hostWrite(0x100000, new Uint8Array([9, 9])));
    expect(vcpu.read(0x100000, 2).data).toEqual(new Uint8Array([9, 9]));
    expect(vcpu.write(0x100000, 2, 1).exit).toMatchObject({ reason: KVM_EXIT_MMIO, isWrite: true });
    expectClean(kvm);
  });

  it('RET_PF_FIXED then RET_PF_SPURIOUS for the same fault', () => {
    const kvm = must(Kvm.create({ type: 'default' }));
    const vcpu = must(kvm.createVcpu());
    must(kvm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 0, memorySize: 0x1000 }));
    expect(kvmMmuDoPageFault(kvm, vcpu, 0, 2).ret).toBe(RET_PF_FIXED);
    expect(kvmMmuDoPageFault(kvm, vcpu, 0, 2).ret).toBe(RET_PF_SPURIOUS);
  });

  it('KVM_PRE_FAULT_MEMORY maps shared and private pages of a sw_protected VM', () => {
    const kvm = must(Kvm.create({ type: 'sw_protected' }));
    const vcpu = must(kvm.createVcpu());
    const fd = must(kvm.createGuestMemfd({ size: 0x2000 }));
    must(
      kvm.setUserMemoryRegion2({
        slot: 1,
        flags: KVM_MEM_GUEST_MEMFD,
        guestPhysAddr: 0x10000,
        memorySize: 0x2000,
        guestMemfd: fd,
      }),
    );
    must(kvm.setMemoryAttributes({ address: 0x10000, size: 0x1000, attributes: PRIVATE }));
    expect(must(kvm.preFaultMemory(vcpu, 0x10000, 0x2000))).toBe(0x2000);
    const root = kvm.mmu.directRoot;
    expect(root && kvm.mmu.lookup(root, 0x10)?.pfn).toBe(kvm.gmems.get(fd)?.pages.get(0));
    expect(root && kvm.mmu.lookup(root, 0x11)).not.toBeNull();
    expect(kvm.preFaultMemory(vcpu, 0x10800, 0x1000)).toMatchObject({ error: 'EINVAL' });
    // No slot: the emulation path is -ENOENT.
    expect(kvm.preFaultMemory(vcpu, 0x90000, 0x1000)).toMatchObject({ error: 'ENOENT' });
    expectClean(kvm);
  });
});
