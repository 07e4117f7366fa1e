// The invariant checker: what must hold after every step of a correct KVM (mirror and S-EPT
// agree, private frames only behind private GPAs, attributes respected, no huge leaf over
// mixed attributes, PAMT ownership, TLB tracking before removal, …). A clean run finds
// nothing; a VM created with an injected KVM bug (here: kvm_vm_set_mem_attributes() skipping
// the pre-pass zap when converting to private) is caught at the step that breaks it.
// checkInvariantsAt() checks only a GFN range, in time proportional to it; checkAndReport()
// also sends each violation to the event stream.
// Kernel: virt/kvm/kvm_main.c (kvm_vm_set_mem_attributes → kvm_arch_pre_set_memory_attributes).

import assert from 'node:assert/strict';
import {
  checkAndReport,
  checkInvariants,
  checkInvariantsAt,
  type EventBus,
  INVARIANTS,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  Kvm,
  type KvmEvent,
  type RootKind,
  type Violation,
} from '@kvmx/kvm-x86';

assert.deepEqual(
  INVARIANTS.map((i) => i.name),
  [
    'mirror-sept-agree',
    'private-frame-root',
    'attributes-respected',
    'no-mixed-huge',
    'pamt-ownership',
    'host-private',
    'tlb-tracked',
    'kvm-bug',
    'rmp',
    'hkid-flushed',
    'gmem-zeroed',
  ],
);

/** An SW_PROTECTED VM with one shared page mapped, optionally with the injected bug. */
function vmWithSharedMapping(inject: readonly string[]) {
  const created = Kvm.create({ type: 'sw_protected', inject });
  assert.ok(created.ok);
  const vm = created.value;
  const fd = vm.createGuestMemfd({ size: 0x2000 });
  assert.ok(fd.ok);
  assert.ok(
    vm.setUserMemoryRegion2({
      slot: 1,
      flags: KVM_MEM_GUEST_MEMFD,
      guestPhysAddr: 0x10_0000,
      memorySize: 0x2000,
      guestMemfd: fd.value,
    }).ok,
  );
  const v = vm.createVcpu();
  assert.ok(v.ok);
  assert.equal(v.value.write(0x10_0000, 8, 0x42).exit, null); // a shared 4K leaf
  return vm;
}

// The correct kernel: converting to private zaps the shared leaf first.
const good = vmWithSharedMapping([]);
assert.ok(
  good.setMemoryAttributes({
    address: 0x10_0000,
    size: 0x1000,
    attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
  }).ok,
);
assert.deepEqual(checkInvariants(good), []);
good.destroy();

// The injected bug: the shared leaf survives the conversion.
const bad = vmWithSharedMapping(['no-zap-shared-on-private']);
const reported: KvmEvent[] = [];
bad.events.on((e) => {
  if (e.type === 'violation') reported.push(e);
});
assert.ok(
  bad.setMemoryAttributes({
    address: 0x10_0000,
    size: 0x1000,
    attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
  }).ok,
);
const found: Violation[] = checkAndReport(bad);
assert.deepEqual(
  found.map((f) => f.invariant),
  ['attributes-respected'],
);
assert.match(found[0]?.detail ?? '', /0x100/);
assert.deepEqual(
  reported.map((e) => (e.type === 'violation' ? e.invariant : e.type)),
  ['attributes-respected'],
);
// The range check sees it only when the range covers the GFN.
assert.deepEqual(
  checkInvariantsAt(bad, 0x100, 0x101).map((f) => f.invariant),
  ['attributes-respected'],
);
assert.deepEqual(checkInvariantsAt(bad, 0x101, 0x102), []);
bad.destroy();

// The event bus (exported as a type; each VM owns one as `vm.events`): `active` tells emitters
// whether anybody listens, so a run without listeners builds no event objects.
const quiet = Kvm.create({ type: 'default' });
assert.ok(quiet.ok);
const bus: EventBus = quiet.value.events;
assert.equal(bus.active, false);
const roots: RootKind[] = [];
const off = bus.on((e) => {
  if (e.type === 'spte') roots.push(e.root);
});
assert.equal(bus.active, true);
assert.ok(quiet.value.setUserMemoryRegion2({ slot: 0, guestPhysAddr: 0, memorySize: 0x1000 }).ok);
const qv = quiet.value.createVcpu();
assert.ok(qv.ok);
assert.equal(qv.value.read(0, 8).exit, null);
off();
assert.equal(bus.active, false);
assert.deepEqual(roots, ['direct', 'direct', 'direct', 'direct']); // PML4E, PDPTE, PDE links, then the leaf
quiet.value.destroy();
