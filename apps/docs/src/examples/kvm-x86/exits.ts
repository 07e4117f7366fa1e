// What KVM_RUN returns to userspace: struct kvm_run's exit_reason and union, as `RunResult`.
// A private access KVM cannot serve is KVM_EXIT_MEMORY_FAULT with ret -EFAULT
// (kvm_mmu_prepare_memory_fault_exit); a shared access with no memslot installs an MMIO SPTE
// and is KVM_EXIT_MMIO (kvm_handle_noslot_fault, then the emulator); a write to a read-only slot
// is emulated as MMIO too. A TD with SEPT_VE_DISABLE that touches a PENDING page is killed
// (tdx_handle_ept_violation → kvm_vm_dead): -EIO, and every later ioctl answers EIO.
// Kernel: include/uapi/linux/kvm.h (struct kvm_run), arch/x86/kvm/mmu/mmu.c, x86.c, vmx/tdx.c.

import assert from 'node:assert/strict';
import {
  EFAULT,
  EIO,
  EXIT_REASON_NAMES,
  exitFields,
  exitReasonName,
  KVM_EXIT_HYPERCALL,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_IO,
  KVM_EXIT_MEMORY_FAULT,
  KVM_EXIT_MMIO,
  KVM_EXIT_SHUTDOWN,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_EXIT_TDX,
  KVM_EXIT_UNKNOWN,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEM_READONLY,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  KVM_MEMORY_EXIT_FLAG_PRIVATE,
  KVM_SYSTEM_EVENT_SEV_TERM,
  KVM_SYSTEM_EVENT_TDX_FATAL,
  Kvm,
  type KvmEvent,
  uapi,
} from '@kvmx/kvm-x86';

// exit_reason numbers (include/uapi/linux/kvm.h) and the names the event stream uses.
assert.deepEqual(
  [
    KVM_EXIT_UNKNOWN,
    KVM_EXIT_IO,
    KVM_EXIT_HYPERCALL,
    KVM_EXIT_MMIO,
    KVM_EXIT_SHUTDOWN,
    KVM_EXIT_INTERNAL_ERROR,
    KVM_EXIT_SYSTEM_EVENT,
    KVM_EXIT_MEMORY_FAULT,
    KVM_EXIT_TDX,
  ].map((r) => `${r}:${EXIT_REASON_NAMES[r]}`),
  [
    '0:unknown',
    '2:io',
    '3:hypercall',
    '6:mmio',
    '8:shutdown',
    '17:internal_error',
    '24:system_event',
    '39:memory_fault',
    '40:tdx',
  ],
);
// kvm_run.memory_fault.flags and kvm_run.system_event.type values.
assert.equal(KVM_MEMORY_EXIT_FLAG_PRIVATE, 1 << 3);
assert.equal(KVM_SYSTEM_EVENT_SEV_TERM, 6);
assert.equal(KVM_SYSTEM_EVENT_TDX_FATAL, 7);
// The whole uapi module is also reachable as one namespace.
assert.equal(uapi.KVM_EXIT_MEMORY_FAULT, KVM_EXIT_MEMORY_FAULT);

// ---- KVM_EXIT_MEMORY_FAULT: a private attribute on a memslot without guest_memfd ------------
// (private_mem_kvm_exits_test, KVM_X86_SW_PROTECTED_VM)
const GPA = 0xc000_0000;
const sw = Kvm.create({ type: 'sw_protected' });
assert.ok(sw.ok);
const vm = sw.value;
const v = vm.createVcpu();
assert.ok(v.ok);
const vcpu = v.value;
assert.ok(vm.setUserMemoryRegion2({ slot: 10, guestPhysAddr: GPA, memorySize: 0x1000 }).ok);
assert.ok(
  vm.setMemoryAttributes({ address: GPA, size: 0x1000, attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE })
    .ok,
);
const exits: KvmEvent[] = [];
vm.events.on((e) => {
  if (e.type === 'exit') exits.push(e);
});
const r = vcpu.read(GPA, 8);
assert.equal(r.ret, -EFAULT);
assert.deepEqual(r.exit, {
  reason: KVM_EXIT_MEMORY_FAULT,
  gpa: GPA,
  size: 0x1000,
  flags: KVM_MEMORY_EXIT_FLAG_PRIVATE,
});
assert.ok(r.exit !== null);
assert.equal(exitReasonName(r.exit), 'memory_fault');
assert.deepEqual(exitFields(r.exit), { gpa: '0xc0000000', size: '0x1000', flags: '0x8' });
assert.deepEqual(exits, [
  {
    type: 'exit',
    vcpu: 0,
    reason: 'memory_fault',
    gpa: '0xc0000000',
    size: '0x1000',
    flags: '0x8',
  },
]);
// The VMM resolves it as the selftest's host does: it makes the page shared, then re-runs.
assert.ok(vm.setMemoryAttributes({ address: GPA, size: 0x1000, attributes: 0 }).ok);
const again = vcpu.resume();
assert.equal(again.exit, null);
assert.deepEqual(again.data, new Uint8Array(8));

// With a guest_memfd slot the same private read is served from guest_memfd: no exit.
const fd = vm.createGuestMemfd({ size: 0x1000 });
assert.ok(fd.ok);
assert.ok(
  vm.setUserMemoryRegion2({
    slot: 11,
    flags: KVM_MEM_GUEST_MEMFD,
    guestPhysAddr: GPA + 0x1000,
    memorySize: 0x1000,
    guestMemfd: fd.value,
  }).ok,
);
assert.ok(
  vm.setMemoryAttributes({
    address: GPA + 0x1000,
    size: 0x1000,
    attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
  }).ok,
);
assert.equal(vcpu.read(GPA + 0x1000, 8).exit, null);

// ---- KVM_EXIT_MMIO: no memslot (the local APIC page), and a read-only memslot ---------------
const d = Kvm.create({ type: 'default' });
assert.ok(d.ok);
const dvm = d.value;
const dv = dvm.createVcpu();
assert.ok(dv.ok);
const mmio = dv.value.read(0xfee0_0000, 4);
assert.deepEqual(mmio.exit, { reason: KVM_EXIT_MMIO, gpa: 0xfee0_0000, len: 4, isWrite: false });
assert.ok(mmio.exit !== null);
assert.deepEqual(exitFields(mmio.exit), { gpa: '0xfee00000', size: '0x4', flags: '0x0' });
dv.value.resume(); // the VMM emulated the access (reads return zeros in the model)

assert.ok(
  dvm.setUserMemoryRegion2({
    slot: 1,
    flags: KVM_MEM_READONLY,
    guestPhysAddr: 0x10_0000,
    memorySize: 0x1000,
  }).ok,
);
assert.ok(dvm.hostWrite(0x10_0000, new Uint8Array([9, 9])).ok);
assert.deepEqual(dv.value.read(0x10_0000, 2).data, new Uint8Array([9, 9])); // reads map
const ro = dv.value.write(0x10_0000, 2, 1);
assert.deepEqual(ro.exit, { reason: KVM_EXIT_MMIO, gpa: 0x10_0000, len: 2, isWrite: true });
dv.value.resume();

// ---- A dead VM: a TD with SEPT_VE_DISABLE touching a PENDING page --------------------------
const t = Kvm.create({ type: 'tdx', septVeDisable: true });
assert.ok(t.ok);
const td = t.value;
assert.ok(td.tdxInitVm().ok);
const tv = td.createVcpu();
assert.ok(tv.ok);
assert.ok(td.tdxInitVcpu(tv.value).ok);
const tfd = td.createGuestMemfd({ size: 0x1000 });
assert.ok(tfd.ok);
assert.ok(
  td.setUserMemoryRegion2({
    slot: 1,
    flags: KVM_MEM_GUEST_MEMFD,
    guestPhysAddr: 0x8000_0000,
    memorySize: 0x1000,
    guestMemfd: tfd.value,
  }).ok,
);
assert.ok(
  td.setMemoryAttributes({
    address: 0x8000_0000,
    size: 0x1000,
    attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
  }).ok,
);
assert.ok(td.tdxFinalizeVm().ok);
const killed = tv.value.read(0x8000_0000, 4, { private: true }); // AUGed PENDING, never accepted
assert.equal(killed.ret, -EIO);
assert.equal(killed.exit, null);
assert.match(td.dead ?? '', /Guest access before accepting 0x80000000/);
assert.deepEqual(td.setMemoryAttributes({ address: 0x8000_0000, size: 0x1000, attributes: 0 }), {
  ok: false,
  errno: EIO,
  error: 'EIO',
});
td.destroy();
