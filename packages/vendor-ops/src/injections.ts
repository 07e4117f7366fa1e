// Injected KVM bugs (`kvmx explore --inject NAME`): realistic mistakes a patch to KVM could
// make, each switched on per VM and checked at the exact place in the model where the bug
// would be (the comment there names the kernel function). Off unless a VM is created with
// the name; the explorer must find each one and shrink it to a short reproduction.

import type { VmTypeName } from '@kvmx/address';

export interface KvmInjection {
  readonly name: string;
  /** The VM type to explore it on. */
  readonly vm: VmTypeName;
  readonly description: string;
}

export const KVM_INJECTIONS = [
  {
    name: 'remove-without-track',
    vm: 'tdx',
    description:
      'tdx_sept_remove_private_spte() skips tdx_track(): TDH.MEM.PAGE.REMOVE without TDH.MEM.TRACK, so vCPUs may still hold the old translation',
  },
  {
    name: 'remove-without-block',
    vm: 'tdx',
    description:
      'tdx_sept_remove_private_spte() skips tdx_sept_zap_private_spte(): TDH.MEM.PAGE.REMOVE without TDH.MEM.RANGE.BLOCK',
  },
  {
    name: 'mirror-zap-atomic',
    vm: 'tdx',
    description:
      'a mirror leaf zapped through the atomic path (tdp_mmu_set_spte_atomic), which never calls remove_external_spte(): the S-EPT keeps the page',
  },
  {
    name: 'private-in-direct',
    vm: 'tdx',
    description:
      'kvm_tdp_mmu_map() picks the direct root for a private fault (kvm_is_addr_direct() inverted): a guest_memfd frame mapped through the shared EPT',
  },
  {
    name: 'no-zap-shared-on-private',
    vm: 'sw_protected',
    description:
      'kvm_vm_set_mem_attributes() skips the pre-pass zap (kvm_arch_pre_set_memory_attributes) when converting to private: stale shared mappings survive',
  },
  {
    name: 'no-zero-on-accept',
    vm: 'sw_protected',
    description:
      'kvm_gmem_prepare_folio() skips clear_highpage(): a private page punched out and faulted in again is handed to the guest with the old contents of the reused frame',
  },
  {
    name: 'reuse-without-wbinvd',
    vm: 'tdx',
    description:
      "tdx_sept_remove_private_spte() skips tdh_phymem_page_wbinvd_hkid(): a page removed from the TD is cleared and reused while cache lines tagged with the TD's HKID may still be written back over it",
  },
  {
    name: 'huge-over-mixed',
    vm: 'sw_protected',
    description:
      'kvm_mmu_hugepage_adjust() ignores KVM_LPAGE_MIXED_FLAG (hugepage_has_attrs()): a huge page spanning GFNs of mixed attributes is mapped whole',
  },
  {
    name: 'snp-unassigned-private',
    vm: 'snp',
    description:
      'sev_gmem_prepare() returns success without RMPUPDATE: a private guest_memfd frame is mapped into the NPT while the RMP does not assign it to the guest',
  },
] as const satisfies readonly KvmInjection[];

export type KvmInjectionName = (typeof KVM_INJECTIONS)[number]['name'];

/** True when `name` is an injection this model has. */
export function isKvmInjectionName(name: string): name is KvmInjectionName {
  return KVM_INJECTIONS.some((i) => i.name === name);
}
