// KVM_SET_USER_MEMORY_REGION2 and its errnos, then a memslot's huge-page metadata. The checks
// are __kvm_set_memory_region()'s and check_memory_region_flags()'s: page alignment, the slot
// id below KVM_USER_MEM_SLOTS, at most KVM_MEM_MAX_NR_PAGES, no overlap (EEXIST), no
// READONLY for VMs with protected state, no dirty logging of guest_memfd slots, a private
// memslot can only be deleted, and kvm_arch_prepare_memory_region() refuses GFNs beyond the
// host's MAXPHYADDR or (TDX) with the shared bit set.
// The second half shows lpage_info: with 2 MiB host pages a shared fault maps a 2M leaf; a 4K
// private page inside it marks the huge page KVM_LPAGE_MIXED_FLAG (hugepage_set_mixed), the
// 2M leaf is zapped and the range re-faults at 4K.
// Kernel: virt/kvm/kvm_main.c, arch/x86/kvm/x86.c (kvm_alloc_memslot_metadata), mmu/mmu.c.

import assert from 'node:assert/strict';
import {
  EEXIST,
  EINVAL,
  gfnToIndex,
  HOST_MAXPHYADDR,
  KVM_LPAGE_MIXED_FLAG,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_MAX_NR_PAGES,
  KVM_MEM_READONLY,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  KVM_MMU_MAX_GFN,
  KVM_SET_USER_MEMORY_REGION_V1_FLAGS,
  KVM_USER_MEM_SLOTS,
  Kvm,
  type KvmResult,
  type Memslot,
  type VmmMemory,
} from '@kvmx/kvm-x86';

// uapi values (include/uapi/linux/kvm.h) and x86's limits.
assert.equal(KVM_MEM_LOG_DIRTY_PAGES, 1);
assert.equal(KVM_MEM_READONLY, 2);
assert.equal(KVM_MEM_GUEST_MEMFD, 4);
assert.equal(KVM_SET_USER_MEMORY_REGION_V1_FLAGS, KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY);
assert.equal(KVM_USER_MEM_SLOTS, 32764); // KVM_MEM_SLOTS_NUM (32767) − 3 internal slots
assert.equal(KVM_MEM_MAX_NR_PAGES, 2 ** 31 - 1);
assert.equal(HOST_MAXPHYADDR, 52);
assert.equal(KVM_MMU_MAX_GFN, 2 ** 40 - 1);

const errorOf = (r: KvmResult): string => (r.ok ? 'ok' : r.error);

const created = Kvm.create({ type: 'sw_protected' });
assert.ok(created.ok);
const vm = created.value;
const fd = vm.createGuestMemfd({ size: 0x40_0000 });
assert.ok(fd.ok);

assert.equal(
  errorOf(vm.setUserMemoryRegion2({ slot: 0, guestPhysAddr: 0x10_0000, memorySize: 0x1000 })),
  'ok',
);
// Misaligned GPA or size, a slot id out of range, too many pages, the same GFNs twice.
assert.equal(
  errorOf(vm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 0x20_0800, memorySize: 0x1000 })),
  'EINVAL',
);
assert.equal(
  errorOf(vm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 0x20_0000, memorySize: 0x800 })),
  'EINVAL',
);
assert.equal(
  errorOf(
    vm.setUserMemoryRegion2({
      slot: KVM_USER_MEM_SLOTS,
      guestPhysAddr: 0x20_0000,
      memorySize: 0x1000,
    }),
  ),
  'EINVAL',
);
assert.equal(
  errorOf(
    vm.setUserMemoryRegion2({
      slot: 1,
      guestPhysAddr: 0,
      memorySize: (KVM_MEM_MAX_NR_PAGES + 1) * 0x1000,
    }),
  ),
  'EINVAL',
);
assert.deepEqual(
  vm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 0x10_0000, memorySize: 0x2000 }),
  {
    ok: false,
    errno: EEXIST,
    error: 'EEXIST',
  },
);
// The last GFN must be ≤ KVM_MMU_MAX_GFN (the host's MAXPHYADDR).
assert.equal(
  errorOf(
    vm.setUserMemoryRegion2({
      slot: 1,
      guestPhysAddr: KVM_MMU_MAX_GFN * 0x1000,
      memorySize: 0x2000,
    }),
  ),
  'EINVAL',
);
// The v1 ioctl knows no GUEST_MEMFD; dirty logging of a guest_memfd slot is EINVAL;
// an SW_PROTECTED VM has no protected state, so READONLY is fine for a plain slot.
const gmemSlot = {
  slot: 2,
  flags: KVM_MEM_GUEST_MEMFD,
  guestPhysAddr: 0x4000_0000,
  memorySize: 0x40_0000,
  guestMemfd: fd.value,
};
assert.equal(errorOf(vm.setUserMemoryRegion(gmemSlot)), 'EINVAL');
assert.equal(
  errorOf(
    vm.setUserMemoryRegion2({ ...gmemSlot, flags: KVM_MEM_GUEST_MEMFD | KVM_MEM_LOG_DIRTY_PAGES }),
  ),
  'EINVAL',
);
assert.equal(
  errorOf(
    vm.setUserMemoryRegion({
      slot: 3,
      flags: KVM_MEM_READONLY,
      guestPhysAddr: 0x30_0000,
      memorySize: 0x1000,
    }),
  ),
  'ok',
);
assert.equal(errorOf(vm.setUserMemoryRegion2({ ...gmemSlot, hostHugePages: true })), 'ok');
// A guest_memfd slot is immutable: moving it (or re-issuing it with GUEST_MEMFD) is EINVAL;
// deleting it (size 0) is allowed. A plain slot can move: its range is flushed first.
assert.equal(
  errorOf(vm.setUserMemoryRegion2({ ...gmemSlot, guestPhysAddr: 0x8000_0000 })),
  'EINVAL',
);
assert.equal(
  errorOf(vm.setUserMemoryRegion2({ slot: 0, guestPhysAddr: 0x50_0000, memorySize: 0x1000 })),
  'ok',
);
assert.equal(vm.memslots.get(0)?.baseGfn, 0x500);
assert.equal(
  errorOf(vm.setUserMemoryRegion2({ slot: 9, guestPhysAddr: 0, memorySize: 0 })),
  'EINVAL',
); // no such slot

// A TD refuses READONLY (protected state) and a GPA with the shared bit (an alias GFN).
const t = Kvm.create({ type: 'tdx', gpaw: 48 });
assert.ok(t.ok);
assert.equal(
  errorOf(
    t.value.setUserMemoryRegion2({
      slot: 0,
      flags: KVM_MEM_READONLY,
      guestPhysAddr: 0,
      memorySize: 0x1000,
    }),
  ),
  'EINVAL',
);
assert.equal(
  errorOf(t.value.setUserMemoryRegion2({ slot: 0, guestPhysAddr: 2 ** 47, memorySize: 0x1000 })),
  'EINVAL',
);
t.value.destroy();

// ---- lpage_info: 2M shared leaves, the MIXED flag ----------------------------------------
const slot: Memslot | undefined = vm.memslots.get(2);
assert.ok(slot !== undefined);
assert.equal(slot.canBePrivate, true);
assert.equal(slot.npages, 1024);
// gfn_to_index(): the 2M page (level 2) holding GFN 0x40205 is the slot's second one.
assert.equal(gfnToIndex(0x40205, slot.baseGfn, 2), 1);
assert.equal(slot.lpageIndex(0x40205, 2), 1);

const v = vm.createVcpu();
assert.ok(v.ok);
const vcpu = v.value;
assert.equal(vcpu.write(0x4000_0000, 8, 0x33).exit, null);
const root = vm.mmu.directRoot;
assert.ok(root !== null);
assert.equal(vm.mmu.lookup(root, 0x40000)?.level, 2); // one 2M leaf
// The VMM's backing is one 2 MiB host page: host_pfn_mapping_level() allowed 2M.
const vmm: VmmMemory = vm.vmm;
assert.equal(vmm.hostMappingLevel(slot.gfnToHvaPage(0x40000)), 2);

// One 4K page of the huge page goes private: the 2M leaf is zapped, the huge page is MIXED.
assert.ok(
  vm.setMemoryAttributes({
    address: 0x4000_5000,
    size: 0x1000,
    attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
  }).ok,
);
assert.equal(vm.mmu.lookup(root, 0x40000), null);
assert.equal(slot.isMixed(0x40000, 2), true);
assert.equal(slot.disallowLpage(0x40000, 2) & KVM_LPAGE_MIXED_FLAG, KVM_LPAGE_MIXED_FLAG);
assert.equal(vcpu.read(0x4000_0000, 8).exit, null);
assert.equal(vm.mmu.lookup(root, 0x40000)?.level, 1); // now 4K
assert.equal(vcpu.read(0x4000_5000, 8).exit, null); // the private page, from guest_memfd, 4K
assert.equal(vm.mmu.lookup(root, 0x40005)?.level, 1);

// Shared again: MIXED clears; after an MMU-notifier invalidation the 2M leaf comes back.
assert.ok(vm.setMemoryAttributes({ address: 0x4000_5000, size: 0x1000, attributes: 0 }).ok);
assert.equal(slot.isMixed(0x40000, 2), false);
assert.ok(vm.invalidateHva(0x4000_0000, 0x20_0000).ok);
assert.equal(vcpu.read(0x4000_0000, 8).exit, null);
assert.equal(vm.mmu.lookup(root, 0x40000)?.level, 2);

// Deleting the guest_memfd slot is allowed.
assert.equal(
  errorOf(vm.setUserMemoryRegion2({ slot: 2, guestPhysAddr: 0x4000_0000, memorySize: 0 })),
  'ok',
);
assert.equal(vm.memslots.has(2), false);
assert.equal(EINVAL, 22);
vm.destroy();
