// The SEV-SNP Reverse Map Table from the hypervisor's side: RMPUPDATE through the kernel's
// rmp_make_private() / rmp_make_shared() (0 or -EFAULT), the raw instruction's refusals
// (FAIL_OVERLAP for a 4K update inside an assigned 2M entry, FAIL_INPUT for an unaligned 2M
// one), PSMASH splitting a 2M entry into 512 4K entries with consecutive GPAs, the host write
// check (an RMP #PF on an assigned frame), and one `rmp` event per change.
// Kernel: arch/x86/virt/svm/sev.c (rmpupdate, rmp_make_private, rmp_make_shared, psmash,
// __snp_lookup_rmpentry), arch/x86/kvm/svm/sev.c (snp_rmptable_psmash), asm/sev.h (return
// codes); AMD APM vol. 2 §15.36 (RMPUPDATE, PSMASH). The codes the APM gives for each refusal
// are marked UNVERIFIED in the package where no primary source was read.

import assert from 'node:assert/strict';
import { PG_LEVEL_2M, PG_LEVEL_4K } from '@kvmx/address';
import {
  EFAULT,
  EINVAL,
  FAIL_INPUT,
  FAIL_INUSE,
  FAIL_OVERLAP,
  FAIL_PERMISSION,
  FAIL_SIZEMISMATCH,
  PSMASH_FAIL_INUSE,
  PTRS_PER_PMD,
  pgLevelToRmp,
  psmash,
  RMP_PG_SIZE_2M,
  RMP_PG_SIZE_4K,
  RMP_SUCCESS,
  RMPUPDATE_FAIL_OVERLAP,
  Rmp,
  type RmpEntry,
  type RmpEvent,
  type RmpListener,
  type RmpLookup,
  type RmpOp,
  type RmpOptions,
  type RmpState,
  rmpEventToJson,
  rmpMakePrivate,
  rmpMakeShared,
  rmpStatusName,
  rmpToPgLevel,
  rmpupdate,
  snpRmptablePsmash,
  X86_PF_PROT,
  X86_PF_RMP,
  X86_PF_WRITE,
} from '@kvmx/vendor-ops';

// Return codes (asm/sev.h; FAIL_PERMISSION is the APM's generic code, UNVERIFIED).
assert.deepEqual(
  [RMP_SUCCESS, FAIL_INPUT, FAIL_PERMISSION, FAIL_INUSE, FAIL_OVERLAP, FAIL_SIZEMISMATCH].map(
    rmpStatusName,
  ),
  ['SUCCESS', 'FAIL_INPUT', 'FAIL_PERMISSION', 'FAIL_INUSE', 'FAIL_OVERLAP', 'FAIL_SIZEMISMATCH'],
);
assert.deepEqual([RMPUPDATE_FAIL_OVERLAP, PSMASH_FAIL_INUSE], [4, 3]);
assert.equal(rmpStatusName(9), 'RMP_RC_9');
// The RMP's page-size field against KVM's PG_LEVEL.
assert.deepEqual([RMP_PG_SIZE_4K, RMP_PG_SIZE_2M, PTRS_PER_PMD], [0, 1, 512]);
assert.equal(pgLevelToRmp(PG_LEVEL_2M), RMP_PG_SIZE_2M);
assert.equal(rmpToPgLevel(RMP_PG_SIZE_4K), PG_LEVEL_4K);

const events: RmpEvent[] = [];
const listener: RmpListener = (e) => events.push(e);
const options: RmpOptions = { maxPfn: 0x10_0000, onEvent: listener };
const rmp = new Rmp(options);
const ASID = 1;
const PFN = 0x4_0000; // 2M-aligned
const GPA = 0x8000_0000;

// A fresh RMP: every frame hypervisor-owned (what snp_rmptable_init() leaves).
const unused: RmpLookup = rmp.lookup(PFN);
assert.deepEqual(unused, { ret: 0, assigned: false, level: PG_LEVEL_4K });

// rmp_make_private() at 2M: all 512 entries assigned to the guest, consecutive GPAs.
assert.equal(rmpMakePrivate(rmp, PFN, GPA, PG_LEVEL_2M, ASID, false), 0);
const tail: RmpEntry | undefined = rmp.entry(PFN + 511);
assert.deepEqual(tail, {
  pfn: PFN + 511,
  assigned: true,
  pageSize: PG_LEVEL_2M, // the size of the 2M-aligned entry is the authoritative one
  immutable: false,
  validated: false, // every RMPUPDATE clears Validated: the guest must PVALIDATE
  vmsa: false,
  asid: ASID,
  gpa: GPA + 511 * 0x1000,
});
assert.equal(rmp.assignedEntries, 512);

// A 4K update inside the assigned 2M entry overlaps it: the raw instruction says FAIL_OVERLAP,
// the kernel's rmpupdate() wrapper answers -EFAULT.
const state: RmpState = {
  gpa: 0,
  assigned: false,
  pageSize: PG_LEVEL_4K,
  immutable: false,
  asid: 0,
};
assert.equal(rmp.rmpupdate(PFN + 5, state), FAIL_OVERLAP);
assert.equal(rmpupdate(rmp, PFN + 5, state), -EFAULT);
// A 2M update at an unaligned PFN is bad input.
assert.equal(rmp.rmpupdate(PFN + 1, { ...state, pageSize: PG_LEVEL_2M }), FAIL_INPUT);

// PSMASH: 512 4K entries, GPAs consecutive, the other fields kept. Then the 4K update works.
events.length = 0;
assert.equal(snpRmptablePsmash(rmp, PFN + 5), RMP_SUCCESS); // the 2M region holding PFN+5
assert.deepEqual(rmp.lookup(PFN + 5), { ret: 0, assigned: true, level: PG_LEVEL_4K });
assert.equal(rmp.gpaOf(PFN + 5), GPA + 0x5000);
assert.equal(psmash(rmp, PFN), FAIL_INPUT); // no 2M entry there any more (code UNVERIFIED)
assert.equal(psmash(rmp, 0x200_0000), -EINVAL); // a PFN the RMP does not cover
assert.equal(rmpMakeShared(rmp, PFN + 5, PG_LEVEL_4K), 0);
assert.equal(rmp.isAssigned(PFN + 5), false);
assert.equal(rmp.assignedEntries, 511);

// Each change is one event; a PSMASH is one event at the 2M-aligned PFN.
const ops: RmpOp[] = events.map((e) => e.op);
assert.deepEqual(ops, ['psmash', 'rmpupdate']);
assert.deepEqual(rmpEventToJson(events[1] as RmpEvent), {
  type: 'rmp',
  op: 'rmpupdate',
  by: null,
  pfn: '0x40005',
  gpa: '0x0',
  assigned: false,
  pageSize: 1,
  validated: false,
  asid: 0,
  immutable: false,
  vmsa: false,
});

// The host writing to a frame: allowed when hypervisor-owned, an RMP #PF when assigned.
assert.equal(rmp.hostAccessCheck(PFN + 5, true), 0);
assert.equal(rmp.hostAccessCheck(PFN + 6, true), X86_PF_RMP + X86_PF_WRITE + X86_PF_PROT);
assert.equal(rmp.hostAccessCheck(PFN + 6, false), 0); // reads pass…
assert.equal(rmp.hostReadsCiphertext(PFN + 6), true); // …and see ciphertext

// An immutable page (e.g. a launched one) may be changed only by the firmware.
assert.equal(rmpMakePrivate(rmp, 0x5_0000, 0x1000, PG_LEVEL_4K, ASID, true), 0);
assert.equal(rmp.rmpupdate(0x5_0000, state), FAIL_PERMISSION);
assert.equal(rmp.firmwareSetBits(0x5_0000, { immutable: false }), RMP_SUCCESS); // SNP_PAGE_RECLAIM
assert.equal(rmpMakeShared(rmp, 0x5_0000, PG_LEVEL_4K), 0);
