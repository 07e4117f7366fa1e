// The TDX shared bit, two ways. The seed's helpers (kvm_gfn_shared_mask(), kvm_is_private_gpa(),
// kvm_gfn_to_shared()/_private()) ask "is this GPA private?"; upstream (arch/x86/kvm/mmu.h,
// 6.14+) asks "does this GPA go to the direct root?" (kvm_gfn_direct_bits(),
// kvm_is_addr_direct(), kvm_is_gfn_alias(), kvm_gfn_root_bits()). For a TD both give the same
// bit — GPA bit 47 with GPAW 48, bit 51 with GPAW 52 (tdx.c: TDX_SHARED_BIT_PWL_4/5) — but only
// upstream's answer stays right for SEV-SNP, whose private pages have no GPA bit at all.
import assert from 'node:assert/strict';
import {
  canonicalGfn,
  GPAW_VALUES,
  type Gpaw,
  gfnDirectBits,
  gfnRootBits,
  gfnSharedMask,
  gfnToPrivate,
  gfnToShared,
  isAddrDirect,
  isGfnAlias,
  isGpaw,
  isPrivateGpa,
  TDX_SHARED_BIT_PWL_4,
  TDX_SHARED_BIT_PWL_5,
  tdxRootLevel,
  tdxSharedBit,
  type VmAddressing,
} from '@kvmx/address';

// A TD with a 48-bit guest physical address width: 4-level EPT, shared bit = GPA bit 47.
const td48: VmAddressing = { vmType: 'tdx', gpaw: 48 };
const td52: VmAddressing = { vmType: 'tdx', gpaw: 52 };
const snp: VmAddressing = { vmType: 'snp', gpaw: 48 };

assert.deepEqual(GPAW_VALUES, [48, 52]);
assert.equal(isGpaw(52), true);
assert.equal(isGpaw(57), false); // TD_PARAMS has one GPAW bit: 48 or 52, nothing else
const widths: Gpaw[] = GPAW_VALUES.filter((w) => tdxRootLevel(w) === 5);
assert.deepEqual(widths, [52]); // tdx_td_init(): 5-level EPT exactly when GPAW is 52
assert.equal(tdxRootLevel(48), 4);
assert.equal(tdxSharedBit(48), 47);
assert.equal(tdxSharedBit(52), 51);

// In GFN space the bit moves down by PAGE_SHIFT: GFN bit 35 and bit 39.
assert.equal(TDX_SHARED_BIT_PWL_4, 2 ** 35);
assert.equal(TDX_SHARED_BIT_PWL_5, 2 ** 39);
assert.equal(gfnSharedMask(td48), TDX_SHARED_BIT_PWL_4);
assert.equal(gfnSharedMask(td52), TDX_SHARED_BIT_PWL_5);
assert.equal(gfnSharedMask(snp), 0); // the seed's "is it a TD?" test hides in this zero

// The seed: GPA 0x1000 is private, its alias 0x800000001000 (bit 47 set) is shared.
assert.equal(isPrivateGpa(td48, 0x1000), true);
assert.equal(isPrivateGpa(td48, 0x8000_0000_1000), false);
assert.equal(gfnToShared(td48, 0x1), 0x8_0000_0001);
assert.equal(gfnToPrivate(td48, 0x8_0000_0001), 0x1);
// With GPAW 52, bit 47 is an ordinary address bit: the same GPA is private.
assert.equal(isPrivateGpa(td52, 0x8000_0000_1000), true);
assert.equal(isPrivateGpa(td52, 2 ** 51 + 0x1000), false);

// Kai Huang's objection: an SNP private page is "not private" by the seed's helper.
assert.equal(isPrivateGpa(snp, 0x1000), false);

// Upstream: the same bit is called the direct bits, and only routing code may look at it.
assert.equal(gfnDirectBits(td48), gfnSharedMask(td48));
assert.equal(isAddrDirect(td48, 0x8000_0000_1000), true); // shared alias -> direct root
assert.equal(isAddrDirect(td48, 0x1000), false); // private -> mirror root
assert.equal(isAddrDirect(snp, 0x1000), true); // no direct bits: everything is direct
// A GFN that still carries the bit is an alias and must never reach the MMU's memslot lookups.
assert.equal(isGfnAlias(td48, 0x8_0000_0001), true);
assert.equal(isGfnAlias(td48, 0x1), false);

// kvm_mmu_do_page_fault(): both aliases fault on the same canonical GFN...
assert.equal(canonicalGfn(td48, 0x8000_0000_1000), 0x1);
assert.equal(canonicalGfn(td48, 0x1000), 0x1);
assert.equal(canonicalGfn(td52, 2 ** 51 + 0x5000), 0x5);
// ...and the TDP iterator puts the bit back only when it indexes the direct root.
assert.equal(gfnRootBits(td48, true), 0);
assert.equal(gfnRootBits(td48, false), 2 ** 35);
