// The SEV family through the facade, as sev_init2_tests and sev_smoke_test see it:
// KVM_SEV_INIT2 works with an all-zero struct on SEV, SEV-ES and SNP VMs and is EINVAL on the
// other types; any `flags` bit is EINVAL; vmsa_features may carry DEBUG_SWAP on SEV-ES and SNP
// only; a second INIT2 on an SNP guest is EPERM; the SNP launch commands are ENOTTY on SEV-ES.
// What differs between the types: only SNP has private memory (guest_memfd, attributes); SEV-ES
// and SNP have protected register state (no read-only memslots). An SEV-ES guest that asks for
// an SNP-only GHCB MSR request is terminated: KVM_EXIT_SYSTEM_EVENT(SEV_TERM).
// Kernel: arch/x86/kvm/svm/sev.c (sev_guest_init2, __sev_guest_init, snp_launch_start,
// sev_handle_vmgexit_msr_protocol); tools/testing/selftests/kvm/x86/sev_init2_tests.c.

import assert from 'node:assert/strict';
import { type VmTypeName, word64Hex } from '@kvmx/address';
import {
  EINVAL,
  KVM_CAP_MEMORY_ATTRIBUTES,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_MEM_READONLY,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  KVM_SYSTEM_EVENT_SEV_TERM,
  Kvm,
} from '@kvmx/kvm-x86';
import { ENOTTY, EPERM, ghcbMsrRegGpaReq, SVM_SEV_FEAT_DEBUG_SWAP } from '@kvmx/vendor-ops';

const vm = (type: VmTypeName): Kvm => {
  const r = Kvm.create({ type });
  assert.ok(r.ok);
  return r.value;
};
const errorOf = (r: { ok: boolean; error?: string }) => (r.ok ? 'ok' : r.error);

// INIT2 with an all-zero struct.
assert.deepEqual(
  (['sev', 'sev_es', 'snp', 'default', 'sw_protected'] as const).map((t) =>
    errorOf(vm(t).sevInit2()),
  ),
  ['ok', 'ok', 'ok', 'EINVAL', 'EINVAL'],
);
// Every flags bit is EINVAL (the raw command through the vendor ops).
const sev = vm('sev_es').sev;
assert.ok(sev !== null);
assert.deepEqual(sev.init2({ flags: 1 }), { ret: -EINVAL, fwError: 0 });
// vmsa_features: DEBUG_SWAP on SEV-ES and SNP, nothing on plain SEV; unknown bits never.
assert.equal(errorOf(vm('sev').sevInit2({ vmsaFeatures: SVM_SEV_FEAT_DEBUG_SWAP })), 'EINVAL');
assert.equal(errorOf(vm('sev_es').sevInit2({ vmsaFeatures: SVM_SEV_FEAT_DEBUG_SWAP })), 'ok');
assert.equal(errorOf(vm('snp').sevInit2({ vmsaFeatures: 1 << 6 })), 'EINVAL');
// A second INIT2 on an SNP guest: EPERM. SNP_LAUNCH_START on SEV-ES: ENOTTY.
const snp = vm('snp');
assert.ok(snp.sevInit2().ok);
assert.deepEqual(snp.sevInit2(), { ok: false, errno: EPERM, error: 'EPERM' });
const es = vm('sev_es');
assert.ok(es.sevInit2().ok);
assert.deepEqual(es.snpLaunchStart(), { ok: false, errno: ENOTTY, error: 'ENOTTY' });

// Private memory and protected state per type.
assert.deepEqual(
  (['sev', 'sev_es', 'snp'] as const).map((t) => {
    const k = vm(t);
    return [
      k.arch.hasPrivateMem,
      k.arch.hasProtectedState,
      k.checkExtension(KVM_CAP_MEMORY_ATTRIBUTES),
    ];
  }),
  [
    [false, false, 0],
    [false, true, 0],
    [true, true, KVM_MEMORY_ATTRIBUTE_PRIVATE],
  ],
);
assert.equal(
  errorOf(
    vm('sev').setUserMemoryRegion2({
      slot: 0,
      flags: KVM_MEM_READONLY,
      guestPhysAddr: 0,
      memorySize: 0x1000,
    }),
  ),
  'ok',
);
assert.equal(
  errorOf(
    es.setUserMemoryRegion2({
      slot: 0,
      flags: KVM_MEM_READONLY,
      guestPhysAddr: 0,
      memorySize: 0x1000,
    }),
  ),
  'EINVAL',
);

// An SEV-ES guest's VMGEXIT with an SNP-only request (register the GHCB): terminated.
const v = es.createVcpu();
assert.ok(v.ok);
const reg = ghcbMsrRegGpaReq(0x42);
const r = v.value.vmgexitMsr(reg);
assert.ok(r.exit?.reason === KVM_EXIT_SYSTEM_EVENT);
assert.equal(r.exit.eventType, KVM_SYSTEM_EVENT_SEV_TERM);
assert.deepEqual(
  r.exit.data.map((d) => `0x${d.toString(16)}`),
  [word64Hex(reg)],
);
