// The constants vendor code shares with KVM, each written once here: errno values
// (include/uapi/asm-generic/errno-base.h, errno.h), the page-fault error-code bits
// (arch/x86/include/asm/kvm_host.h PFERR_*, trap_pf.h X86_PF_*), and the KVM_HC_MAP_GPA_RANGE
// hypercall (include/uapi/linux/kvm_para.h, arch/x86/include/uapi/asm/kvm_para.h) with
// ____kvm_emulate_hypercall()'s decision: exit to userspace, or -KVM_ENOSYS / -KVM_EINVAL
// back to the guest in RAX. Error-code bits reach bit 49, beyond JavaScript's 32-bit bitwise
// operators: pferrHas / pferrSet / pferrClear work on them exactly.

import assert from 'node:assert/strict';
import {
  E2BIG,
  EAGAIN,
  EBADF,
  EBUSY,
  EEXIST,
  EFAULT,
  EFBIG,
  EINTR,
  EINVAL,
  EIO,
  ENODEV,
  ENOENT,
  ENOMEM,
  ENOSPC,
  ENOSYS,
  ENOTTY,
  EOPNOTSUPP,
  EPERM,
  ERRNO_NAMES,
  errnoByName,
  errnoName,
  KVM_EINVAL,
  KVM_ENOSYS,
  KVM_EXIT_HYPERCALL_LONG_MODE,
  KVM_FEATURE_HC_MAP_GPA_RANGE,
  KVM_HC_MAP_GPA_RANGE,
  KVM_MAP_GPA_RANGE_DECRYPTED,
  KVM_MAP_GPA_RANGE_ENCRYPTED,
  KVM_MAP_GPA_RANGE_PAGE_SZ_1G,
  KVM_MAP_GPA_RANGE_PAGE_SZ_2M,
  KVM_MAP_GPA_RANGE_PAGE_SZ_4K,
  kvmHcMapGpaRange,
  type MapGpaRangeDecision,
  PFERR_FETCH_MASK,
  PFERR_GUEST_ENC_MASK,
  PFERR_GUEST_FINAL_MASK,
  PFERR_GUEST_PAGE_MASK,
  PFERR_GUEST_RMP_MASK,
  PFERR_GUEST_SIZEM_MASK,
  PFERR_GUEST_VMPL_MASK,
  PFERR_IMPLICIT_ACCESS,
  PFERR_PK_MASK,
  PFERR_PRESENT_MASK,
  PFERR_PRIVATE_ACCESS,
  PFERR_RSVD_MASK,
  PFERR_SGX_MASK,
  PFERR_USER_MASK,
  PFERR_WRITE_MASK,
  pferrClear,
  pferrHas,
  pferrSet,
  X86_PF_PROT,
  X86_PF_RMP,
  X86_PF_WRITE,
} from '@kvmx/vendor-ops';

// errno values.
const errnos = [
  EPERM,
  ENOENT,
  EINTR,
  EIO,
  E2BIG,
  EBADF,
  EAGAIN,
  ENOMEM,
  EFAULT,
  EBUSY,
  EEXIST,
  ENODEV,
  EINVAL,
  ENOTTY,
  EFBIG,
  ENOSPC,
  ENOSYS,
  EOPNOTSUPP,
];
assert.deepEqual(errnos, [1, 2, 4, 5, 7, 9, 11, 12, 14, 16, 17, 19, 22, 25, 27, 28, 38, 95]);
assert.deepEqual(
  errnos.map((e) => ERRNO_NAMES[e]),
  [
    'EPERM',
    'ENOENT',
    'EINTR',
    'EIO',
    'E2BIG',
    'EBADF',
    'EAGAIN',
    'ENOMEM',
    'EFAULT',
    'EBUSY',
    'EEXIST',
    'ENODEV',
    'EINVAL',
    'ENOTTY',
    'EFBIG',
    'ENOSPC',
    'ENOSYS',
    'EOPNOTSUPP',
  ],
);
assert.equal(errnoName(-EINVAL), 'EINVAL'); // the sign KVM returns it with does not matter
assert.equal(errnoName(200), 'E200');
assert.equal(errnoByName('ENOTTY'), ENOTTY);

// Page-fault error-code bits: hardware (0..5, 15, 31..36) and KVM-synthetic (48, 49).
const bits = {
  PRESENT: PFERR_PRESENT_MASK,
  WRITE: PFERR_WRITE_MASK,
  USER: PFERR_USER_MASK,
  RSVD: PFERR_RSVD_MASK,
  FETCH: PFERR_FETCH_MASK,
  PK: PFERR_PK_MASK,
  SGX: PFERR_SGX_MASK,
  GUEST_RMP: PFERR_GUEST_RMP_MASK,
  GUEST_FINAL: PFERR_GUEST_FINAL_MASK,
  GUEST_PAGE: PFERR_GUEST_PAGE_MASK,
  GUEST_ENC: PFERR_GUEST_ENC_MASK,
  GUEST_SIZEM: PFERR_GUEST_SIZEM_MASK,
  GUEST_VMPL: PFERR_GUEST_VMPL_MASK,
  IMPLICIT_ACCESS: PFERR_IMPLICIT_ACCESS,
  PRIVATE_ACCESS: PFERR_PRIVATE_ACCESS,
};
assert.deepEqual(
  Object.values(bits).map((m) => Math.log2(m)),
  [0, 1, 2, 3, 4, 5, 15, 31, 32, 33, 34, 35, 36, 48, 49],
);
// A TD's private write on the final translation: bits 1, 32 and 49.
let code = pferrSet(pferrSet(PFERR_WRITE_MASK, PFERR_GUEST_FINAL_MASK), PFERR_PRIVATE_ACCESS);
assert.equal(code, 2 ** 49 + 2 ** 32 + 2);
assert.equal(code | 0, 2); // what `|` would keep: bitwise operators truncate to 32 bits
assert.equal(pferrHas(code, PFERR_PRIVATE_ACCESS), true);
assert.equal(pferrSet(code, PFERR_PRIVATE_ACCESS), code); // idempotent
code = pferrClear(code, PFERR_PRIVATE_ACCESS);
assert.equal(pferrHas(code, PFERR_PRIVATE_ACCESS), false);
// The host's own #PF for an RMP violation: X86_PF_RMP (bit 31) with WRITE and PROT.
assert.deepEqual([X86_PF_PROT, X86_PF_WRITE, X86_PF_RMP], [1, 2, 2 ** 31]);

// KVM_HC_MAP_GPA_RANGE: number 12, advertised by CPUID PV feature bit 16.
assert.deepEqual([KVM_HC_MAP_GPA_RANGE, KVM_FEATURE_HC_MAP_GPA_RANGE], [12, 16]);
assert.deepEqual(
  [KVM_MAP_GPA_RANGE_PAGE_SZ_4K, KVM_MAP_GPA_RANGE_PAGE_SZ_2M, KVM_MAP_GPA_RANGE_PAGE_SZ_1G],
  [0, 1, 2],
);
assert.deepEqual([KVM_MAP_GPA_RANGE_DECRYPTED, KVM_MAP_GPA_RANGE_ENCRYPTED], [0, 0x10]);
assert.deepEqual([KVM_ENOSYS, KVM_EINVAL, KVM_EXIT_HYPERCALL_LONG_MODE], [1000, 22, 1]);

const d = (exit: boolean, gpa: number, npages: number, attrs: number): MapGpaRangeDecision =>
  kvmHcMapGpaRange(exit, gpa, npages, attrs);
// Userspace enabled the exit: KVM_EXIT_HYPERCALL with the arguments, attributes unchecked.
assert.deepEqual(
  d(true, 0x10_0000, 512, KVM_MAP_GPA_RANGE_ENCRYPTED | KVM_MAP_GPA_RANGE_PAGE_SZ_2M),
  {
    kind: 'exit',
    gpa: 0x10_0000,
    npages: 512,
    attrs: 0x11,
  },
);
assert.deepEqual(d(true, 0x10_0000, 1, 0xdead), {
  kind: 'exit',
  gpa: 0x10_0000,
  npages: 1,
  attrs: 0xdead,
});
// Otherwise the guest gets an error in RAX.
assert.deepEqual(d(false, 0x10_0000, 1, 0), { kind: 'ret', ret: -KVM_ENOSYS });
assert.deepEqual(d(true, 0x10_0800, 1, 0), { kind: 'ret', ret: -KVM_EINVAL }); // unaligned
assert.deepEqual(d(true, 0x10_0000, 0, 0), { kind: 'ret', ret: -KVM_EINVAL }); // no pages
assert.deepEqual(d(true, 2 ** 64 - 0x1000, 2, 0), { kind: 'ret', ret: -KVM_EINVAL }); // wraps
