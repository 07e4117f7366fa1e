// VM types as KVM_CREATE_VM numbers them (arch/x86/include/uapi/asm/kvm.h: KVM_X86_*_VM) and
// the names kvmx uses for them; the SEV C-bit, whose position comes from CPUID Fn8000_001F
// EBX[5:0] and which marks encrypted pages in the guest's own page tables, not in the GPA.
import assert from 'node:assert/strict';
import {
  cbitFromCpuid,
  cbitMask,
  DEFAULT_CBIT,
  hasCbit,
  isValidCbit,
  isVmTypeName,
  KVM_X86_DEFAULT_VM,
  KVM_X86_SEV_ES_VM,
  KVM_X86_SEV_VM,
  KVM_X86_SNP_VM,
  KVM_X86_SW_PROTECTED_VM,
  KVM_X86_TDX_VM,
  MAX_CBIT,
  MIN_CBIT,
  usesCbit,
  VM_TYPE_NAMES,
  type VmTypeName,
  vmTypeName,
  vmTypeNumber,
} from '@kvmx/address';

assert.deepEqual(
  [
    KVM_X86_DEFAULT_VM,
    KVM_X86_SW_PROTECTED_VM,
    KVM_X86_SEV_VM,
    KVM_X86_SEV_ES_VM,
    KVM_X86_SNP_VM,
    KVM_X86_TDX_VM,
  ],
  [0, 1, 2, 3, 4, 5],
);
assert.deepEqual(VM_TYPE_NAMES, ['default', 'sw_protected', 'sev', 'sev_es', 'snp', 'tdx']);
assert.equal(vmTypeNumber('tdx'), KVM_X86_TDX_VM);
assert.equal(vmTypeName(4), 'snp');
assert.equal(vmTypeName(6), undefined); // not a type KVM knows
assert.equal(isVmTypeName('sev-es'), false); // the name is sev_es
const cbitTypes: VmTypeName[] = VM_TYPE_NAMES.filter(usesCbit);
assert.deepEqual(cbitTypes, ['sev', 'sev_es', 'snp']);

// The C-bit position: EBX[5:0] of CPUID 0x8000001F (0x33 = 51 on current EPYC parts).
const ebx = 0x0000_0173; // bits 11:6 hold the physical-address reduction, ignored here
assert.equal(cbitFromCpuid(ebx), 51);
assert.equal(DEFAULT_CBIT, 51);
assert.deepEqual([MIN_CBIT, MAX_CBIT], [12, 51]);
assert.equal(isValidCbit(47), true);
assert.equal(isValidCbit(11), false); // inside the page offset
assert.equal(isValidCbit(52), false); // at MAXPHYADDR
assert.equal(cbitMask(51), 2 ** 51);
assert.throws(() => cbitMask(52), RangeError);
// A guest PTE's address with the C-bit set means "encrypted"; the GPA KVM sees has it cleared.
assert.equal(hasCbit(2 ** 51 + 0x1000, 51), true);
assert.equal(hasCbit(0x1000, 51), false);
