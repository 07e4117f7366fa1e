// The README's example, run through the package's public exports.

import { describe, expect, it } from 'vitest';
import {
  checkInvariants,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  Kvm,
  type KvmEvent,
} from './index.js';

describe('README example', () => {
  it('boots a TD, writes private memory through SEPT.ADD/AUG/#VE/ACCEPT, tears down', () => {
    const kvm = Kvm.create({ type: 'tdx', gpaw: 48 });
    if (!kvm.ok) throw new Error(kvm.error);
    const vm = kvm.value;
    const events: KvmEvent[] = [];
    vm.events.on((e) => events.push(e));
    expect(vm.tdxInitVm().ok).toBe(true);
    const vcpu = vm.createVcpu();
    if (!vcpu.ok) throw new Error(vcpu.error);
    expect(vm.tdxInitVcpu(vcpu.value).ok).toBe(true);
    const fd = vm.createGuestMemfd({ size: 0x200000 });
    if (!fd.ok) throw new Error(fd.error);
    vm.setUserMemoryRegion2({
      slot: 1,
      flags: KVM_MEM_GUEST_MEMFD,
      guestPhysAddr: 0x80000000,
      memorySize: 0x200000,
      guestMemfd: fd.value,
      guestMemfdOffset: 0,
    });
    vm.setMemoryAttributes({
      address: 0x80000000,
      size: 0x200000,
      attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
    });
    expect(vm.tdxFinalizeVm().ok).toBe(true);
    vcpu.value.autoAccept = true;
    const run = vcpu.value.write(0x80000000, 4096, 0x33, { private: true });
    expect(run.exit).toBeNull();
    expect(checkInvariants(vm)).toEqual([]);
    const leaves = events.flatMap((e) =>
      e.type === 'seamcall' || e.type === 'tdcall' ? [e.leaf] : [],
    );
    const addcx = (n: number) => new Array(n).fill('TDH.MNG.ADDCX');
    const vpAddcx = (n: number) => new Array(n).fill('TDH.VP.ADDCX');
    const module = vm.tdx?.module;
    expect(leaves).toEqual([
      'TDH.MNG.CREATE',
      'TDH.MNG.KEY.CONFIG',
      ...addcx(module?.tdcsPages ?? 0),
      'TDH.MNG.INIT',
      'TDH.VP.CREATE',
      ...vpAddcx((module?.tdvpsPages ?? 1) - 1),
      'TDH.VP.INIT',
      'TDH.MR.FINALIZE',
      'TDH.VP.ENTER',
      'TDH.MEM.SEPT.ADD',
      'TDH.MEM.SEPT.ADD',
      'TDH.MEM.SEPT.ADD',
      'TDH.MEM.PAGE.AUG',
      '#VE',
      'TDG.MEM.PAGE.ACCEPT',
      'TDH.VP.ENTER',
    ]);
    vm.destroy();
    expect(vm.bugs).toEqual([]);
  });
});
