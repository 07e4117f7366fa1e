// The range checker finds what the whole-state checker finds at the GFNs a door broke, and
// nothing for GFNs the door did not touch.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkInvariants } from './invariants.js';
import { checkInvariantsAt } from './invariants-at.js';
import { Kvm } from './kvm.js';
import {
  doorClearPamt,
  doorLeakPrivateToHost,
  doorMapDirect,
  doorRemoveBehindKvm,
  doorSetAttributesWithoutZap,
  doorSkipTrack,
} from './test-doors.js';
import { must } from './test-helpers.js';
import { KVM_MEM_GUEST_MEMFD, KVM_MEMORY_ATTRIBUTE_PRIVATE } from './uapi.js';

const AREA = 0x80000000;
const GFN = AREA / 0x1000;
const PAGES = 16;

function fullNames(kvm: Kvm): string[] {
  return [...new Set(checkInvariants(kvm).map((v) => v.invariant))].sort();
}
function atNames(kvm: Kvm, start: number, end: number): string[] {
  return [...new Set(checkInvariantsAt(kvm, start, end).map((v) => v.invariant))].sort();
}

/** A TD with PAGES private pages at AREA, the first `accepted` of them accepted. */
function td(accepted = 1) {
  const kvm = must(Kvm.create({ type: 'tdx' }));
  must(kvm.tdxInitVm());
  const vcpu = must(kvm.createVcpu());
  must(kvm.tdxInitVcpu(vcpu));
  const fd = must(kvm.createGuestMemfd({ size: PAGES * 0x1000 }));
  must(
    kvm.setUserMemoryRegion2({
      slot: 1,
      flags: KVM_MEM_GUEST_MEMFD,
      guestPhysAddr: AREA,
      memorySize: PAGES * 0x1000,
      guestMemfd: fd,
    }),
  );
  must(kvm.tdxFinalizeVm());
  must(
    kvm.setMemoryAttributes({
      address: AREA,
      size: PAGES * 0x1000,
      attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
    }),
  );
  for (let i = 0; i < accepted; i++) {
    expect(vcpu.accept(AREA + i * 0x1000).status).toBe('TDX_SUCCESS');
  }
  const pfn = kvm.gmems.get(fd)?.pages.get(0) ?? -1;
  expect(checkInvariants(kvm)).toEqual([]);
  expect(checkInvariantsAt(kvm, GFN, GFN + PAGES)).toEqual([]);
  return { kvm, vcpu, fd, pfn };
}

describe('checkInvariantsAt', () => {
  it('pamt-ownership at the page whose PAMT entry was cleared, nowhere else', () => {
    const { kvm, pfn } = td(2);
    doorClearPamt(kvm, pfn);
    expect(atNames(kvm, GFN, GFN + 1)).toEqual(fullNames(kvm));
    expect(atNames(kvm, GFN, GFN + 1)).toEqual(['pamt-ownership']);
    expect(atNames(kvm, GFN + 1, GFN + PAGES)).toEqual([]);
  });

  it('mirror-sept-agree when the module removed the page behind KVM', () => {
    const { kvm } = td(2);
    doorRemoveBehindKvm(kvm, AREA);
    expect(atNames(kvm, GFN, GFN + 1)).toContain('mirror-sept-agree');
    expect(atNames(kvm, GFN, GFN + 1)).toEqual(
      fullNames(kvm).filter((n) => atNames(kvm, GFN, GFN + 1).includes(n)),
    );
    expect(atNames(kvm, GFN + 1, GFN + 2)).toEqual([]);
  });

  it('host-private for a guest_memfd frame behind the shared side of a GFN', () => {
    const { kvm, pfn } = td();
    const slot = kvm.gfnToMemslot(GFN + 2);
    if (slot === undefined) throw new Error('no slot');
    // The VMM's page behind GFN + 2 is the guest_memfd frame of GFN (doorLeakPrivateToHost
    // does the same at an address outside every slot).
    const pages = (kvm.vmm as unknown as { pages: Map<number, number> }).pages;
    pages.set(slot.gfnToHvaPage(GFN + 2), pfn);
    expect(atNames(kvm, GFN + 2, GFN + 3)).toEqual(['host-private']);
    expect(fullNames(kvm)).toEqual(['host-private']);
    expect(atNames(kvm, GFN + 3, GFN + PAGES)).toEqual([]);
  });

  it('a guest_memfd frame at a VMM address outside every slot: only the whole-state checker', () => {
    const { kvm, pfn } = td();
    doorLeakPrivateToHost(kvm, pfn);
    expect(fullNames(kvm)).toEqual(['host-private']);
    expect(atNames(kvm, GFN, GFN + PAGES)).toEqual([]);
  });

  it('private-frame-root for a guest_memfd frame in the direct root', () => {
    const { kvm, pfn } = td();
    must(kvm.setMemoryAttributes({ address: AREA + 0x1000, size: 0x1000, attributes: 0 }));
    doorMapDirect(kvm, GFN + 1, pfn);
    expect(atNames(kvm, GFN + 1, GFN + 2)).toEqual(['private-frame-root']);
    expect(fullNames(kvm)).toEqual(['private-frame-root']);
    expect(atNames(kvm, GFN + 2, GFN + PAGES)).toEqual([]);
  });

  it('attributes-respected in a VM without private memory mapped shared', () => {
    const kvm = must(Kvm.create({ type: 'sw_protected' }));
    const vcpu = must(kvm.createVcpu());
    must(kvm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 0x10000, memorySize: 0x2000 }));
    vcpu.write(0x10000, 0x2000, 1);
    doorSetAttributesWithoutZap(kvm, 0x10, 1, true);
    expect(atNames(kvm, 0x10, 0x11)).toEqual(['attributes-respected']);
    expect(fullNames(kvm)).toEqual(['attributes-respected']);
    expect(atNames(kvm, 0x11, 0x12)).toEqual([]);
  });

  it('tlb-tracked and kvm-bug after a zap that skipped TDH.MEM.TRACK', () => {
    const { kvm } = td();
    doorSkipTrack(kvm);
    must(kvm.setMemoryAttributes({ address: AREA, size: 0x1000, attributes: 0 }));
    const at = atNames(kvm, GFN, GFN + 1);
    expect(at).toContain('tlb-tracked');
    expect(at).toContain('kvm-bug');
    // kvm-bug is VM-wide: reported for any range
    expect(atNames(kvm, GFN + 5, GFN + 6)).toEqual(['kvm-bug']);
  });

  it('an empty or inverted range checks only kvm-bug', () => {
    const { kvm } = td();
    expect(checkInvariantsAt(kvm, GFN + 3, GFN + 3)).toEqual([]);
    expect(checkInvariantsAt(kvm, GFN + 3, GFN)).toEqual([]);
  });

  it('agrees with the whole-state checker over random accepts, conversions and punches', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            op: fc.constantFrom('accept', 'toShared', 'toPrivate', 'punch'),
            page: fc.integer({ min: 0, max: PAGES - 1 }),
          }),
          { maxLength: 25 },
        ),
        (ops) => {
          const { kvm, vcpu, fd } = td(0);
          for (const { op, page } of ops) {
            const gpa = AREA + page * 0x1000;
            if (op === 'accept') vcpu.accept(gpa);
            else if (op === 'punch') kvm.gmemFallocate(fd, 3, page * 0x1000, 0x1000);
            else {
              const attributes = op === 'toPrivate' ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
              kvm.setMemoryAttributes({ address: gpa, size: 0x1000, attributes });
            }
            const whole = fullNames(kvm);
            expect(atNames(kvm, GFN, GFN + PAGES)).toEqual(whole);
            // A clean VM is clean at every page; the page just touched is one of them.
            if (whole.length === 0) expect(atNames(kvm, page + GFN, page + GFN + 1)).toEqual([]);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
