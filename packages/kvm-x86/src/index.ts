export {
  E2BIG,
  EAGAIN,
  EBADF,
  EBUSY,
  EEXIST,
  EFAULT,
  EINTR,
  EINVAL,
  EIO,
  ENOENT,
  ENOMEM,
  ENOSPC,
  ENOSYS,
  EOPNOTSUPP,
  EPERM,
  errnoByName,
  errnoName,
  KVM_HC_MAP_GPA_RANGE,
  KVM_MAP_GPA_RANGE_DECRYPTED,
  KVM_MAP_GPA_RANGE_ENCRYPTED,
  PFERR_PRIVATE_ACCESS,
  PFERR_WRITE_MASK,
} from '@kvmx/vendor-ops';
export { type AttributeInterval, MemoryAttributes } from './attributes.js';
export type { EventBus, KvmEvent, KvmEventListener, RootKind } from './events.js';
export { exitFields, exitReasonName, type KvmExit } from './exit.js';
export { type FaultOutcome, kvmMmuDoPageFault } from './fault.js';
export { type GmemBinding, GuestMemfd } from './gmem.js';
export {
  checkAndReport,
  checkInvariants,
  INVARIANTS,
  rootLeaves,
  type Violation,
} from './invariants.js';
export { checkInvariantsAt } from './invariants-at.js';
export {
  type CreateVmOptions,
  HOST_MAXPHYADDR,
  KVM_MMU_MAX_GFN,
  Kvm,
  type MemoryAttributesArgs,
  type UserMemoryRegion2,
} from './kvm.js';
export { gfnToIndex, KVM_LPAGE_MIXED_FLAG, Memslot } from './memslot.js';
export { fail, type KvmResult, ok, okVoid } from './result.js';
export {
  KVM_ALL_ROOTS,
  KVM_DIRECT_ROOTS,
  KVM_FILTER_PRIVATE,
  KVM_FILTER_SHARED,
  KVM_INVALID_ROOTS,
  KVM_MIRROR_ROOTS,
  KVM_VALID_ROOTS,
  RET_PF_CONTINUE,
  RET_PF_EMULATE,
  RET_PF_FIXED,
  RET_PF_INVALID,
  RET_PF_NAMES,
  RET_PF_RETRY,
  RET_PF_SPURIOUS,
  RET_PF_WRITE_PROTECTED,
  type ShadowPage,
  spteHex,
  type TdpFault,
  TdpMmu,
} from './tdp-mmu.js';
export * as uapi from './uapi.js';
export {
  EXIT_REASON_NAMES,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  GUEST_MEMFD_FLAG_INIT_SHARED,
  GUEST_MEMFD_FLAG_MMAP,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_CAP_GUEST_MEMFD,
  KVM_CAP_MEMORY_ATTRIBUTES,
  KVM_CAP_MEMORY_FAULT_INFO,
  KVM_CAP_USER_MEMORY2,
  KVM_CAP_VM_TYPES,
  KVM_EXIT_HYPERCALL,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_IO,
  KVM_EXIT_MEMORY_FAULT,
  KVM_EXIT_MMIO,
  KVM_EXIT_SHUTDOWN,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_EXIT_TDX,
  KVM_EXIT_UNKNOWN,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_MAX_NR_PAGES,
  KVM_MEM_READONLY,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  KVM_MEMORY_EXIT_FLAG_PRIVATE,
  KVM_SET_USER_MEMORY_REGION_V1_FLAGS,
  KVM_SYSTEM_EVENT_TDX_FATAL,
  KVM_TDX_CAPABILITIES,
  KVM_TDX_FINALIZE_VM,
  KVM_TDX_GET_CPUID,
  KVM_TDX_INIT_MEM_REGION,
  KVM_TDX_INIT_VCPU,
  KVM_TDX_INIT_VM,
  KVM_TDX_MEASURE_MEMORY_REGION,
  KVM_USER_MEM_SLOTS,
} from './uapi.js';
export { type AccessOptions, type RunResult, Vcpu } from './vcpu.js';
export { VmmMemory } from './vmm-memory.js';
