// Secure-EPT entry states as the TDX module keeps them: a 7-bit encoding spread over software
// and ignored bits of the entry (D, IPAT, PS in the low word; TDEX/TDBW/TDB/TDP in the high
// word), the state each host leaf accepts (the module's sept_state_lookup tables), the
// architectural view it returns in RCX on errors and the level/state it returns in RDX
// (set_arch_septe_details_in_vmm_regs()). KVM sees only these answers; kvmx exposes the states
// so they can be drawn and checked.
import assert from 'node:assert/strict';
import { word64, word64Hex } from '@kvmx/address';
import {
  ALLOWED_PAGE_ACCEPT,
  ALLOWED_PAGE_ADD,
  ALLOWED_PAGE_AUG,
  ALLOWED_PAGE_DEMOTE,
  ALLOWED_PAGE_PROMOTE,
  ALLOWED_PAGE_REMOVE,
  ALLOWED_RANGE_BLOCK,
  ALLOWED_RANGE_UNBLOCK,
  ALLOWED_SEPT_ADD,
  ALLOWED_SEPT_REMOVE,
  isAnyBlocked,
  isLeafState,
  SEPT_FREE_HI,
  SEPT_FREE_LO,
  SEPT_HI_SVE,
  SEPT_PUBLIC_STATE,
  SEPT_STATE_ENCODING,
  SEPT_STATE_INVALID,
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
  stateAllowed,
  stateNeedsTlbTracking,
} from '@kvmx/tdx-module';

// A new S-EPT page is all FREE entries: suppress-#VE set, and FREE's encoding (0x0e) in the
// software bits of the high word; no address, no access rights.
assert.equal(word64Hex(word64(SEPT_FREE_LO, SEPT_FREE_HI)), '0x80e0000000000000');
assert.equal(SEPT_STATE_ENCODING[SeptState.FREE], 0x0e);
assert.equal((SEPT_FREE_HI & SEPT_HI_SVE) >>> 0, SEPT_HI_SVE);
assert.equal(septStateOf(SEPT_FREE_LO, SEPT_FREE_HI), SeptState.FREE);

// PAGE.AUG makes a PENDING leaf; ACCEPT turns it MAPPED. The PFN sits in bits 51:12.
const pfn = 0x12_3456;
const pending = word64(septEntryLo(SeptState.PENDING, pfn), septEntryHi(SeptState.PENDING, pfn));
assert.equal(septStateOf(pending.lo, pending.hi), SeptState.PENDING);
assert.equal(SEPT_STATE_NAMES[SeptState.PENDING], 'PENDING');
assert.equal(septEntryPfn(pending.lo, pending.hi), pfn);
assert.equal(septEncoding(pending.lo, pending.hi), SEPT_STATE_ENCODING[SeptState.PENDING]);
assert.equal(SEPT_STATE_ENCODING[SeptState.MAPPED], 0x60);
// A PENDING page is not accessible to the guest: RWX are 0 until it accepts it.
assert.equal(pending.lo & 0x7, 0);
const mapped = word64(septEntryLo(SeptState.MAPPED, pfn), septEntryHi(SeptState.MAPPED, pfn));
assert.equal(mapped.lo & 0x7, 0x7);
// An encoding the module never writes is no state at all.
assert.equal(septStateOf(0x80, 0), SEPT_STATE_INVALID);

// Leaves and tables: NL_* entries point at S-EPT pages, the rest are leaves.
assert.equal(isLeafState(SeptState.NL_MAPPED), false);
assert.equal(isLeafState(SeptState.PENDING_BLOCKED), true);
assert.equal(isAnyBlocked(SeptState.BLOCKED), true);
assert.equal(isAnyBlocked(SeptState.BLOCKEDW), false); // write-blocked only (migration)
// States whose change needs a TLB-tracking epoch (MEM.TRACK) before REMOVE may proceed.
assert.equal(stateNeedsTlbTracking(SeptState.BLOCKED), true);
assert.equal(stateNeedsTlbTracking(SeptState.FREE), false);

// Which leaf accepts which state: the heart of KVM's zap order (BLOCK, TRACK, REMOVE).
const accepts = (mask: number) =>
  SEPT_STATE_NAMES.filter((_name, state) => stateAllowed(mask, state));
assert.deepEqual(accepts(ALLOWED_PAGE_ADD), ['FREE']);
assert.deepEqual(accepts(ALLOWED_SEPT_ADD), ['FREE', 'NL_MAPPED']);
assert.deepEqual(accepts(ALLOWED_PAGE_AUG), ['FREE', 'REMOVED']);
assert.deepEqual(accepts(ALLOWED_RANGE_BLOCK), [
  'NL_MAPPED',
  'MAPPED',
  'BLOCKEDW',
  'PENDING',
  'PENDING_BLOCKEDW',
]);
assert.deepEqual(accepts(ALLOWED_RANGE_UNBLOCK), ['NL_BLOCKED', 'BLOCKED', 'PENDING_BLOCKED']);
assert.ok(accepts(ALLOWED_PAGE_REMOVE).includes('BLOCKED'));
assert.deepEqual(accepts(ALLOWED_SEPT_REMOVE), ['NL_MAPPED', 'NL_BLOCKED']);
assert.deepEqual(accepts(ALLOWED_PAGE_DEMOTE), ['MAPPED', 'BLOCKED', 'PENDING', 'PENDING_BLOCKED']);
assert.deepEqual(accepts(ALLOWED_PAGE_PROMOTE), ['NL_MAPPED', 'NL_BLOCKED']);
assert.deepEqual(accepts(ALLOWED_PAGE_ACCEPT), ['PENDING', 'PENDING_EXPORTED_DIRTY']);
assert.equal(stateAllowed(ALLOWED_PAGE_AUG, SEPT_STATE_INVALID), false);

// What KVM reads back on an S-EPT error: RCX = the architectural entry (software bits hidden),
// RDX = level | public state << 8. A second AUG of a PENDING 4K page gives RDX 0x0200.
assert.equal(SEPT_PUBLIC_STATE[SeptState.PENDING], 0x02);
assert.equal(septLevelState(0, SeptState.PENDING), 0x0200);
assert.equal(septLevelState(3, SeptState.NL_MAPPED), 0x8403);
assert.equal(
  word64Hex(word64(septArchLo(pending.lo, pending.hi), septArchHi(pending.lo, pending.hi))),
  // HPA, SVE, memtype WB and bits 7:6 as the entry holds them (a 4K entry's IPAT/PS double as
  // state bits in the model's encoding); RWX 0, and the high software bits are not shown.
  '0x80000001234560f0',
);
assert.equal(septArchLo(SEPT_FREE_LO, SEPT_FREE_HI), 0);
assert.equal(septArchHi(SEPT_FREE_LO, SEPT_FREE_HI), SEPT_HI_SVE);
