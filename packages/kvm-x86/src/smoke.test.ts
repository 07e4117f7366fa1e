import { describe, expect, it } from 'vitest';
import { Kvm } from './kvm.js';
import { KVM_EXIT_HYPERCALL, KVM_EXIT_MEMORY_FAULT, KVM_MEM_GUEST_MEMFD } from './uapi.js';

function must<T>(r: { ok: true; value: T } | { ok: false; error: string }): T {
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

describe('smoke', () => {
  it('sw_protected private and shared', () => {
    const kvm = must(Kvm.create({ type: 'sw_protected' }));
    const vcpu = must(kvm.createVcpu());
    const fd = must(kvm.createGuestMemfd({ size: 0x200000 }));
    must(
      kvm.setUserMemoryRegion2({
        slot: 10,
        flags: KVM_MEM_GUEST_MEMFD,
        guestPhysAddr: 0xc0000000,
        memorySize: 0x200000,
        guestMemfd: fd,
      }),
    );
    let r = vcpu.write(0xc0000000, 16, 0xaa);
    expect(r.exit).toBeNull();
    must(kvm.setMemoryAttributes({ address: 0xc0000000, size: 4096, attributes: 8 }));
    r = vcpu.read(0xc0000000, 16);
    expect(r.exit).toBeNull();
    expect([...(r.data ?? [])].every((b) => b === 0)).toBe(true);
    vcpu.write(0xc0000000, 16, 0x22);
    expect(must(kvm.hostRead(0xc0000000, 1))[0]).toBe(0xaa);
    must(kvm.setUserMemoryRegion2({ slot: 10, guestPhysAddr: 0xc0000000, memorySize: 0 }));
    r = vcpu.read(0xc0000000, 8);
    expect(r.exit).toEqual({
      reason: KVM_EXIT_MEMORY_FAULT,
      gpa: 0xc0000000,
      size: 4096,
      flags: 8,
    });
    expect(r.ret).toBe(-14);
    kvm.enableCap(201, 1 << 12);
    r = vcpu.resume();
    expect(r.exit?.reason).toBe(KVM_EXIT_MEMORY_FAULT);
  });
  it('hypercall', () => {
    const kvm = must(Kvm.create({ type: 'sw_protected' }));
    const vcpu = must(kvm.createVcpu());
    kvm.enableCap(201, 1 << 12);
    const r = vcpu.mapGpa(0x100000000, 0x1000, false);
    expect(r.exit).toEqual({
      reason: KVM_EXIT_HYPERCALL,
      nr: 12,
      args: [0x100000000, 1, 0x10],
      flags: 1,
    });
    expect(vcpu.resume(0).hypercallRet).toBe(0);
  });
});
