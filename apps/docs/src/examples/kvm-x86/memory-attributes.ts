// KVM_SET_MEMORY_ATTRIBUTES and kvm->mem_attr_array. The ioctl checks flags (must be 0), the
// attributes against kvm_supported_mem_attributes(), and page alignment (EINVAL); setting what
// is already set does nothing. Otherwise the pre pass zaps what the new value contradicts
// (to private: shared mappings; to shared: private ones), the value is stored, and an
// `attributes` event follows. The store itself is an interval map, as sparse as the xarray.
// Kernel: virt/kvm/kvm_main.c (kvm_vm_ioctl_set_mem_attributes, kvm_vm_set_mem_attributes,
// kvm_range_has_memory_attributes, kvm_get_memory_attributes).

import assert from 'node:assert/strict';
import {
  type AttributeInterval,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  Kvm,
  type KvmEvent,
  MemoryAttributes,
  type MemoryAttributesArgs,
} from '@kvmx/kvm-x86';

const PRIVATE = KVM_MEMORY_ATTRIBUTE_PRIVATE;
assert.equal(PRIVATE, 1 << 3); // include/uapi/linux/kvm.h

// ---- the store on its own: GFN intervals, absent = 0 (shared) ------------------------------
const attrs = new MemoryAttributes();
attrs.set(0x100, 0x300, PRIVATE); // GFNs [0x100, 0x300)
attrs.set(0x180, 0x200, 0); // a hole back to shared
const intervals: AttributeInterval[] = attrs.intervals();
assert.deepEqual(intervals, [
  { start: 0x100, end: 0x180, attrs: PRIVATE },
  { start: 0x200, end: 0x300, attrs: PRIVATE },
]);
assert.equal(attrs.get(0x17f), PRIVATE);
assert.equal(attrs.get(0x180), 0);
assert.equal(attrs.rangeHas(0x100, 0x180, PRIVATE), true);
assert.equal(attrs.rangeHas(0x100, 0x181, PRIVATE), false);
assert.equal(attrs.rangeHas(0x180, 0x200, 0), true);
attrs.set(0x180, 0x200, PRIVATE); // filling the hole merges the neighbours
assert.equal(attrs.intervalCount, 1);

// ---- the ioctl on a VM --------------------------------------------------------------------
const created = Kvm.create({ type: 'sw_protected' });
assert.ok(created.ok);
const vm = created.value;
const fd = vm.createGuestMemfd({ size: 0x4000 });
assert.ok(fd.ok);
assert.ok(
  vm.setUserMemoryRegion2({
    slot: 1,
    flags: KVM_MEM_GUEST_MEMFD,
    guestPhysAddr: 0x8000_0000,
    memorySize: 0x4000,
    guestMemfd: fd.value,
  }).ok,
);
const errorOf = (a: MemoryAttributesArgs) => {
  const r = vm.setMemoryAttributes(a);
  return r.ok ? 'ok' : r.error;
};
assert.equal(
  errorOf({ address: 0x8000_0000, size: 0x1000, attributes: PRIVATE, flags: 1 }),
  'EINVAL',
);
assert.equal(errorOf({ address: 0x8000_0000, size: 0x1000, attributes: 1 << 0 }), 'EINVAL'); // unsupported
assert.equal(errorOf({ address: 0x8000_0800, size: 0x1000, attributes: PRIVATE }), 'EINVAL');
assert.equal(errorOf({ address: 0x8000_0000, size: 0, attributes: PRIVATE }), 'EINVAL');

// A shared page is mapped; converting it to private zaps the direct-root leaf.
const v = vm.createVcpu();
assert.ok(v.ok);
assert.equal(v.value.write(0x8000_0000, 8, 0x44).exit, null);
const events: KvmEvent[] = [];
vm.events.on((e) => events.push(e));
assert.equal(errorOf({ address: 0x8000_0000, size: 0x4000, attributes: PRIVATE }), 'ok');
assert.deepEqual(
  events.map((e) => e.type),
  ['spte', 'attributes'],
);
assert.deepEqual(events[1], {
  type: 'attributes',
  gpa: '0x80000000',
  size: '0x4000',
  attributes: '0x8',
});
assert.equal(vm.memIsPrivate(0x80000), true);
assert.deepEqual(vm.attributes.intervals(), [{ start: 0x80000, end: 0x80004, attrs: PRIVATE }]);
// Setting the same value again is a no-op: no zap, no event.
events.length = 0;
assert.equal(errorOf({ address: 0x8000_0000, size: 0x4000, attributes: PRIVATE }), 'ok');
assert.deepEqual(events, []);
// The private page now comes from guest_memfd: the shared bytes are not visible.
assert.deepEqual(v.value.read(0x8000_0000, 8).data, new Uint8Array(8));
vm.destroy();
