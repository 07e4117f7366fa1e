// KVM's SNP hooks around guest_memfd and the #NPF path, as functions over the RMP:
// sev_gmem_prepare() assigns a page the first time guest_memfd hands it out (2M when the whole
// aligned 2M range is shared and the folio is big enough, else 4K; never validated),
// sev_private_max_mapping_level() keeps the NPT mapping no larger than the RMP entry,
// sev_gmem_invalidate() returns freed pages to the hypervisor (PSMASH first when only part of a
// 2M entry goes). On a fault, npf_interception() turns the hardware error code into KVM's
// (ENC → PFERR_PRIVATE_ACCESS, for SNP only), and after the MMU ran, an RMP violation on a 2M
// entry is fixed by sev_handle_rmp_fault(): PSMASH and zap the 2M GFN range.
// Kernel: arch/x86/kvm/svm/sev.c, arch/x86/kvm/svm/svm.c (npf_interception).

import assert from 'node:assert/strict';
import { PG_LEVEL_2M, PG_LEVEL_4K } from '@kvmx/address';
import {
  ENOENT,
  type GmemInvalidateResult,
  isLargeRmpPossible,
  isPfnRangeShared,
  maxLevelForOrder,
  needsRmpFaultHandling,
  PFERR_GUEST_ENC_MASK,
  PFERR_GUEST_FINAL_MASK,
  PFERR_GUEST_RMP_MASK,
  PFERR_IMPLICIT_ACCESS,
  PFERR_PRESENT_MASK,
  PFERR_PRIVATE_ACCESS,
  PFERR_SYNTHETIC_MASK,
  pferrHas,
  Rmp,
  type RmpFaultContext,
  type RmpFaultOutcome,
  type SnpVmState,
  sevGmemInvalidate,
  sevGmemPrepare,
  sevHandleRmpFault,
  sevPrivateMaxMappingLevel,
  snpNpfErrorCode,
} from '@kvmx/vendor-ops';

const rmp = new Rmp();
const vm: SnpVmState = { snpActive: true, asid: 1 };
const notSnp: SnpVmState = { snpActive: false, asid: 1 };

// Folio order 9 is 2M (KVM_HPAGE_GFN_SHIFT(PG_LEVEL_2M)); guest_memfd here hands out order 0.
assert.deepEqual([maxLevelForOrder(0), maxLevelForOrder(9)], [PG_LEVEL_4K, PG_LEVEL_2M]);
assert.equal(isPfnRangeShared(rmp, 0x1_0000, 0x1_0200), true);
assert.equal(isLargeRmpPossible(rmp, 0x1_0005, 9), true);
assert.equal(isLargeRmpPossible(rmp, 0x1_0005, 0), false);

// sev_gmem_prepare: a 4K folio → one 4K entry; a 2M folio over a shared range → one 2M entry.
assert.equal(sevGmemPrepare(rmp, vm, 0x2_0003, 0x8_0003, 0), 0);
assert.deepEqual(rmp.lookup(0x2_0003), { ret: 0, assigned: true, level: PG_LEVEL_4K });
assert.equal(rmp.isValidated(0x2_0003), false); // the guest must PVALIDATE it
assert.equal(sevGmemPrepare(rmp, vm, 0x1_0005, 0x4_0005, 9), 0);
assert.deepEqual(rmp.lookup(0x1_0005), { ret: 0, assigned: true, level: PG_LEVEL_2M });
assert.equal(rmp.gpaOf(0x1_0000), 0x4000_0000); // assigned at the aligned GFN
assert.equal(sevGmemPrepare(rmp, vm, 0x1_0005, 0x4_0005, 9), 0); // already assigned: nothing to do
assert.equal(sevGmemPrepare(rmp, notSnp, 0x3_0000, 0, 0), 0); // not SNP: no RMP work
assert.equal(rmp.isAssigned(0x3_0000), false);
assert.equal(sevGmemPrepare(rmp, vm, 0x800_0000, 0, 0), -ENOENT); // a PFN the RMP does not cover

// The NPT may map a private page only as large as its RMP entry.
assert.equal(sevPrivateMaxMappingLevel(rmp, vm, 0x1_0005), PG_LEVEL_2M);
assert.equal(sevPrivateMaxMappingLevel(rmp, vm, 0x2_0003), PG_LEVEL_4K);
assert.equal(sevPrivateMaxMappingLevel(rmp, notSnp, 0x1_0005), 0); // no vendor limit

// npf_interception: private iff SNP and the ENC bit; synthetic bits from hardware are dropped.
const hw = PFERR_PRESENT_MASK + PFERR_GUEST_RMP_MASK + PFERR_GUEST_FINAL_MASK;
assert.equal(PFERR_SYNTHETIC_MASK, PFERR_IMPLICIT_ACCESS + PFERR_PRIVATE_ACCESS);
const code = snpNpfErrorCode(hw + PFERR_IMPLICIT_ACCESS, true, true);
assert.deepEqual(
  [PFERR_GUEST_ENC_MASK, PFERR_PRIVATE_ACCESS, PFERR_IMPLICIT_ACCESS].map((m) => pferrHas(code, m)),
  [true, true, false],
);
assert.equal(pferrHas(snpNpfErrorCode(hw, false, true), PFERR_PRIVATE_ACCESS), false); // SEV-ES
assert.equal(needsRmpFaultHandling(1, code), true); // the MMU fixed it (RET_PF_*) and RMP bit set
assert.equal(needsRmpFaultHandling(-14, code), false); // the fault went to userspace

// sev_handle_rmp_fault: a 4K access to a page inside the 2M entry → PSMASH, zap gfn..gfn+511.
const zaps: [number, number][] = [];
const ctx: RmpFaultContext = {
  memIsPrivate: (gfn) => gfn >= 0x4_0000 && gfn < 0x4_0200,
  slotCanBePrivate: () => true,
  gmemGetPfn: (gfn) => 0x1_0000 + (gfn - 0x4_0000),
  zapGfnRange: (start, end) => zaps.push([start, end]),
};
const outcome: RmpFaultOutcome = sevHandleRmpFault(rmp, ctx, 0x4000_7000);
assert.equal(outcome, 'psmash_zap');
assert.deepEqual(zaps, [[0x4_0007, 0x4_0007 + 512]]); // from the faulting GFN, as the kernel does
assert.equal(rmp.levelOf(0x1_0007), PG_LEVEL_4K);
assert.equal(sevHandleRmpFault(rmp, ctx, 0x4000_8000), 'spurious'); // already 4K
assert.equal(sevHandleRmpFault(rmp, ctx, 0x5000_0000), 'not_private');
assert.equal(
  sevHandleRmpFault(rmp, { ...ctx, gmemGetPfn: () => -ENOENT }, 0x4000_0000),
  'no_backing',
);

// sev_gmem_invalidate: guest_memfd frees part of the (now 4K) range and the lone 4K page.
const freed: GmemInvalidateResult = sevGmemInvalidate(rmp, 0x1_0000, 0x1_0010);
assert.deepEqual(freed, { sharedPages: 16, psmashed: 0, failed: [] });
assert.equal(sevGmemPrepare(rmp, vm, 0x1_0400, 0x4_0400, 9), 0); // a fresh 2M entry
assert.deepEqual(sevGmemInvalidate(rmp, 0x1_0400, 0x1_0401), {
  sharedPages: 1,
  psmashed: 1,
  failed: [],
});
assert.deepEqual(sevGmemInvalidate(rmp, 0x1_0401, 0x1_0600), {
  sharedPages: 511,
  psmashed: 0,
  failed: [],
});
