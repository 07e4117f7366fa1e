// TdpMmu.index(): the int32 path for levels 1-3 against @kvmx/address gfnIndex() (float
// division), for GFNs up to 2^40 and the direct bits a TDX root ORs in (GPAW 48 and 52).
import { gfnIndex, type PgLevel } from '@kvmx/address';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Kvm } from './kvm.js';
import { must } from './test-helpers.js';

describe('TdpMmu.index', () => {
  const mmu = must(Kvm.create({ type: 'tdx' })).mmu;

  it('equals SPTE_INDEX of the GFN with the root bits, at every level', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 - 1 }),
        fc.constantFrom(0, 2 ** 35, 2 ** 39),
        fc.constantFrom<PgLevel>(1, 2, 3, 4, 5),
        (gfn, bits, level) => {
          expect(mmu.index(gfn, bits, level)).toBe(gfnIndex(gfn + bits, level));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('at the edges of the int32 split: 2^27 - 1, 2^27, 2^31, 2^32 and 2^40 - 1', () => {
    for (const gfn of [2 ** 27 - 1, 2 ** 27, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 511, 2 ** 40 - 1]) {
      for (const level of [1, 2, 3, 4, 5] as const) {
        expect(mmu.index(gfn, 0, level)).toBe(gfnIndex(gfn, level));
      }
    }
  });
});
