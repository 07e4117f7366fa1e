// The non-present values KVM writes into EPT entries (arch/x86/kvm/mmu/spte.h):
// SHADOW_NONPRESENT_VALUE (only suppress-#VE set, so a TD guest's access to it is an EPT
// violation, not a #VE), FROZEN_SPTE (0x80000000000005a0, the placeholder a CPU holds while it
// changes an entry; other CPUs see it and retry), and MMIO SPTEs (make_mmio_spte(),
// is_mmio_spte(), get_mmio_spte_generation(), get_mmio_spte_gfn()) with the memslot
// generation in 19 bits. A TDX VM uses MMIO value 0 (tdx_vm_init():
// kvm_mmu_set_mmio_spte_value(kvm, 0)).
import assert from 'node:assert/strict';
import { word64, word64Hex } from '@kvmx/address';
import {
  decodeSpte,
  EPT_MMIO,
  FROZEN_SPTE,
  FROZEN_SPTE_HI,
  FROZEN_SPTE_LO,
  getMmioSpteGeneration,
  getMmioSpteGfn,
  isFrozenSpte,
  isMmioSpte,
  isShadowPresentPte,
  MMIO_SPTE_GEN_HIGH_END,
  MMIO_SPTE_GEN_HIGH_MASK_HI,
  MMIO_SPTE_GEN_HIGH_START,
  MMIO_SPTE_GEN_LOW_END,
  MMIO_SPTE_GEN_LOW_MASK,
  MMIO_SPTE_GEN_LOW_START,
  MMIO_SPTE_GEN_MASK,
  type MmioSpteConfig,
  makeMmioSpte,
  makeSpte,
  SHADOW_NONPRESENT_VALUE,
  SHADOW_NONPRESENT_VALUE_HI,
  SHADOW_NONPRESENT_VALUE_LO,
  TDX_MMIO,
  VMX_EPT_MISCONFIG_WX_VALUE,
} from '@kvmx/paging';

assert.equal(word64Hex(SHADOW_NONPRESENT_VALUE), '0x8000000000000000');
assert.deepEqual(
  SHADOW_NONPRESENT_VALUE,
  word64(SHADOW_NONPRESENT_VALUE_LO, SHADOW_NONPRESENT_VALUE_HI),
);
assert.equal(word64Hex(FROZEN_SPTE), '0x80000000000005a0');
assert.deepEqual(FROZEN_SPTE, word64(FROZEN_SPTE_LO, FROZEN_SPTE_HI));
assert.equal(isFrozenSpte(FROZEN_SPTE_LO, FROZEN_SPTE_HI), true);
// Neither is present for KVM, and FROZEN is not mistaken for MMIO (its RWX bits are 0, and
// under EPT an MMIO SPTE is W|X).
assert.equal(isShadowPresentPte(FROZEN_SPTE_LO), false);
assert.equal(isMmioSpte(FROZEN_SPTE_LO, FROZEN_SPTE_HI), false);
assert.equal(decodeSpte(FROZEN_SPTE_LO, FROZEN_SPTE_HI).kind, 'frozen');
assert.equal(decodeSpte(0, SHADOW_NONPRESENT_VALUE_HI).kind, 'nonpresent');
const leaf = makeSpte(0x5a);
assert.equal(isFrozenSpte(leaf.lo, leaf.hi), false);

// The generation: bits 7:0 at SPTE bits 10:3, bits 18:8 at 62:52.
assert.deepEqual(
  [
    MMIO_SPTE_GEN_LOW_START,
    MMIO_SPTE_GEN_LOW_END,
    MMIO_SPTE_GEN_HIGH_START,
    MMIO_SPTE_GEN_HIGH_END,
  ],
  [3, 10, 52, 62],
);
assert.equal(MMIO_SPTE_GEN_MASK, 2 ** 19 - 1);
assert.equal(MMIO_SPTE_GEN_LOW_MASK, 0xff << 3);
assert.equal(MMIO_SPTE_GEN_HIGH_MASK_HI, 0x7ff << (52 - 32));

// EPT's MMIO SPTE is a misconfiguration (W|X without R): the access exits as
// EPT_MISCONFIG and handle_ept_misconfig() emulates it without a page-table walk.
const ept: MmioSpteConfig = EPT_MMIO;
assert.equal(ept.valueLo, VMX_EPT_MISCONFIG_WX_VALUE);
const gen = 0x4_0123; // bit 18 set: lands in bit 62
const mmio = makeMmioSpte(0xfee00, gen);
assert.equal(word64Hex(mmio), '0x40100000fee0011e');
assert.equal(isMmioSpte(mmio.lo, mmio.hi), true);
assert.equal(getMmioSpteGeneration(mmio.lo, mmio.hi), gen);
assert.equal(getMmioSpteGfn(mmio.lo, mmio.hi), 0xfee00);
// Generations wrap at 19 bits; a stale generation makes KVM refault the MMIO SPTE.
const wrapped = makeMmioSpte(0xfee00, gen + 2 ** 19);
assert.equal(getMmioSpteGeneration(wrapped.lo, wrapped.hi), gen);

// TDX: MMIO value 0 — RWX clear and suppress-#VE clear, so the guest takes a #VE and asks the
// VMM with a TDVMCALL. The same entry is not MMIO under EPT's value, and vice versa.
const tdxMmio = makeMmioSpte(0xfee00, 1, TDX_MMIO);
assert.equal(isMmioSpte(tdxMmio.lo, tdxMmio.hi, TDX_MMIO), true);
assert.equal(isMmioSpte(tdxMmio.lo, tdxMmio.hi, EPT_MMIO), false);
assert.equal(isMmioSpte(mmio.lo, mmio.hi, TDX_MMIO), false);
const d = decodeSpte(tdxMmio.lo, tdxMmio.hi, 'tdx');
assert.equal(d.kind, 'mmio');
assert.equal(d.mmioGeneration, 1);
assert.equal(d.suppressVe, false);
