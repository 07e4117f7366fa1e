import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isAnyBlocked,
  isLeafState,
  SEPT_FREE_HI,
  SEPT_FREE_LO,
  SEPT_STATE_ENCODING,
  SEPT_STATE_NAMES,
  SeptState,
  septArchHi,
  septArchLo,
  septEncoding,
  septEntryHi,
  septEntryLo,
  septEntryPfn,
  septLevelState,
  septStateOf,
  stateNeedsTlbTracking,
} from './sept-state.js';

describe('S-EPT state encoding (sept_state_lookup)', () => {
  it('FREE is TDEX|TDBW|TDB with SVE; an all-zero word reads NL_MAPPED', () => {
    expect(SEPT_FREE_LO).toBe(0);
    expect(SEPT_FREE_HI >>> 0).toBe(0x80e00000);
    expect(septStateOf(0, 0)).toBe(SeptState.NL_MAPPED);
    expect(septStateOf(SEPT_FREE_LO, SEPT_FREE_HI)).toBe(SeptState.FREE);
  });

  it('round-trips every state and PFN through an entry (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 2 ** 40 - 1 }),
        (state, pfn) => {
          const lo = septEntryLo(state, pfn);
          const hi = septEntryHi(state, pfn);
          expect(septStateOf(lo, hi)).toBe(state);
          expect(septEncoding(lo, hi)).toBe(SEPT_STATE_ENCODING[state]);
          expect(septEntryPfn(lo, hi)).toBe(pfn);
          expect(hi >>> 31).toBe(1); // SVE
        },
      ),
    );
  });

  it('classifies states as the module does', () => {
    const names = (pred: (s: number) => boolean) => SEPT_STATE_NAMES.filter((_, s) => pred(s));
    expect(names(isAnyBlocked)).toEqual(['NL_BLOCKED', 'BLOCKED', 'PENDING_BLOCKED']);
    expect(names(isLeafState)).not.toContain('NL_MAPPED');
    expect(names(isLeafState)).toContain('PENDING_EXPORTED_DIRTY_BLOCKEDW');
    expect(names((s) => !stateNeedsTlbTracking(s))).toEqual([
      'FREE',
      'REMOVED',
      'EXPORTED_BLOCKEDW',
      'PENDING_EXPORTED_BLOCKEDW',
    ]);
  });

  it('shows the architectural view and level/state in RCX/RDX', () => {
    const pfn = 0x123456;
    const lo = septEntryLo(SeptState.MAPPED, pfn);
    const hi = septEntryHi(SeptState.MAPPED, pfn);
    expect(septArchLo(lo, hi)).toBe(((pfn << 12) | 0x80 | 0x40 | 0x30 | 0x7) >>> 0);
    expect(septArchHi(lo, hi)).toBe((0x80000000 | (pfn >>> 20)) >>> 0);
    expect(septArchLo(SEPT_FREE_LO, SEPT_FREE_HI)).toBe(0);
    expect(septArchHi(SEPT_FREE_LO, SEPT_FREE_HI)).toBe(0x80000000);
    expect(septLevelState(1, SeptState.PENDING_BLOCKED)).toBe(0x0301);
    // A PENDING page: the entry as it is (AUG left it without permissions), HPA and SVE kept.
    const plo = septEntryLo(SeptState.PENDING, pfn);
    const phi = septEntryHi(SeptState.PENDING, pfn);
    expect(septArchLo(plo, phi) & 0x7).toBe(0);
    expect((septArchLo(plo, phi) & 0xfffff000) >>> 0).toBe(((pfn << 12) & 0xfffff000) >>> 0);
    expect(septArchHi(plo, phi)).toBe((phi & (0x80000000 | 0xfffff)) >>> 0);
    // A table (NL_MAPPED): SEPT_ARCH_ENTRY_NON_LEAF_MASK keeps RWX and PS only, no HPA.
    const nlo = septEntryLo(SeptState.NL_MAPPED, pfn);
    const nhi = septEntryHi(SeptState.NL_MAPPED, pfn);
    expect(septArchLo(nlo, nhi)).toBe((nlo & 0x87) >>> 0);
    expect(septArchLo(nlo, nhi) & 0xfffff000).toBe(0);
    expect(septArchHi(nlo, nhi)).toBe(0);
  });
});
