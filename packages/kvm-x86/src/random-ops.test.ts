// Laws over random host and guest operation sequences: the invariant checker finds nothing
// after any step, the host's view of memory is exactly what was written to the shared side,
// and private bytes are what the guest last wrote privately unless a punch or (for TDX) a
// conversion destroyed them.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkInvariants } from './invariants.js';
import { Kvm } from './kvm.js';
import { must } from './test-helpers.js';
import {
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  KVM_EXIT_MEMORY_FAULT,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
} from './uapi.js';

const BASE = 0x80000000;
const PAGES = 16;

type Op =
  | { kind: 'guest'; page: number; priv: boolean; byte: number }
  | { kind: 'attrs'; page: number; n: number; priv: boolean }
  | { kind: 'punch'; page: number; n: number }
  | { kind: 'host'; page: number; byte: number }
  | { kind: 'notifier'; page: number; n: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('guest' as const),
    page: fc.integer({ min: 0, max: PAGES - 1 }),
    priv: fc.boolean(),
    byte: fc.integer({ min: 1, max: 255 }),
  }),
  fc.record({
    kind: fc.constant('attrs' as const),
    page: fc.integer({ min: 0, max: PAGES - 1 }),
    n: fc.integer({ min: 1, max: 4 }),
    priv: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('punch' as const),
    page: fc.integer({ min: 0, max: PAGES - 1 }),
    n: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({
    kind: fc.constant('host' as const),
    page: fc.integer({ min: 0, max: PAGES - 1 }),
    byte: fc.integer({ min: 1, max: 255 }),
  }),
  fc.record({
    kind: fc.constant('notifier' as const),
    page: fc.integer({ min: 0, max: PAGES - 1 }),
    n: fc.integer({ min: 1, max: 4 }),
  }),
);

function runSequence(type: 'sw_protected' | 'tdx', ops: readonly Op[]): void {
  const kvm = must(Kvm.create({ type }));
  if (type === 'tdx') must(kvm.tdxInitVm());
  const vcpu = must(kvm.createVcpu());
  if (type === 'tdx') must(kvm.tdxInitVcpu(vcpu));
  const fd = must(kvm.createGuestMemfd({ size: PAGES * 0x1000 }));
  must(
    kvm.setUserMemoryRegion2({
      slot: 1,
      flags: KVM_MEM_GUEST_MEMFD,
      guestPhysAddr: BASE,
      memorySize: PAGES * 0x1000,
      guestMemfd: fd,
    }),
  );
  if (type === 'tdx') must(kvm.tdxFinalizeVm());
  vcpu.autoAccept = true;
  const shared = new Array<number>(PAGES).fill(0);
  // Expected private byte, or null when unknown-but-zero-after-refault is not asserted.
  const priv = new Array<number | null>(PAGES).fill(0);
  const attrs = new Array<boolean>(PAGES).fill(false);
  for (const op of ops) {
    switch (op.kind) {
      case 'guest': {
        const gpa = BASE + op.page * 0x1000;
        const r = vcpu.write(gpa, 8, op.byte, { private: op.priv });
        if (type === 'sw_protected') {
          // The attributes decide: no exit, the write lands on the side they select.
          expect(r.exit).toBeNull();
          if (attrs[op.page]) priv[op.page] = op.byte;
          else shared[op.page] = op.byte;
        } else if (op.priv !== attrs[op.page]) {
          expect(r.exit).toEqual({
            reason: KVM_EXIT_MEMORY_FAULT,
            gpa,
            size: 4096,
            flags: op.priv ? 8 : 0,
          });
          // The VMM does not convert here; the guest gives up this access.
          vcpu.resume(); // still mismatched: the same exit again
          expect(vcpu.hasPendingExit).toBe(true);
          must(
            kvm.setMemoryAttributes({
              address: gpa,
              size: 0x1000,
              attributes: op.priv ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
            }),
          );
          if (!op.priv) priv[op.page] = 0; // to shared: PAGE.REMOVE cleared the page
          attrs[op.page] = op.priv;
          expect(vcpu.resume().exit).toBeNull();
          if (op.priv) priv[op.page] = op.byte;
          else shared[op.page] = op.byte;
        } else {
          expect(r.exit).toBeNull();
          if (op.priv) priv[op.page] = op.byte;
          else shared[op.page] = op.byte;
        }
        break;
      }
      case 'attrs': {
        const n = Math.min(op.n, PAGES - op.page);
        must(
          kvm.setMemoryAttributes({
            address: BASE + op.page * 0x1000,
            size: n * 0x1000,
            attributes: op.priv ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
          }),
        );
        for (let p = op.page; p < op.page + n; p++) {
          // TDX: converting a mapped private page to shared removes it (cleared).
          if (type === 'tdx' && attrs[p] && !op.priv) priv[p] = 0;
          attrs[p] = op.priv;
        }
        break;
      }
      case 'punch': {
        const n = Math.min(op.n, PAGES - op.page);
        must(
          kvm.gmemFallocate(
            fd,
            FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
            op.page * 0x1000,
            n * 0x1000,
          ),
        );
        for (let p = op.page; p < op.page + n; p++) priv[p] = 0;
        break;
      }
      case 'host':
        must(kvm.hostWrite(BASE + op.page * 0x1000, new Uint8Array(8).fill(op.byte)));
        shared[op.page] = op.byte;
        break;
      case 'notifier':
        must(kvm.invalidateHva(BASE + op.page * 0x1000, Math.min(op.n, PAGES - op.page) * 0x1000));
        break;
    }
    expect(checkInvariants(kvm)).toEqual([]);
  }
  for (let p = 0; p < PAGES; p++) {
    const gpa = BASE + p * 0x1000;
    expect(must(kvm.hostRead(gpa, 8))).toEqual(new Uint8Array(8).fill(shared[p] ?? 0));
    // Read through the side the attributes select: the bytes last written there.
    const r = vcpu.read(gpa, 8, { private: attrs[p] ?? false });
    expect(r.exit).toBeNull();
    expect(r.data).toEqual(new Uint8Array(8).fill((attrs[p] ? priv[p] : shared[p]) ?? 0));
  }
  kvm.destroy();
  expect(kvm.bugs).toEqual([]);
}

describe('random host and guest sequences', () => {
  it('sw_protected: invariants hold and each side keeps its own bytes', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 25 }), (ops) => runSequence('sw_protected', ops)),
      {
        numRuns: 60,
      },
    );
  });

  it('tdx: invariants hold, implicit conversions through memory faults, the host never sees private bytes', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 25 }), (ops) => runSequence('tdx', ops)),
      { numRuns: 40 },
    );
  }, 60_000);
});
