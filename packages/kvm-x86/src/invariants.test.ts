// Each invariant fires when a test-only door breaks the model, and stays quiet otherwise.

import { describe, expect, it } from 'vitest';
import type { KvmEvent } from './events.js';
import { checkAndReport, checkInvariants, INVARIANTS } from './invariants.js';
import { checkInvariantsAt } from './invariants-at.js';
import { Kvm } from './kvm.js';
import {
  doorClearPamt,
  doorLeakPrivateToHost,
  doorMapDirect,
  doorPresentWriteToMirror,
  doorRemoveBehindKvm,
  doorSetAttributesWithoutZap,
  doorSkipTrack,
} from './test-doors.js';
import { expectClean, must } from './test-helpers.js';
import { KVM_MEM_GUEST_MEMFD, KVM_MEMORY_ATTRIBUTE_PRIVATE } from './uapi.js';

const AREA = 0x80000000;

function names(kvm: Kvm): string[] {
  return [...new Set(checkInvariants(kvm).map((v) => v.invariant))].sort();
}

/** A TD with one private page mapped and accepted at AREA. */
function td(inject: readonly string[] = []) {
  const kvm = must(Kvm.create({ type: 'tdx', inject }));
  must(kvm.tdxInitVm());
  const vcpu = must(kvm.createVcpu());
  must(kvm.tdxInitVcpu(vcpu));
  const fd = must(kvm.createGuestMemfd({ size: 0x4000 }));
  must(
    kvm.setUserMemoryRegion2({
      slot: 1,
      flags: KVM_MEM_GUEST_MEMFD,
      guestPhysAddr: AREA,
      memorySize: 0x4000,
      guestMemfd: fd,
    }),
  );
  must(kvm.tdxFinalizeVm());
  vcpu.autoAccept = true;
  must(
    kvm.setMemoryAttributes({
      address: AREA,
      size: 0x1000,
      attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
    }),
  );
  expect(vcpu.write(AREA, 8, 1, { private: true }).exit).toBeNull();
  const pfn = kvm.gmems.get(fd)?.pages.get(0) ?? -1;
  expectClean(kvm);
  return { kvm, vcpu, fd, pfn };
}

/** A sw_protected VM with a 2 MiB huge-page-backed slot, all mapped shared. */
function swHuge() {
  const kvm = must(Kvm.create({ type: 'sw_protected' }));
  const vcpu = must(kvm.createVcpu());
  const fd = must(kvm.createGuestMemfd({ size: 0x200000 }));
  must(
    kvm.setUserMemoryRegion2({
      slot: 1,
      flags: KVM_MEM_GUEST_MEMFD,
      guestPhysAddr: 0x40000000,
      memorySize: 0x200000,
      guestMemfd: fd,
      hostHugePages: true,
    }),
  );
  vcpu.write(0x40000000, 8, 1);
  expectClean(kvm);
  return { kvm, vcpu, fd };
}

describe('invariants fire through the doors', () => {
  it('lists every invariant with a description', () => {
    expect(INVARIANTS.map((i) => i.name)).toEqual([
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
    ]);
  });

  it('private-frame-root: a guest_memfd frame in a TD’s direct root', () => {
    const { kvm, pfn } = td();
    must(kvm.setMemoryAttributes({ address: AREA + 0x1000, size: 0x1000, attributes: 0 }));
    doorMapDirect(kvm, AREA / 0x1000 + 1, pfn);
    expect(names(kvm)).toEqual(['private-frame-root']);
  });

  it('attributes-respected: attributes flipped without the zap', () => {
    const kvm = must(Kvm.create({ type: 'sw_protected' }));
    const vcpu = must(kvm.createVcpu());
    must(kvm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 0x10000, memorySize: 0x1000 }));
    vcpu.write(0x10000, 8, 1);
    doorSetAttributesWithoutZap(kvm, 0x10, 1, true);
    expect(names(kvm)).toEqual(['attributes-respected']);
  });

  it('no-mixed-huge: a 2M leaf over GFNs whose attributes became mixed', () => {
    const { kvm } = swHuge();
    doorSetAttributesWithoutZap(kvm, 0x40005, 1, true);
    expect(names(kvm)).toEqual(['attributes-respected', 'no-mixed-huge']);
  });

  it('mirror-sept-agree: a hostile host removes a page in the module behind KVM', () => {
    const { kvm } = td();
    doorRemoveBehindKvm(kvm, AREA);
    expect(names(kvm)).toContain('mirror-sept-agree');
  });

  it('pamt-ownership: the PAMT forgets a mapped page', () => {
    const { kvm, pfn } = td();
    doorClearPamt(kvm, pfn);
    expect(names(kvm)).toEqual(['pamt-ownership']);
  });

  it('host-private: a guest_memfd frame in the VMM’s memory', () => {
    const { kvm, pfn } = td();
    doorLeakPrivateToHost(kvm, pfn);
    expect(names(kvm)).toEqual(['host-private']);
  });

  it('tlb-tracked: a zap that skips TDH.MEM.TRACK leaves the leaf BLOCKED (and KVM bugs)', () => {
    const { kvm } = td();
    doorSkipTrack(kvm);
    must(kvm.setMemoryAttributes({ address: AREA, size: 0x1000, attributes: 0 }));
    const found = names(kvm);
    expect(found).toContain('tlb-tracked');
    expect(found).toContain('kvm-bug');
    expect(kvm.bugs[0]).toMatch(/TDX_TLB_TRACKING_NOT_DONE/);
  });

  it('kvm-bug: a non-atomic present write to a mirror SPTE', () => {
    const { kvm, pfn } = td();
    doorPresentWriteToMirror(kvm, AREA / 0x1000 + 1, pfn + 1);
    expect(names(kvm)).toContain('kvm-bug');
  });

  it('checkAndReport puts violations on the event stream', () => {
    const { kvm, pfn } = td();
    const events: KvmEvent[] = [];
    kvm.events.on((e) => events.push(e));
    doorClearPamt(kvm, pfn);
    expect(checkAndReport(kvm)).toHaveLength(1);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'violation', invariant: 'pamt-ownership' }),
    );
  });
});

describe('gmem-zeroed', () => {
  /** A sw_protected VM: a private page written, punched out, then faulted in again. */
  function refault(inject: boolean) {
    const kvm = must(
      Kvm.create({ type: 'sw_protected', ...(inject ? { inject: ['no-zero-on-accept'] } : {}) }),
    );
    const vcpu = must(kvm.createVcpu());
    const fd = must(kvm.createGuestMemfd({ size: 0x4000 }));
    must(
      kvm.setUserMemoryRegion2({
        slot: 1,
        flags: KVM_MEM_GUEST_MEMFD,
        guestPhysAddr: AREA,
        memorySize: 0x4000,
        guestMemfd: fd,
      }),
    );
    must(
      kvm.setMemoryAttributes({
        address: AREA,
        size: 0x4000,
        attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
      }),
    );
    expect(vcpu.write(AREA, 8, 0x5a, { private: true }).exit).toBeNull();
    must(kvm.gmemFallocate(fd, 0x1 | 0x2, 0, 0x1000)); // KEEP_SIZE | PUNCH_HOLE
    const read = vcpu.read(AREA + 0x1000, 8, { private: true });
    return { kvm, read };
  }

  it('a punched private page faulted in again reads zeros', () => {
    const { kvm, read } = refault(false);
    expect([...(read.data ?? [])]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expectClean(kvm);
  });

  it('fires when kvm_gmem_prepare_folio() does not clear the reused frame (no-zero-on-accept)', () => {
    const { kvm, read } = refault(true);
    expect([...(read.data ?? [])]).toEqual([0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a]);
    expect(names(kvm)).toEqual(['gmem-zeroed']);
    expect(checkInvariantsAt(kvm, AREA / 0x1000 + 1, AREA / 0x1000 + 2)).toMatchObject([
      { invariant: 'gmem-zeroed' },
    ]);
  });
});

describe('hkid-flushed', () => {
  it('stays quiet when a removed page is flushed with TDH.PHYMEM.PAGE.WBINVD', () => {
    const { kvm, fd } = td();
    must(kvm.gmemFallocate(fd, 0x1 | 0x2, 0, 0x1000)); // KEEP_SIZE | PUNCH_HOLE
    expect(kvm.tdx?.hkidDirty.size).toBe(0);
    expectClean(kvm);
  });

  it('fires when tdx_sept_remove_private_spte() skips the WBINVD (reuse-without-wbinvd)', () => {
    const { kvm, fd, pfn } = td(['reuse-without-wbinvd']);
    must(kvm.gmemFallocate(fd, 0x1 | 0x2, 0, 0x1000));
    expect([...(kvm.tdx?.hkidDirty ?? [])]).toEqual([pfn]);
    expect(names(kvm)).toEqual(['hkid-flushed']);
    expect(checkInvariantsAt(kvm, 0, 1)).toMatchObject([{ invariant: 'hkid-flushed' }]);
  });
});

describe('huge-over-mixed', () => {
  /** A huge-backed sw_protected slot, one page converted to private, then a shared fault. */
  function refaultHuge(inject: readonly string[]) {
    const kvm = must(Kvm.create({ type: 'sw_protected', inject }));
    const vcpu = must(kvm.createVcpu());
    const fd = must(kvm.createGuestMemfd({ size: 0x200000 }));
    must(
      kvm.setUserMemoryRegion2({
        slot: 1,
        flags: KVM_MEM_GUEST_MEMFD,
        guestPhysAddr: 0x40000000,
        memorySize: 0x200000,
        guestMemfd: fd,
        hostHugePages: true,
      }),
    );
    must(
      kvm.setMemoryAttributes({
        address: 0x40005000,
        size: 0x1000,
        attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
      }),
    );
    expect(vcpu.write(0x40000000, 8, 1).exit).toBeNull();
    return kvm;
  }

  it('a shared fault next to a private page maps 4K when the 2M range is mixed', () => {
    const kvm = refaultHuge([]);
    const root = kvm.mmu.directRoot;
    if (root === null) throw new Error('no direct root');
    expect(kvm.mmu.lookup(root, 0x40000)?.level).toBe(1);
    expectClean(kvm);
  });

  it('fires when kvm_mmu_hugepage_adjust() ignores KVM_LPAGE_MIXED_FLAG', () => {
    const kvm = refaultHuge(['huge-over-mixed']);
    expect(names(kvm)).toEqual(['attributes-respected', 'no-mixed-huge']);
  });
});
