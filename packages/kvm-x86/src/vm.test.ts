import { describe, expect, it } from 'vitest';
import type { KvmEvent } from './events.js';
import { Kvm } from './kvm.js';
import { expectClean, must } from './test-helpers.js';

describe('KVM_CREATE_VM', () => {
  it('takes KVM_X86_*_VM numbers or names; refuses types without vendor ops', () => {
    expect(must(Kvm.create({ type: 0 })).vmType).toBe('default');
    expect(must(Kvm.create({ type: 1 })).vmType).toBe('sw_protected');
    expect(must(Kvm.create({ type: 5 })).vmType).toBe('tdx');
    expect(must(Kvm.create({ type: 2 })).vmType).toBe('sev');
    expect(must(Kvm.create({ type: 3 })).vmType).toBe('sev_es');
    expect(must(Kvm.create({ type: 4 })).vmType).toBe('snp');
    for (const type of [6, -1]) expect(Kvm.create({ type })).toMatchObject({ error: 'EINVAL' });
  });

  it('GPAW/MAXPHYADDR 52 selects a 5-level TDP, 48 a 4-level one', () => {
    expect(must(Kvm.create({ type: 'default' })).mmu.rootLevel).toBe(4);
    expect(must(Kvm.create({ type: 'sw_protected', gpaw: 52 })).mmu.rootLevel).toBe(5);
    expect(must(Kvm.create({ type: 'tdx', gpaw: 52 })).mmu.rootLevel).toBe(5);
  });

  it('a 5-level default VM maps a GPA above 2^48', () => {
    const kvm = must(Kvm.create({ type: 'default', gpaw: 52 }));
    const vcpu = must(kvm.createVcpu());
    const gpa = 2 ** 50;
    must(kvm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: gpa, memorySize: 0x1000 }));
    vcpu.write(gpa + 8, 4, 0xab);
    expect(must(kvm.hostRead(gpa + 8, 4))).toEqual(new Uint8Array(4).fill(0xab));
    expectClean(kvm);
  });

  it('events cost nothing without a listener and report SPTE writes with one', () => {
    const kvm = must(Kvm.create({ type: 'default' }));
    const vcpu = must(kvm.createVcpu());
    must(kvm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 0, memorySize: 0x1000 }));
    expect(kvm.events.active).toBe(false);
    vcpu.read(0, 4);
    const events: KvmEvent[] = [];
    const off = kvm.events.on((e) => events.push(e));
    must(kvm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 0, memorySize: 0 }));
    off();
    expect(kvm.events.active).toBe(false);
    expect(events).toContainEqual({
      type: 'spte',
      root: 'direct',
      gfn: '0x0',
      level: 1,
      old: expect.stringMatching(/^0x86/),
      // A DEFAULT VM's slot delete zaps the whole root (fast zap): the 4K leaf dies as its
      // table is torn down, frozen like every entry of a removed table (handle_removed_pt).
      new: '0x80000000000005a0',
    });
  });

  it('VM ioctls fail with EBADF once the VM fd is closed', () => {
    const kvm = must(Kvm.create({ type: 'sw_protected' }));
    const vcpu = must(kvm.createVcpu());
    const fd = must(kvm.createGuestMemfd({ size: 0x1000 }));
    kvm.closeVmFd();
    expect(kvm.destroyed).toBe(false); // the guest_memfd holds a reference
    expect(kvm.setMemoryAttributes({ address: 0, size: 0x1000, attributes: 8 })).toMatchObject({
      error: 'EBADF',
    });
    expect(vcpu.read(0, 4).ret).toBe(-9);
    must(kvm.gmemClose(fd));
    expect(kvm.destroyed).toBe(true);
  });
});

describe('KVM_CHECK_EXTENSION', () => {
  it('reports the VM types, guest_memfd, memory faults, the hypercall exit and attributes', () => {
    // BIT(0) default, BIT(1) sw_protected, BIT(2..4) sev, sev_es, snp, BIT(5) tdx (the
    // modelled host offers both vendors' types; a real host has one vendor).
    expect(Kvm.checkExtension(235)).toBe(0b111111);
    expect(Kvm.checkExtension(234)).toBe(1);
    expect(Kvm.checkExtension(232)).toBe(1);
    expect(Kvm.checkExtension(201)).toBe(1 << 12);
    expect(must(Kvm.create({ type: 'default' })).checkExtension(233)).toBe(0);
    expect(must(Kvm.create({ type: 'sw_protected' })).checkExtension(233)).toBe(8);
    expect(Kvm.checkExtension(9999)).toBe(0);
  });
});
