// An SNP guest's page-state change for more than one page: GHCB PSC buffers (a header and up to
// 253 entries of one u64 each) sent with VMGEXIT(SVM_VMGEXIT_PSC). KVM requires the GHCB to be
// registered, walks the entries, merges neighbours with the same operation and size into one
// range, and forwards each range as KVM_EXIT_HYPERCALL(KVM_HC_MAP_GPA_RANGE); after userspace
// answers, it marks the entries done (cur_page) and continues. A non-zero answer ends the
// buffer with VMGEXIT_PSC_ERROR_GENERIC in SW_EXITINFO2.
// Kernel: arch/x86/kvm/svm/sev.c (snp_begin_psc, snp_complete_one_psc, sev_handle_vmgexit),
// arch/x86/include/asm/sev-common.h (struct psc_hdr, struct psc_entry); GHCB spec §4.1.6.

import assert from 'node:assert/strict';
import { word64Hex } from '@kvmx/address';
import {
  buildPscBuffers,
  EINVAL,
  KVM_HC_MAP_GPA_RANGE,
  KVM_MAP_GPA_RANGE_DECRYPTED,
  KVM_MAP_GPA_RANGE_ENCRYPTED,
  KVM_MAP_GPA_RANGE_PAGE_SZ_2M,
  newPscState,
  type PscBuffer,
  type PscEntry,
  type PscResult,
  type PscState,
  pscEntryFromWord64,
  pscEntryToWord64,
  type SnpPscRequest,
  snpBeginPsc,
  snpCompleteOnePsc,
  snpMapGpaRequests,
  snpVmgexitPsc,
  VMGEXIT_PSC_ERROR_GENERIC,
  VMGEXIT_PSC_ERROR_INVALID_ENTRY,
  VMGEXIT_PSC_ERROR_INVALID_HDR,
  VMGEXIT_PSC_MAX_COUNT,
  VMGEXIT_PSC_MAX_ENTRY,
  VMGEXIT_PSC_OP_PRIVATE,
  VMGEXIT_PSC_OP_PSMASH,
  VMGEXIT_PSC_OP_SHARED,
  VMGEXIT_PSC_OP_UNSMASH,
  VMGEXIT_PSC_SUCCESS,
} from '@kvmx/vendor-ops';

assert.deepEqual([VMGEXIT_PSC_MAX_COUNT, VMGEXIT_PSC_MAX_ENTRY], [253, 64]);
assert.deepEqual(
  [VMGEXIT_PSC_OP_PRIVATE, VMGEXIT_PSC_OP_SHARED, VMGEXIT_PSC_OP_PSMASH, VMGEXIT_PSC_OP_UNSMASH],
  [1, 2, 3, 4],
);
// SW_EXITINFO2 values: 0, or an error in the upper half.
assert.equal(VMGEXIT_PSC_SUCCESS, 0);
assert.equal(VMGEXIT_PSC_ERROR_GENERIC, 0x100 * 2 ** 32);
assert.deepEqual(
  [VMGEXIT_PSC_ERROR_INVALID_HDR, VMGEXIT_PSC_ERROR_INVALID_ENTRY],
  [2 ** 32 + 1, 2 ** 32 + 2],
);

// struct psc_entry: cur_page 11:0, gfn 51:12, operation 55:52, pagesize 56.
const entry: PscEntry = { curPage: 0, gfn: 0x200, operation: VMGEXIT_PSC_OP_PRIVATE, pageSize: 1 };
const raw = pscEntryToWord64(entry);
assert.equal(word64Hex(raw), '0x110000000200000');
assert.deepEqual(pscEntryFromWord64(raw), entry);

// What the guest sends for a conversion: one page → the MSR protocol; more → PSC buffers,
// cut in pieces of at most 2 MiB counted from the current GPA; a piece that is exactly one
// aligned 2 MiB page is one 2M entry.
const one: SnpPscRequest[] = snpMapGpaRequests(0x10_0000, 0x1000, true);
assert.deepEqual(
  one.map((r) => r.kind),
  ['msr'],
);
const many = snpMapGpaRequests(0x20_0000, 0x20_2000, false); // 2 MiB aligned, then 2 pages
assert.deepEqual(
  many.map((r) =>
    r.kind === 'ghcb'
      ? r.buffer.entries.map((e) => `${e.gfn.toString(16)}/${e.pageSize ? '2M' : '4K'}`).join(' ')
      : 'msr',
  ),
  ['200/2M', '400/4K 401/4K'],
);
// An unaligned 2 MiB piece is 512 4K entries: more than one buffer of ≤ 253 entries.
assert.deepEqual(
  buildPscBuffers(0x1000, 0x20_0000, VMGEXIT_PSC_OP_SHARED).map((b) => b.entries.length),
  [253, 253, 6],
);

// KVM's side of one buffer: 0x200000..0x201fff and a 2M entry at 0x400000, to private.
const buffer: PscBuffer = {
  curEntry: 0,
  endEntry: 2,
  entries: [
    { curPage: 0, gfn: 0x200, operation: VMGEXIT_PSC_OP_PRIVATE, pageSize: 0 },
    { curPage: 0, gfn: 0x201, operation: VMGEXIT_PSC_OP_PRIVATE, pageSize: 0 },
    { curPage: 0, gfn: 0x400, operation: VMGEXIT_PSC_OP_PRIVATE, pageSize: 1 },
  ],
};
const state: PscState = newPscState();
// The GHCB must have been registered (GHCB_MSR_REG_GPA_REQ) at this GPA: else KVM_RUN fails.
assert.deepEqual(snpVmgexitPsc(true, 0x5000, null, state, buffer), {
  kind: 'error',
  errno: -EINVAL,
});
// The first two entries are adjacent 4K ones: merged into one exit of 2 pages.
let r: PscResult = snpVmgexitPsc(true, 0x5000, 0x5000, state, buffer);
assert.deepEqual(r, {
  kind: 'hypercall',
  nr: KVM_HC_MAP_GPA_RANGE,
  args: [0x20_0000, 2, KVM_MAP_GPA_RANGE_ENCRYPTED],
});
assert.deepEqual(state, { inflight: 2, idx: 0, is2m: false });
// Userspace converted them (ret 0): they are marked done; the 2M entry is the next exit.
r = snpCompleteOnePsc(true, state, buffer, 0);
assert.deepEqual(r, {
  kind: 'hypercall',
  nr: KVM_HC_MAP_GPA_RANGE,
  args: [0x40_0000, 512, KVM_MAP_GPA_RANGE_ENCRYPTED | KVM_MAP_GPA_RANGE_PAGE_SZ_2M],
});
assert.deepEqual(
  buffer.entries.map((e) => e.curPage),
  [1, 1, 0],
);
// Userspace refuses the second range: the guest gets GENERIC, the entry stays undone.
assert.deepEqual(snpCompleteOnePsc(true, state, buffer, -EINVAL), {
  kind: 'done',
  exitInfo2: VMGEXIT_PSC_ERROR_GENERIC,
});
assert.equal(buffer.curEntry, 2);
// The guest retries the same buffer: only the unfinished entry goes out again; then success.
r = snpBeginPsc(true, state, buffer);
assert.ok(r.kind === 'hypercall' && r.args[0] === 0x40_0000);
assert.deepEqual(snpCompleteOnePsc(true, state, buffer, 0), {
  kind: 'done',
  exitInfo2: VMGEXIT_PSC_SUCCESS,
});

// Refusals without an exit: no KVM_HC_MAP_GPA_RANGE user exit, a bad header, a bad entry.
const fresh = (): PscBuffer => ({
  curEntry: 0,
  endEntry: 0,
  entries: [{ curPage: 0, gfn: 0x200, operation: VMGEXIT_PSC_OP_SHARED, pageSize: 0 }],
});
assert.deepEqual(snpBeginPsc(false, newPscState(), fresh()), {
  kind: 'done',
  exitInfo2: VMGEXIT_PSC_ERROR_GENERIC,
});
assert.deepEqual(snpBeginPsc(true, newPscState(), { ...fresh(), endEntry: 253 }), {
  kind: 'done',
  exitInfo2: VMGEXIT_PSC_ERROR_INVALID_HDR,
});
const misaligned = fresh();
misaligned.entries = [{ curPage: 0, gfn: 0x201, operation: VMGEXIT_PSC_OP_SHARED, pageSize: 1 }];
assert.deepEqual(snpBeginPsc(true, newPscState(), misaligned), {
  kind: 'done',
  exitInfo2: VMGEXIT_PSC_ERROR_INVALID_ENTRY,
});
// The shared direction uses DECRYPTED.
assert.deepEqual(snpBeginPsc(true, newPscState(), fresh()), {
  kind: 'hypercall',
  nr: 12,
  args: [0x20_0000, 1, KVM_MAP_GPA_RANGE_DECRYPTED],
});
