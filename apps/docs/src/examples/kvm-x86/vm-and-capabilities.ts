// Creating VMs and asking what the host supports. KVM_CHECK_EXTENSION(KVM_CAP_VM_TYPES) is the
// bitmask of KVM_X86_*_VM types; KVM_CREATE_VM with another type, or a GPAW other than 48/52,
// is EINVAL. The VM-fd form of KVM_CAP_MEMORY_ATTRIBUTES depends on the type (only VMs with
// private memory support KVM_MEMORY_ATTRIBUTE_PRIVATE). KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL)
// takes the bitmask of hypercalls to forward (only KVM_HC_MAP_GPA_RANGE is valid).
// Kernel: virt/kvm/kvm_main.c (kvm_vm_ioctl_check_extension_generic), arch/x86/kvm/x86.c
// (kvm_vm_ioctl_check_extension, kvm_vm_ioctl_enable_cap, KVM_EXIT_HYPERCALL_VALID_MASK).

import assert from 'node:assert/strict';
import {
  KVM_X86_DEFAULT_VM,
  KVM_X86_SEV_ES_VM,
  KVM_X86_SEV_VM,
  KVM_X86_SNP_VM,
  KVM_X86_SW_PROTECTED_VM,
  KVM_X86_TDX_VM,
} from '@kvmx/address';
import {
  type CreateVmOptions,
  EINVAL,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_CAP_GUEST_MEMFD,
  KVM_CAP_MEMORY_ATTRIBUTES,
  KVM_CAP_MEMORY_FAULT_INFO,
  KVM_CAP_USER_MEMORY2,
  KVM_CAP_VM_TYPES,
  KVM_HC_MAP_GPA_RANGE,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  Kvm,
} from '@kvmx/kvm-x86';

// Capability numbers (include/uapi/linux/kvm.h).
assert.deepEqual(
  [
    KVM_CAP_EXIT_HYPERCALL,
    KVM_CAP_USER_MEMORY2,
    KVM_CAP_MEMORY_FAULT_INFO,
    KVM_CAP_MEMORY_ATTRIBUTES,
    KVM_CAP_GUEST_MEMFD,
    KVM_CAP_VM_TYPES,
  ],
  [201, 231, 232, 233, 234, 235],
);

// /dev/kvm: every type this model runs, as BIT(type).
const types = Kvm.checkExtension(KVM_CAP_VM_TYPES);
for (const t of [
  KVM_X86_DEFAULT_VM,
  KVM_X86_SW_PROTECTED_VM,
  KVM_X86_SEV_VM,
  KVM_X86_SEV_ES_VM,
  KVM_X86_SNP_VM,
  KVM_X86_TDX_VM,
]) {
  assert.equal(types & (1 << t), 1 << t);
}
assert.equal(types, 0b11_1111);
assert.equal(Kvm.checkExtension(KVM_CAP_USER_MEMORY2), 1);
assert.equal(Kvm.checkExtension(KVM_CAP_MEMORY_FAULT_INFO), 1);
assert.equal(Kvm.checkExtension(KVM_CAP_GUEST_MEMFD), 1);
assert.equal(Kvm.checkExtension(KVM_CAP_EXIT_HYPERCALL), 1 << KVM_HC_MAP_GPA_RANGE);
// Without a VM, KVM_CAP_MEMORY_ATTRIBUTES reports what any type supports.
assert.equal(Kvm.checkExtension(KVM_CAP_MEMORY_ATTRIBUTES), KVM_MEMORY_ATTRIBUTE_PRIVATE);
assert.equal(Kvm.checkExtension(9999), 0); // unknown capability

// KVM_CREATE_VM by name or by number; an unknown type or a bad GPAW is EINVAL.
const byNumber: CreateVmOptions = { type: KVM_X86_TDX_VM, gpaw: 52 };
const td = Kvm.create(byNumber);
assert.ok(td.ok);
assert.equal(td.value.vmType, 'tdx');
assert.equal(td.value.mmu.rootLevel, 5); // GPAW 52: a 5-level TDP, shared bit 51
assert.equal(td.value.gfnDirectBits, 2 ** (51 - 12));
assert.deepEqual(Kvm.create({ type: 7 }), { ok: false, errno: EINVAL, error: 'EINVAL' });
assert.equal(Kvm.create({ type: 'tdx', gpaw: 40 }).ok, false);
// SEV: the C-bit position is per host (CPUID 0x8000001F EBX[5:0]); outside 12..51 is EINVAL.
assert.equal(Kvm.create({ type: 'snp', cbit: 47 }).ok, true);
assert.equal(Kvm.create({ type: 'snp', cbit: 8 }).ok, false);

// The VM fd: a default VM has no private memory, so the attribute is not offered and
// setting it is EINVAL; an SW_PROTECTED VM offers it.
const d = Kvm.create({ type: 'default' });
assert.ok(d.ok);
assert.equal(d.value.checkExtension(KVM_CAP_MEMORY_ATTRIBUTES), 0);
assert.equal(
  d.value.setMemoryAttributes({
    address: 0,
    size: 0x1000,
    attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
  }).ok,
  false,
);
const sw = Kvm.create({ type: 'sw_protected' });
assert.ok(sw.ok);
assert.equal(sw.value.checkExtension(KVM_CAP_MEMORY_ATTRIBUTES), KVM_MEMORY_ATTRIBUTE_PRIVATE);

// KVM_ENABLE_CAP: only KVM_HC_MAP_GPA_RANGE may be forwarded to userspace.
assert.ok(sw.value.enableCap(KVM_CAP_EXIT_HYPERCALL, 1 << KVM_HC_MAP_GPA_RANGE).ok);
assert.equal(sw.value.enableCap(KVM_CAP_EXIT_HYPERCALL, 1 << 5).ok, false);
assert.equal(sw.value.enableCap(KVM_CAP_GUEST_MEMFD, 1).ok, false);

// A TD's vCPUs exist only after KVM_TDX_INIT_VM (tdx_vcpu_create): EIO before.
const early = td.value.createVcpu();
assert.equal(early.ok ? 'ok' : early.error, 'EIO');
assert.ok(td.value.tdxInitVm().ok);
assert.ok(td.value.createVcpu().ok);
td.value.destroy();
