// An SEV-SNP guest through the facade (the flow of sev_smoke_test and the SNP conversion
// selftests): KVM_SEV_INIT2, SNP_LAUNCH_START/UPDATE/FINISH, then a shared → private
// conversion. The guest's page-state change is a KVM_EXIT_HYPERCALL (KVM_HC_MAP_GPA_RANGE,
// attributes 0x10 = ENCRYPTED); after the VMM converts, the first private access faults the
// page in (sev_gmem_prepare assigns it in the RMP, not validated) and takes #VC 0x404
// (PAGE_NOT_VALIDATED) until the guest PVALIDATEs it; PVALIDATE twice is NOUPDATE. A host
// write to the assigned frame is an RMP #PF (EFAULT); a GHCB TERM_REQ ends in
// KVM_EXIT_SYSTEM_EVENT(SEV_TERM).
// Kernel: arch/x86/kvm/svm/sev.c (sev_handle_vmgexit_msr_protocol, snp_begin_psc_msr,
// sev_gmem_prepare, sev_handle_rmp_fault, snp_launch_update); AMD APM vol. 3 (PVALIDATE).

import assert from 'node:assert/strict';
import {
  checkInvariants,
  EFAULT,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_EXIT_HYPERCALL,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_HC_MAP_GPA_RANGE,
  KVM_MAP_GPA_RANGE_ENCRYPTED,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  KVM_SYSTEM_EVENT_SEV_TERM,
  Kvm,
} from '@kvmx/kvm-x86';
import {
  ghcbMsrTermReq,
  KVM_SEV_SNP_PAGE_TYPE_NORMAL,
  PVALIDATE_FAIL_NOUPDATE,
  SVM_EXIT_VC_PAGE_NOT_VALIDATED,
} from '@kvmx/vendor-ops';

const GPA = 0x10_0000;
const PAGE = 0x1000;

const created = Kvm.create({ type: 'snp' });
assert.ok(created.ok);
const vm = created.value;
assert.ok(vm.sevInit2().ok); // KVM_SEV_INIT2
assert.ok(vm.snpLaunchStart().ok); // KVM_SEV_SNP_LAUNCH_START (default policy)
const v = vm.createVcpu();
assert.ok(v.ok);
const vcpu = v.value;
assert.ok(vm.enableCap(KVM_CAP_EXIT_HYPERCALL, 1 << KVM_HC_MAP_GPA_RANGE).ok);
const fd = vm.createGuestMemfd({ size: 0x40_0000 });
assert.ok(fd.ok);
assert.ok(
  vm.setUserMemoryRegion2({
    slot: 0,
    flags: KVM_MEM_GUEST_MEMFD,
    guestPhysAddr: GPA,
    memorySize: 0x40_0000,
    guestMemfd: fd.value,
  }).ok,
);

// Launch: one measured page copied from the shared backing. It ends assigned and validated.
assert.ok(
  vm.setMemoryAttributes({ address: GPA, size: PAGE, attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE }).ok,
);
assert.ok(vm.hostWrite(GPA, new Uint8Array(PAGE).fill(0x5a)).ok);
assert.deepEqual(vm.snpLaunchUpdate({ gpa: GPA, size: PAGE, type: KVM_SEV_SNP_PAGE_TYPE_NORMAL }), {
  ok: true,
  value: 1,
});
assert.deepEqual(vm.rmpView(GPA), { mapped: true, level: 1, state: 'validated' });
assert.ok(vm.snpLaunchFinish().ok);
assert.deepEqual(vcpu.read(GPA, 4, { private: true }).data, new Uint8Array(4).fill(0x5a));

// The guest converts a shared page to private: one page, so the GHCB MSR protocol.
const g = GPA + 0x1_0000;
const psc = vcpu.mapGpa(g, PAGE, false);
assert.deepEqual(psc.exit, {
  reason: KVM_EXIT_HYPERCALL,
  nr: KVM_HC_MAP_GPA_RANGE,
  args: [g, 1, KVM_MAP_GPA_RANGE_ENCRYPTED],
  flags: 0,
});
assert.ok(
  vm.setMemoryAttributes({ address: g, size: PAGE, attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE }).ok,
);
assert.deepEqual(vcpu.resume(0), { ret: 0, exit: null });

// Before PVALIDATE: the private write is mapped by KVM but the RMP says not validated: #VC.
const vc = vcpu.write(g, 1, 0xef, { private: true });
assert.equal(vc.vc, SVM_EXIT_VC_PAGE_NOT_VALIDATED);
assert.equal(vc.vcGpa, g);
assert.deepEqual(vm.rmpView(g), { mapped: true, level: 1, state: 'unvalidated' });
assert.deepEqual(vcpu.pvalidate(g, PAGE, true).pvalidated, { pages4k: 1, pages2m: 0 });
assert.equal(vm.rmpView(g)?.state, 'validated');
assert.equal(vcpu.write(g, PAGE, 0xef, { private: true }).exit, null);
// PVALIDATE of a page already validated: NOUPDATE (a Linux guest then terminates).
assert.equal(vcpu.pvalidate(g, PAGE, true).pvalidateRc, PVALIDATE_FAIL_NOUPDATE);

// A 2 MiB PVALIDATE over 4K RMP entries fails SIZEMISMATCH; the guest redoes it at 4K.
const big = GPA + 0x10_0000;
assert.ok(
  vm.setMemoryAttributes({
    address: big,
    size: 0x20_0000,
    attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
  }).ok,
);
assert.deepEqual(vcpu.pvalidate(big, 0x20_0000, true).pvalidated, { pages4k: 512, pages2m: 0 });

// The host kernel writing to the guest's frame: RMP #PF, EFAULT. Its own shared backing is fine.
const root = vm.mmu.directRoot;
assert.ok(root !== null);
const pfn = vm.mmu.lookup(root, g / PAGE)?.pfn ?? -1;
assert.deepEqual(vm.hostWriteFrame(pfn, 0, new Uint8Array(8)), {
  ok: false,
  errno: EFAULT,
  error: 'EFAULT',
});
assert.ok(vm.hostWrite(g, new Uint8Array(8)).ok);
assert.deepEqual(checkInvariants(vm), []);

// GHCB MSR TERM_REQ (reason set 0, code 0): KVM_EXIT_SYSTEM_EVENT, type SEV_TERM, data 0x100.
const term = vcpu.vmgexitMsr(ghcbMsrTermReq());
assert.deepEqual(term.exit, {
  reason: KVM_EXIT_SYSTEM_EVENT,
  eventType: KVM_SYSTEM_EVENT_SEV_TERM,
  data: [0x100],
});
vm.destroy();
