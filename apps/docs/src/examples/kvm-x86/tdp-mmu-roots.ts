// The TDP MMU behind a VM: a direct root, plus (TDX) a mirror root whose leaves shadow the
// TDX module's S-EPT. The fault path picks the root by kvm_is_addr_direct(): a private GPA
// goes to the mirror root, a shared one (shared bit set) to the direct root under the GFN's
// alias-free number. The page-fault entry point kvm_mmu_do_page_fault() answers RET_PF_*,
// or -EFAULT with a memory_fault for userspace; kvm_tdp_mmu_map() can be driven directly with
// a struct kvm_page_fault's worth of fields (TdpFault).
// Kernel: arch/x86/kvm/mmu/tdp_mmu.c (kvm_tdp_mmu_map, tdp_mmu_root_match,
// kvm_gfn_range_filter_to_root_types), mmu_internal.h (RET_PF_*, kvm_mmu_do_page_fault),
// mmu.c (kvm_tdp_map_page, KVM_PRE_FAULT_MEMORY), tdp_mmu.h (enum kvm_tdp_mmu_root_types).

import assert from 'node:assert/strict';
import {
  EFAULT,
  type FaultOutcome,
  KVM_ALL_ROOTS,
  KVM_DIRECT_ROOTS,
  KVM_FILTER_PRIVATE,
  KVM_FILTER_SHARED,
  KVM_INVALID_ROOTS,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  KVM_MIRROR_ROOTS,
  KVM_VALID_ROOTS,
  Kvm,
  kvmMmuDoPageFault,
  PFERR_PRIVATE_ACCESS,
  PFERR_WRITE_MASK,
  RET_PF_CONTINUE,
  RET_PF_EMULATE,
  RET_PF_FIXED,
  RET_PF_INVALID,
  RET_PF_NAMES,
  RET_PF_RETRY,
  RET_PF_SPURIOUS,
  RET_PF_WRITE_PROTECTED,
  rootLeaves,
  type ShadowPage,
  spteHex,
  type TdpFault,
  type TdpMmu,
} from '@kvmx/kvm-x86';
import { EPT_MMIO, makeMmioSpte } from '@kvmx/paging';

// Constant values (tdp_mmu.h, kvm_host.h, mmu_internal.h).
assert.deepEqual(
  [KVM_INVALID_ROOTS, KVM_DIRECT_ROOTS, KVM_MIRROR_ROOTS, KVM_VALID_ROOTS, KVM_ALL_ROOTS],
  [1, 2, 4, 6, 7],
);
assert.deepEqual([KVM_FILTER_SHARED, KVM_FILTER_PRIVATE], [1, 2]);
assert.deepEqual(
  [
    RET_PF_CONTINUE,
    RET_PF_RETRY,
    RET_PF_EMULATE,
    RET_PF_WRITE_PROTECTED,
    RET_PF_INVALID,
    RET_PF_FIXED,
    RET_PF_SPURIOUS,
  ].map((r) => RET_PF_NAMES[r]),
  [
    'RET_PF_CONTINUE',
    'RET_PF_RETRY',
    'RET_PF_EMULATE',
    'RET_PF_WRITE_PROTECTED',
    'RET_PF_INVALID',
    'RET_PF_FIXED',
    'RET_PF_SPURIOUS',
  ],
);

// ---- a TD with one private and one shared page -------------------------------------------
const AREA = 0x8000_0000;
const SHARED_BIT = 2 ** 47;
const created = Kvm.create({ type: 'tdx', gpaw: 48 });
assert.ok(created.ok);
const td = created.value;
assert.ok(td.tdxInitVm().ok);
const v = td.createVcpu();
assert.ok(v.ok);
const vcpu = v.value;
assert.ok(td.tdxInitVcpu(vcpu).ok);
const fd = td.createGuestMemfd({ size: 0x2000 });
assert.ok(fd.ok);
assert.ok(
  td.setUserMemoryRegion2({
    slot: 1,
    flags: KVM_MEM_GUEST_MEMFD,
    guestPhysAddr: AREA,
    memorySize: 0x2000,
    guestMemfd: fd.value,
  }).ok,
);
assert.ok(
  td.setMemoryAttributes({ address: AREA, size: 0x1000, attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE })
    .ok,
);
assert.ok(td.tdxFinalizeVm().ok);
vcpu.autoAccept = true;
assert.equal(vcpu.write(AREA, 8, 1, { private: true }).exit, null); // mirror root
assert.equal(vcpu.write(AREA + SHARED_BIT + 0x1000, 8, 2).exit, null); // direct root

const mmu: TdpMmu = td.mmu;
assert.equal(mmu.rootLevel, 4);
const direct: ShadowPage | null = mmu.directRoot;
const mirror: ShadowPage | null = mmu.mirrorRoot;
assert.ok(direct !== null && mirror !== null);
assert.deepEqual(
  [direct.isMirror, direct.level, mirror.isMirror, mirror.level],
  [false, 4, true, 4],
);
// tdp_mmu_root_match() and kvm_gfn_range_filter_to_root_types().
assert.deepEqual(mmu.roots(KVM_VALID_ROOTS), [mirror, direct]);
assert.deepEqual(mmu.roots(KVM_MIRROR_ROOTS), [mirror]);
assert.equal(mmu.filterToRootTypes(KVM_FILTER_PRIVATE), KVM_MIRROR_ROOTS);
assert.equal(mmu.filterToRootTypes(KVM_FILTER_SHARED), KVM_DIRECT_ROOTS);

// Both leaves are kept under alias-free GFNs; the shared bit picks the root, not the GFN.
const gmemPfn = td.gmems.get(fd.value)?.pages.get(0);
assert.deepEqual(rootLeaves(td, mirror), [{ gfn: 0x80000, level: 1, pfn: gmemPfn }]);
assert.deepEqual(
  rootLeaves(td, direct).map((l) => [l.gfn, l.level]),
  [[0x80001, 1]],
);
const leaf = mmu.lookup(mirror, 0x80000);
assert.ok(leaf !== null);
// The mirror leaf as KVM holds it: PFN, RWX, the memory type WB, no suppress-#VE bit.
assert.match(spteHex(leaf.lo, leaf.hi), /^0x[0-9a-f]{16}$/);
assert.equal(mmu.leafCount[1], 2); // kvm->stat.pages[PG_LEVEL_4K] over both roots
// The walk stops at the deepest entry: for the unmapped second private GFN, the same PT.
const w = mmu.walk(mirror, 0x80001);
assert.deepEqual([w.level, w.sp.isMirror, w.sp.level], [1, true, 1]);
td.destroy();

// ---- kvm_mmu_do_page_fault() on a default VM ---------------------------------------------
const d = Kvm.create({ type: 'default' });
assert.ok(d.ok);
const vm = d.value;
const dv = vm.createVcpu();
assert.ok(dv.ok);
assert.ok(vm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 0, memorySize: 0x1000 }).ok);
const first: FaultOutcome = kvmMmuDoPageFault(vm, dv.value, 0, PFERR_WRITE_MASK);
assert.equal(RET_PF_NAMES[first.ret], 'RET_PF_FIXED');
assert.deepEqual([first.level, first.isPrivate, first.gfn], [1, false, 0]);
// The same fault again finds the SPTE it would install: spurious.
assert.equal(kvmMmuDoPageFault(vm, dv.value, 0, PFERR_WRITE_MASK).ret, RET_PF_SPURIOUS);

// kvm_tdp_mmu_map() driven directly: an MMIO SPTE for a GFN without a memslot.
const mmio = makeMmioSpte(0xfee00, 0, EPT_MMIO);
const fault: TdpFault = {
  gfn: 0xfee00,
  mirror: false,
  goalLevel: 1,
  leafLo: mmio.lo,
  leafHi: mmio.hi,
  mmio: true,
  write: false,
  prefetch: false,
};
assert.equal(vm.mmu.map(fault), RET_PF_EMULATE); // the emulator takes the access next
vm.destroy();

// ---- a private fault where the attributes say shared: userspace decides ------------------
const s = Kvm.create({ type: 'sw_protected' });
assert.ok(s.ok);
const sw = s.value;
const sv = sw.createVcpu();
assert.ok(sv.ok);
const sfd = sw.createGuestMemfd({ size: 0x2000 });
assert.ok(sfd.ok);
assert.ok(
  sw.setUserMemoryRegion2({
    slot: 1,
    flags: KVM_MEM_GUEST_MEMFD,
    guestPhysAddr: 0x1_0000,
    memorySize: 0x2000,
    guestMemfd: sfd.value,
  }).ok,
);
// PFERR_PRIVATE_ACCESS is bit 49: combine it with +, never with | (32-bit in JavaScript).
const mismatch = kvmMmuDoPageFault(sw, sv.value, 0x1_0000, PFERR_WRITE_MASK + PFERR_PRIVATE_ACCESS);
assert.equal(mismatch.ret, -EFAULT);
assert.deepEqual(mismatch.memoryFault, { gpa: 0x1_0000, size: 0x1000, flags: 8 }); // KVM_MEMORY_EXIT_FLAG_PRIVATE
// KVM_PRE_FAULT_MEMORY maps ahead of the guest (kvm_tdp_map_page per page); a misaligned
// range is EINVAL, a GPA without a memslot ENOENT (the emulation path).
assert.ok(
  sw.setMemoryAttributes({
    address: 0x1_0000,
    size: 0x1000,
    attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
  }).ok,
);
assert.deepEqual(sw.preFaultMemory(sv.value, 0x1_0000, 0x2000), { ok: true, value: 0x2000 });
assert.equal(sw.mmu.leafCount[1], 2);
const bad = sw.preFaultMemory(sv.value, 0x1_0800, 0x1000);
const none = sw.preFaultMemory(sv.value, 0x9_0000, 0x1000);
assert.deepEqual([bad.ok ? 0 : bad.error, none.ok ? 0 : none.error], ['EINVAL', 'ENOENT']);
sw.destroy();
