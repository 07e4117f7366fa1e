// Launching an SNP guest at the level of the KVM_MEMORY_ENCRYPT_OP commands (SevGuest):
// KVM_SEV_INIT2 (ASID, GHCB version, vmsa_features), KVM_SEV_SNP_LAUNCH_START (policy checks),
// KVM_SEV_SNP_LAUNCH_UPDATE (kvm_gmem_populate + sev_gmem_post_populate per page: copy the
// source, rmp_make_private(immutable), firmware SNP_LAUNCH_UPDATE measures and validates),
// KVM_SEV_SNP_LAUNCH_FINISH (one VMSA page per vCPU at INITIAL_VMSA_GPA), and
// snp_page_reclaim() at teardown. The model records the measured pages; the digest itself is
// not computed.
// Kernel: arch/x86/kvm/svm/sev.c (__sev_guest_init, snp_launch_start, snp_launch_update,
// sev_gmem_post_populate, snp_launch_finish, snp_page_reclaim); arch/x86/include/uapi/asm/kvm.h.

import assert from 'node:assert/strict';
import {
  EEXIST,
  EINVAL,
  EIO,
  ENOTTY,
  EPERM,
  INITIAL_VMSA_GPA,
  KVM_SEV_INIT2,
  KVM_SEV_SNP_LAUNCH_FINISH,
  KVM_SEV_SNP_LAUNCH_START,
  KVM_SEV_SNP_LAUNCH_UPDATE,
  KVM_SEV_SNP_PAGE_TYPE_CPUID,
  KVM_SEV_SNP_PAGE_TYPE_NORMAL,
  KVM_SEV_SNP_PAGE_TYPE_SECRETS,
  KVM_SEV_SNP_PAGE_TYPE_UNMEASURED,
  KVM_SEV_SNP_PAGE_TYPE_ZERO,
  Rmp,
  SevAsidAllocator,
  type SevCmdResult,
  SevGuest,
  type SevInit2Args,
  SNP_DEFAULT_POLICY,
  SNP_PAGE_TYPE_NAMES,
  SNP_PAGE_TYPE_VMSA,
  SNP_POLICY_DEBUG,
  SNP_POLICY_MASK_VALID,
  SNP_POLICY_RSVD_MBO,
  SNP_POLICY_SINGLE_SOCKET,
  SNP_POLICY_SMT,
  type SnpLaunchUpdateParams,
  type SnpMeasuredPage,
  type SnpPopulateContext,
  SVM_SEV_FEAT_DEBUG_SWAP,
  SVM_SEV_FEAT_SNP_ACTIVE,
} from '@kvmx/vendor-ops';

// Command ids (enum sev_cmd_id) and LAUNCH_UPDATE page types (KVM_SEV_SNP_PAGE_TYPE_*).
assert.deepEqual(
  [KVM_SEV_INIT2, KVM_SEV_SNP_LAUNCH_START, KVM_SEV_SNP_LAUNCH_UPDATE, KVM_SEV_SNP_LAUNCH_FINISH],
  [22, 100, 101, 102],
);
assert.deepEqual(SNP_PAGE_TYPE_NAMES, {
  normal: KVM_SEV_SNP_PAGE_TYPE_NORMAL,
  zero: KVM_SEV_SNP_PAGE_TYPE_ZERO,
  unmeasured: KVM_SEV_SNP_PAGE_TYPE_UNMEASURED,
  secrets: KVM_SEV_SNP_PAGE_TYPE_SECRETS,
  cpuid: KVM_SEV_SNP_PAGE_TYPE_CPUID,
});
assert.deepEqual(Object.values(SNP_PAGE_TYPE_NAMES), [1, 3, 4, 5, 6]);
assert.equal(SNP_PAGE_TYPE_VMSA, 2); // the firmware's type for VMSA pages, not a KVM one
// Policy bits: SMT 16, RSVD_MBO 17 (must be one), DEBUG 19, SINGLE_SOCKET 20; API version 15:0.
assert.equal(
  SNP_POLICY_MASK_VALID,
  0xffff | SNP_POLICY_SMT | SNP_POLICY_RSVD_MBO | SNP_POLICY_DEBUG | SNP_POLICY_SINGLE_SOCKET,
);
assert.equal(SNP_DEFAULT_POLICY, 0x3_0000);

const rmp = new Rmp();
const asids = new SevAsidAllocator();
const guest = new SevGuest('snp', rmp);

// KVM_SEV_INIT2: flags must be 0; DEBUG_SWAP is a supported vmsa_feature here; GHCB version ≤ 2.
const bad: SevInit2Args = { flags: 1 };
assert.deepEqual(guest.init2(bad, 0, SVM_SEV_FEAT_DEBUG_SWAP, asids), { ret: -EINVAL, fwError: 0 });
assert.deepEqual(guest.init2({ ghcbVersion: 3 }, 0, SVM_SEV_FEAT_DEBUG_SWAP, asids).ret, -EINVAL);
assert.deepEqual(
  guest.init2({ vmsaFeatures: SVM_SEV_FEAT_DEBUG_SWAP }, 1, SVM_SEV_FEAT_DEBUG_SWAP, asids).ret,
  -EINVAL,
); // vCPUs exist
const init: SevCmdResult = guest.init2(
  { vmsaFeatures: SVM_SEV_FEAT_DEBUG_SWAP },
  0,
  SVM_SEV_FEAT_DEBUG_SWAP,
  asids,
);
assert.deepEqual(init, { ret: 0, fwError: 0 });
assert.deepEqual(
  [guest.asid, guest.ghcbVersion, guest.vmsaFeatures, guest.snpActive],
  [1, 2, SVM_SEV_FEAT_DEBUG_SWAP | SVM_SEV_FEAT_SNP_ACTIVE, true],
);
// Once an SNP guest, commands below LAUNCH_START (a second INIT2 included) are EPERM.
assert.equal(guest.memEncOpAllowed(KVM_SEV_INIT2), -EPERM);

// KVM_SEV_SNP_LAUNCH_START: the policy must keep RSVD_MBO and stay inside the valid mask.
assert.equal(guest.snpLaunchStart(SNP_POLICY_SMT).ret, -EINVAL);
assert.equal(guest.snpLaunchStart(SNP_DEFAULT_POLICY | (1 << 24)).ret, -EINVAL);
assert.equal(guest.snpLaunchStart(SNP_DEFAULT_POLICY).ret, 0);
assert.equal(guest.snpLaunchStart(SNP_DEFAULT_POLICY).ret, -EINVAL); // one context only
// On an SEV-ES VM the SNP commands do not exist.
assert.equal(new SevGuest('sev_es', rmp).snpLaunchStart(SNP_DEFAULT_POLICY).ret, -ENOTTY);

// KVM_SEV_SNP_LAUNCH_UPDATE over GFNs 0x100..0x102 of a guest_memfd slot, all private.
const gmem = new Map<number, number>([
  [0x100, 0x9_0000],
  [0x101, 0x9_0001],
  [0x102, 0x9_0002],
]);
const prepared = new Set<number>();
const copied: number[] = [];
const ctx: SnpPopulateContext = {
  slotCanBePrivate: () => true,
  slotPagesFrom: (gfn) => 0x200 - gfn,
  memIsPrivate: (gfn) => gfn !== 0x102,
  gmemGetPfn: (gfn) => ({ pfn: gmem.get(gfn) ?? -1, prepared: prepared.has(gfn) }),
  copySource: (gfn) => copied.push(gfn),
  zeroPage: () => {},
  markPrepared: (gfn) => prepared.add(gfn),
};
const params: SnpLaunchUpdateParams = {
  gfnStart: 0x100,
  len: 0x2000,
  type: KVM_SEV_SNP_PAGE_TYPE_NORMAL,
};
assert.equal(guest.snpLaunchUpdate(params, ctx).ret, 0);
assert.deepEqual(params, { gfnStart: 0x102, len: 0, type: KVM_SEV_SNP_PAGE_TYPE_NORMAL }); // advanced
assert.deepEqual(copied, [0x100, 0x101]);
assert.deepEqual(rmp.entry(0x9_0000), {
  pfn: 0x9_0000,
  assigned: true,
  pageSize: 1,
  immutable: false, // the firmware leaves launched pages Guest-Valid
  validated: true,
  vmsa: false,
  asid: 1,
  gpa: 0x10_0000,
});
// The same page again: already prepared → -EEXIST on the first page → the command fails -EIO.
assert.equal(
  guest.snpLaunchUpdate({ gfnStart: 0x100, len: 0x1000, type: KVM_SEV_SNP_PAGE_TYPE_ZERO }, ctx)
    .ret,
  -EIO,
);
// A shared GFN cannot be populated (-EINVAL → -EIO); a bad type or length is -EINVAL at once.
assert.equal(
  guest.snpLaunchUpdate({ gfnStart: 0x102, len: 0x1000, type: KVM_SEV_SNP_PAGE_TYPE_NORMAL }, ctx)
    .ret,
  -EIO,
);
assert.equal(
  guest.snpLaunchUpdate({ gfnStart: 0x102, len: 0x800, type: KVM_SEV_SNP_PAGE_TYPE_NORMAL }, ctx)
    .ret,
  -EINVAL,
);
assert.equal(
  guest.snpLaunchUpdate({ gfnStart: 0x102, len: 0x1000, type: SNP_PAGE_TYPE_VMSA }, ctx).ret,
  -EINVAL,
);
assert.equal(EEXIST, 17);

// KVM_SEV_SNP_LAUNCH_FINISH: each vCPU's VMSA made private (Pre-Guest, immutable) at
// INITIAL_VMSA_GPA, then measured by the firmware, which leaves it Guest-Valid as a VMSA.
assert.equal(guest.snpLaunchFinish([0xa_0000]).ret, 0);
assert.deepEqual([guest.launchFinished, guest.preFaultAllowed], [true, true]);
assert.deepEqual(
  [rmp.gpaOf(0xa_0000), rmp.isValidated(0xa_0000), rmp.isImmutable(0xa_0000), rmp.isVmsa(0xa_0000)],
  [INITIAL_VMSA_GPA, true, false, true],
);
const record: SnpMeasuredPage[] = guest.measured;
assert.deepEqual(record, [
  { gpa: 0x10_0000, type: KVM_SEV_SNP_PAGE_TYPE_NORMAL, measured: true },
  { gpa: 0x10_1000, type: KVM_SEV_SNP_PAGE_TYPE_NORMAL, measured: true },
  { gpa: INITIAL_VMSA_GPA, type: SNP_PAGE_TYPE_VMSA, measured: true },
]);

// Teardown: snp_page_reclaim() (firmware SNP_PAGE_RECLAIM, then rmp_make_shared()).
assert.equal(guest.snpPageReclaim(0xa_0000), 0);
assert.equal(rmp.isAssigned(0xa_0000), false);
assert.deepEqual(guest.leaked, []);
