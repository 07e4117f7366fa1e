// guest_memfd: KVM_CREATE_GUEST_MEMFD, binding it to memslots (kvm_gmem_bind), fallocate
// (allocate and punch hole) and close (kvm_gmem_release). A punch hole zaps the private
// mappings of every binding first (kvm_gmem_invalidate_begin, attr filter PRIVATE) and drops
// the pages; a page handed out again reads zeros. A released file leaves its slots without
// backing: a private access then exits with KVM_EXIT_MEMORY_FAULT.
// Kernel: virt/kvm/guest_memfd.c, virt/kvm/kvm_main.c (KVM_CREATE_GUEST_MEMFD); man 2 fallocate.

import assert from 'node:assert/strict';
import {
  EBADF,
  EINVAL,
  EOPNOTSUPP,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  type GmemBinding,
  GUEST_MEMFD_FLAG_INIT_SHARED,
  GUEST_MEMFD_FLAG_MMAP,
  type GuestMemfd,
  KVM_EXIT_MEMORY_FAULT,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  KVM_MEMORY_EXIT_FLAG_PRIVATE,
  Kvm,
  type KvmEvent,
} from '@kvmx/kvm-x86';

const SZ_2M = 0x20_0000;
const GPA = 0x1_0000_0000;
const PUNCH = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE;

// Flag and mode values: include/uapi/linux/kvm.h, include/uapi/linux/falloc.h.
assert.equal(GUEST_MEMFD_FLAG_MMAP, 1);
assert.equal(GUEST_MEMFD_FLAG_INIT_SHARED, 2);
assert.equal(FALLOC_FL_KEEP_SIZE, 1);
assert.equal(FALLOC_FL_PUNCH_HOLE, 2);

const created = Kvm.create({ type: 'sw_protected' });
assert.ok(created.ok);
const vm = created.value;

// The kernel this model follows accepts no creation flags (mmap support came later); the size
// must be page-aligned and non-zero.
assert.equal(vm.createGuestMemfd({ size: SZ_2M, flags: GUEST_MEMFD_FLAG_MMAP }).ok, false);
assert.deepEqual(vm.createGuestMemfd({ size: 0x1800 }), {
  ok: false,
  errno: EINVAL,
  error: 'EINVAL',
});
const created2 = vm.createGuestMemfd({ size: SZ_2M });
assert.ok(created2.ok);
const fd = created2.value;

// Two memslots carved from one file, at different offsets (private_mem_conversions_test's
// two-slot layout). Overlapping bindings of the same file pages are EINVAL.
const bind = (slot: number, gpa: number, offset: number) =>
  vm.setUserMemoryRegion2({
    slot,
    flags: KVM_MEM_GUEST_MEMFD,
    guestPhysAddr: gpa,
    memorySize: SZ_2M / 2,
    guestMemfd: fd,
    guestMemfdOffset: offset,
  });
assert.ok(bind(10, GPA, 0).ok);
assert.ok(bind(11, GPA + SZ_2M, SZ_2M / 2).ok);
assert.equal(bind(12, GPA + 2 * SZ_2M, 0x1000).ok, false); // file pages already bound
const file: GuestMemfd | undefined = vm.gmems.get(fd);
assert.ok(file !== undefined);
const bindings: GmemBinding[] = file.bindings;
assert.deepEqual(
  bindings.map((b) => [b.slot.id, b.start, b.end]),
  [
    [10, 0, 256],
    [11, 256, 512],
  ],
);

// The guest writes a private page in each slot; guest_memfd allocates a folio for each.
assert.ok(
  vm.setMemoryAttributes({
    address: GPA,
    size: 3 * SZ_2M,
    attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
  }).ok,
);
const v = vm.createVcpu();
assert.ok(v.ok);
const vcpu = v.value;
assert.equal(vcpu.write(GPA, 8, 0x5a).exit, null);
assert.equal(vcpu.write(GPA + SZ_2M, 8, 0x6b).exit, null);
assert.equal(file.pages.size, 2);

// fallocate() without KEEP_SIZE, or with an unknown mode, is EOPNOTSUPP; misaligned is EINVAL.
assert.equal(vm.gmemFallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 0x1000).ok, false);
assert.deepEqual(vm.gmemFallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 0x1000), {
  ok: false,
  errno: EOPNOTSUPP,
  error: 'EOPNOTSUPP',
});
assert.equal(vm.gmemFallocate(fd, PUNCH, 0x10, 0x1000).ok, false);

// Punch the first page of the file: its private SPTE is zapped before the folio goes.
const events: KvmEvent[] = [];
const off = vm.events.on((e) => events.push(e));
assert.ok(vm.gmemFallocate(fd, PUNCH, 0, 0x1000).ok);
off();
assert.deepEqual(
  events.map((e) =>
    e.type === 'spte'
      ? `spte ${e.root} ${e.gfn} ${e.old === '0x8000000000000000' ? 'none' : 'leaf'}→${e.new}`
      : e.type === 'gmem'
        ? `gmem ${e.op} ${e.offset}+${e.size}`
        : e.type,
  ),
  ['spte direct 0x100000 leaf→0x8000000000000000', 'gmem punch_hole 0x0+0x1000'],
);
assert.equal(file.pages.size, 1);
// The guest touches it again: a fresh folio, zeroed (kvm_gmem_prepare_folio's clear).
assert.deepEqual(vcpu.read(GPA, 8).data, new Uint8Array(8));
// Allocating ahead of use: fallocate(KEEP_SIZE) over the whole file; beyond the file is EINVAL.
assert.ok(vm.gmemFallocate(fd, FALLOC_FL_KEEP_SIZE, 0, SZ_2M).ok);
assert.equal(file.pages.size, 512);
assert.equal(vm.gmemFallocate(fd, FALLOC_FL_KEEP_SIZE, SZ_2M, 0x1000).ok, false);

// close(): kvm_gmem_release zaps every binding's private mappings and frees the folios; the
// slots stay but lose their backing, so a private access exits to userspace.
assert.ok(vm.gmemClose(fd).ok);
assert.equal(file.closed, true);
assert.equal(vm.gmemClose(fd).ok, false);
assert.deepEqual(vm.gmemFallocate(fd, PUNCH, 0, 0x1000), {
  ok: false,
  errno: EBADF,
  error: 'EBADF',
});
const r = vcpu.read(GPA + SZ_2M, 8);
assert.deepEqual(r.exit, {
  reason: KVM_EXIT_MEMORY_FAULT,
  gpa: GPA + SZ_2M,
  size: 0x1000,
  flags: KVM_MEMORY_EXIT_FLAG_PRIVATE,
});
vm.destroy();
