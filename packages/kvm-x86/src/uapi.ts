// KVM uapi constants the facade speaks. Source: include/uapi/linux/kvm.h and
// arch/x86/include/uapi/asm/kvm.h (Linux 6.17-rc, [K1]/[K2] in kvm-mmu.md §0); kvm-mmu.md §2.4,
// §2.5, §2.8, §4.3; selftests.md B.0; tdx-module.md §7.3.

// ---- memslots: KVM_SET_USER_MEMORY_REGION2 -----------------------------------------------
export const KVM_MEM_LOG_DIRTY_PAGES = 1 << 0;
export const KVM_MEM_READONLY = 1 << 1;
export const KVM_MEM_GUEST_MEMFD = 1 << 2;
/** Flags the v1 ioctl (KVM_SET_USER_MEMORY_REGION) accepts. */
export const KVM_SET_USER_MEMORY_REGION_V1_FLAGS = KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY;
/** KVM_USER_MEM_SLOTS on x86 (KVM_MEM_SLOTS_NUM − KVM_INTERNAL_MEM_SLOTS = 32767 − 3). */
export const KVM_USER_MEM_SLOTS = 32764;
/** KVM_MEM_MAX_NR_PAGES: (1 << 31) − 1 pages per memslot. */
export const KVM_MEM_MAX_NR_PAGES = 2 ** 31 - 1;

// ---- memory attributes: KVM_SET_MEMORY_ATTRIBUTES -------------------------------------------
export const KVM_MEMORY_ATTRIBUTE_PRIVATE = 1 << 3;

// ---- guest_memfd: KVM_CREATE_GUEST_MEMFD, fallocate -----------------------------------------
export const GUEST_MEMFD_FLAG_MMAP = 1 << 0;
export const GUEST_MEMFD_FLAG_INIT_SHARED = 1 << 1;
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;

// ---- exits: struct kvm_run exit_reason ------------------------------------------------------
export const KVM_EXIT_UNKNOWN = 0;
export const KVM_EXIT_IO = 2;
export const KVM_EXIT_HYPERCALL = 3;
export const KVM_EXIT_MMIO = 6;
export const KVM_EXIT_SHUTDOWN = 8;
export const KVM_EXIT_INTERNAL_ERROR = 17;
export const KVM_EXIT_SYSTEM_EVENT = 24;
export const KVM_EXIT_MEMORY_FAULT = 39;
export const KVM_EXIT_TDX = 40;
/** kvm_run.memory_fault.flags: the access was private. */
export const KVM_MEMORY_EXIT_FLAG_PRIVATE = 1 << 3;
/** kvm_run.system_event.type for a TD's fatal error / a dead VM. */
export const KVM_SYSTEM_EVENT_TDX_FATAL = 7;
/** kvm_run.system_event.type for an SEV-ES/SNP guest's GHCB TERM_REQ (owned by vendor-ops). */
export { KVM_SYSTEM_EVENT_SEV_TERM } from '@kvmx/vendor-ops';

// ---- capabilities --------------------------------------------------------------------------
export const KVM_CAP_EXIT_HYPERCALL = 201;
export const KVM_CAP_USER_MEMORY2 = 231;
export const KVM_CAP_MEMORY_FAULT_INFO = 232;
export const KVM_CAP_MEMORY_ATTRIBUTES = 233;
export const KVM_CAP_GUEST_MEMFD = 234;
export const KVM_CAP_VM_TYPES = 235;

// ---- TDX: KVM_MEMORY_ENCRYPT_OP sub-commands (enum kvm_tdx_cmd_id) ---------------------------
export const KVM_TDX_CAPABILITIES = 0;
export const KVM_TDX_INIT_VM = 1;
export const KVM_TDX_INIT_VCPU = 2;
export const KVM_TDX_INIT_MEM_REGION = 3;
export const KVM_TDX_FINALIZE_VM = 4;
export const KVM_TDX_GET_CPUID = 5;
/** KVM_TDX_INIT_MEM_REGION flag: extend MRTD with the pages' contents. */
export const KVM_TDX_MEASURE_MEMORY_REGION = 1 << 0;

/** Exit reason names the event stream and scenarios use (CONTRACTS §1). */
export const EXIT_REASON_NAMES: Readonly<Record<number, string>> = {
  [KVM_EXIT_UNKNOWN]: 'unknown',
  [KVM_EXIT_IO]: 'io',
  [KVM_EXIT_HYPERCALL]: 'hypercall',
  [KVM_EXIT_MMIO]: 'mmio',
  [KVM_EXIT_SHUTDOWN]: 'shutdown',
  [KVM_EXIT_INTERNAL_ERROR]: 'internal_error',
  [KVM_EXIT_SYSTEM_EVENT]: 'system_event',
  [KVM_EXIT_MEMORY_FAULT]: 'memory_fault',
  [KVM_EXIT_TDX]: 'tdx',
};
