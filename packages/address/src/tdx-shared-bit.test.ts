import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalGfn,
  gfnDirectBits,
  gfnRootBits,
  gfnSharedMask,
  gfnToPrivate,
  gfnToShared,
  isAddrDirect,
  isGfnAlias,
  isPrivateGpa,
  TDX_SHARED_BIT_PWL_4,
  TDX_SHARED_BIT_PWL_5,
  tdxRootLevel,
  tdxSharedBit,
  type VmAddressing,
} from './tdx-shared-bit.js';
import { VM_TYPE_NAMES } from './vm-type.js';

const TD48: VmAddressing = { vmType: 'tdx', gpaw: 48 };
const TD52: VmAddressing = { vmType: 'tdx', gpaw: 52 };
const NON_TDX = VM_TYPE_NAMES.filter((t) => t !== 'tdx');
const anyVm = fc.record({
  vmType: fc.constantFrom(...VM_TYPE_NAMES),
  gpaw: fc.constantFrom(48 as const, 52 as const),
});

describe('TDX shared bit from GPAW (tdx_td_init)', () => {
  it('is GPA bit 47 for GPAW 48 and bit 51 for GPAW 52', () => {
    expect(tdxSharedBit(48)).toBe(47);
    expect(tdxSharedBit(52)).toBe(51);
    expect(TDX_SHARED_BIT_PWL_4).toBe(2 ** 35);
    expect(TDX_SHARED_BIT_PWL_5).toBe(2 ** 39);
    expect(gfnSharedMask(TD48)).toBe(0x800000000);
    expect(gfnSharedMask(TD52)).toBe(0x8000000000);
    expect(tdxRootLevel(48)).toBe(4);
    expect(tdxRootLevel(52)).toBe(5);
  });
});

describe("the seed's table (Kai Huang's review): mask and kvm_is_private_gpa per VM type", () => {
  it.each(NON_TDX)('%s: mask 0, never a private GPA, every GPA direct', (vmType) => {
    for (const gpaw of [48, 52] as const) {
      const vm = { vmType, gpaw };
      expect(gfnSharedMask(vm)).toBe(0);
      expect(gfnDirectBits(vm)).toBe(0);
      for (const a of [0, 0x1000, 2 ** 47, 2 ** 47 - 1, 2 ** 51, 2 ** 52 - 1]) {
        expect(isPrivateGpa(vm, a)).toBe(false);
        expect(isAddrDirect(vm, a)).toBe(true);
        expect(canonicalGfn(vm, a)).toBe(Math.floor(a / 4096));
      }
    }
  });

  it('tdx: private iff the shared bit is clear, at the edges', () => {
    expect(isPrivateGpa(TD48, 0)).toBe(true);
    expect(isPrivateGpa(TD48, 2 ** 47 - 1)).toBe(true);
    expect(isPrivateGpa(TD48, 2 ** 47)).toBe(false);
    expect(isPrivateGpa(TD48, 2 ** 48 - 1)).toBe(false);
    expect(isPrivateGpa(TD52, 2 ** 47)).toBe(true);
    expect(isPrivateGpa(TD52, 2 ** 51 - 1)).toBe(true);
    expect(isPrivateGpa(TD52, 2 ** 51)).toBe(false);
    expect(isPrivateGpa(TD52, 2 ** 52 - 1)).toBe(false);
  });

  it('property: isPrivateGpa == (mask != 0 && bit clear) and == !isAddrDirect for TDX', () => {
    fc.assert(
      fc.property(anyVm, fc.integer({ min: 0, max: 2 ** 52 - 1 }), (vm, a) => {
        const bit = vm.gpaw === 52 ? 51 : 47;
        const set = (BigInt(a) >> BigInt(bit)) & 1n;
        const expected = vm.vmType === 'tdx' && set === 0n;
        return (
          isPrivateGpa(vm, a) === expected &&
          (vm.vmType === 'tdx' ? isAddrDirect(vm, a) === !expected : isAddrDirect(vm, a))
        );
      }),
    );
  });
});

describe('conversions', () => {
  it('moves a GFN between aliases', () => {
    expect(gfnToShared(TD48, 1)).toBe(0x800000001);
    expect(gfnToPrivate(TD48, 0x800000001)).toBe(1);
    expect(gfnToShared(TD48, 0x800000001)).toBe(0x800000001);
    expect(gfnToPrivate(TD48, 1)).toBe(1);
    expect(gfnToShared(TD52, 2 ** 39 - 1)).toBe(2 ** 40 - 1);
    expect(gfnToShared({ vmType: 'snp', gpaw: 48 }, 5)).toBe(5);
  });

  it('laws: to_private(to_shared(g)) == to_private(g); both idempotent; bit-exact', () => {
    fc.assert(
      fc.property(anyVm, fc.integer({ min: 0, max: 2 ** 40 - 1 }), (vm, g) => {
        const m = BigInt(gfnSharedMask(vm));
        return (
          gfnToPrivate(vm, gfnToShared(vm, g)) === gfnToPrivate(vm, g) &&
          gfnToShared(vm, gfnToShared(vm, g)) === gfnToShared(vm, g) &&
          gfnToPrivate(vm, gfnToPrivate(vm, g)) === gfnToPrivate(vm, g) &&
          BigInt(gfnToShared(vm, g)) === (BigInt(g) | m) &&
          BigInt(gfnToPrivate(vm, g)) === (BigInt(g) & ~m)
        );
      }),
    );
  });

  it("upstream: alias test, root bits, canonical GFN (kvm_mmu_do_page_fault's strip)", () => {
    expect(isGfnAlias(TD48, 0x800000001)).toBe(true);
    expect(isGfnAlias(TD48, 1)).toBe(false);
    expect(gfnRootBits(TD48, true)).toBe(0);
    expect(gfnRootBits(TD48, false)).toBe(0x800000000);
    expect(gfnRootBits({ vmType: 'sw_protected', gpaw: 48 }, false)).toBe(0);
    expect(canonicalGfn(TD48, 0x800000001000)).toBe(1);
    expect(canonicalGfn(TD48, 0x1000)).toBe(1);
    fc.assert(
      fc.property(anyVm, fc.integer({ min: 0, max: 2 ** 52 - 1 }), (vm, a) => {
        const g = canonicalGfn(vm, a);
        return !isGfnAlias(vm, g) && g === gfnToPrivate(vm, Math.floor(a / 4096));
      }),
    );
  });
});
