// A TD's life from the VMM's side: the KVM_MEMORY_ENCRYPT_OP sub-commands (enum kvm_tdx_cmd_id),
// the initial image copied in with KVM_TDX_INIT_MEM_REGION (TDH.MEM.PAGE.ADD, plus 16
// TDH.MR.EXTEND per page with KVM_TDX_MEASURE_MEMORY_REGION), KVM_TDX_FINALIZE_VM
// (TDH.MR.FINALIZE), and the teardown order: guest_memfd release zaps the private pages while
// the HKID is still assigned, then the HKID is released (VP.FLUSH, VPFLUSHDONE, CACHE.WB,
// KEY.FREEID), then the control pages and S-EPT tables are reclaimed.
// Kernel: arch/x86/kvm/vmx/tdx.c (tdx_vcpu_init_mem_region, tdx_gmem_post_populate,
// tdx_td_finalize, tdx_mmu_release_hkid, tdx_vm_destroy); TDX module ABI spec.

import assert from 'node:assert/strict';
import {
  checkInvariants,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  KVM_TDX_CAPABILITIES,
  KVM_TDX_FINALIZE_VM,
  KVM_TDX_GET_CPUID,
  KVM_TDX_INIT_MEM_REGION,
  KVM_TDX_INIT_VCPU,
  KVM_TDX_INIT_VM,
  KVM_TDX_MEASURE_MEMORY_REGION,
  Kvm,
} from '@kvmx/kvm-x86';

// enum kvm_tdx_cmd_id (arch/x86/include/uapi/asm/kvm.h) and the INIT_MEM_REGION flag.
assert.deepEqual(
  [
    KVM_TDX_CAPABILITIES,
    KVM_TDX_INIT_VM,
    KVM_TDX_INIT_VCPU,
    KVM_TDX_INIT_MEM_REGION,
    KVM_TDX_FINALIZE_VM,
    KVM_TDX_GET_CPUID,
  ],
  [0, 1, 2, 3, 4, 5],
);
assert.equal(KVM_TDX_MEASURE_MEMORY_REGION, 1);

const AREA = 0x8000_0000;
const created = Kvm.create({ type: 'tdx' });
assert.ok(created.ok);
const vm = created.value;
const leaves: string[] = [];
vm.events.on((e) => {
  if (e.type === 'seamcall') leaves.push(e.leaf);
});
assert.ok(vm.tdxInitVm({ maxVcpus: 1 }).ok);
const v = vm.createVcpu();
assert.ok(v.ok);
const vcpu = v.value;
assert.ok(vm.tdxInitVcpu(vcpu).ok);
const fd = vm.createGuestMemfd({ size: 0x20_0000 });
assert.ok(fd.ok);
assert.ok(
  vm.setUserMemoryRegion2({
    slot: 1,
    flags: KVM_MEM_GUEST_MEMFD,
    guestPhysAddr: AREA,
    memorySize: 0x20_0000,
    guestMemfd: fd.value,
  }).ok,
);
const tdx = vm.tdx;
assert.ok(tdx !== null);
const tdcs = tdx.module.tdcsPages;
const tdvps = tdx.module.tdvpsPages;
assert.deepEqual(leaves, [
  'TDH.MNG.CREATE',
  'TDH.MNG.KEY.CONFIG',
  ...new Array(tdcs).fill('TDH.MNG.ADDCX'),
  'TDH.MNG.INIT',
  'TDH.VP.CREATE',
  ...new Array(tdvps - 1).fill('TDH.VP.ADDCX'),
  'TDH.VP.INIT',
]);

// The image is staged in the shared backing at the same GPA (the source page).
assert.ok(vm.hostWrite(AREA, new Uint8Array(0x2000).fill(0x11)).ok);
// The range must be private first: EINVAL.
const early = vm.tdxInitMemRegion(vcpu, { gpa: AREA, nrPages: 2 }, true);
assert.equal(early.ok ? 'ok' : early.error, 'EINVAL');
assert.ok(
  vm.setMemoryAttributes({
    address: AREA,
    size: 0x20_0000,
    attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
  }).ok,
);
leaves.length = 0;
assert.deepEqual(vm.tdxInitMemRegion(vcpu, { gpa: AREA, nrPages: 2 }, true), {
  ok: true,
  value: 2,
});
const extend = new Array(16).fill('TDH.MR.EXTEND'); // one per 256-byte chunk of a 4K page
assert.deepEqual(leaves, [
  'TDH.MEM.SEPT.ADD',
  'TDH.MEM.SEPT.ADD',
  'TDH.MEM.SEPT.ADD',
  'TDH.MEM.PAGE.ADD',
  ...extend,
  'TDH.MEM.PAGE.ADD',
  ...extend,
]);
assert.equal(tdx.nrPremapped, 0);
// Populating the same page twice: EEXIST. Before finalize, KVM_RUN is EINVAL.
const twice = vm.tdxInitMemRegion(vcpu, { gpa: AREA, nrPages: 1 }, false);
assert.equal(twice.ok ? 'ok' : twice.error, 'EEXIST');
assert.equal(vcpu.read(AREA, 4, { private: true }).ret, -22);

leaves.length = 0;
assert.ok(vm.tdxFinalizeVm().ok);
assert.deepEqual(leaves, ['TDH.MR.FINALIZE']);
assert.equal(tdx.module.td(tdx.tdr)?.mrtd.value?.length, 48); // SHA-384 MRTD
// The guest reads its image: ADDed pages are MAPPED, no #VE.
assert.deepEqual(vcpu.read(AREA, 4, { private: true }).data, new Uint8Array(4).fill(0x11));
assert.deepEqual(checkInvariants(vm), []);

// Teardown.
leaves.length = 0;
vm.destroy();
const zap = [
  'TDH.MEM.RANGE.BLOCK',
  'TDH.MEM.TRACK',
  'TDH.MEM.PAGE.REMOVE',
  'TDH.PHYMEM.PAGE.WBINVD',
];
const reclaim = (n: number) => new Array(n).fill('TDH.PHYMEM.PAGE.RECLAIM');
assert.deepEqual(leaves, [
  ...zap,
  ...zap, // the two private pages, while the HKID is assigned
  'TDH.VP.FLUSH',
  'TDH.MNG.VPFLUSHDONE',
  'TDH.PHYMEM.CACHE.WB',
  'TDH.MNG.KEY.FREEID',
  ...reclaim(3), // the S-EPT tables: free_external_spt, PT then PD then PDPT
  ...reclaim(tdvps), // the vCPU's TDCX pages, then its TDVPR
  ...reclaim(tdcs + 1), // the TDCS pages, then the TDR
  'TDH.PHYMEM.PAGE.WBINVD', // the TDR, with the global KeyID
]);
assert.deepEqual(vm.bugs, []);
