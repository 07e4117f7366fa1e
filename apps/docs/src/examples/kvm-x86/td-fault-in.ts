// A TD's first private write, through the facade: the launch ioctls, then one KVM_RUN whose EPT
// violation on a private GPA walks kvm_tdp_mmu_map() on the mirror root. Each missing mirror
// table reaches the TDX module through link_external_spt (TDH.MEM.SEPT.ADD), the leaf through
// set_external_spte (TDH.MEM.PAGE.AUG); the page is PENDING, so the guest takes a #VE, its
// handler runs TDG.MEM.PAGE.ACCEPT, and the write lands in private memory — which the VMM's
// shared backing never sees.
// Kernel: arch/x86/kvm/mmu/tdp_mmu.c (set_external_spte_present), vmx/tdx.c
// (tdx_sept_link_private_spt, tdx_sept_set_private_spte, tdx_vcpu_run); TDX module ABI.

import assert from 'node:assert/strict';
import {
  type AccessOptions,
  type CreateVmOptions,
  checkInvariants,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  Kvm,
  type KvmEvent,
  type KvmEventListener,
  type MemoryAttributesArgs,
  type RunResult,
  type UserMemoryRegion2,
  type Vcpu,
} from '@kvmx/kvm-x86';

const AREA = 0x8000_0000;
const SZ_2M = 0x20_0000;

// KVM_CREATE_VM(KVM_X86_TDX_VM) with a 4-level TDP: GPAW 48, so the shared bit is bit 47.
const options: CreateVmOptions = { type: 'tdx', gpaw: 48 };
const created = Kvm.create(options);
assert.ok(created.ok);
const vm = created.value;
assert.equal(vm.gfnDirectBits, 2 ** (47 - 12)); // kvm_gfn_direct_bits(): the shared bit as a GFN bit

// Record "hook:op@level" for the kvm_x86_ops calls the MMU makes, "LEAF@level" for SEAMCALLs
// and the guest's TDCALLs / #VE. A SEAMCALL is recorded when it returns: a TDH.VP.ENTER comes
// after what the guest did inside it.
const trace: string[] = [];
const record: KvmEventListener = (e: KvmEvent) => {
  if (e.type === 'hook') trace.push(`hook:${e.op}@${e.level}`);
  if (e.type === 'seamcall') trace.push(e.level === undefined ? e.leaf : `${e.leaf}@${e.level}`);
  if (e.type === 'tdcall') trace.push(e.leaf);
};
const unsubscribe = vm.events.on(record);

// Launch: KVM_TDX_INIT_VM, KVM_CREATE_VCPU, KVM_TDX_INIT_VCPU, a guest_memfd-backed memslot.
assert.ok(vm.tdxInitVm().ok);
const v = vm.createVcpu();
assert.ok(v.ok);
const vcpu: Vcpu = v.value;
assert.ok(vm.tdxInitVcpu(vcpu).ok);
assert.ok(vm.enableCap(KVM_CAP_EXIT_HYPERCALL, 1 << 12).ok); // MapGPA reaches userspace
const fd = vm.createGuestMemfd({ size: SZ_2M });
assert.ok(fd.ok);
const region: UserMemoryRegion2 = {
  slot: 1,
  flags: KVM_MEM_GUEST_MEMFD,
  guestPhysAddr: AREA,
  memorySize: SZ_2M,
  guestMemfd: fd.value,
  guestMemfdOffset: 0,
};
assert.ok(vm.setUserMemoryRegion2(region).ok);
const privateAttrs: MemoryAttributesArgs = {
  address: AREA,
  size: SZ_2M,
  attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
};
assert.ok(vm.setMemoryAttributes(privateAttrs).ok);
assert.ok(vm.tdxFinalizeVm().ok);
assert.equal(vm.tdxRunnable, true);
trace.length = 0;

// The guest writes 8 bytes at AREA + 0x5000 with the shared bit clear.
const priv: AccessOptions = { private: true };
const run: RunResult = vcpu.write(AREA + 0x5000, 8, 0x5a, priv);
assert.equal(run.exit, null); // no exit to userspace ...
assert.equal(run.ve, AREA + 0x5000); // ... but a #VE: the page was AUGed PENDING
assert.deepEqual(trace, [
  'TDH.VP.ENTER', // TD exit: EPT violation on the private GPA
  'hook:link_external_spt@4',
  'TDH.MEM.SEPT.ADD@4',
  'hook:link_external_spt@3',
  'TDH.MEM.SEPT.ADD@3',
  'hook:link_external_spt@2',
  'TDH.MEM.SEPT.ADD@2',
  'hook:set_external_spte@1',
  'TDH.MEM.PAGE.AUG@1',
  '#VE', // re-entered, the guest touches the PENDING page
  'TDH.VP.ENTER', // …and that VP.ENTER returns: the TD left with the #VE still to handle
]);

// While the #VE is pending, another operation is refused with -EBUSY; accept is the handler.
assert.equal(vcpu.read(AREA, 8, priv).ret, -16);
const accepted = vcpu.accept(AREA + 0x5000);
assert.equal(accepted.status, 'TDX_SUCCESS');
assert.equal(vcpu.resume().exit, null); // the write completes

// The guest reads its bytes back; the VMM's view of the same GPA (shared backing) is zeros.
assert.deepEqual(vcpu.read(AREA + 0x5000, 8, priv).data, new Uint8Array(8).fill(0x5a));
const host = vm.hostRead(AREA + 0x5000, 8);
assert.ok(host.ok);
assert.deepEqual(host.value, new Uint8Array(8));

// With autoAccept the guest's #VE handler runs inside the same KVM_RUN.
vcpu.autoAccept = true;
trace.length = 0;
assert.equal(vcpu.write(AREA + 0x6000, 4096, 0x11, priv).exit, null);
assert.deepEqual(trace, [
  'TDH.VP.ENTER',
  'hook:set_external_spte@1', // the tables exist now: only the leaf
  'TDH.MEM.PAGE.AUG@1',
  '#VE',
  'TDG.MEM.PAGE.ACCEPT',
  'TDH.VP.ENTER',
]);

assert.deepEqual(checkInvariants(vm), []);
unsubscribe();
vm.destroy();
assert.deepEqual(vm.bugs, []);
