// A TD converts a private page to shared. The guest issues TDG.VP.VMCALL<MapGPA> with the shared
// bit set; KVM turns it into a KVM_EXIT_HYPERCALL (KVM_HC_MAP_GPA_RANGE, DECRYPTED) for
// userspace; the VMM answers with KVM_SET_MEMORY_ATTRIBUTES(0), which zaps the private mapping:
// remove_external_spte → TDH.MEM.RANGE.BLOCK, TDH.MEM.TRACK (with a kick of every vCPU),
// TDH.MEM.PAGE.REMOVE, TDH.PHYMEM.PAGE.WBINVD. KVM_RUN then returns TDVMCALL_STATUS_SUCCESS to
// the guest. A VMM that refuses (a negative hypercall.ret) makes the guest see INVALID_OPERAND.
// Kernel: vmx/tdx.c (tdx_map_gpa, tdx_complete_vmcall_map_gpa, tdx_sept_remove_private_spte),
// virt/kvm/kvm_main.c (kvm_vm_set_mem_attributes), mmu/mmu.c (kvm_arch_pre_set_memory_attributes).

import assert from 'node:assert/strict';
import {
  checkInvariants,
  EINVAL,
  exitFields,
  exitReasonName,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_EXIT_HYPERCALL,
  KVM_HC_MAP_GPA_RANGE,
  KVM_MAP_GPA_RANGE_DECRYPTED,
  KVM_MAP_GPA_RANGE_ENCRYPTED,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  Kvm,
  type KvmExit,
} from '@kvmx/kvm-x86';

const AREA = 0x8000_0000;
const SZ_2M = 0x20_0000;
const SHARED_BIT = 2 ** 47; // GPAW 48

const created = Kvm.create({ type: 'tdx', gpaw: 48 });
assert.ok(created.ok);
const vm = created.value;
assert.ok(vm.tdxInitVm().ok);
const v = vm.createVcpu();
assert.ok(v.ok);
const vcpu = v.value;
assert.ok(vm.tdxInitVcpu(vcpu).ok);
// Without KVM_CAP_EXIT_HYPERCALL for KVM_HC_MAP_GPA_RANGE, MapGPA is SUBFUNC_UNSUPPORTED.
assert.ok(vm.enableCap(KVM_CAP_EXIT_HYPERCALL, 1 << KVM_HC_MAP_GPA_RANGE).ok);
const fd = vm.createGuestMemfd({ size: SZ_2M });
assert.ok(fd.ok);
assert.ok(
  vm.setUserMemoryRegion2({
    slot: 1,
    flags: KVM_MEM_GUEST_MEMFD,
    guestPhysAddr: AREA,
    memorySize: SZ_2M,
    guestMemfd: fd.value,
  }).ok,
);
assert.ok(
  vm.setMemoryAttributes({ address: AREA, size: SZ_2M, attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE })
    .ok,
);
assert.ok(vm.tdxFinalizeVm().ok);
vcpu.autoAccept = true;
assert.equal(vcpu.write(AREA, 16, 0x77, { private: true }).exit, null); // AUG + ACCEPT

const leaves: string[] = [];
vm.events.on((e) => {
  if (e.type === 'seamcall') leaves.push(e.leaf);
});

// The guest asks for [AREA, AREA+4K) shared. KVM_RUN stops with a hypercall exit whose GPA has
// the shared bit stripped and whose attributes say DECRYPTED.
const r = vcpu.mapGpa(AREA, 0x1000, true);
assert.equal(r.ret, 0);
const exit: KvmExit | null = r.exit;
assert.ok(exit !== null && exit.reason === KVM_EXIT_HYPERCALL);
assert.equal(exitReasonName(exit), 'hypercall');
assert.equal(exit.nr, KVM_HC_MAP_GPA_RANGE);
assert.deepEqual(exit.args, [AREA, 1, KVM_MAP_GPA_RANGE_DECRYPTED]);
assert.deepEqual(exitFields(exit), {
  nr: '0xc',
  args: ['0x80000000', '0x1', '0x0'],
  flags: '0x1', // KVM_EXIT_HYPERCALL_LONG_MODE
});

// The VMM converts: the private leaf is zapped through the S-EPT removal sequence.
const kicks = vcpu.kicks;
leaves.length = 0;
const [gpa, npages, attrs] = exit.args;
assert.ok(
  vm.setMemoryAttributes({
    address: gpa,
    size: npages * 0x1000,
    attributes: (attrs & KVM_MAP_GPA_RANGE_ENCRYPTED) !== 0 ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
  }).ok,
);
assert.deepEqual(leaves, [
  'TDH.MEM.RANGE.BLOCK',
  'TDH.MEM.TRACK',
  'TDH.MEM.PAGE.REMOVE',
  'TDH.PHYMEM.PAGE.WBINVD',
]);
assert.equal(vcpu.kicks, kicks + 1); // tdx_track() kicks every vCPU out of the TD
const tdx = vm.tdx;
assert.ok(tdx !== null);
assert.equal(tdx.module.septEntry(tdx.tdr, AREA)?.state, 'FREE');

// hypercall.ret = 0: the guest's MapGPA succeeds.
assert.deepEqual(vcpu.resume(0).tdvmcall, { status: 'TDVMCALL_STATUS_SUCCESS', r11: 0 });

// Now a shared write (shared bit set) lands in the VMM's backing, the old private bytes are gone.
assert.equal(vcpu.write(AREA, 4, 0xab, { private: false }).exit, null);
const host = vm.hostRead(AREA, 4);
assert.ok(host.ok);
assert.deepEqual(host.value, new Uint8Array([0xab, 0xab, 0xab, 0xab]));

// Converting back to private only zaps the shared (direct-root) mapping: no SEAMCALL.
const back = vcpu.mapGpa(AREA, 0x1000, false);
assert.ok(back.exit?.reason === KVM_EXIT_HYPERCALL);
assert.deepEqual(back.exit.args, [AREA, 1, KVM_MAP_GPA_RANGE_ENCRYPTED]);
leaves.length = 0;
assert.ok(
  vm.setMemoryAttributes({ address: AREA, size: 0x1000, attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE })
    .ok,
);
assert.deepEqual(leaves, []);
assert.equal(vcpu.resume(0).tdvmcall?.status, 'TDVMCALL_STATUS_SUCCESS');

// A VMM that refuses the conversion: the guest gets INVALID_OPERAND, R11 = the failing GPA
// (with the shared bit the guest passed).
const refused = vcpu.mapGpa(AREA + 0x1000, 0x1000, true);
assert.ok(refused.exit?.reason === KVM_EXIT_HYPERCALL);
assert.deepEqual(vcpu.resume(-EINVAL).tdvmcall, {
  status: 'TDVMCALL_STATUS_INVALID_OPERAND',
  r11: AREA + 0x1000 + SHARED_BIT,
});

// A misaligned GPA never leaves KVM: the guest gets ALIGN_ERROR.
assert.equal(
  vcpu.mapGpa(AREA + 0x10, 0x1000, false).tdvmcall?.status,
  'TDVMCALL_STATUS_ALIGN_ERROR',
);

assert.deepEqual(checkInvariants(vm), []);
vm.destroy();
