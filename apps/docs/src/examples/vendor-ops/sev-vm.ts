// The SEV VM types (KVM_X86_SEV_VM, _SEV_ES_VM, _SNP_VM) and what differs between them: the
// per-VM flags svm_vm_init() sets (only SNP has private memory; SEV-ES and SNP have protected
// register state), the C-bit KVM learns from CPUID 0x8000001F EBX[5:0] (sev_enc_bit) — a guest
// PTE may carry it, an #NPF GPA never does — and ASIDs: sev_asid_new() gives SEV guests
// [min_sev_asid, max_sev_asid] and SEV-ES/SNP guests [1, min_sev_asid − 1], lowest free first,
// -EBUSY when the range is used up.
// Kernel: arch/x86/kvm/svm/sev.c (sev_asid_new, __sev_guest_init, sev_vcpu_after_set_cpuid),
// arch/x86/kvm/svm/svm.c (svm_vm_init); arch/x86/include/asm/svm.h (SVM_SEV_FEAT_*).

import assert from 'node:assert/strict';
import { KVM_X86_SEV_ES_VM, KVM_X86_SEV_VM, KVM_X86_SNP_VM, type VmTypeName } from '@kvmx/address';
import {
  DEFAULT_SEV_ASIDS,
  EBUSY,
  guestPteAddrLegal,
  isSevVmType,
  SevAsidAllocator,
  type SevAsidConfig,
  type SevCbit,
  type SevVmFlags,
  type SevVmType,
  SVM_SEV_FEAT_DEBUG_SWAP,
  SVM_SEV_FEAT_SNP_ACTIVE,
  sevCbit,
  sevVmFlags,
  sevVmTypeNumber,
  splitCbit,
  withCbit,
} from '@kvmx/vendor-ops';

const types: VmTypeName[] = ['default', 'sw_protected', 'sev', 'sev_es', 'snp', 'tdx'];
const sev: SevVmType[] = types.filter(isSevVmType);
assert.deepEqual(sev, ['sev', 'sev_es', 'snp']);
assert.deepEqual(sev.map(sevVmTypeNumber), [KVM_X86_SEV_VM, KVM_X86_SEV_ES_VM, KVM_X86_SNP_VM]);
assert.deepEqual(sev.map(sevVmTypeNumber), [2, 3, 4]);

const flags = (t: SevVmType): SevVmFlags => sevVmFlags(t);
assert.deepEqual(
  sev.map((t) => [
    flags(t).hasPrivateMem,
    flags(t).hasProtectedState,
    flags(t).preFaultAllowed,
    flags(t).snpActive,
  ]),
  [
    [false, false, true, false], // SEV: encrypted memory, plain register state
    [false, true, true, false], // SEV-ES: the VMSA is encrypted too
    [true, true, false, true], // SNP: guest_memfd, the RMP; pre-fault only after LAUNCH_FINISH
  ],
);
// vmsa_features bits (SVM_SEV_FEAT_*): SNP_ACTIVE is set by KVM for SNP; DEBUG_SWAP by userspace.
assert.deepEqual([SVM_SEV_FEAT_SNP_ACTIVE, SVM_SEV_FEAT_DEBUG_SWAP], [1, 32]);

// The C-bit: position 12..51 (default 51 here), as a mask.
const c: SevCbit | undefined = sevCbit(47);
assert.ok(c !== undefined);
assert.deepEqual(c, { position: 47, meMask: 2 ** 47 });
assert.equal(sevCbit(52), undefined);
assert.equal(sevCbit()?.position, 51);
// A guest PTE address with the C-bit: KVM sees the GPA without it, and the encryption intent.
assert.deepEqual(splitCbit(2 ** 47 + 0x8000_0000, c), { gpa: 0x8000_0000, enc: true });
assert.deepEqual(splitCbit(0x8000_0000, c), { gpa: 0x8000_0000, enc: false });
assert.equal(withCbit(0x8000_0000, true, c), 2 ** 47 + 0x8000_0000);
assert.equal(withCbit(2 ** 47 + 0x8000_0000, false, c), 0x8000_0000);
// sev_vcpu_after_set_cpuid(): with guest MAXPHYADDR 46 the C-bit (47) is no reserved bit.
assert.equal(guestPteAddrLegal(2 ** 47 + 0x1000, 46, c), true);
assert.equal(guestPteAddrLegal(2 ** 46 + 0x1000, 46, c), false);

// ASIDs.
const config: SevAsidConfig = DEFAULT_SEV_ASIDS;
assert.deepEqual(config, { maxSevAsid: 509, minSevAsid: 100 });
const asids = new SevAsidAllocator({ maxSevAsid: 4, minSevAsid: 3 });
assert.deepEqual(asids.range('sev'), [3, 4]);
assert.deepEqual(asids.range('snp'), [1, 2]);
assert.deepEqual([asids.alloc('snp'), asids.alloc('sev_es'), asids.alloc('snp')], [1, 2, -EBUSY]);
assert.deepEqual([asids.alloc('sev'), asids.alloc('sev'), asids.alloc('sev')], [3, 4, -EBUSY]);
asids.free(1);
assert.equal(asids.alloc('snp'), 1); // lowest free first
