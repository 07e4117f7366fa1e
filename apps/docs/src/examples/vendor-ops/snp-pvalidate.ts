// The SEV-SNP RMP from the guest's side: PVALIDATE and its answers (APM Table 15-40), the RMP
// checks on a guest access (APM Table 15-39), RMPADJUST marking a VMSA page, and the Linux
// guest's loop over a range — 2M where it can, 4K after FAIL_SIZEMISMATCH, stopping at an #NPF
// for KVM to resolve. PVALIDATE of a page that already has the requested state succeeds with
// CF=1, which Linux reports as PVALIDATE_FAIL_NOUPDATE (fatal for the guest).
// Sources: AMD APM vol. 2 §15.36 and vol. 3 (PVALIDATE, RMPADJUST); arch/x86/coco/sev/core.c
// (pvalidate_pages, pval_pages); arch/x86/include/asm/sev.h (return codes).

import assert from 'node:assert/strict';
import { PG_LEVEL_2M, PG_LEVEL_4K, type PgLevel } from '@kvmx/address';
import {
  FAIL_INPUT,
  type GuestAccess,
  type GuestPvalidateOutcome,
  linuxPvalidateRc,
  PFERR_GUEST_ENC_MASK,
  PFERR_GUEST_FINAL_MASK,
  PFERR_GUEST_RMP_MASK,
  PFERR_GUEST_SIZEM_MASK,
  PFERR_PRESENT_MASK,
  PFERR_WRITE_MASK,
  PVALIDATE_FAIL_INPUT,
  PVALIDATE_FAIL_NOUPDATE,
  PVALIDATE_FAIL_SIZEMISMATCH,
  pferrHas,
  RMP_ACCESS_OK,
  RMP_ACCESS_VC,
  RMPADJUST_VMSA_PAGE_BIT,
  Rmp,
  type RmpGuestResult,
  rmpMakePrivate,
  SVM_EXIT_VC_PAGE_NOT_VALIDATED,
  snpConversionSteps,
  snpGuestPvalidateRange,
} from '@kvmx/vendor-ops';

assert.deepEqual(
  [PVALIDATE_FAIL_INPUT, PVALIDATE_FAIL_SIZEMISMATCH, PVALIDATE_FAIL_NOUPDATE],
  [1, 6, 255],
);
assert.equal(RMP_ACCESS_VC, -SVM_EXIT_VC_PAGE_NOT_VALIDATED); // -0x404

const rmp = new Rmp();
const ASID = 3;
const GPA = 0x20_0000; // 2M-aligned guest range, backed by 4K frames from PFN 0x1000
const pfnOf = (gpa: number) => 0x1000 + (gpa - GPA) / 0x1000;
for (let i = 0; i < 512; i++) {
  assert.equal(rmpMakePrivate(rmp, 0x1000 + i, GPA + i * 0x1000, PG_LEVEL_4K, ASID, false), 0);
}

// A private write before PVALIDATE: the entry is assigned to us but not validated → #VC 0x404.
const write: GuestAccess = { enc: true, write: true };
assert.equal(rmp.checkGuestAccess(ASID, GPA, pfnOf(GPA), PG_LEVEL_4K, write), RMP_ACCESS_VC);
// Another guest (ASID) touching our page takes an #NPF with the RMP bit instead.
const npf = rmp.checkGuestAccess(7, GPA, pfnOf(GPA), PG_LEVEL_4K, write);
assert.ok(npf > 0);
assert.deepEqual(
  [
    PFERR_PRESENT_MASK,
    PFERR_WRITE_MASK,
    PFERR_GUEST_RMP_MASK,
    PFERR_GUEST_ENC_MASK,
    PFERR_GUEST_FINAL_MASK,
  ].map((m) => pferrHas(npf, m)),
  [true, true, true, true, true],
);
// A shared (C=0) write to an assigned frame is an #NPF too; a shared read passes (ciphertext).
assert.ok(
  rmp.checkGuestAccess(ASID, GPA, pfnOf(GPA), PG_LEVEL_4K, { enc: false, write: true }) > 0,
);
assert.equal(
  rmp.checkGuestAccess(ASID, GPA, pfnOf(GPA), PG_LEVEL_4K, { enc: false, write: false }),
  RMP_ACCESS_OK,
);

// PVALIDATE answers.
const one: RmpGuestResult = rmp.pvalidate(ASID, GPA, pfnOf(GPA), PG_LEVEL_4K, true);
assert.deepEqual(one, { kind: 'rc', rc: 0, cf: false });
assert.equal(rmp.checkGuestAccess(ASID, GPA, pfnOf(GPA), PG_LEVEL_4K, write), RMP_ACCESS_OK);
const again = rmp.pvalidate(ASID, GPA, pfnOf(GPA), PG_LEVEL_4K, true);
assert.deepEqual(again, { kind: 'rc', rc: 0, cf: true }); // nothing changed: CF=1
assert.equal(linuxPvalidateRc(again), PVALIDATE_FAIL_NOUPDATE);
// 2M over 4K entries: FAIL_SIZEMISMATCH; 2M at an unaligned GPA: FAIL_INPUT.
assert.equal(
  linuxPvalidateRc(rmp.pvalidate(ASID, GPA, pfnOf(GPA), PG_LEVEL_2M, true)),
  PVALIDATE_FAIL_SIZEMISMATCH,
);
assert.equal(
  linuxPvalidateRc(rmp.pvalidate(ASID, GPA + 0x1000, pfnOf(GPA) + 1, PG_LEVEL_2M, true)),
  FAIL_INPUT,
);
// 4K on a 2M RMP entry: an #NPF with SIZEM, so that KVM PSMASHes and the guest retries.
assert.equal(rmpMakePrivate(rmp, 0x2_0000, 0x40_0000, PG_LEVEL_2M, ASID, false), 0);
const sizem = rmp.pvalidate(ASID, 0x40_3000, 0x2_0003, PG_LEVEL_4K, true);
assert.ok(sizem.kind === 'npf' && pferrHas(sizem.errorCode, PFERR_GUEST_SIZEM_MASK));
assert.equal(linuxPvalidateRc(sizem), undefined); // an #NPF never returns to the instruction

// RMPADJUST: VMPL0 marks a validated page as a VMSA for VMPL1.
assert.deepEqual(
  rmp.rmpadjust(ASID, GPA, pfnOf(GPA), PG_LEVEL_4K, 0, 1 | RMPADJUST_VMSA_PAGE_BIT),
  { kind: 'rc', rc: 0, cf: false },
);
assert.equal(rmp.isVmsa(pfnOf(GPA)), true);
assert.equal(rmp.rmpadjust(ASID, GPA, pfnOf(GPA), PG_LEVEL_4K, 1, 1).kind, 'rc'); // target ≤ own VMPL
assert.deepEqual(rmp.rmpadjust(ASID, GPA, pfnOf(GPA), PG_LEVEL_4K, 1, 1), {
  kind: 'rc',
  rc: 2,
  cf: false,
}); // FAIL_PERMISSION

// The Linux guest's loop over the rest of the 2 MiB: the 2M attempt fails SIZEMISMATCH, so it
// is redone page by page — and stops at the first page already validated (NOUPDATE, fatal).
const calls: string[] = [];
const pvalidate = (gpa: number, level: PgLevel): RmpGuestResult => {
  calls.push(`${level === PG_LEVEL_2M ? '2M' : '4K'}@${(gpa - GPA) / 0x1000}`);
  return rmp.pvalidate(ASID, gpa, pfnOf(gpa), level, true);
};
const fatal: GuestPvalidateOutcome = snpGuestPvalidateRange(GPA, 0x20_0000, pvalidate);
assert.deepEqual(fatal, { kind: 'fail', gpa: GPA, rc: PVALIDATE_FAIL_NOUPDATE });
assert.deepEqual(calls, ['2M@0', '4K@0']);
const rest = snpGuestPvalidateRange(GPA + 0x1000, 0x1f_f000, pvalidate);
assert.deepEqual(rest, { kind: 'done', pages4k: 511, pages2m: 0 });
// A range on a 2M RMP entry validates with one 2M instruction.
assert.deepEqual(
  snpGuestPvalidateRange(0x40_0000, 0x20_0000, (g, l) =>
    rmp.pvalidate(ASID, g, 0x2_0000 + (g - 0x40_0000) / 0x1000, l, true),
  ),
  { kind: 'done', pages4k: 0, pages2m: 1 },
);

// The order of a conversion's guest steps: a shared page must never be left validated.
assert.deepEqual(snpConversionSteps(true), ['psc', 'pvalidate']);
assert.deepEqual(snpConversionSteps(false), ['pvalidate', 'psc']);
