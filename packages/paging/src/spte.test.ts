import { word64FromBigInt, word64Hex, word64ToBigInt } from '@kvmx/address';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  getMmioSpteGeneration,
  getMmioSpteGfn,
  isAccessTrackSpte,
  isFrozenSpte,
  isLargePte,
  isLastSpte,
  isMmioSpte,
  isShadowPresentPte,
  MT_MASK_WB_IPAT,
  makeHugeSpte,
  makeMmioSpte,
  makeNonleafSpte,
  makeSmallSpte,
  makeSpte,
  markSpteForAccessTrack,
  pfnHi,
  pfnLo,
  restoreAccTrackSpte,
  spteNeedsAtomicUpdate,
  spteToPfn,
} from './spte.js';
import {
  ACC_EXEC_MASK,
  ACC_USER_MASK,
  EPT_MMIO,
  FROZEN_SPTE,
  SHADOW_NONPRESENT_VALUE,
  TDX_MMIO,
} from './spte-bits.js';

const big = (w: { lo: number; hi: number }) => word64ToBigInt(w);

describe('SPTE constants (kvm-mmu.md §3)', () => {
  it('SHADOW_NONPRESENT_VALUE and FROZEN_SPTE', () => {
    expect(word64Hex(SHADOW_NONPRESENT_VALUE)).toBe('0x8000000000000000');
    expect(word64Hex(FROZEN_SPTE)).toBe('0x80000000000005a0');
    expect(isFrozenSpte(FROZEN_SPTE.lo, FROZEN_SPTE.hi)).toBe(true);
    expect(isFrozenSpte(0x5a0, 0)).toBe(false); // the old REMOVED_SPTE value is not FROZEN
    // FROZEN is neither present nor MMIO (kvm_mmu_set_mmio_spte_mask() checks this).
    expect(isShadowPresentPte(FROZEN_SPTE.lo)).toBe(false);
    expect(isMmioSpte(FROZEN_SPTE.lo, FROZEN_SPTE.hi, EPT_MMIO)).toBe(false);
  });
});

describe('make_spte / make_nonleaf_spte', () => {
  it('builds the typical 4K shared leaf: pfn<<12 | 0x8600000000000B37', () => {
    for (const pfn of [0, 1, 0x12345, 0xfffff, 0x100000, 0x123456789, 2 ** 40 - 1]) {
      const s = makeSpte(pfn);
      expect(big(s)).toBe((BigInt(pfn) << 12n) | 0x8600000000000b37n);
      expect(spteToPfn(s.lo, s.hi)).toBe(pfn);
    }
  });

  it('builds huge leaves with the page-size bit and IPAT when asked', () => {
    const s = makeSpte(0x200, { level: 2, mtMask: MT_MASK_WB_IPAT });
    expect(big(s)).toBe((0x200n << 12n) | 0x8600000000000bf7n);
    expect(isLargePte(s.lo)).toBe(true);
    expect(isLastSpte(s.lo, 2)).toBe(true);
  });

  it('drops X on huge pages with the NX mitigation, W without host write', () => {
    const nx = makeSpte(0x40000, { level: 3, nxHugePages: true });
    expect(nx.lo & 0x4).toBe(0);
    const ro = makeSpte(5, { hostWritable: false });
    expect(big(ro)).toBe((5n << 12n) | 0x8000000000000935n);
    const ux = makeSpte(5, { access: ACC_EXEC_MASK | ACC_USER_MASK });
    expect(big(ux)).toBe((5n << 12n) | 0x8200000000000935n);
  });

  it('prefetch: no Accessed bit; A/D disabled saves R/X for access tracking', () => {
    const pre = makeSpte(7, { prefetch: true });
    expect(pre.lo & 0x100).toBe(0);
    const adOff = makeSpte(7, { prefetch: true, adDisabled: true });
    // RWX cleared, R saved at 54 and X at 56, AD_DISABLED at 52, no D (A/D off)
    expect(big(adOff)).toBe(
      (7n << 12n) |
        (1n << 63n) |
        (1n << 58n) |
        (1n << 57n) |
        (1n << 56n) |
        (1n << 54n) |
        (1n << 52n) |
        0x830n,
    );
    expect(isAccessTrackSpte(adOff.lo, adOff.hi)).toBe(true);
    const back = restoreAccTrackSpte(adOff.lo, adOff.hi);
    expect(big(back) & 0x7n).toBe(0x5n);
    expect(big(back) & (5n << 54n)).toBe(0n);
    const marked = markSpteForAccessTrack(makeSpte(7).lo, makeSpte(7).hi);
    expect(marked.lo & 0x100).toBe(0);
  });

  it('make_nonleaf_spte is pa | 0x8000000000000907', () => {
    expect(big(makeNonleafSpte(0x123456))).toBe((0x123456n << 12n) | 0x8000000000000907n);
    expect(big(makeNonleafSpte(1, true))).toBe((1n << 12n) | 0x8010000000000807n);
  });

  it('make_small_spte / make_huge_spte round-trip', () => {
    const huge = makeSpte(0x40000, { level: 3 });
    const mid = makeSmallSpte(huge.lo, huge.hi, 2, 5);
    expect(spteToPfn(mid.lo, mid.hi)).toBe(0x40000 + 5 * 512);
    expect(isLargePte(mid.lo)).toBe(true);
    const small = makeSmallSpte(mid.lo, mid.hi, 1, 511);
    expect(spteToPfn(small.lo, small.hi)).toBe(0x40000 + 5 * 512 + 511);
    expect(isLargePte(small.lo)).toBe(false);
    const back = makeHugeSpte(small.lo, small.hi, 2);
    expect(big(back)).toBe(big(mid));
  });

  it('pfnLo/pfnHi split any PFN below 2^40 exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 - 1 }), (pfn) => {
        expect(spteToPfn(pfnLo(pfn), pfnHi(pfn))).toBe(pfn);
        expect(BigInt(pfnLo(pfn) >>> 0) | (BigInt(pfnHi(pfn)) << 32n)).toBe(BigInt(pfn) << 12n);
      }),
    );
  });
});

describe('MMIO SPTEs', () => {
  it('round-trips all 19 generation bits and the GFN', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x7ffff }),
        fc.integer({ min: 0, max: 2 ** 40 - 1 }),
        (gen, gfn) => {
          const s = makeMmioSpte(gfn, gen);
          expect(isMmioSpte(s.lo, s.hi, EPT_MMIO)).toBe(true);
          expect(isShadowPresentPte(s.lo)).toBe(false);
          expect(getMmioSpteGeneration(s.lo, s.hi)).toBe(gen);
          expect(getMmioSpteGfn(s.lo, s.hi)).toBe(gfn);
        },
      ),
    );
  });

  it('places generation bits at 10:3 and 62:52', () => {
    expect(big(makeMmioSpte(0, 0xff))).toBe(0x7f8n | 0x6n);
    expect(big(makeMmioSpte(0, 0x7ff00))).toBe((0x7ffn << 52n) | 0x6n);
    expect(big(makeMmioSpte(0x1234, 1))).toBe((0x1234n << 12n) | 0x8n | 0x6n);
  });

  it('TDX MMIO value is 0: RWX clear and SUPPRESS_VE clear', () => {
    const t = makeMmioSpte(0x1000, 3, TDX_MMIO);
    expect(big(t)).toBe((0x1000n << 12n) | (3n << 3n));
    expect(isMmioSpte(t.lo, t.hi, TDX_MMIO)).toBe(true);
    expect(isMmioSpte(t.lo, t.hi, EPT_MMIO)).toBe(false);
    expect(isMmioSpte(SHADOW_NONPRESENT_VALUE.lo, SHADOW_NONPRESENT_VALUE.hi, TDX_MMIO)).toBe(
      false,
    );
  });
});

describe('spte_needs_atomic_update', () => {
  it('follows spte.c', () => {
    const leaf = makeSpte(1); // writable and dirty, A/D on
    expect(spteNeedsAtomicUpdate(leaf.lo, leaf.hi)).toBe(false);
    expect(spteNeedsAtomicUpdate(leaf.lo & ~0x200, leaf.hi)).toBe(true); // writable, not dirty
    expect(spteNeedsAtomicUpdate(leaf.lo & ~0x2, leaf.hi)).toBe(true); // MMU-writable, not W
    const w = word64FromBigInt(0x8000000000000000n);
    expect(spteNeedsAtomicUpdate(w.lo, w.hi)).toBe(false);
  });
});
