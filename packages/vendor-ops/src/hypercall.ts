// KVM_HC_MAP_GPA_RANGE: the guest's request to convert a GPA range, forwarded to userspace
// as KVM_EXIT_HYPERCALL. Source: arch/x86/include/uapi/asm/kvm_para.h, arch/x86/kvm/x86.c
// (____kvm_emulate_hypercall, complete_hypercall_exit); kvm-mmu.md §2.9.

import { PAGE_SIZE } from '@kvmx/address';

/** Hypercall number. */
export const KVM_HC_MAP_GPA_RANGE = 12;
/** CPUID PV feature bit that advertises it. */
export const KVM_FEATURE_HC_MAP_GPA_RANGE = 16;
export const KVM_MAP_GPA_RANGE_PAGE_SZ_4K = 0;
export const KVM_MAP_GPA_RANGE_PAGE_SZ_2M = 1 << 0;
export const KVM_MAP_GPA_RANGE_PAGE_SZ_1G = 1 << 1;
/** KVM_MAP_GPA_RANGE_ENC_STAT(1): the range becomes private (encrypted). */
export const KVM_MAP_GPA_RANGE_ENCRYPTED = 1 << 4;
/** KVM_MAP_GPA_RANGE_ENC_STAT(0): the range becomes shared. */
export const KVM_MAP_GPA_RANGE_DECRYPTED = 0;
/** kvm_run.hypercall.flags bit 0: the guest was in 64-bit mode. */
export const KVM_EXIT_HYPERCALL_LONG_MODE = 1;
/** Guest-visible hypercall errors (include/uapi/linux/kvm_para.h). */
export const KVM_ENOSYS = 1000;
export const KVM_EINVAL = 22;

/** What the hypercall emulation decided: exit to userspace, or return `ret` to the guest. */
export type MapGpaRangeDecision =
  | { readonly kind: 'exit'; readonly gpa: number; readonly npages: number; readonly attrs: number }
  | { readonly kind: 'ret'; readonly ret: number };

/**
 * models x86.c: ____kvm_emulate_hypercall() case KVM_HC_MAP_GPA_RANGE — -KVM_ENOSYS unless
 * userspace enabled the exit; -KVM_EINVAL for an unaligned GPA, zero pages or wraparound;
 * otherwise a KVM_EXIT_HYPERCALL with (gpa, npages, attrs). The attributes are not checked:
 * KVM passes them through (the selftests put their own flags there).
 */
export function kvmHcMapGpaRange(
  exitEnabled: boolean,
  gpa: number,
  npages: number,
  attrs: number,
): MapGpaRangeDecision {
  if (!exitEnabled) return { kind: 'ret', ret: -KVM_ENOSYS };
  if (
    gpa % PAGE_SIZE !== 0 ||
    npages === 0 ||
    !Number.isSafeInteger(npages) ||
    gpa / PAGE_SIZE + npages > 2 ** 52 // gfn + npages wraps the 64-bit GPA space
  ) {
    return { kind: 'ret', ret: -KVM_EINVAL };
  }
  return { kind: 'exit', gpa, npages, attrs };
}
