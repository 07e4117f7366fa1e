// A law of the SNP model: whatever a VMM and an SNP guest do through KVM's interfaces —
// attribute changes, page-state changes, PVALIDATE, accesses with either C-bit, hole
// punching — the rmp invariant and the others hold after every operation, KVM never hits a
// KVM_BUG_ON, and nothing throws. (A host that bypasses KVM breaks it: see snp.test.ts.)

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkInvariants } from './invariants.js';
import { Kvm } from './kvm.js';
import { convertOnHypercall, must, runAnswering } from './test-helpers.js';
import {
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_EXIT_MEMORY_FAULT,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
} from './uapi.js';

const GPA = 0x200000;
const PAGES = 8;
const PAGE = 4096;

type Op =
  | { kind: 'attr'; page: number; n: number; priv: boolean }
  | { kind: 'psc'; page: number; n: number; shared: boolean }
  | { kind: 'pvalidate'; page: number; validate: boolean }
  | { kind: 'access'; page: number; priv: boolean; write: boolean }
  | { kind: 'punch'; page: number };

const page = fc.integer({ min: 0, max: PAGES - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('attr' as const),
    page,
    n: fc.integer({ min: 1, max: 3 }),
    priv: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('psc' as const),
    page,
    n: fc.integer({ min: 1, max: 3 }),
    shared: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('pvalidate' as const), page, validate: fc.boolean() }),
  fc.record({
    kind: fc.constant('access' as const),
    page,
    priv: fc.boolean(),
    write: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('punch' as const), page }),
);

function run(ops: Op[]): void {
  const kvm = must(Kvm.create({ type: 'snp' }));
  must(kvm.sevInit2());
  must(kvm.snpLaunchStart());
  const vcpu = must(kvm.createVcpu());
  must(kvm.enableCap(KVM_CAP_EXIT_HYPERCALL, 1 << 12));
  const fd = must(kvm.createGuestMemfd({ size: PAGES * PAGE }));
  must(
    kvm.setUserMemoryRegion2({
      slot: 0,
      flags: KVM_MEM_GUEST_MEMFD,
      guestPhysAddr: GPA,
      memorySize: PAGES * PAGE,
      guestMemfd: fd,
      guestMemfdOffset: 0,
    }),
  );
  must(kvm.snpLaunchFinish());
  const convert = convertOnHypercall(kvm);
  for (const op of ops) {
    const gpa = GPA + op.page * PAGE;
    switch (op.kind) {
      case 'attr': {
        const n = Math.min(op.n, PAGES - op.page);
        kvm.setMemoryAttributes({
          address: gpa,
          size: n * PAGE,
          attributes: op.priv ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
        });
        break;
      }
      case 'psc': {
        const n = Math.min(op.n, PAGES - op.page);
        runAnswering(vcpu, () => vcpu.mapGpa(gpa, n * PAGE, op.shared), convert);
        break;
      }
      case 'pvalidate':
        runAnswering(vcpu, () => vcpu.pvalidate(gpa, PAGE, op.validate), convert);
        break;
      case 'access':
        op.write
          ? vcpu.write(gpa, 8, 0x5a, { private: op.priv })
          : vcpu.read(gpa, 8, { private: op.priv });
        break;
      case 'punch':
        kvm.gmemFallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, op.page * PAGE, PAGE);
        break;
    }
    // A memory-fault exit the VMM does not answer stays pending: drop it as a VMM would
    // by converting and re-entering, so the next operation can run.
    for (let i = 0; i < 4 && vcpu.hasPendingExit; i++) {
      const r = vcpu.resume(0);
      if (r.exit?.reason === KVM_EXIT_MEMORY_FAULT) {
        kvm.setMemoryAttributes({
          address: r.exit.gpa,
          size: PAGE,
          attributes: r.exit.flags !== 0 ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
        });
      }
    }
    expect(checkInvariants(kvm)).toEqual([]);
  }
  expect(kvm.bugs).toEqual([]);
  kvm.destroy();
}

describe('SNP random operations', () => {
  it('keep the rmp invariant (and every other) after each step', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 30 }), (ops) => run(ops)),
      { numRuns: 150 },
    );
  });
});
